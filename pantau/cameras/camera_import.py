"""Bulk import: parse a CSV, validate it whole against the registry, store it in one transaction.

Shared by the admin API and the `pantau cameras import` command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from pantau.cameras import audit_log, recap_rule
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import Camera
from pantau.cameras.camera_csv import CsvRow, ImportInvalid, RowError, decode_csv, parse_csv, validate_rows
from pantau.cameras.registry import Registry


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
    rows = await asyncio.to_thread(lambda: parse_csv(decode_csv(body)))
    report = (lambda done: progress(done, len(rows))) if progress else None

    async def plan(current):
        cameras, created, updated = await asyncio.to_thread(
            validate_rows, rows, registry.regions, current, upsert, report
        )
        check_recap_cameras(rows, cameras, current, registry)
        mode = "upsert" if upsert else "create"
        # Each camera created or changed is audited with its fields, as a create or PATCH would be.
        per_camera = await asyncio.to_thread(audit_log.batch_entries, actor, cameras, current, f"import ({mode})")
        details = {"rows": len(rows), "created": created, "updated": updated, "changed": per_camera.count, "mode": mode}
        return cameras, details, ImportResult(created, updated), per_camera

    return await registry.write_batch(plan, actor, "import")


def check_recap_cameras(rows: list[CsvRow], cameras: list[Camera], current: dict[str, Camera], registry: Registry) -> None:
    """One enabled recap camera per kecamatan (pantau/cameras/recap_rule.py), as line errors: the row
    that would add a second one, naming the camera that holds the kecamatan (and its line)."""
    found = recap_rule.conflicts(current, cameras)
    if not found:
        return
    line_of = {camera.id: row.line for row, camera in zip(rows, cameras, strict=True)}  # one camera per row
    raise ImportInvalid([RowError(line_of[c.camera], "enabled", c.reason(registry.regions, line_of.get(c.holder)))
                         for c in found])
