"""How many people watch each camera, across every relay of a site.

`LocalViewerCounts` (the embedded default): this relay's sessions are all there is.
`SiteViewerCounts`: each relay keeps its own count per camera in the registry Redis
(`{pantau}:viewers:<camera>`, a hash: relay name -> "count:expires_at_ms", refreshed every
REFRESH_S while non-zero, so a relay that dies stops counting within EXPIRY_S) and announces
changes on the events channel; every relay's SSE then sends the new site-wide total.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable

import redis.asyncio as aioredis
import redis.exceptions

from pantau.cameras import registry_keys as keys

log = logging.getLogger(__name__)

REFRESH_S = 5.0
EXPIRY_S = 15.0

# KEYS: the cameras' viewer hashes. ARGV: now (ms since the epoch). Returns position, total,
# position, total, ... (1-based) for the cameras watched now, over the relays whose entry has
# not expired. One script call with a short answer instead of one HGETALL per camera: a
# listing of 1000 cameras spent ~10 ms of the event loop's CPU packing and parsing 1000
# pipelined replies.
TOTALS = """
local now = tonumber(ARGV[1])
local watched = {}
for i, key in ipairs(KEYS) do
  local total = 0
  for _, value in ipairs(redis.call('HVALS', key)) do
    local count, expires = string.match(value, '^(%d+):(%d+)$')
    if count and tonumber(expires) > now then total = total + tonumber(count) end
  end
  if total > 0 then
    watched[#watched + 1] = i
    watched[#watched + 1] = total
  end
end
return watched
"""


def viewers_key(camera_id: str) -> str:
    return f"{keys.PREFIX}:viewers:{camera_id}"


class LocalViewerCounts:
    def __init__(self, local: Callable[[str], int], on_total: Callable[[str, int], None]):
        self._local = local
        self._on_total = on_total

    def changed(self, camera_id: str, count: int) -> None:
        self._on_total(camera_id, count)

    async def totals(self, camera_ids: Iterable[str]) -> dict[str, int]:
        return {camera_id: self._local(camera_id) for camera_id in camera_ids}

    async def announced(self, camera_id: str) -> int | None:
        return None  # nothing crosses processes here

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class SiteViewerCounts:
    def __init__(self, redis: aioredis.Redis, node: str, local: Callable[[str], int]):
        self.redis = redis
        self.node = node
        self._local = local
        self._dirty: set[str] = set()
        self._counting: set[str] = set()  # cameras with a non-zero count here
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._totals = redis.register_script(TOTALS)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="viewer-counts")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):  # leave the site's totals right at a clean stop
            async with self.redis.pipeline(transaction=False) as pipe:
                for camera_id in self._counting:
                    pipe.hdel(viewers_key(camera_id), self.node)
                await pipe.execute()

    def changed(self, camera_id: str, count: int) -> None:
        self._dirty.add(camera_id)
        self._wake.set()

    async def _run(self) -> None:
        last_refresh = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), REFRESH_S)
            self._wake.clear()
            refresh = time.monotonic() - last_refresh >= REFRESH_S
            if refresh:
                last_refresh = time.monotonic()
            dirty, self._dirty = self._dirty, set()
            try:
                await self._write(dirty, self._counting if refresh else set())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if asyncio.current_task().cancelling():
                    raise
                log.warning("could not store viewer counts (%s); retrying", exc)
                self._dirty |= dirty

    async def _write(self, dirty: set[str], refresh: set[str]) -> None:
        expires = int((time.time() + EXPIRY_S) * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for camera_id in dirty | refresh:
                count = self._local(camera_id)
                if count:
                    pipe.hset(viewers_key(camera_id), self.node, f"{count}:{expires}")
                    self._counting.add(camera_id)
                else:
                    pipe.hdel(viewers_key(camera_id), self.node)
                    self._counting.discard(camera_id)
            for camera_id in dirty:
                pipe.publish(keys.EVENTS, json.dumps({"type": "viewers", "id": camera_id}))
            await pipe.execute()

    async def totals(self, camera_ids: Iterable[str]) -> dict[str, int]:
        ids = list(camera_ids)
        if not ids:
            return {}
        try:
            watched = await self._totals(keys=[viewers_key(camera_id) for camera_id in ids], args=[int(time.time() * 1000)])
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            # The site's Redis away for a moment: this node's own viewers, a lower bound, rather than no answer.
            return {camera_id: self._local(camera_id) for camera_id in ids}
        totals = dict.fromkeys(ids, 0)
        for position, total in zip(watched[::2], watched[1::2]):
            totals[ids[int(position) - 1]] = int(total)
        return totals

    async def announced(self, camera_id: str) -> int | None:
        return (await self.totals([camera_id]))[camera_id]
