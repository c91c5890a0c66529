"""Idle pooled Redis connections are given back (pantau/runtime/redis_pools.py): after a burst
of concurrent commands the pool's sockets close, the ones in use stay, and the client goes on."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis

from pantau.runtime.redis_pools import close_idle

pytestmark = pytest.mark.timeout(30)


def _connected_clients(port: int) -> int:
    return int(redis.Redis(port=port).info("clients")["connected_clients"]) - 1  # (not this probe's own)


async def test_a_burst_leaves_no_idle_connection_behind(redis_server):
    client = aioredis.from_url(redis_server.url)
    blocked = aioredis.from_url(redis_server.url)
    try:
        await asyncio.gather(*(client.blpop([f"nothing-{n}"], timeout=0.3) for n in range(30)))  # 30 at once
        listening = asyncio.ensure_future(blocked.blpop(["wake"], timeout=10))  # a connection in use
        await asyncio.sleep(0.2)
        assert _connected_clients(redis_server.port) == 31  # redis-py keeps every one it opened

        await close_idle([client, blocked])
        await asyncio.sleep(0.1)
        assert _connected_clients(redis_server.port) == 1  # only the blocked command's
        await client.rpush("wake", "x")  # the pool reconnects on use, and the one in use still works
        assert await listening == (b"wake", b"x")
        assert await client.ping()
    finally:
        await client.aclose()
        await blocked.aclose()
