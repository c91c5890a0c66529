"""The audit log: who changed which camera, when, from where; never a secret.

Entries are written by the registry inside the same transaction as the change they record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from pantau.cameras import registry_keys as keys
from pantau.cameras.camera import FIELDS, Camera, masked_fields

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
    before = masked_fields(old) if old else {}
    after = masked_fields(new) if new else {}
    changes = {f: [before.get(f), after.get(f)] for f in FIELDS if before.get(f) != after.get(f)}
    changes = dict(sorted(changes.items()))  # by name, as always
    if old and new:
        if old.source != new.source and "source" not in changes:
            changes["source"] = ["password changed", "password changed"]
        if old.source_token != new.source_token and "source_token" not in changes:
            changes["source_token"] = ["token changed", "token changed"]
    return changes


@dataclass(frozen=True)
class EntryBatch:
    """Entries for many cameras, encoded for `add_entries` (build it off the event loop)."""

    count: int
    payloads: list[str]  # JSON lists of XADD field/value lists, BATCH_CHUNK entries each


BATCH_CHUNK = 5_000
# One command per chunk instead of one XADD per camera: 31k XADDs (and their 62k replies) in a
# transaction cost seconds of event-loop time in redis-py; one argument per chunk costs none.
_ADD_ALL = """
for _, fields in ipairs(cjson.decode(ARGV[2])) do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
end
return 0
"""


def batch_entries(actor: Actor, cameras: list[Camera], current: dict[str, Camera], via: str) -> EntryBatch:
    """One entry per camera a batch (CSV import) creates or changes, with the same field diff as a
    single create or PATCH, so a bulk change is as visible as one made by hand. A camera sent
    back unchanged gets none. Each entry holds one camera (bounded)."""
    at = now_iso()
    entries = []
    for camera in cameras:
        old = current.get(camera.id)
        if old != camera:
            details = json.dumps({"changes": camera_changes(old, camera), "via": via}, ensure_ascii=False)
            entries.append(["at", at, "actor", actor.label, "client", actor.client or "",
                            "action", "create" if old is None else "update", "camera", camera.id, "details", details])
    payloads = [json.dumps(entries[i : i + BATCH_CHUNK], ensure_ascii=False) for i in range(0, len(entries), BATCH_CHUNK)]
    return EntryBatch(len(entries), payloads)


def entry(actor: Actor, action: str, camera_id: str | None, details: dict[str, Any]) -> dict[str, str]:
    return {
        "at": now_iso(), "actor": actor.label, "client": actor.client or "", "action": action,
        "camera": camera_id or "", "details": json.dumps(details, ensure_ascii=False),
    }


def add_to(pipe: Any, actor: Actor, action: str, camera_id: str | None, details: dict[str, Any]) -> None:
    """Queue an audit entry on a pipeline/transaction."""
    pipe.xadd(keys.AUDIT, entry(actor, action, camera_id, details), maxlen=AUDIT_MAXLEN, approximate=True)


def add_entries(pipe: Any, batch: EntryBatch) -> None:
    """Queue the entries of `batch_entries` on a pipeline/transaction."""
    for payload in batch.payloads:
        pipe.eval(_ADD_ALL, 1, keys.AUDIT, AUDIT_MAXLEN, payload)


async def record(redis: aioredis.Redis, actor: Actor, action: str, camera_id: str | None, details: dict[str, Any]) -> None:
    """Append an entry for something that writes no camera (a connection test)."""
    await redis.xadd(keys.AUDIT, entry(actor, action, camera_id, details), maxlen=AUDIT_MAXLEN, approximate=True)


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


