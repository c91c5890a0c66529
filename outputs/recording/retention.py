"""Retention: which recorded segments to delete, oldest first, never one a hold covers.

Two limits: age (`retention_days`) per camera, and the site's disk budget (`budget_gb`) over the
whole recordings directory (its size kept as a running total: disk_usage.py), met by deleting the oldest segments of the cameras this worker
records (each camera's writer deletes only its own files). A deletion is written into the
camera's chain (a `deleted` entry naming the seqs and why) before the files go, so verification
tells an expired segment from a missing one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from outputs.recording.chain import Entry
from outputs.recording.holds import Hold


@dataclass(frozen=True, slots=True)
class Present:
    """A segment whose file is still there."""

    camera: str
    entry: Entry

    @property
    def size(self) -> int:
        return self.entry.fields["bytes"]


def present_segments(camera_id: str, entries: list[Entry]) -> list[Present]:
    deleted = deleted_seqs(entries)
    return [Present(camera_id, e) for e in entries if e.kind == "segment" and e.seq not in deleted]


def deleted_seqs(entries: Iterable[Entry]) -> set[int]:
    return {seq for e in entries if e.kind == "deleted" for seq in e.fields.get("seqs", [])}


def held(segment: Present, holds: list[Hold]) -> bool:
    return any(h.camera == segment.camera and h.covers(segment.entry.start, segment.entry.end) for h in holds)
