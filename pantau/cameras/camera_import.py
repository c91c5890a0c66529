"""Bulk import: read a CSV, validate it whole against the registry, store it in one transaction.

Shared by the admin API and the `pantau cameras import` command. The file is checked a row at a
time and only its first errors are kept (pantau/cameras/camera_csv.py), and a node runs one
import at a time: a flood of large bad files once took a relay from 179 to 422 MB, most of it
never returned (CPython keeps an arena while any object in it lives; README, Soak).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pantau.cameras import audit_log, recap_rule
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import Camera
from pantau.cameras.camera_csv import ImportInvalid, RowError, ValidRows, decode_csv, validate_csv
from pantau.cameras.registry import Registry

IMPORT_BUSY_RETRY_S = 5
_one_import = threading.Lock()  # per process (a node): the CLI and the API use the same gate


class ImportBusy(Exception):
    """Another import is running in this process."""


@contextmanager
def exclusive_import() -> Iterator[None]:
    """Held for the whole of one import (reading the body included); ImportBusy at once if
    another holds it, instead of queueing files in memory."""
    if not _one_import.acquire(blocking=False):
        raise ImportBusy("another CSV import is running on this node; nothing was stored, "
                         f"send the file again in {IMPORT_BUSY_RETRY_S} s")
    try:
        yield
    finally:
        _one_import.release()


@dataclass
class ImportResult:
    created: int
    updated: int

    @property
    def total(self) -> int:
        return self.created + self.updated


async def import_csv(
    registry: Registry, body: bytes, actor: Actor, upsert: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Raises ImportInvalid (nothing stored) or returns the counts (everything stored)."""
    text = await asyncio.to_thread(decode_csv, body)
    estimated_rows = max(text.count("\n"), 1)  # a quoted field may span lines: the bar's total only
    report = (lambda done: progress(done, max(done, estimated_rows))) if progress else None

    async def plan(current):
        valid = await asyncio.to_thread(validate_csv, text, registry.regions, current, upsert, report)
        check_recap_cameras(valid, current, registry)
        mode = "upsert" if upsert else "create"
        # Each camera created or changed is audited with its fields, as a create or PATCH would be.
        per_camera = await asyncio.to_thread(audit_log.batch_entries, actor, valid.cameras, current, f"import ({mode})")
        details = {"rows": valid.rows, "created": valid.created, "updated": valid.updated, "changed": per_camera.count, "mode": mode}
        return valid.cameras, details, ImportResult(valid.created, valid.updated), per_camera

    return await registry.write_batch(plan, actor, "import")


def check_recap_cameras(valid: ValidRows, current: dict[str, Camera], registry: Registry) -> None:
    """One enabled recap camera per kecamatan (pantau/cameras/recap_rule.py), as line errors: the row
    that would add a second one, naming the camera that holds the kecamatan (and its line)."""
    found = recap_rule.conflicts(current, valid.cameras)
    if not found:
        return
    line_of = {camera.id: line for line, camera in zip(valid.lines, valid.cameras, strict=True)}
    raise ImportInvalid([RowError(line_of[c.camera], "enabled", c.reason(registry.regions, line_of.get(c.holder)))
                         for c in found])
