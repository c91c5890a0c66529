"""Timing helpers: HTTP request latency, percentiles, and the raw Redis write baseline."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field

import aiohttp
import redis.asyncio as aioredis

# Same chunking as the registry's import transaction (pantau.registry.WRITE_CHUNK), so the
# baseline pays the same number of HSET commands.
RAW_WRITE_CHUNK = 5_000
RAW_KEY = "pantau-bench:raw-write"  # outside the {pantau} keys; removed right after


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 300 samples is the 297th)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


@dataclass
class Latency:
    """Milliseconds per request for one endpoint."""

    samples: list[float] = field(default_factory=list)
    bytes: int = 0  # body size of the last response

    def p(self, pct: float) -> float:
        return percentile(self.samples, pct) if self.samples else math.nan


@dataclass
class Reply:
    status: int
    body: bytes
    ms: float


async def timed_get(http: aiohttp.ClientSession, url: str, params: dict | None = None) -> Reply:
    """One GET, timed from sending to the last body byte (client-side JSON parsing excluded)."""
    started = time.perf_counter()
    async with http.get(url, params=params) as response:
        body = await response.read()
    return Reply(response.status, body, (time.perf_counter() - started) * 1000)


async def raw_write_seconds(client: aioredis.Redis, stored: dict[str, str], repeats: int = 3) -> float:
    """Median time to HSET the already-encoded cameras in one MULTI/EXEC pipeline: the storage
    cost alone, with no CSV parsing, validation, encoding or audit entry."""
    items = list(stored.items())
    timings = []
    for _ in range(repeats):
        await client.unlink(RAW_KEY)
        started = time.perf_counter()
        async with client.pipeline(transaction=True) as pipe:
            for start in range(0, len(items), RAW_WRITE_CHUNK):
                pipe.hset(RAW_KEY, mapping=dict(items[start : start + RAW_WRITE_CHUNK]))
            await pipe.execute()
        timings.append(time.perf_counter() - started)
    await client.unlink(RAW_KEY)
    return statistics.median(timings)
