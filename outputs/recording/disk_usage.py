"""How many bytes of segments the recordings directory holds, for the disk budget, without
walking the directory at every retention check (a site's volume holds millions of files).

A running total: one walk when recording starts, then the writers add every segment they
commit and retention takes off every one it deletes. The walk is repeated every `rescan_s`
(an hour) to correct what the total cannot see: segments other workers of a site write to a
shared volume, files removed by hand or by a crash clean-up. Between walks the budget may be
off by that much; it is a limit on a disk that is sized with room to spare, not a quota.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

RESCAN_S = 3600.0


class DiskUsage:
    def __init__(self, root: Path, rescan_s: float = RESCAN_S):
        self.root = root
        self.rescan_s = rescan_s
        self.scans = 0  # walks of the directory so far
        self._lock = threading.Lock()  # writers add from their threads
        self._total = 0
        self._scanned_at: float | None = None

    def add(self, size: int) -> None:
        """A segment file written (positive) or deleted (negative)."""
        with self._lock:
            self._total += size

    def total(self, now: float | None = None) -> int:
        """Bytes in segment files: the running total, walked again when it is due (blocking: call
        it in a thread)."""
        now = time.monotonic() if now is None else now
        if self._scanned_at is None or now - self._scanned_at >= self.rescan_s:
            with self._lock:
                counted_while_walking = self._total
            walked = segment_bytes(self.root)
            with self._lock:
                # What writers added during the walk may be in it or not: keep the difference out of
                # it (at worst one segment per writer counted twice, until the next walk).
                self._total = walked + (self._total - counted_while_walking)
                self._scanned_at = now
                self.scans += 1
        with self._lock:
            return self._total


def segment_bytes(root: Path) -> int:
    """Bytes of every segment file under root (a directory walk)."""
    total = 0
    for path in root.rglob("*.mp4"):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            pass
    return total
