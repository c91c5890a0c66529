"""Clock times as people give them (`--from`, `?from=`): ISO 8601, UTC unless an offset is given
(`2026-02-14T13:00+07:00` for WIB), or epoch seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_instant(text: str) -> float:
    """Epoch seconds; ValueError with a reason a person can act on."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use ISO 8601 (2026-02-14T13:00:00+07:00) or epoch seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
