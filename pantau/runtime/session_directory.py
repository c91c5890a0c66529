"""Which process holds a WHEP viewer session or a WHIP publish session, so that a `DELETE` on
its `Location` ends it whichever process behind a load balancer receives the request.

The holder registers each session (`{pantau}:session:<kind>:<id>` = its node name, expiring
after a day as a safety net) and forgets it when it ends. A process that gets a DELETE for a
session it does not hold looks it up; if it exists somewhere, it announces
`{"type": "end_<kind>", "session": id, "camera": camera}` on the events channel, and the holder
ends it. So the compose file needs no sticky routing (README, "Behind a load balancer").

The directory lives in the registry Redis, which restarts or fails over now and then. A session
must not depend on it: while it is unreachable, a new viewer is still admitted and a leaving one
still ended here, and what the directory should say is kept in memory and written by one
background task once the Redis answers again (found by bench/soak.py: offers got 503 and
sessions that left during an outage stayed in the directory for a day). Only a DELETE that
reaches a process which does not hold the session needs the directory at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import redis.asyncio as aioredis
import redis.exceptions

from pantau.cameras import registry_keys as keys

log = logging.getLogger(__name__)

SAFETY_TTL_S = 24 * 3600
RETRY_S = 1.0
UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class SessionDirectory:
    def __init__(self, redis: aioredis.Redis, kind: str, node: str):
        self.redis = redis
        self.kind = kind  # "whep" | "whip"
        self.node = node
        # Session id -> held (True: register, False: forget), not yet written because the
        # Redis was unreachable; written in order of arrival by `_catch_up`. A later change of
        # the same session replaces the earlier one (a session that came and went during the
        # outage still gets its delete: an earlier SET may have reached Redis before it failed).
        self._unwritten: dict[str, bool] = {}
        self._catching_up: asyncio.Task | None = None

    def _key(self, session_id: str) -> str:
        return f"{keys.SESSION_DIRECTORY}:{self.kind}:{session_id}"

    @property
    def unwritten(self) -> int:
        """Changes waiting for the Redis to come back (/api/metrics)."""
        return len(self._unwritten)

    async def register(self, session_id: str) -> None:
        await self._write(session_id, True)

    async def forget(self, session_id: str) -> None:
        await self._write(session_id, False)

    async def _write(self, session_id: str, held: bool) -> None:
        """Write now if the Redis answers; otherwise keep it for `_catch_up` (never raises for
        an unreachable Redis: the session itself goes on or ends regardless)."""
        if self._unwritten:  # known to be away: do not make this request wait for a timeout
            self._unwritten.pop(session_id, None)
            self._unwritten[session_id] = held
            return
        try:
            await self._apply(session_id, held)
        except UNREACHABLE as exc:
            log.warning("session directory unreachable (%s); %s session %s will be written when it is back",
                        type(exc).__name__, "registering" if held else "forgetting", session_id)
            self._unwritten[session_id] = held
            if self._catching_up is None or self._catching_up.done():
                self._catching_up = asyncio.create_task(self._catch_up())

    async def _apply(self, session_id: str, held: bool) -> None:
        if held:
            await self.redis.set(self._key(session_id), self.node, ex=SAFETY_TTL_S)
        else:
            await self.redis.delete(self._key(session_id))

    async def _catch_up(self) -> None:
        while self._unwritten:
            session_id, held = next(iter(self._unwritten.items()))
            try:
                await self._apply(session_id, held)
            except UNREACHABLE:
                await asyncio.sleep(RETRY_S)
                continue
            if self._unwritten.get(session_id) is held:  # (not changed again while it was written)
                del self._unwritten[session_id]
        log.info("session directory reachable again; every session change of the outage written")

    async def close(self) -> None:
        """At shutdown: what is still unwritten expires with its safety TTL."""
        if self._catching_up is not None:
            self._catching_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._catching_up

    async def end_elsewhere(self, session_id: str, camera_id: str) -> bool:
        """Ask the holder to end a session we do not hold; False if no process holds it.
        Needs the Redis now (an unreachable one raises: the caller answers 503 + Retry-After)."""
        if await self.redis.getdel(self._key(session_id)) is None:
            return False  # (taken here: a replayed DELETE finds nothing and gets its 404)
        message = {"type": f"end_{self.kind}", "session": session_id, "camera": camera_id}
        await self.redis.publish(keys.EVENTS, json.dumps(message))
        return True
