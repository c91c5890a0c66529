"""Timestamps as the API shows them: ISO-8601 UTC with milliseconds and a Z."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso_utc(ts: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
