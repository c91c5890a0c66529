"""A site's HLS: one elected packager per camera, its parts shared through the bus Redis.

Relays behind a load balancer must answer the same name with the same bytes. Two relays that
packaged a camera each on their own would start at different keyframes and count segments
differently, so instead the relays that have viewers of a camera elect one packager (a lease
with a fencing token, the scripts of pantau/runtime/leases.py), which appends every `PartRecord` to a
Redis stream; every relay (the packager too) follows that stream into its own `LiveWindow`.
Each relay then holds the same records in the same order and serves the same playlists,
parts and segments, and a blocking request on any relay returns once the part reached it
(one Redis round trip after the packager made it).

    {cam:ID}:hls:parts   STREAM  one entry per part (PartRecord.encode); trimmed by MINID to
                                 the window plus two segments; expires PARTS_TTL_MS after the
                                 last append
    {cam:ID}:hls:lease   STRING  "node:token" of the packager, PX LEASE_TTL_MS
    {cam:ID}:hls:fence   INT     fencing tokens: a packager that lost its lease appends nothing
    {cam:ID}:hls:demand  STRING  set by relays with viewers that do not package, PX DEMAND_TTL_MS:
                                 the packager keeps packaging for them

A packager that dies loses its lease after LEASE_TTL_MS; a relay with viewers takes over and
continues the numbers after the stream's last entry with a discontinuity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

import redis.asyncio as aioredis

from pantau.runtime.leases import ACQUIRE, FENCED_XADD, RELEASE, RENEW
from relay.hls.part_record import PartRecord

log = logging.getLogger(__name__)

LEASE_TTL_MS = 3000
DEMAND_TTL_MS = 5000
PARTS_TTL_MS = 120_000
READ_BLOCK_MS = 1000


def _key(camera_id: str, name: str) -> str:
    return f"{{cam:{camera_id}}}:hls:{name}"


class RedisPartLog:
    def __init__(self, redis: aioredis.Redis, node: str):
        self.redis = redis
        self.node = node
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)
        self._append = redis.register_script(FENCED_XADD)

    # ---- election -----------------------------------------------------------------------------
    async def lead(self, camera_id: str) -> str | None:
        """Become the camera's packager if nobody is: the lease token, or None."""
        token = await self._acquire(keys=[_key(camera_id, "lease"), _key(camera_id, "fence")],
                                    args=[self.node, LEASE_TTL_MS, ""])
        return token.decode() if isinstance(token, bytes) else token or None

    async def renew(self, camera_id: str, token: str) -> bool:
        return bool(await self._renew(keys=[_key(camera_id, "lease")], args=[token, LEASE_TTL_MS]))

    async def release(self, camera_id: str, token: str) -> None:
        with contextlib.suppress(Exception):
            await self._release(keys=[_key(camera_id, "lease")], args=[token])

    async def want(self, camera_id: str) -> None:
        await self.redis.set(_key(camera_id, "demand"), b"1", px=DEMAND_TTL_MS)

    async def wanted(self, camera_id: str) -> bool:
        return bool(await self.redis.exists(_key(camera_id, "demand")))

    # ---- the parts ----------------------------------------------------------------------------
    async def last(self, camera_id: str) -> PartRecord | None:
        entries = await self.redis.xrevrange(_key(camera_id, "parts"), count=1)
        return PartRecord.decode(entries[0][1]) if entries else None

    def sink(self, camera_id: str, token: str, segments_kept: int) -> Callable:
        """The packager's sink: a fenced append; False once the lease is not this token's."""
        starts: deque[bytes] = deque(maxlen=segments_kept + 2)  # entry ids of the kept segments' first parts
        key = _key(camera_id, "parts")

        async def append(record: PartRecord) -> bool:
            minid = starts[0] if record.index == 0 and len(starts) == starts.maxlen else b""
            args: list = [token, minid]
            for name, value in record.encode().items():
                args += [name, value]
            entry_id = await self._append(keys=[_key(camera_id, "lease"), key], args=args)
            if entry_id is None:
                return False
            if record.index == 0:
                starts.append(entry_id)
                await self.redis.pexpire(key, PARTS_TTL_MS)
            return True

        return append

    async def follow(self, camera_id: str, apply: Callable[[PartRecord], None]) -> None:
        """Apply the stream's records from its start, then every new one (until cancelled)."""
        key = _key(camera_id, "parts")
        last_id: bytes | None = None
        while True:
            try:
                if last_id is None:
                    entries = await self.redis.xrange(key, "-", "+")
                    for _, fields in entries:
                        apply(PartRecord.decode(fields))
                    last_id = entries[-1][0] if entries else b"0-0"
                    continue
                reply = await self.redis.xread({key: last_id}, block=READ_BLOCK_MS, count=100)
                for _, entries in reply or []:
                    for entry_id, fields in entries:
                        last_id = entry_id
                        apply(PartRecord.decode(fields))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if asyncio.current_task().cancelling():
                    raise
                log.info("following HLS parts of %s failed (%s); retrying", camera_id, exc)
                await asyncio.sleep(0.5)
