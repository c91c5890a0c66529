"""Writing one segment file so that a crash loses at most the segment being written.

A finished segment (the muxer hands it over when the next keyframe closes it) goes to a temp
file, is fsynced and renamed into place (and the directory fsynced), and only then does the
chain get its entry; until then it is in memory, so a crash loses that segment and no more. A
temp file left by a crash, or a renamed file whose entry never made it into the chain, is not
part of the record and is removed when recording starts again.

Three fsyncs a segment, each needed for that promise on any filesystem a site may mount: the
file's (its bytes on disk before a chain line names them: with delayed allocation nothing else
orders them), the directory's (the rename: ext4 and XFS, one journal each, happen to carry it
with the chain's fsync, but POSIX promises it only with the directory's own, and a lost rename
leaves the chain naming a file that is not there), the chain's (a line not on disk lets the
clean-up delete segments already written). A day's new directory has its name made durable the
same way, once. They cost little CPU: measured here (2026-12-07), writing a 2.5 MB segment with
its fsyncs and the chain line ~1.1 ms of CPU, the directory's fsync under 0.05 ms of it (0.007
CPU-s per camera-minute at 10 s segments, all three).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from outputs.recording.chain import SEGMENTS_DIR, CameraChain, fsync_dir, read_entries

TEMP_SUFFIX = ".writing"
_IOV_MAX = max(16, min(1024, os.sysconf("SC_IOV_MAX")))  # pieces a writev takes (Linux: 1024; POSIX: at least 16)


class SegmentFile:
    def __init__(self, camera_dir: Path, start: float, init: bytes):
        day = datetime.fromtimestamp(start, UTC)  # named by its start (segments last >= 1 s: unique)
        self.relative = f"{SEGMENTS_DIR}/{day:%Y-%m-%d}/{day:%H%M%S}.{day.microsecond // 1000:03d}.mp4"
        self.path = camera_dir / self.relative
        if not self.path.parent.is_dir():
            _make_durable_dir(self.path.parent, camera_dir)
        self.temp = self.path.with_name(self.path.name + TEMP_SUFFIX)
        self._fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        self._hash = hashlib.sha256()
        self.size = 0
        self.init_bytes = len(init)
        self.write(init)

    def write(self, data: bytes) -> None:
        self.write_pieces((data,))

    def write_pieces(self, pieces) -> None:
        """Bytes given in pieces (the segmenter's views into the bus's packets): hashed as they are
        and written with one `writev` per IOV_MAX of them, never joined into one copy first."""
        update = self._hash.update
        for piece in pieces:
            update(piece)
        for first in range(0, len(pieces), _IOV_MAX):
            batch = pieces[first:first + _IOV_MAX]
            left = sum(map(len, batch))
            written = os.writev(self._fd, batch)
            self.size += written
            if written < left:  # short write (a signal, a nearly full disk): the rest as one copy
                rest = memoryview(b"".join(batch))[written:]
                while rest:
                    written = os.write(self._fd, rest)
                    self.size += written
                    rest = rest[written:]

    def commit(self) -> str:
        """fsync and rename into place; the file's SHA-256."""
        os.fsync(self._fd)
        # Written once, read rarely: its pages leave the page cache now that they are on disk, so
        # recordings do not push out what live outputs read, and the next segment reuses them
        # (new page-cache pages cost ~0.06 CPU-s per camera-minute of kernel time on this VM, reused ones ~0.005).
        os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(self._fd)
        os.replace(self.temp, self.path)
        fsync_dir(self.path.parent)
        return self._hash.hexdigest()

    def abandon(self) -> None:
        os.close(self._fd)
        self.temp.unlink(missing_ok=True)


def _make_durable_dir(directory: Path, top: Path) -> None:
    """Make `directory` (and parents up to `top`) with their names on disk: each new one's parent fsynced."""
    if directory == top or directory.is_dir():
        return
    _make_durable_dir(directory.parent, top)
    directory.mkdir(exist_ok=True)
    fsync_dir(directory.parent)


SETTLED_S = 10.0  # a writer's temp file lives milliseconds (write, fsync, rename, chain)


def remove_unrecorded(chain: CameraChain, settled_s: float = SETTLED_S) -> int:
    """Temp files and files the chain does not name (a crash between rename and chain append),
    untouched for `settled_s`: at a change of lease owner the old owner may still be finishing
    one. Run when recording starts and at the recorder's first retention check (recorders.py)."""
    named = {e.fields.get("file") for e in read_entries(chain.path) if e.kind == "segment"}
    removed = 0
    segments = chain.dir / SEGMENTS_DIR
    if not segments.exists():
        return 0
    settled = time.time() - settled_s
    for path in segments.rglob("*"):
        if path.is_file() and (path.name.endswith(TEMP_SUFFIX) or str(path.relative_to(chain.dir)) not in named):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < settled:
                    path.unlink()
                    removed += 1
    return removed
