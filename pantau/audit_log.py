"""The audit log: who changed which camera, when, from where; never a secret.

Entries are written by the registry inside the same transaction as the change they record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from pantau import registry_keys as keys
from pantau.camera import Camera, admin_view

AUDIT_MAXLEN = 200_000


@dataclass(frozen=True)
class Actor:
    """Who acts: the label of the token used (never the token) and the client address."""

    label: str
    client: str | None = None


SYSTEM = Actor("system")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def camera_changes(old: Camera | None, new: Camera | None) -> dict[str, Any]:
    """Field -> [old, new] in masked form; a changed secret shows as 'changed', never its value."""
    before = admin_view(old) if old else {}
    after = admin_view(new) if new else {}
    for view in (before, after):
        view.pop("status", None)
    changes = {f: [before.get(f), after.get(f)] for f in sorted(set(before) | set(after)) if before.get(f) != after.get(f)}
    if old and new:
        if old.source != new.source and "source" not in changes:
            changes["source"] = ["password changed", "password changed"]
        if old.source_token != new.source_token and "source_token" not in changes:
            changes["source_token"] = ["token changed", "token changed"]
    return changes


def entry(actor: Actor, action: str, camera_id: str | None, details: dict[str, Any]) -> dict[str, str]:
    return {
        "at": now_iso(), "actor": actor.label, "client": actor.client or "", "action": action,
        "camera": camera_id or "", "details": json.dumps(details, ensure_ascii=False),
    }


def add_to(pipe: Any, actor: Actor, action: str, camera_id: str | None, details: dict[str, Any]) -> None:
    """Queue an audit entry on a pipeline/transaction."""
    pipe.xadd(keys.AUDIT, entry(actor, action, camera_id, details), maxlen=AUDIT_MAXLEN, approximate=True)


async def read(redis: aioredis.Redis, limit: int = 100, before: str | None = None) -> tuple[list[dict], str | None]:
    """Newest first; `before` is the cursor returned by the previous page."""
    end = f"({before}" if before else "+"
    rows = await redis.xrevrange(keys.AUDIT, max=end, min="-", count=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "id": entry_id, "at": f["at"], "actor": f["actor"], "client": f["client"] or None,
            "action": f["action"], "camera": f["camera"] or None, "details": json.loads(f["details"]),
        }
        for entry_id, f in rows
    ]
    return items, (rows[-1][0] if more and rows else None)


