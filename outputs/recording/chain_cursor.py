"""The oldest segments of one camera's chain still on disk, read from a cursor instead of the
whole chain at every retention check.

Why: retention (every `retention_check_s`, 60 s) read and parsed the whole chain of every
recorded camera to find what to delete; a day of 10 s segments is 8,640 lines, and one check
cost ~0.2 CPU-s per camera (more than recording itself), growing every day for the 45 kept.
Retention only ever deletes the oldest segments, so the chain is read once when the cursor is
made (what is present, where the first present segment's line starts) and then forward from
there, only as far as a check needs: a check reads the lines it deletes and one more. Segments
kept by a hold are remembered (few: what a dispute covers) and looked at again every check, as a
hold may have been lifted. Memory stays the held segments and one offset, whatever the chain's
length.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from outputs.recording.chain import Entry, read_entries
from outputs.recording.retention import Present, deleted_seqs


class ChainCursor:
    def __init__(self, camera_id: str, path: Path):
        self.camera_id = camera_id
        self.path = path
        entries = read_entries(path)
        self.lines_read = len(entries)  # parsed by this cursor, the first whole read included
        deleted = deleted_seqs(entries)
        self.kept: list[Present] = []  # passed by the cursor but not deleted (held), oldest first
        self._skip = deleted  # seqs at or after the cursor not to offer (deleted before it was made)
        self._offset = 0  # where the first line not yet passed starts
        self._offered: tuple[Present, int] | None = None  # the segment last offered, and where its line ends
        for entry in entries:
            if entry.kind == "segment" and entry.seq not in deleted:
                break
            self._offset += len(entry.line) + 1

    def oldest(self) -> Iterator[Present]:
        """Present segments, oldest first: the kept ones, then the chain from the cursor on, read
        only as far as the caller goes. Tell `deleted` or `kept_back` of each one before asking
        for the next; one the caller only looks at (the first too young) stays first."""
        yield from list(self.kept)
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            for line in f:
                if not line.endswith(b"\n"):
                    return  # a line still being written (or torn by a crash): not acknowledged
                self.lines_read += 1
                fields = json.loads(line)
                end = self._offset + len(line)
                if fields.get("kind") != "segment" or fields.get("seq") in self._skip:
                    self._skip.discard(fields.get("seq"))
                    self._offset = end
                    continue
                segment = Present(self.camera_id, Entry(line[:-1], fields))
                self._offered = (segment, end)
                yield segment

    def deleted(self, segment: Present) -> None:
        if segment in self.kept:
            self.kept.remove(segment)
        self._pass(segment)

    def kept_back(self, segment: Present) -> None:
        """Not deleted (held): offered again, first, at the next check."""
        if segment not in self.kept:
            self.kept.append(segment)
        self._pass(segment)

    def _pass(self, segment: Present) -> None:
        if self._offered is not None and self._offered[0] == segment:
            self._offset = self._offered[1]
            self._offered = None
