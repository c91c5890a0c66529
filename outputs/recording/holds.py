"""Holds ("Tahan untuk sengketa"): ranges of a camera's recording that retention never deletes,
put and lifted by admins (audited), read by the recorder's retention on every check.

Stored in the registry Redis (`{pantau}:recording_holds`, hold id -> JSON) so every worker of a
site sees a hold at once; a hold names the camera, the range (UTC) and the reason.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis

from pantau.cameras import audit_log
from pantau.cameras.audit_log import Actor, now_iso
from pantau.cameras.registry_keys import PREFIX

HOLDS = f"{PREFIX}:recording_holds"


@dataclass(frozen=True)
class Hold:
    id: str
    camera: str
    start: float  # epoch seconds
    end: float
    reason: str
    by: str
    at: str

    def covers(self, start: float, end: float) -> bool:
        return start < self.end and end > self.start


class HoldStore:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis

    async def all(self, camera_id: str | None = None) -> list[Hold]:
        holds = [Hold(**json.loads(v)) for v in (await self.redis.hgetall(HOLDS)).values()]
        return sorted((h for h in holds if camera_id in (None, h.camera)), key=lambda h: (h.camera, h.start))

    async def put(self, camera_id: str, start: float, end: float, reason: str, actor: Actor) -> Hold:
        hold = Hold(secrets.token_hex(8), camera_id, start, end, reason, actor.label, now_iso())
        await self.redis.hset(HOLDS, hold.id, json.dumps(asdict(hold)))
        await audit_log.record(self.redis, actor, "recording-hold", camera_id,
                               {"hold": hold.id, "start": start, "end": end, "reason": reason})
        return hold

    async def lift(self, hold: Hold, actor: Actor) -> None:
        await self.redis.hdel(HOLDS, hold.id)
        await audit_log.record(self.redis, actor, "recording-hold-lifted", hold.camera,
                               {"hold": hold.id, "start": hold.start, "end": hold.end, "reason": hold.reason})
