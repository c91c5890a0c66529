"""Moving a running node's clock (pantau/runtime/clock.py: PANTAU_TEST_CLOCK_FILE), for visibility windows."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from pantau.cameras.visibility import WIB


def set_clock(path: Path, wib: str) -> None:
    """Make the node's 'now' the given WIB time (e.g. "2026-02-14T12:59:58"); it runs on from there."""
    offset = datetime.fromisoformat(wib).replace(tzinfo=WIB).timestamp() - time.time()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(repr(offset))
    os.replace(tmp, path)  # a new file: the node reads it whole, never half-written
