"""Time as Pantau decides with it: ISO timestamps for the API, and the clock that visibility
windows (pantau/cameras/visibility.py) are judged by.

`now()` is the real clock, except in a process started with `PANTAU_TEST_CLOCK_FILE` set: the
file (absent or empty: no shift) holds a number of seconds added to the real time. Tests move a
running node's "now" to 12:59:58 WIB on election day by rewriting it, instead of waiting for
13:00. It is a file rather than a config option so that no YAML or `.env` of a site can carry
it: the variable's name says it is for tests, a node started with it logs a warning at start,
and without it `now()` is `time.time()` and nothing is read. The file is looked at (one `stat`)
on each call, so a new offset counts from the next decision on; callers take `now()` once per
request or check, never per camera.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime

TEST_CLOCK_ENV = "PANTAU_TEST_CLOCK_FILE"
log = logging.getLogger(__name__)


def iso_utc(ts: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _OffsetFile:
    """The test clock's offset, re-read when the file is replaced or rewritten."""

    def __init__(self, path: str):
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._offset = 0.0

    def offset(self) -> float:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._offset = None, 0.0
            return 0.0
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            try:
                with open(self.path, encoding="ascii") as f:
                    text = f.read().strip()
                self._offset = float(text) if text else 0.0
                self._seen = seen
            except (OSError, ValueError) as exc:  # half-written: keep the last offset
                log.warning("test clock file %s unreadable (%s); keeping offset %.3f s", self.path, exc, self._offset)
        return self._offset


_test_clock: _OffsetFile | None = None
_checked_env = False


def _offset_file() -> _OffsetFile | None:
    global _test_clock, _checked_env
    if not _checked_env:
        path = os.environ.get(TEST_CLOCK_ENV)
        _test_clock = _OffsetFile(path) if path else None
        _checked_env = True
    return _test_clock


def now() -> float:
    """Seconds since the epoch: the real time, shifted by the test clock file if one is set."""
    clock = _offset_file()
    return time.time() if clock is None else time.time() + clock.offset()


def warn_if_test_clock() -> None:
    """Called by a node at start: a shifted clock must never go unnoticed."""
    clock = _offset_file()
    if clock is not None:
        log.warning("TEST CLOCK: %s is set; visibility windows follow the offset in %s (now %.1f s). "
                    "Never set it on a real site.", TEST_CLOCK_ENV, clock.path, clock.offset())
