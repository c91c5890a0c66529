"""Clock times as people give them (`--from`, `?from=`): ISO 8601, UTC unless an offset is given
(`2026-02-14T13:00+07:00` for WIB), or epoch seconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime

LATEST = 4_102_444_800.0  # 2100-01-01: later (or earlier than 1970) is a typing error, not a recording

def parse_instant(text: str) -> float:
    """Epoch seconds; ValueError with a reason a person can act on."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{text[:40]!r} is not a time: use ISO 8601 (2026-02-14T13:00:00+07:00) or epoch seconds") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        value = moment.timestamp()
    if not (math.isfinite(value) and 0 <= value < LATEST):
        raise ValueError(f"{text[:40]!r} is outside 1970-2099")
    return value
