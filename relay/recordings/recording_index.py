"""What a camera's recording holds in a time range, read from its chain (outputs/recording/chain.py)
in the recordings directory this relay sees (local, or the site's mounted volume).

The chain is read again only when its file changed (size and mtime), so a timeline request costs
a stat; segments deleted by retention show as gaps ("deleted: retention"), like the gap entries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from outputs.recording.chain import CHAIN_FILE, Entry, read_entries
from outputs.recording.retention import deleted_seqs


@dataclass(frozen=True, slots=True)
class Span:
    kind: str  # segment | gap
    start: float
    end: float
    entry: Entry | None = None  # the segment's entry
    reason: str = ""

    @property
    def file(self) -> str:
        return self.entry.fields["file"] if self.entry else ""


class RecordingIndex:
    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, tuple[tuple[int, int], list[Entry], list[Span]]] = {}

    def camera_dir(self, camera_id: str) -> Path:
        return self.root / camera_id

    def entries(self, camera_id: str) -> list[Entry]:
        return self._load(camera_id)[0]

    def spans(self, camera_id: str, start: float, end: float) -> list[Span]:
        return [s for s in self._load(camera_id)[1] if s.end > start and s.start < end]

    def _load(self, camera_id: str) -> tuple[list[Entry], list[Span]]:
        path = self.camera_dir(camera_id) / CHAIN_FILE
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return [], []
        stamp = (stat.st_size, stat.st_mtime_ns)
        cached = self._cache.get(camera_id)
        if cached is None or cached[0] != stamp:
            entries = read_entries(path)
            cached = self._cache[camera_id] = (stamp, entries, _spans(entries))
        return cached[1], cached[2]


def _spans(entries: list[Entry]) -> list[Span]:
    deleted = deleted_seqs(entries)
    spans = []
    for entry in entries:
        if entry.kind == "segment" and entry.seq in deleted:
            spans.append(Span("gap", entry.start, entry.end, reason="deleted: retention"))
        elif entry.kind == "segment":
            spans.append(Span("segment", entry.start, entry.end, entry))
        elif entry.kind == "gap":
            spans.append(Span("gap", entry.start, entry.end, reason=entry.fields.get("reason", "")))
    return spans
