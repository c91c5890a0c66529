"""A cancelled task busy with Redis stops (pantau/runtime/asyncio_compat.py): Python 3.11's
`asyncio.wait_for`, which redis-py sends every command through, lost about two cancels in three
here, and a background loop cancelled at shutdown ran on for ever (a CI run hung on it)."""

from __future__ import annotations

import asyncio
import random
import sys

import pytest
import redis.asyncio as aioredis

import pantau  # noqa: F401  (importing the product installs the fix)
from pantau.runtime import asyncio_compat

pytestmark = pytest.mark.timeout(60)


async def test_every_cancel_of_a_task_busy_with_redis_stops_it(redis_server):
    client = aioredis.from_url(redis_server.url)
    assert client.connection_pool.connection_kwargs.get("socket_timeout") is None  # redis-py's default 5 s applies

    async def reader() -> str:
        while True:
            await client.get("anything")
            if asyncio.current_task().cancelling():
                return "cancel lost"

    outcomes = {"stopped": 0, "cancel lost": 0}
    try:
        for _ in range(300):
            task = asyncio.create_task(reader())
            await asyncio.sleep(random.random() * 0.003)  # anywhere in a command's send and reply
            task.cancel()
            try:
                outcomes[await task] += 1
            except asyncio.CancelledError:
                outcomes["stopped"] += 1
    finally:
        await client.aclose()
    assert outcomes == {"stopped": 300, "cancel lost": 0}


async def test_wait_for_keeps_its_contract():
    if sys.version_info < (3, 12):
        assert asyncio.wait_for is asyncio_compat.wait_for
    assert await asyncio.wait_for(asyncio.sleep(0, "result"), 1) == "result"
    assert await asyncio.wait_for(asyncio.sleep(0.01, "no limit"), None) == "no limit"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.sleep(5), 0.05)
    done = asyncio.get_running_loop().create_future()
    done.set_result("already")
    assert await asyncio.wait_for(done, 0) == "already"  # a timeout of 0 still takes what is ready
    slow = asyncio.ensure_future(asyncio.sleep(5))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(slow, 0)
    assert slow.cancelled()  # and stops what is not

    outer = asyncio.create_task(asyncio.wait_for(asyncio.sleep(5), 10))
    await asyncio.sleep(0.01)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer  # a cancel from outside is a cancel, not a timeout
