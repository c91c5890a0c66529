"""How many bytes of segments the recordings directory holds, for the disk budget, without
walking the directory at every retention check (a site's volume holds millions of files: 45
days of 10 s segments of 44 cameras is ~17M).

A running total: one walk when recording starts, then the writers add every segment they
commit and retention takes off every one it deletes. The walk is repeated every `rescan_s`
(an hour) to correct what the total cannot see: segments other workers of a site write to a
shared volume, files removed by hand or by a crash clean-up. Between walks the budget may be
off by that much; it is a limit on a disk that is sized with room to spare, not a quota.

Only the first walk reads every file's size. A directory's modification time changes whenever a
name in it is added, removed or renamed, which is the only way segments come and go (written to a
temp name and renamed; deleted whole), so a later walk lists again only the directories whose
time changed since (today's, the ones retention deleted from) and takes the sum it had for the
rest: ~2,000 `stat`s of directories an hour for 44 cameras' 45 days instead of 17M of files.
A directory changed within the last `SETTLED_S` is always listed again: a change in the same
tick of the filesystem's clock as the listing would leave its time as it was.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

RESCAN_S = 3600.0
SETTLED_S = 5.0  # a directory's time is trusted once it is this old (a clock tick, a remote volume's skew)


class DiskUsage:
    def __init__(self, root: Path, rescan_s: float = RESCAN_S):
        self.root = root
        self.rescan_s = rescan_s
        self.scans = 0  # walks of the directory so far
        self.sizes = DirectorySizes(root)
        self._lock = threading.Lock()  # writers add from their threads
        self._total = 0
        self._scanned_at: float | None = None
        # Since the process started, for /metrics: segments this node wrote and retention deleted.
        self.written = self.written_bytes = self.deleted = 0

    def add(self, size: int) -> None:
        """A segment file written (positive) or deleted (negative)."""
        with self._lock:
            self._total += size
            if size >= 0:
                self.written += 1
                self.written_bytes += size
            else:
                self.deleted += 1

    def last_total(self) -> int:
        """The running total as it stands, without a walk (for /metrics, on the event loop)."""
        with self._lock:
            return self._total

    def total(self, now: float | None = None) -> int:
        """Bytes in segment files: the running total, walked again when it is due (blocking: call
        it in a thread)."""
        now = time.monotonic() if now is None else now
        if self._scanned_at is None or now - self._scanned_at >= self.rescan_s:
            with self._lock:
                counted_while_walking = self._total
            walked = self.sizes.walk()
            with self._lock:
                # What writers added during the walk may be in it or not: keep the difference out of
                # it (at worst one segment per writer counted twice, until the next walk).
                self._total = walked + (self._total - counted_while_walking)
                self._scanned_at = now
                self.scans += 1
        with self._lock:
            return self._total


@dataclass(frozen=True, slots=True)
class _Listing:
    mtime_ns: int | None  # None: changed too recently to be trusted, listed again next walk
    file_bytes: int  # of the *.mp4 files directly in it
    subdirectories: tuple[str, ...]


class DirectorySizes:
    """Bytes of every segment file (`*.mp4`) under root, remembering each directory's listing for
    the next walk (module docstring)."""

    def __init__(self, root: Path):
        self.root = root
        self.directories_listed = 0  # by the last walk (the rest were taken from the one before)
        self._listings: dict[str, _Listing] = {}

    def walk(self) -> int:
        listings: dict[str, _Listing] = {}
        self.directories_listed = 0
        settled_ns = time.time_ns() - int(SETTLED_S * 1e9)
        total, pending = 0, [str(self.root)]
        while pending:
            directory = pending.pop()
            try:
                mtime_ns = os.stat(directory).st_mtime_ns  # before listing: a change during it shows next time
            except FileNotFoundError:
                continue
            listing = self._listings.get(directory)
            if listing is None or listing.mtime_ns != mtime_ns:
                listing = _list(directory, mtime_ns if mtime_ns < settled_ns else None)
                self.directories_listed += 1
            listings[directory] = listing
            total += listing.file_bytes
            pending.extend(listing.subdirectories)
        self._listings = listings  # directories gone are forgotten
        return total


def _list(directory: str, mtime_ns: int | None) -> _Listing:
    file_bytes, subdirectories = 0, []
    with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                if entry.is_dir(follow_symlinks=False):
                    subdirectories.append(entry.path)
                elif entry.name.endswith(".mp4"):
                    file_bytes += entry.stat(follow_symlinks=False).st_size
    return _Listing(mtime_ns, file_bytes, tuple(subdirectories))

