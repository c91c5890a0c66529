"""Closing the Redis connections that sit idle in a pool.

redis-py keeps every connection it has opened: a burst of concurrent commands (forty viewers
joining at once, a flood of requests, many cameras read at once) leaves that many sockets open
for the life of the process. The soak saw a relay, idle again at the end, holding 42 registry and
48 bus connections against 3 and 1 at the start: not a leak, but indistinguishable from one and
never given back. Every `every_s` the idle ones are closed with redis-py's own
`ConnectionPool.disconnect(inuse_connections=False)`; a closed connection reconnects on its next
use, so a busy pool pays at most one connect per connection per period. Connections in use
(a blocking XREAD, a pub/sub listener) are not touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

EVERY_S = 60.0


async def close_idle(clients: Iterable[aioredis.Redis]) -> None:
    for client in clients:
        try:
            await client.connection_pool.disconnect(inuse_connections=False)
        except Exception as exc:  # (an unreachable Redis: nothing to give back)
            log.debug("closing idle Redis connections: %s", exc)


async def close_idle_periodically(clients: list[aioredis.Redis], every_s: float = EVERY_S) -> None:
    """Runs until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        await close_idle(clients)
