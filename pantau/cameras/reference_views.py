"""Reference views: what each camera should show, set by an admin from its current tile.

Stored in the registry Redis (`{pantau}:references`, camera id -> JSON of a few KB: the
`ViewSignature`, when and by whom), written in one transaction with an audit entry and a note on
`{pantau}:references:changes`. Ingest workers read the references of the cameras they run when
they start them, and follow the changes stream (one XRANGE per registry poll), so a new or
cleared reference applies on whichever worker owns the camera within a second, without a restart.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from pantau.cameras import audit_log
from pantau.cameras import registry_keys as keys
from pantau.cameras.audit_log import Actor
from pantau.media.view_signature import ViewSignature
from pantau.runtime.clock import iso_utc

log = logging.getLogger(__name__)

CHANGES_MAXLEN = 10_000


@dataclass(frozen=True)
class ReferenceView:
    signature: ViewSignature
    set_at: str  # ISO time
    set_by: str  # token label
    captured_at: float  # time.time() of the keyframe it was taken from
    width: int  # of the tile it was taken from
    height: int

    def to_json(self) -> str:
        return json.dumps({"signature": self.signature.to_json(), "set_at": self.set_at, "set_by": self.set_by,
                           "captured_at": self.captured_at, "width": self.width, "height": self.height}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> ReferenceView:
        data = json.loads(raw)
        return cls(ViewSignature.from_json(data["signature"]), data["set_at"], data["set_by"], float(data["captured_at"]),
                   int(data["width"]), int(data["height"]))

    def info(self) -> dict[str, Any]:
        """What the admin API shows (the picture as a small grey PNG data URL)."""
        return {"set_at": self.set_at, "set_by": self.set_by, "captured_at": iso_utc(self.captured_at),
                "width": self.width, "height": self.height,
                "picture": "data:image/png;base64," + self.signature.to_json()["small_png"]}


def _decode(camera_id: str, raw: str | bytes | None) -> ReferenceView | None:
    if raw is None:
        return None
    try:
        return ReferenceView.from_json(raw)
    except (ValueError, KeyError, TypeError) as exc:  # written by another version: judge without it
        log.warning("camera %s: reference view not readable (%s); ignored", camera_id, exc)
        return None


class ReferenceViews:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis

    async def set(self, camera_id: str, view: ReferenceView, actor: Actor) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.REFERENCES, camera_id, view.to_json())
            pipe.xadd(keys.REFERENCE_CHANGES, {"camera": camera_id}, maxlen=CHANGES_MAXLEN, approximate=True)
            audit_log.add_to(pipe, actor, "set_reference", camera_id, {"captured_at": iso_utc(view.captured_at)})
            await pipe.execute()

    async def clear(self, camera_id: str, actor: Actor | None) -> bool:
        """False if there was none (nothing written). `actor` None: the camera was deleted (that
        is audited on its own)."""
        if not await self.redis.hexists(keys.REFERENCES, camera_id):
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.REFERENCES, camera_id)
            pipe.xadd(keys.REFERENCE_CHANGES, {"camera": camera_id}, maxlen=CHANGES_MAXLEN, approximate=True)
            if actor is not None:
                audit_log.add_to(pipe, actor, "clear_reference", camera_id, {})
            removed, *_ = await pipe.execute()
        return bool(removed)

    async def get(self, camera_id: str) -> ReferenceView | None:
        return _decode(camera_id, await self.redis.hget(keys.REFERENCES, camera_id))

    async def get_many(self, camera_ids: list[str]) -> dict[str, ReferenceView | None]:
        if not camera_ids:
            return {}
        raw = await self.redis.hmget(keys.REFERENCES, camera_ids)
        return {camera_id: _decode(camera_id, value) for camera_id, value in zip(camera_ids, raw)}

    async def last_change(self) -> str:
        """The cursor to follow changes from (before reading the references themselves)."""
        last = await self.redis.xrevrange(keys.REFERENCE_CHANGES, count=1)
        return last[0][0] if last else "0-0"

    async def changes_since(self, cursor: str) -> tuple[str, set[str]]:
        """(new cursor, cameras whose reference was set or cleared since `cursor`)."""
        entries = await self.redis.xrange(keys.REFERENCE_CHANGES, min=f"({cursor}", max="+")
        if not entries:
            return cursor, set()
        return entries[-1][0], {fields["camera"] for _, fields in entries}
