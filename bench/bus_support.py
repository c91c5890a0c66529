"""What bench/bus.py needs beyond processes.py and measure.py: the bus redis-server as a site
runs it (no persistence), `pantau ingest` (PantauNode starts only `pantau serve`), cameras
registered with the CLI, the demand a relay would keep alive, and a relay-side reader of the
Redis bus in the bench process.
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import redis
import redis.asyncio as aioredis
from camera_set import COLUMNS, REPO
from processes import _BANNER, BenchError, PantauNode, RedisServer, node_env

sys.path.insert(0, str(REPO))  # the product's own bus: the reader is a relay's side of it
from pantau.bus.redis_bus import DEMAND_TTL_MS, RedisStreamBus, demand_key, entry_ms, media_key  # noqa: E402

KELURAHAN = "31.71.01.1001"  # every bench camera is a TPS here, numbered 1..N
SELECTOR = "31.71"  # `pantau ingest --cameras`: a static split, so no leases and no fenced XADD


def camera_id(tps: int) -> str:
    """The id the registry derives for a TPS camera with no id given (kelurahan code + TPS)."""
    return f"{KELURAHAN.replace('.', '')}{tps:03d}"


def start_bus_redis(directory: Path) -> RedisServer:
    """The bus Redis: processes.RedisServer starts one with the registry's settings (append-only);
    a site's bus runs without persistence, so AOF is switched off before anything is written."""
    server = RedisServer(directory)
    server.start()
    client = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=5)
    try:
        client.config_set("appendonly", "no")
    finally:
        client.close()
    return server


class IngestNode(PantauNode):
    """`pantau ingest --port 0` (HTTP for /healthz and /api/metrics only), same files as PantauNode."""

    def start(self, timeout_s: float = 60.0) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pantau.cli", "ingest", "--host", "127.0.0.1", "--port", "0",
                   "--data-dir", str(self.data_dir), *self.extra_args]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(command, cwd=REPO, env=node_env(self.admin_token),
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        give_up = time.monotonic() + timeout_s
        while not (found := _BANNER.search(self.stdout_path.read_text(errors="replace"))):
            if self.process.poll() is not None or time.monotonic() > give_up:
                raise BenchError(f"pantau ingest did not come up (exit code {self.process.poll()}):\n{self.log_tail()}")
            time.sleep(0.05)
        self.base_url = found.group(1)
        return self.base_url


def register_cameras(count: int, source: str, where: list[str], workdir: Path, admin_token: str) -> list[str]:
    """Cameras 1..count on `source` through `pantau cameras import --mode upsert` (`where`: the
    registry, `--data-dir D` or `--redis-url R`); returns their ids."""
    path = workdir / f"cameras-{count}.csv"
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for tps in range(1, count + 1):
            writer.writerow(["", "tps", KELURAHAN, tps, "", source, "tcp", "", "true", "true", "bench"])
    done = subprocess.run([sys.executable, "-m", "pantau.cli", "cameras", "import", str(path), "--mode", "upsert", *where],
                          cwd=REPO, env=node_env(admin_token), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise BenchError(f"pantau cameras import answered {done.returncode}: {done.stderr.strip()[-500:]}")
    return [camera_id(tps) for tps in range(1, count + 1)]


class NodeApi:
    """The two reads the bench needs from a node, with the admin token."""

    def __init__(self, token: str):
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}, timeout=aiohttp.ClientTimeout(total=30))

    async def close(self) -> None:
        await self.http.close()

    async def _get(self, url: str, params: dict | None = None) -> dict:
        async with self.http.get(url, params=params) as response:
            if response.status != 200:
                raise BenchError(f"GET {url} answered {response.status}")
            return await response.json()

    async def ingest_metrics(self, node: PantauNode) -> dict:
        """`pantau ingest`'s /api/metrics: sources, states, bus counters."""
        return await self._get(f"{node.base_url}/api/metrics")

    async def serve_states(self, node: PantauNode) -> Counter[str]:
        """`pantau serve`: how many cameras are in each state."""
        body = await self._get(f"{node.base_url}/api/admin/cameras", {"limit": "5000"})
        return Counter(c["status"]["state"] for c in body["cameras"])

    async def wait_online(self, node: PantauNode, cameras: int, timeout_s: float, ingest: bool) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            states = Counter((await self.ingest_metrics(node))["states"]) if ingest else await self.serve_states(node)
            if states["online"] == cameras and sum(states.values()) == cameras:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{states['online']} of {cameras} cameras online after {timeout_s:.0f} s: {dict(states)}")
            await asyncio.sleep(0.5)


class DemandKeeper:
    """What relays with viewers do: `{cam:ID}:demand` set with PX DEMAND_TTL_MS, refreshed every
    second, for every camera the bench wants published."""

    def __init__(self, client: aioredis.Redis):
        self.client = client
        self.cameras: list[str] = []
        self._task: asyncio.Task | None = None

    def want(self, cameras: list[str]) -> None:
        self.cameras = list(cameras)
        if self._task is None:
            self._task = asyncio.create_task(self._refresh(), name="bench-demand")

    async def _refresh(self) -> None:
        while True:
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for camera in self.cameras:
                        pipe.set(demand_key(camera), b"1", px=DEMAND_TTL_MS)
                    await pipe.execute()
            except redis.RedisError as exc:  # the next refresh comes well within the key's TTL
                print(f"  demand refresh failed: {exc}", file=sys.stderr, flush=True)
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class BusReader:
    """A relay in the bench process: a RedisStreamBus subscribed to every camera, as a relay with
    one viewer per camera would be. While recording it counts each camera's packets and keeps
    time.time() - packet.received_at (the ingest receive time carried in every entry) of each."""

    def __init__(self, client: aioredis.Redis):
        self.client = client
        self.bus: RedisStreamBus | None = None
        self.recording = False
        self.latency_s: list[float] = []
        self.packets: Counter[str] = Counter()
        self._subscriptions: dict[str, object] = {}
        self._tasks: list[asyncio.Task] = []

    def watch(self, cameras: list[str]) -> None:
        if self.bus is None:
            self.bus = RedisStreamBus(self.client)
        for camera in cameras:
            if camera not in self._subscriptions:
                subscription = self._subscriptions[camera] = self.bus.subscribe(camera)
                self._tasks.append(asyncio.create_task(self._drain(camera, subscription), name=f"bench-read-{camera}"))

    async def _drain(self, camera: str, subscription) -> None:
        while True:
            timed = await subscription.get()
            if self.recording:
                self.latency_s.append(time.time() - timed.packet.received_at)
                self.packets[camera] += 1

    def record(self) -> None:
        self.latency_s, self.packets, self.recording = [], Counter(), True

    def stop_recording(self) -> None:
        self.recording = False

    def skips(self) -> int:
        """Times a subscription overflowed and jumped to the next keyframe (the reader fell behind)."""
        return sum(s.stats.skips for s in self._subscriptions.values())

    async def stop_reading(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for subscription in self._subscriptions.values():
            subscription.close()

    def closers(self) -> list[tuple[str, object]]:
        """The steps of closing, each to be bounded by the caller: the bench's own tasks, the
        product's RedisStreamBus.close(), the client."""
        steps = [("reader tasks", self.stop_reading)]
        if self.bus is not None:
            steps.append(("RedisStreamBus.close() of the reader", self.bus.close))
        return [*steps, ("reader Redis client", self.client.aclose)]


async def write_lag_s(client: aioredis.Redis, cameras: list[str], seen: dict[str, bytes]) -> list[float]:
    """Ingest → Redis: for each camera's newest entry not seen before, the entry id's time (Redis's
    clock at XADD, the same machine) minus the ingest receive time in its `t` field."""
    async with client.pipeline(transaction=False) as pipe:
        for camera in cameras:
            pipe.xrevrange(media_key(camera), count=1)
        replies = await pipe.execute()
    lags = []
    for camera, entries in zip(cameras, replies):
        if entries and entries[0][0] != seen.get(camera) and b"t" in entries[0][1]:
            entry_id, fields = entries[0]
            seen[camera] = entry_id
            lags.append(entry_ms(entry_id) / 1000 - float(fields[b"t"]))
    return lags


def dump_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
