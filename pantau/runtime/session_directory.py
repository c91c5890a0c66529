"""Which process holds a WHEP viewer session or a WHIP publish session, so that a `DELETE` on
its `Location` ends it whichever process behind a load balancer receives the request.

The holder registers each session (`{pantau}:session:<kind>:<id>` = its node name, expiring
after a day as a safety net) and forgets it when it ends. A process that gets a DELETE for a
session it does not hold looks it up; if it exists somewhere, it announces
`{"type": "end_<kind>", "session": id, "camera": camera}` on the events channel, and the holder
ends it. So the compose file needs no sticky routing (see docs/site.md).
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from pantau.cameras import registry_keys as keys

SAFETY_TTL_S = 24 * 3600


class SessionDirectory:
    def __init__(self, redis: aioredis.Redis, kind: str, node: str):
        self.redis = redis
        self.kind = kind  # "whep" | "whip"
        self.node = node

    def _key(self, session_id: str) -> str:
        return f"{keys.SESSION_DIRECTORY}:{self.kind}:{session_id}"

    async def register(self, session_id: str) -> None:
        await self.redis.set(self._key(session_id), self.node, ex=SAFETY_TTL_S)

    async def forget(self, session_id: str) -> None:
        await self.redis.delete(self._key(session_id))

    async def end_elsewhere(self, session_id: str, camera_id: str) -> bool:
        """Ask the holder to end a session we do not hold; False if no process holds it."""
        if await self.redis.getdel(self._key(session_id)) is None:
            return False  # (taken here: a replayed DELETE finds nothing and gets its 404)
        message = {"type": f"end_{self.kind}", "session": session_id, "camera": camera_id}
        await self.redis.publish(keys.EVENTS, json.dumps(message))
        return True
