"""The per-camera hash chain: one JSON line per segment, gap or deletion, append-only.

Each line is the canonical JSON of its entry (sorted keys, no spaces) and the entry's hash is
the SHA-256 of exactly that line (without the newline), so anyone can recompute it with
`sed -n Np chain.jsonl | tr -d '\\n' | sha256sum`. Every entry names the previous entry's hash
(`prev`), the camera, its start and end time, and for a segment the SHA-256 of its file: a
changed, missing, swapped or inserted segment or entry breaks the chain where it happened.
Gaps (camera offline, node restarted) and deletions (retention) are entries too, never silent.

Layout of a recordings directory:
  site-key.pub.pem                  the site's public key (also at GET /api/recordings/site-key.pem)
  <camera>/chain.jsonl              the chain
  <camera>/signatures.jsonl         signatures of chain heads (outputs/recording/site_key.py)
  <camera>/segments/YYYY-MM-DD/HHMMSS.mmm.mp4    one fMP4 file per segment (init + fragments), UTC start
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
CHAIN_FILE = "chain.jsonl"
SIGNATURES_FILE = "signatures.jsonl"
SEGMENTS_DIR = "segments"
PUBLIC_KEY_FILE = "site-key.pub.pem"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def line_of(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def hash_of(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    line: bytes  # exactly as stored
    fields: dict[str, Any]

    @property
    def hash(self) -> str:
        return hash_of(self.line)

    @property
    def seq(self) -> int:
        return self.fields["seq"]

    @property
    def kind(self) -> str:
        return self.fields["kind"]

    @property
    def start(self) -> float:
        return parse_iso(self.fields["start"])

    @property
    def end(self) -> float:
        return parse_iso(self.fields["end"])


def read_entries(path: Path) -> list[Entry]:
    """Every complete line of a chain file (a torn last line, from a crash mid-write, is left out)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    entries = []
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            entries.append(Entry(line, json.loads(line)))
        except ValueError:
            entries.append(Entry(line, {}))  # kept: verification names it
    if data and not data.endswith(b"\n") and entries:
        entries.pop()  # not acknowledged: the writer fsyncs the newline with the line
    return entries


def append_line(path: Path, line: bytes) -> None:
    """Append one line and fsync: acknowledged only once it is on disk."""
    with open(path, "ab") as f:
        f.write(line + b"\n")
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CameraChain:
    """The writer's side of one camera's chain (one writer: the camera's lease owner).

    At a change of lease owner the old owner may still close its last segment while the new one
    starts: every append takes an `flock` on the chain file and first reads what another writer
    appended since, so the chain stays one line after another whoever writes."""

    def __init__(self, root: Path, camera_id: str):
        self.camera_id = camera_id
        self.dir = root / camera_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / CHAIN_FILE
        self._lock = threading.Lock()  # the segment writer and retention append from their threads
        self.last: Entry | None = None
        self.last_segment_end: float | None = None
        self._size = -1  # the chain file's size after our last read or write
        with open(self.path, "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            self._catch_up(f, truncate_torn=True)

    def _catch_up(self, f, truncate_torn: bool = False) -> None:
        """Read the chain again if someone else appended (or at start); drop a torn last line."""
        size = os.fstat(f.fileno()).st_size
        if size == self._size:
            return
        entries = read_entries(self.path)
        good = sum(len(e.line) + 1 for e in entries)
        if truncate_torn and size != good:
            f.truncate(good)  # a line the writer never acknowledged (a crash mid-write)
            size = good
        self.last = entries[-1] if entries else None
        self.last_segment_end = next((e.end for e in reversed(entries) if e.kind in ("segment", "gap")), None)
        self._size = size

    @property
    def next_seq(self) -> int:
        return self.last.seq + 1 if self.last else 0

    def entries(self) -> list[Entry]:
        return read_entries(self.path)

    def append(self, kind: str, **fields: Any) -> Entry:
        with self._lock, open(self.path, "ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
            self._catch_up(f)
            entry = {"camera": self.camera_id, "kind": kind, "prev": self.last.hash if self.last else GENESIS,
                     "seq": self.next_seq, **fields}
            line = line_of(entry)
            f.write(line + b"\n")
            f.flush()
            os.fsync(f.fileno())
            self._size = os.fstat(f.fileno()).st_size
            self.last = Entry(line, entry)
            if kind in ("segment", "gap"):
                self.last_segment_end = self.last.end
            return self.last
