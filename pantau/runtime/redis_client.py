"""Opening the registry's Redis: the site's (a URL) or the private embedded one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis.asyncio as aioredis

from pantau.runtime.config import Settings
from pantau.runtime.embedded_redis import EmbeddedRedis


@dataclass
class RedisHandle:
    client: aioredis.Redis
    embedded: EmbeddedRedis | None

    async def close(self) -> None:
        await self.client.aclose()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)


async def open_redis(settings: Settings) -> RedisHandle:
    embedded = None
    url = settings.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.data_dir, settings.embedded_redis.binary, settings.embedded_redis.start_timeout_s)
        url = await asyncio.to_thread(embedded.start)
    # A connect that cannot reach the host fails in 2 s instead of hanging every read (reads then
    # answer from the last known state: pantau/cameras/registry.py).
    client = aioredis.from_url(url, decode_responses=True, health_check_interval=30, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception:
        await client.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        raise
    return RedisHandle(client, embedded)
