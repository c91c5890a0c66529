"""Measuring helpers: HTTP request latency, percentiles, the raw Redis write baseline, and the
CPU and memory of groups of processes over a time window."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from dataclasses import dataclass, field

import aiohttp
import psutil
import redis.asyncio as aioredis
from processes import BenchError

# Same chunking as the registry's import transaction (pantau.cameras.registry.WRITE_CHUNK), so the
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


# -- CPU and memory of processes ---------------------------------------------------------------

def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU of the process, all its threads (children are measured on their own)."""
    times = process.cpu_times()
    return times.user + times.system


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, over all cores."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq + times.steal, sum(times)


@dataclass
class Usage:
    """One group of processes over one window: CPU seconds spent, and memory."""

    cpu_s: float = 0.0
    rss_samples: list[float] = field(default_factory=list)  # MB, the group's total, once a second

    @property
    def rss_mb(self) -> float:
        # The median: RSS moves with every GOP a camera caches; one sample could catch a peak.
        return statistics.median(self.rss_samples) if self.rss_samples else math.nan


@dataclass
class Window:
    seconds: float
    usage: dict[str, Usage]
    machine_busy_pct: float  # of all cores: how much else was competing (the machine is shared)

    def core_pct(self, group: str) -> float:
        """CPU of the group in % of one core."""
        return 100 * self.usage[group].cpu_s / self.seconds

    def cpu_s_per_camera_minute(self, group: str, cameras: int, minus: float = 0.0) -> float:
        """CPU seconds per camera and minute; `minus`: CPU seconds per minute not to count (an
        idle node's own cost)."""
        return (self.usage[group].cpu_s / (self.seconds / 60) - minus) / cameras

    def cpu_s_per_minute(self, group: str) -> float:
        return self.usage[group].cpu_s / (self.seconds / 60)


def _group_rss_mb(processes: list[psutil.Process]) -> float:
    return sum(p.memory_info().rss for p in processes) / 2**20


def _group_cpu_s(processes: list[psutil.Process]) -> float:
    return sum(cpu_seconds(p) for p in processes)


async def measure_window(groups: dict[str, list[psutil.Process]], seconds: float, sample_every_s: float = 1.0) -> Window:
    """CPU of each group over `seconds` (the difference of the cumulative counters at both
    ends, so sampling cannot miss a burst) and its RSS sampled every `sample_every_s`. A
    process that ends during the window is an error: its figures would be meaningless."""
    try:
        start_cpu = {name: _group_cpu_s(procs) for name, procs in groups.items()}
        start_busy, start_total = machine_busy_seconds()
        started = time.monotonic()
        usage = {name: Usage() for name in groups}
        while (left := started + seconds - time.monotonic()) > 0:
            await asyncio.sleep(min(sample_every_s, left))
            for name, procs in groups.items():
                usage[name].rss_samples.append(_group_rss_mb(procs))
        elapsed = time.monotonic() - started
        for name, procs in groups.items():
            usage[name].cpu_s = _group_cpu_s(procs) - start_cpu[name]
        busy, total = machine_busy_seconds()
    except psutil.NoSuchProcess as exc:
        raise BenchError(f"process {exc.pid} ended during the measurement") from None
    return Window(elapsed, usage, 100 * (busy - start_busy) / max(1e-9, total - start_total))
