"""Bulk import: parse a CSV, validate it whole against the registry, store it in one transaction.

Shared by the admin API and the `pantau cameras import` command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from pantau import audit_log
from pantau.audit_log import Actor
from pantau.camera_csv import decode_csv, parse_csv, validate_rows
from pantau.registry import Registry


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
        mode = "upsert" if upsert else "create"
        # Each camera created or changed is audited with its fields, as a create or PATCH would be.
        per_camera = await asyncio.to_thread(audit_log.batch_entries, actor, cameras, current, f"import ({mode})")
        details = {"rows": len(rows), "created": created, "updated": updated, "changed": per_camera.count, "mode": mode}
        return cameras, details, ImportResult(created, updated), per_camera

    return await registry.write_batch(plan, actor, "import")
