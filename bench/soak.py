"""Soak: a site under load and faults for a long stretch (not in CI).

    .venv/bin/python bench/soak.py --minutes 30 --out bench/results/soak.json   # the long run (~35 min)
    .venv/bin/python bench/soak.py --quick                                     # 4 minutes, compressed faults (~7 min)

A site on 127.0.0.1: registry Redis (append-only) + bus Redis (no persistence) + two
`pantau ingest` workers (leases) + one `pantau relay`, with the product's default backoff.
40 cameras from five GStreamer RTSP camera processes (small 320x180 10 fps mounts; several
cameras registered on one mount URL; one H.265 and one B-frame mount, 3 transcoded cameras),
40 aiortc WHEP viewers in two processes of their own (bench/soak_viewers.py) that keep every
frame's arrival time, and LL-HLS players (bench/hls_players.py, 10 over 10 cameras) in one more. While the soak runs, a fault schedule: camera processes killed (SIGKILL or
SIGTERM) and restarted every 20-60 s, viewer churn (some leave without a DELETE), admin edits,
CSV upserts, the registry Redis killed and restarted (two viewers leave and two join while it is
away), and ingest worker A SIGKILLed and
restarted. The last minutes are quiet. Then every viewer leaves, the relay must hold no session,
and a bounded flood of bad requests is sent to the relay to see whether its memory comes back.

Reported: RSS, CPU, fds and threads per process over time; RSS growth after the warm-up;
fds/threads at the same load at the start and the end; sessions left behind; each viewer's
longest gap after each fault; each HLS player's longest wait for a part and the statuses it got; every HTTP status the bench got (5xx named); whether every
camera was online again within its backoff after its source came back; the flood's effect on
the relay's RSS (and what `malloc_trim(0)`, called through gdb, gives back).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import importlib.util
import io
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil
import redis.asyncio as aioredis
from bus_support import IngestNode, dump_json, start_bus_redis
from camera_set import COLUMNS, REPO
from processes import BenchError, PantauNode, RedisServer
from runner import run_bench

sys.path.insert(0, str(REPO))
from pantau.runtime import redis_pools  # noqa: E402
from pantau.runtime.leases import lease_key, worker_of  # noqa: E402
from tests.support.rtsp_camera import Mount, RtspCameraServer  # noqa: E402


def _relay_bench():
    """bench/relay.py (its ViewerProcess), loaded by path: the name `relay` is the product's package."""
    spec = importlib.util.spec_from_file_location("bench_relay", Path(__file__).resolve().with_name("relay.py"))
    module = sys.modules["bench_relay"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ViewerProcess = _relay_bench().ViewerProcess
RESULTS_DIR = Path(__file__).resolve().parent / "results"
VIEWERS_SCRIPT = Path(__file__).resolve().with_name("soak_viewers.py")
HLS_PLAYERS_SCRIPT = Path(__file__).resolve().with_name("hls_players.py")
REGION = "31.71.01.1001"
SMALL = {"width": 320, "height": 180, "fps": 10, "bitrate_kbps": 150, "gop_seconds": 2.0, "pattern": "ball", "overlay": "none"}
PLAIN_SERVERS, PLAIN_MOUNTS_PER_SERVER = 4, 6
CAMERAS = 40
VIEWER_PROCESSES = 2
ONLINE_SLACK_S = 5.0  # past the pending retry: open, first keyframe (GOP 2 s), the 1 s status poll
MB = 2**20


@dataclass(frozen=True)
class Plan:
    minutes: float
    warmup_min: float  # RSS growth is judged from here to the end
    quiet_s: float  # no faults in the last seconds of the soak
    camera_kill_every_s: tuple[float, float]
    camera_down_s: tuple[float, float]
    churn_every_s: tuple[float, float]
    churn_viewers: tuple[int, int]
    edit_every_s: tuple[float, float]
    registry_restarts: tuple[float, ...]  # fractions of the soak
    worker_kills: tuple[float, ...]
    csv_upserts: tuple[float, ...]
    worker_down_s: float
    flood: dict[str, int]
    flood_watch_s: float
    sample_every_s: float = 5.0
    hls_players: int = 10  # LL-HLS players, one per camera over the first cameras


FULL = Plan(minutes=30, warmup_min=5, quiet_s=120, camera_kill_every_s=(20, 60), camera_down_s=(2, 20),
            churn_every_s=(20, 40), churn_viewers=(2, 5), edit_every_s=(30, 60),
            registry_restarts=(0.2, 0.48, 0.77), worker_kills=(0.3, 0.58, 0.85), csv_upserts=(0.13, 0.4, 0.67, 0.9),
            worker_down_s=15, flood={"json": 1000, "sdp": 600, "csv": 60, "oversized": 8, "noise": 300}, flood_watch_s=120)
QUICK = Plan(minutes=4, warmup_min=1, quiet_s=45, camera_kill_every_s=(10, 20), camera_down_s=(2, 8),
             churn_every_s=(10, 20), churn_viewers=(2, 4), edit_every_s=(10, 20),
             registry_restarts=(0.3,), worker_kills=(0.55,), csv_upserts=(0.42,),
             worker_down_s=10, flood={"json": 200, "sdp": 100, "csv": 10, "oversized": 2, "noise": 50}, flood_watch_s=30,
             hls_players=4)


# -- the cameras --------------------------------------------------------------------------------

@dataclass
class CameraSpec:
    id: str
    server: int  # index into the camera processes
    mount: str
    kind: str  # h264 | h265 | bframes


def camera_layout() -> tuple[list[list[Mount]], list[CameraSpec]]:
    """Four plain camera processes of six H.264 mounts each and one with the H.265 and B-frame
    mounts. 37 plain cameras on 24 mounts (13 mounts carry two cameras: one NVR URL, or one camera
    registered twice), 1 H.265 camera, 2 B-frame cameras on one URL."""
    servers = [[Mount(path=f"/s{s}m{m}", **SMALL) for m in range(PLAIN_MOUNTS_PER_SERVER)] for s in range(PLAIN_SERVERS)]
    servers.append([Mount(path="/h265", codec="h265", **SMALL), Mount(path="/bframes", bframes=2, **SMALL)])
    mounts = [(s, m) for m in range(PLAIN_MOUNTS_PER_SERVER) for s in range(PLAIN_SERVERS)]  # spread over processes
    plain = CAMERAS - 3
    shared = plain - len(mounts)  # mounts that carry two cameras
    slots = [mounts[i // 2] for i in range(2 * shared)] + mounts[shared:]
    specs = [CameraSpec(f"soak-{n + 1:02d}", s, servers[s][m].path, "h264") for n, (s, m) in enumerate(slots)]
    specs.append(CameraSpec(f"soak-{plain + 1:02d}", PLAIN_SERVERS, "/h265", "h265"))
    specs += [CameraSpec(f"soak-{plain + 2 + i:02d}", PLAIN_SERVERS, "/bframes", "bframes") for i in range(2)]
    return servers, specs


def cameras_csv(specs: list[CameraSpec], urls: dict[str, str], round_: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for n, spec in enumerate(specs):
        name = f"Soak {spec.id} r{round_}"
        writer.writerow([spec.id, "tps", REGION, n + 1, name, urls[spec.id], "tcp", "", "true", "true",
                         f"soak;{spec.kind};r{round_}"])
    return out.getvalue().encode()


class SoakViewers(ViewerProcess):
    """bench/soak_viewers.py instead of relay_support.py's viewers, same protocol."""

    async def start(self) -> SoakViewers:
        with open(self.stderr_path, "wb") as err:
            self.process = await asyncio.create_subprocess_exec(sys.executable, str(VIEWERS_SCRIPT), stdin=asyncio.subprocess.PIPE,
                                                                stdout=asyncio.subprocess.PIPE, stderr=err)
        return self


# -- what the bench records ---------------------------------------------------------------------

@dataclass
class Event:
    id: str
    kind: str  # camera_kill | worker_kill | registry_restart | csv_upsert | admin_edit | churn
    start: float  # monotonic
    end: float  # the fault is over (source back, process restarted); == start for instant ones
    cameras: list[str] = field(default_factory=list)  # cameras it hits directly
    detail: dict = field(default_factory=dict)

    def window(self, events: list[Event]) -> tuple[float, float]:
        """From the fault to a while after it is over (time for backoff, takeover, move back), but
        never past the next fault on the same camera process."""
        end = self.end + {"camera_kill": 40, "worker_kill": 25, "registry_restart": 20}.get(self.kind, 15)
        if self.kind == "camera_kill":
            end = min([end, *(e.start for e in events if e.kind == "camera_kill" and e.start > self.start
                              and e.detail["process"] == self.detail["process"])])
        return self.start, end


class HttpLog:
    """Every HTTP call the bench makes, by kind and status; 5xx and errors kept with their time."""

    def __init__(self, base: str, token: str, clock):
        self.base = base
        self.clock = clock
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}, timeout=aiohttp.ClientTimeout(total=60))
        self.counts: Counter[tuple[str, str]] = Counter()
        self.bad: list[dict] = []

    def note(self, kind: str, status: int | str, detail: str = "") -> None:
        self.counts[(kind, str(status))] += 1
        if not isinstance(status, int) or status >= 500:
            self.bad.append({"t": round(self.clock(), 1), "kind": kind, "status": status, "detail": detail[:300]})

    async def call(self, kind: str, method: str, path: str, **kwargs) -> tuple[int | None, bytes]:
        try:
            async with self.http.request(method, self.base + path, **kwargs) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.note(kind, type(exc).__name__, str(exc))
            return None, b""
        self.note(kind, response.status, body.decode(errors="replace") if response.status >= 500 else "")
        return response.status, body

    async def close(self) -> None:
        await self.http.close()


class Sampler:
    """RSS, CPU seconds, fds and threads of every process of the site, every few seconds, by role
    (a restarted process keeps its role and gets a new pid)."""

    def __init__(self, clock):
        self.clock = clock
        self.roles: dict[str, object] = {}  # role -> callable giving the current pid (or None)
        self.samples: list[dict] = []

    def watch(self, role: str, pid_of) -> None:
        self.roles[role] = pid_of

    def sample(self, phase: str) -> None:
        now = self.clock()
        self.samples.append({"t": round(now, 2), "phase": phase, "role": "machine", "busy_pct": psutil.cpu_percent(None),
                             "load1": round(os.getloadavg()[0], 2)})
        for role, pid_of in self.roles.items():
            pid = pid_of()
            if pid is None:
                continue
            try:
                process = psutil.Process(pid)
                with process.oneshot():
                    times = process.cpu_times()
                    self.samples.append({"t": round(now, 2), "phase": phase, "role": role, "pid": pid,
                                         "rss_mb": round(process.memory_info().rss / MB, 1), "cpu_s": round(times.user + times.system, 2),
                                         "fds": process.num_fds(), "threads": process.num_threads()})
            except psutil.Error:
                continue

    async def run(self, every_s: float, phase_of) -> None:
        while True:
            self.sample(phase_of())
            await asyncio.sleep(every_s)

    def of(self, role: str, since: float = -1e18, until: float = 1e18) -> list[dict]:
        return [s for s in self.samples if s["role"] == role and since <= s["t"] <= until]


# -- the run ------------------------------------------------------------------------------------

class Soak:
    def __init__(self, workdir: Path, plan: Plan, seed: int):
        self.workdir = workdir
        self.plan = plan
        self.rng = random.Random(seed)
        self.t0 = time.monotonic()
        self.token = "adm-" + secrets.token_urlsafe(16)
        self.registry = RedisServer(workdir / "registry")
        self.bus: RedisServer | None = None
        self.relay: PantauNode | None = None
        self.workers: dict[str, IngestNode] = {}
        self.mounts, self.specs = camera_layout()
        self.servers = [RtspCameraServer(mounts, log_dir=workdir / f"camera-{n}") for n, mounts in enumerate(self.mounts)]
        self.viewer_processes: list[ViewerProcess] = []
        self.viewers: dict[str, tuple[int, str]] = {}  # held viewer key -> (process index, camera)
        self.viewer_serial = 0
        self.events: list[Event] = []
        self.sampler = Sampler(self.now)
        self.http: HttpLog | None = None
        self.phase = "setup"
        self.status_log: dict[str, list[dict]] = defaultdict(list)  # camera -> status changes seen
        self.registry_down: list[tuple[float, float]] = []
        self.wall_offset = time.time() - time.monotonic()
        self.results: dict = {}
        self.problems: list[str] = []
        self.tasks: list[asyncio.Task] = []
        self.abandoned: set[str] = set()
        self.hls_process: asyncio.subprocess.Process | None = None

    def now(self) -> float:
        return time.monotonic() - self.t0

    def log(self, message: str) -> None:
        print(f"[{self.now():7.1f} s] {message}", flush=True)

    # ---- starting the site ----

    def config(self) -> Path:
        path = self.workdir / "site.yaml"
        # Every viewer comes from 127.0.0.1 here: the per-address limits meant for anonymous clients
        # (limits.offers, pending_offers_per_address, limits.hls) are raised so that 40 viewers and
        # the HLS players at one address fit (a 10-player run got 35,691 429s at the default 40/s).
        path.write_text("relay:\n  ice:\n    include_loopback: true\n"
                        "limits:\n  offers: {per_s: 100, burst: 100}\n  pending_offers_per_address: 100\n"
                        "  hls: {per_s: 1000, burst: 2000}\n", encoding="utf-8")
        return path

    def site_args(self, name: str) -> list[str]:
        return ["--redis-url", self.registry.url, "--bus-redis-url", self.bus.url, "--node-id", name, "--config", str(self.config())]

    async def start_site(self) -> None:
        self.registry.start()
        self.bus = await asyncio.to_thread(start_bus_redis, self.workdir / "bus")
        for server in self.servers:
            await asyncio.to_thread(server.start, 20)
        self.relay = PantauNode(self.workdir / "relay", self.token, self.site_args("relay"), role="relay")
        await asyncio.to_thread(self.relay.start)
        for name in ("ingest-a", "ingest-b"):
            self.workers[name] = IngestNode(self.workdir / name, self.token, self.site_args(name))
            await asyncio.to_thread(self.workers[name].start)
        self.http = HttpLog(self.relay.base_url, self.token, self.now)
        status, body = await self.http.call("csv import", "POST", "/api/admin/cameras/import", data=cameras_csv(self.specs, self.urls(), 0),
                                            headers={"Content-Type": "text/csv"})
        if status not in (200, 201):
            raise BenchError(f"registering the cameras answered {status}: {body[:300]!r}")
        for n in range(VIEWER_PROCESSES):
            process = await SoakViewers(self.workdir, f"viewers-{n}", decode=False).start()
            self.viewer_processes.append(process)
        self.watch_processes()
        self.log(f"site up: relay {self.relay.base_url}, {len(self.specs)} cameras on {len(self.servers)} camera processes")

    def urls(self) -> dict[str, str]:
        return {spec.id: self.servers[spec.server].url(spec.mount) for spec in self.specs}

    def watch_processes(self) -> None:
        def pid(holder):
            return lambda: holder.process.pid if holder.process is not None and holder.process.poll() is None else None

        self.sampler.watch("relay", pid(self.relay))
        for name, worker in self.workers.items():
            self.sampler.watch(name, pid(worker))
        self.sampler.watch("registry redis", pid(self.registry))
        self.sampler.watch("bus redis", pid(self.bus))
        for n, server in enumerate(self.servers):
            self.sampler.watch(f"camera process {n}", lambda s=server: s.pid if s.running else None)
        for n, process in enumerate(self.viewer_processes):
            self.sampler.watch(f"viewers {n}", lambda p=process: p.pid if p.process.returncode is None else None)
        self.sampler.watch("bench", os.getpid)

    # ---- status of the cameras ----

    async def poll_statuses(self) -> None:
        last: dict[str, tuple] = {}
        while True:
            status, body = await self.http.call("status listing", "GET", "/api/admin/cameras", params={"limit": "100"})
            if status == 200:
                seen = self.now()
                for camera in json.loads(body)["cameras"]:
                    s = camera["status"]
                    key = (s.get("state"), s.get("since"), s.get("retry_in_s"))
                    if last.get(camera["id"]) != key:
                        last[camera["id"]] = key
                        self.status_log[camera["id"]].append({"t": round(seen, 2), "state": s.get("state"), "reason": s.get("reason"),
                                                              "since": self._since(s.get("since")), "retry_in_s": s.get("retry_in_s")})
            await asyncio.sleep(1.0)

    def _since(self, stamp: str | None) -> float | None:
        if not stamp:
            return None
        wall = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        return round(wall - self.wall_offset - self.t0, 2)

    def states_now(self) -> dict[str, str]:
        return {c: log[-1]["state"] for c, log in self.status_log.items() if log}

    async def wait_all_online(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = self.states_now()
            if len(states) == len(self.specs) and all(s == "online" for s in states.values()):
                return True
            await asyncio.sleep(1)
        return False

    # ---- viewers ----

    async def join(self, cameras: list[str]) -> None:
        batches: dict[int, list[dict]] = defaultdict(list)
        for camera in cameras:
            self.viewer_serial += 1
            key = f"v{self.viewer_serial:04d}"
            batches[self.viewer_serial % len(self.viewer_processes)].append({"key": key, "camera": camera})
        replies = await asyncio.gather(*(self.viewer_processes[p].call({"op": "join", "base": self.relay.base_url, "viewers": v})
                                         for p, v in batches.items()))
        for (p, wanted), reply in zip(batches.items(), replies):
            for viewer in wanted:
                result = reply.get(viewer["key"], {"status": "no reply"})
                self.http.note("whep offer", result["status"] if result["status"] is not None else "error", result.get("error", ""))
                if result["status"] == 201:
                    self.viewers[viewer["key"]] = (p, viewer["camera"])

    async def leave(self, keys: list[str], delete: bool) -> None:
        by_process: dict[int, list[str]] = defaultdict(list)
        for key in keys:
            by_process[self.viewers.pop(key)[0]].append(key)
        replies = await asyncio.gather(*(self.viewer_processes[p].call({"op": "leave", "keys": k, "delete": delete}) for p, k in by_process.items()))
        if delete:
            for reply in replies:
                for status in reply.values():
                    self.http.note("whep delete", status if isinstance(status, int) else "error", "" if isinstance(status, int) else str(status))

    # ---- faults ----

    def quiet(self) -> bool:
        return self.now() >= self.plan.minutes * 60 - self.plan.quiet_s

    async def sleep_between(self, bounds: tuple[float, float]) -> None:
        await asyncio.sleep(self.rng.uniform(*bounds))

    async def camera_faults(self) -> None:
        """One camera process down at a time: killed, down a while, started again on its port."""
        n = 0
        await self.sleep_between(self.plan.camera_kill_every_s)
        while True:
            next_at = time.monotonic() + self.rng.uniform(*self.plan.camera_kill_every_s)
            if self.now() + self.plan.camera_down_s[1] + 20 >= self.plan.minutes * 60 - self.plan.quiet_s:
                return  # back, and through its backoff, before the quiet end
            n += 1
            index = self.rng.randrange(len(self.servers))
            hard = self.rng.random() < 0.7
            down_s = self.rng.uniform(*self.plan.camera_down_s)
            cameras = [s.id for s in self.specs if s.server == index]
            start = self.now()
            await asyncio.to_thread(self.servers[index].stop, 5.0, hard)
            await asyncio.sleep(down_s)
            await asyncio.to_thread(self.servers[index].start, 20)
            self.events.append(Event(f"cam{n}", "camera_kill", start, self.now(), cameras,
                                     {"process": index, "signal": "SIGKILL" if hard else "SIGTERM", "down_s": round(self.now() - start, 1)}))
            self.log(f"camera process {index} {'killed' if hard else 'stopped'}, back after {self.now() - start:.1f} s ({len(cameras)} cameras)")
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def viewer_churn(self) -> None:
        n = 0
        while True:
            await self.sleep_between(self.plan.churn_every_s)
            if self.quiet():
                return
            n += 1
            count = min(len(self.viewers), self.rng.randint(*self.plan.churn_viewers))
            leaving = self.rng.sample(sorted(self.viewers), count)
            abandoned = leaving[:1]  # one tab closed without a DELETE each round: the relay must reap it
            self.abandoned.update(abandoned)
            start = self.now()
            await self.leave(leaving[1:], delete=True)
            await self.leave(abandoned, delete=False)
            cameras = [self.rng.choice(self.specs).id for _ in range(count)]
            await self.join(cameras)
            self.events.append(Event(f"churn{n}", "churn", start, self.now(), [], {"left": len(leaving), "abandoned": len(abandoned),
                                                                                   "joined": cameras}))

    async def admin_edits(self) -> None:
        n = 0
        while True:
            await self.sleep_between(self.plan.edit_every_s)
            if self.quiet():
                return
            n += 1
            camera = self.rng.choice(self.specs)
            start = self.now()
            body = {"name": f"Soak {camera.id} edit {n}", "tags": ["soak", camera.kind, f"edit{n}"]}
            status, _ = await self.http.call("admin edit", "PATCH", f"/api/admin/cameras/{camera.id}", json=body)
            await self.http.call("admin read", "GET", f"/api/admin/cameras/{camera.id}")
            await self.http.call("public listing", "GET", "/api/cameras", params={"kelurahan": REGION})
            await self.http.call("audit", "GET", "/api/admin/audit", params={"limit": "20"})
            self.events.append(Event(f"edit{n}", "admin_edit", start, self.now(), [camera.id], {"status": status}))

    async def scheduled_faults(self) -> None:
        soak_s = self.plan.minutes * 60
        last_fault_at = soak_s - self.plan.quiet_s - 30
        plan = sorted([(f * soak_s, "registry_restart") for f in self.plan.registry_restarts]
                      + [(f * soak_s, "worker_kill") for f in self.plan.worker_kills]
                      + [(f * soak_s, "csv_upsert") for f in self.plan.csv_upserts])
        for n, (at, kind) in enumerate(plan, 1):
            if at > last_fault_at:
                continue
            await asyncio.sleep(max(0.0, at - self.now()))
            await getattr(self, kind)(n)

    async def registry_restart(self, n: int) -> None:
        start = self.now()
        process = self.registry.process
        process.kill()  # kill -9: the append-only file (fsync every second) is what comes back
        await asyncio.to_thread(process.wait, 10)
        # Viewers come and go while it is away (a 30-minute run found offers answered 503 and
        # sessions that left staying in the session directory, which lives in that Redis).
        _, churn = await asyncio.gather(asyncio.sleep(2.0), self.churn_while_away())
        await asyncio.to_thread(self.registry.start)
        self.registry_down.append((start, self.now()))
        self.events.append(Event(f"registry{n}", "registry_restart", start, self.now(), [], {"down_s": round(self.now() - start, 1), **churn}))
        self.log(f"registry Redis killed and restarted ({self.now() - start:.1f} s down)")

    async def churn_while_away(self) -> dict:
        leaving = self.rng.sample(sorted(self.viewers), min(2, len(self.viewers)))
        await self.leave(leaving, delete=True)
        cameras = [self.rng.choice(self.specs).id for _ in range(2)]
        await self.join(cameras)
        return {"left_while_away": len(leaving), "joined_while_away": cameras}

    async def worker_kill(self, n: int) -> None:
        worker = self.workers["ingest-a"]
        client = aioredis.from_url(self.bus.url, decode_responses=True)
        try:
            leases = await client.mget([lease_key(s.id) for s in self.specs])
        finally:
            await client.aclose()
        held = [s.id for s, value in zip(self.specs, leases) if worker_of(value) == "ingest-a"]
        start = self.now()
        worker.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.process.wait, 10)
        await asyncio.sleep(self.plan.worker_down_s)
        for path in (worker.stdout_path, worker.stderr_path):  # keep every start's log
            if path.exists():
                path.rename(path.with_name(f"{path.name}.{n}"))
        await asyncio.to_thread(worker.start)
        self.events.append(Event(f"worker{n}", "worker_kill", start, self.now(), held, {"worker": "ingest-a", "leases_held": len(held)}))
        self.log(f"ingest-a SIGKILLed with {len(held)} leases, restarted after {self.now() - start:.1f} s")

    async def csv_upsert(self, n: int) -> None:
        start = self.now()
        status, body = await self.http.call("csv upsert", "POST", "/api/admin/cameras/import", params={"mode": "upsert"},
                                            data=cameras_csv(self.specs, self.urls(), n), headers={"Content-Type": "text/csv"})
        await self.http.call("csv export", "GET", "/api/admin/cameras.csv")
        self.events.append(Event(f"csv{n}", "csv_upsert", start, self.now(), [], {"status": status, "reply": body[:200].decode(errors="replace")}))
        self.log(f"CSV upsert of {len(self.specs)} cameras: {status}")

    # ---- the phases ----

    async def execute(self) -> None:
        await self.start_site()
        self.tasks.append(asyncio.create_task(self.sampler.run(self.plan.sample_every_s, lambda: self.phase), name="soak-sampler"))
        self.tasks.append(asyncio.create_task(self.poll_statuses(), name="soak-status"))
        if not await self.wait_all_online(90):
            raise BenchError(f"cameras not online 90 s after the start: {Counter(self.states_now().values())}")
        self.phase = "idle start"
        await asyncio.sleep(2 * self.plan.sample_every_s)
        idle_start = self.sampler_snapshot()
        self.rebase(time.monotonic() - self.t0)  # the soak's clock starts with the viewers
        self.phase = "soak"
        await self.join([s.id for s in self.specs])
        self.log(f"{len(self.viewers)} viewers joined; soak of {self.plan.minutes:g} min starts")
        await self.start_hls_players()
        faults = [asyncio.create_task(coroutine, name=f"soak-{coroutine.__name__}") for coroutine in
                  (self.camera_faults(), self.viewer_churn(), self.admin_edits(), self.scheduled_faults())]
        self.tasks += faults
        try:
            await asyncio.sleep(self.plan.minutes * 60 - self.now())
        finally:
            for task in faults:
                task.cancel()
            await asyncio.gather(*faults, return_exceptions=True)
        for task in faults:
            if task.done() and not task.cancelled() and task.exception() is not None:
                self.problems.append(f"fault task {task.get_name()} failed: {task.exception()!r}")
        self.phase = "end"
        self.results["end_states"] = self.states_now()
        self.results["hls"] = await self.hls_results()
        self.results["gaps"] = await self.collect_gaps()
        end_steady = self.sampler_snapshot()
        await self.leave(sorted(self.viewers), delete=True)
        self.results["sessions"] = await self.sessions_left()
        self.phase = "idle end"
        # Longer than the period after which processes close idle pooled Redis connections
        # (pantau/runtime/redis_pools.py): what is open then is held, not pooled.
        await asyncio.sleep(max(2 * self.plan.sample_every_s, redis_pools.EVERY_S + 5))
        self.results["steady"] = {"idle start": idle_start, "end with viewers": end_steady, "idle end": self.sampler_snapshot()}
        self.phase = "flood"
        self.results["flood"] = await self.flood()

    async def start_hls_players(self) -> None:
        """LL-HLS players over the first cameras, from now to the soak's end (their window)."""
        if not self.plan.hls_players:
            return
        bases = ",".join(f"{self.relay.base_url}/hls/{spec.id}" for spec in self.specs[: self.plan.hls_players])
        start, end = time.time(), time.time() + self.plan.minutes * 60 - self.now()
        with open(self.workdir / "hls-players.err", "wb") as err:
            self.hls_process = await asyncio.create_subprocess_exec(
                sys.executable, str(HLS_PLAYERS_SCRIPT), bases, str(self.plan.hls_players), str(start), str(end),
                stdout=asyncio.subprocess.PIPE, stderr=err)
        self.sampler.watch("hls players", lambda: self.hls_process.pid if self.hls_process.returncode is None else None)

    async def hls_results(self) -> dict | None:
        if self.hls_process is None:
            return None
        try:
            out, _ = await asyncio.wait_for(self.hls_process.communicate(), 90)
            result = json.loads(out.decode().strip().splitlines()[-1])
        except (TimeoutError, ValueError, IndexError) as exc:
            self.problems.append(f"HLS players gave no result ({exc!r}); see hls-players.err")
            return None
        result.pop("latencies", None)
        return result

    def rebase(self, shift: float) -> None:
        """Move the soak's zero `shift` seconds later; what was recorded so far moves with it."""
        self.t0 += shift
        for sample in self.sampler.samples:
            sample["t"] = round(sample["t"] - shift, 2)
        for log in self.status_log.values():
            for entry in log:
                entry["t"] = round(entry["t"] - shift, 2)
                entry["since"] = None if entry["since"] is None else round(entry["since"] - shift, 2)

    def sampler_snapshot(self) -> dict:
        """The latest sample of every role."""
        self.sampler.sample(self.phase)
        latest = {}
        for s in self.sampler.samples:
            latest[s["role"]] = s
        snapshot = {role: {k: s[k] for k in ("pid", "rss_mb", "fds", "threads")} for role, s in latest.items() if role != "machine"}
        ports = {self.registry.port: "registry redis", self.bus.port: "bus redis"}
        for role, node in (("relay", self.relay), ("ingest-b", self.workers.get("ingest-b"))):
            if role in snapshot and node is not None:
                snapshot[role]["fd_kinds"] = fd_kinds(snapshot[role]["pid"], ports, int(node.base_url.rsplit(":", 1)[1]))
        return snapshot

    async def collect_gaps(self) -> dict:
        windows = []
        for event in self.events:
            start, end = event.window(self.events)
            windows.append([event.id, start + self.t0, min(end, self.now()) + self.t0, event.end + self.t0 if event.kind == "camera_kill" else None])
        reports = {}
        for n, process in enumerate(self.viewer_processes):
            path = self.workdir / f"gaps-{n}.json"
            reply = await process.call({"op": "gaps", "windows": windows, "path": str(path)}, timeout_s=300)
            if "error" in reply:
                raise BenchError(f"viewer process {n}: {reply['error']}")
            reports.update(json.loads(path.read_text()))
        for report in reports.values():  # back onto the soak's clock
            report["joined"] -= self.t0
            report["left"] = None if report["left"] is None else report["left"] - self.t0
            for values in report["windows"].values():
                values[1:] = [None if v is None else round(v - self.t0, 2) for v in values[1:]]
        return reports

    async def sessions_left(self) -> dict:
        """After every viewer left (those abandoned without DELETE too): what the relay and the
        registry still hold, polled until nothing is left or 90 s passed."""
        client = aioredis.from_url(self.registry.url, decode_responses=True)
        started = self.now()
        try:
            while True:
                status, body = await self.http.call("metrics", "GET", "/api/metrics")
                metrics = json.loads(body) if status == 200 else {}
                directory = [k async for k in client.scan_iter(match="{pantau}:session:whep:*", count=1000)]
                counts = [k async for k in client.scan_iter(match="{pantau}:viewers:*", count=1000)]
                counted = 0
                for key in counts:  # relay/webrtc/viewer_counts.py: per relay "count:expires"
                    counted += sum(int(v.split(":")[0]) for v in (await client.hgetall(key)).values())
                state = {"relay_viewers": metrics.get("viewers"), "per_camera": metrics.get("viewers_per_camera"),
                         "session_directory_keys": len(directory), "left_sessions": sorted(k.rsplit(":", 1)[1] for k in directory), "viewer_counts_in_registry": counted,
                         "seconds_after_leaving": round(self.now() - started, 1)}
                if (state["relay_viewers"] == 0 and not directory and counted == 0) or self.now() - started > 90:
                    return state
                await asyncio.sleep(2)
        finally:
            await client.aclose()

    # ---- the flood of bad requests ----

    def flood_requests(self) -> list[tuple[str, list[tuple[str, str, dict]], int]]:
        """Bad requests by kind, each bounded, and how many are sent at once: malformed JSON, SDP
        offers that do not parse, CSV files whose every line is wrong (8 at once: a node runs one
        import at a time and refuses the others with 429; and a quarter as many one after the
        other, each of them checked), bodies over the size limit, unknown ids."""
        plan, camera = self.plan.flood, self.specs[0].id
        bad_sdp = (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n"
                   + b"a=x\r\n" * 2000)
        bad_csv = ",".join(COLUMNS).encode() + b"\n" + b"".join(f"x{n},tps,99.99,0,,ftp://nope,carrier-pigeon,,maybe,perhaps,\n".encode()
                                                                for n in range(20_000))
        oversized = b"x" * (65 * MB)  # the default limit is 64 MB
        csv_import = ("POST", "/api/admin/cameras/import", {"data": bad_csv, "headers": {"Content-Type": "text/csv"}})
        return [
            ("unknown ids", [("GET", f"/api/cameras/{'z' * self.rng.randint(1, 80)}", {}) for _ in range(plan["noise"])], 8),
            ("bad json", [("POST", "/api/admin/cameras", {"data": b'{"id": "x", "kind": ' + b"[" * self.rng.randint(1, 50),
                                                          "headers": {"Content-Type": "application/json"}})] * plan["json"], 8),
            ("bad offer", [("POST", f"/whep/{camera}", {"data": bad_sdp, "headers": {"Content-Type": "application/sdp"}})] * plan["sdp"], 8),
            ("bad csv (20,000 bad lines)", [csv_import] * plan["csv"], 8),
            ("bad csv, one at a time", [csv_import] * (plan["csv"] // 4), 1),
            ("oversized (65 MB)", [("POST", "/api/admin/cameras/import", {"data": oversized, "headers": {"Content-Type": "text/csv"}})]
             * plan["oversized"], 8),
        ]

    async def send_all(self, kind: str, requests: list[tuple[str, str, dict]], concurrency: int = 8) -> None:
        queue: asyncio.Queue = asyncio.Queue()
        for request in requests:
            queue.put_nowait(request)

        async def worker() -> None:
            while not queue.empty():
                method, path, kwargs = queue.get_nowait()
                await self.http.call(f"flood: {kind}", method, path, **kwargs)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def flood(self) -> dict:
        """Two rounds of every kind of bad request, the relay's memory after each kind; then a
        wait with no load, then malloc_trim(0) in the relay. A second round that ends where the
        first did means a high-water mark (memory kept for reuse), not a leak."""
        pid = self.relay.pid
        before = {**relay_memory(pid), **self.fds_threads(pid)}
        self.log(f"flood: relay RSS {before['rss_mb']:.0f} MB before")
        peak = before["rss_mb"]

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, relay_memory(pid)["rss_mb"])
                await asyncio.sleep(0.5)

        watcher = asyncio.create_task(watch())
        steps, started, count = [], time.monotonic(), 0
        try:
            for round_ in (1, 2):
                for kind, requests, at_once in self.flood_requests():
                    began = time.monotonic()
                    await self.send_all(kind, requests, at_once)
                    count += len(requests)
                    await asyncio.sleep(3)
                    steps.append({"round": round_, "kind": kind, "requests": len(requests), "seconds": round(time.monotonic() - began - 3, 1),
                                  **relay_memory(pid), **self.fds_threads(pid)})
                self.log(f"flood round {round_}: relay RSS {steps[-1]['rss_mb']:.0f} MB")
        finally:
            watcher.cancel()
        took = time.monotonic() - started
        after: list[tuple[float, float]] = []
        quiet_from = time.monotonic()
        while time.monotonic() - quiet_from < self.plan.flood_watch_s:
            await asyncio.sleep(5)
            after.append((round(time.monotonic() - quiet_from), relay_memory(pid)["rss_mb"]))
        settled = {**relay_memory(pid), **self.fds_threads(pid)}
        trimmed = await asyncio.to_thread(malloc_trim, pid)
        result = {"requests": count, "seconds": round(took, 1), "before": before, "peak_rss_mb": round(peak, 1), "steps": steps,
                  "after_watch": settled, "watch_s": self.plan.flood_watch_s, "rss_over_time": after, "after_malloc_trim": trimmed}
        self.log(f"flood: {count} requests in {took:.0f} s; RSS {before['rss_mb']:.0f} -> peak {peak:.0f} -> "
                 f"{settled['rss_mb']:.0f} MB after {self.plan.flood_watch_s:g} s quiet; after malloc_trim(0): "
                 f"{trimmed['rss_mb'] if trimmed else 'n/a'} MB")
        return result

    @staticmethod
    def fds_threads(pid: int) -> dict:
        try:
            process = psutil.Process(pid)
            return {"fds": process.num_fds(), "threads": process.num_threads()}
        except psutil.Error:
            return {}

    async def execute_flood_only(self) -> None:
        """Only the relay and the two Redis servers (cameras registered, none running): the flood
        on its own, for looking into memory without a 30-minute soak first."""
        self.registry.start()
        self.bus = await asyncio.to_thread(start_bus_redis, self.workdir / "bus")
        self.relay = PantauNode(self.workdir / "relay", self.token, self.site_args("relay"), role="relay")
        await asyncio.to_thread(self.relay.start)
        self.http = HttpLog(self.relay.base_url, self.token, self.now)
        urls = {spec.id: f"rtsp://127.0.0.1:9{spec.mount}" for spec in self.specs}
        status, _ = await self.http.call("csv import", "POST", "/api/admin/cameras/import", data=cameras_csv(self.specs, urls, 0),
                                         headers={"Content-Type": "text/csv"})
        if status not in (200, 201):
            raise BenchError(f"registering the cameras answered {status}")
        await asyncio.sleep(5)
        self.phase = "flood"
        self.results["flood"] = await self.flood()

    # ---- stopping ----

    async def stop_all(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for process in self.viewer_processes:
            with contextlib.suppress(Exception):
                await process.stop()
        if self.hls_process is not None and self.hls_process.returncode is None:
            self.hls_process.kill()
            await self.hls_process.wait()
        if self.http is not None:
            await self.http.close()
        exits = {}
        for name, node in [("relay", self.relay), *self.workers.items()]:
            if node is not None and node.process is not None:
                code, took = await asyncio.to_thread(node.stop)
                exits[name] = {"exit_code": code, "stop_s": round(took, 1)}
                if code not in (0, None) or code is None:
                    self.problems.append(f"{name} did not stop cleanly on SIGTERM (exit code {code})")
        self.results["exits"] = exits
        for server in self.servers:
            await asyncio.to_thread(server.stop)
        for redis_server in (self.bus, self.registry):
            if redis_server is not None:
                redis_server.stop()


def fd_kinds(pid: int, ports: dict[int, str], http_port: int) -> dict[str, int]:
    """A process's file descriptors by what they are: connections to each Redis, HTTP clients
    connected to it, UDP sockets (ICE), other sockets, and the rest (files, pipes, epoll)."""
    try:
        process = psutil.Process(pid)
        connections, total = process.net_connections(kind="all"), process.num_fds()
    except psutil.Error:
        return {}
    kinds: Counter[str] = Counter()
    for c in connections:
        if c.type == socket.SOCK_DGRAM:
            kinds["udp"] += 1
        elif c.raddr and c.raddr.port in ports:
            kinds[ports[c.raddr.port]] += 1
        elif c.laddr and c.laddr.port == http_port:
            kinds["http (clients and listening)"] += 1
        else:
            kinds["other sockets"] += 1
    kinds["not sockets"] = total - len(connections)
    return dict(kinds)


def relay_memory(pid: int) -> dict:
    """RSS, and where it sits: the main heap ([heap]) and anonymous mappings (glibc's other
    malloc arenas and large allocations live in those)."""
    heap = anon = 0
    try:
        current = None
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    parts = line.split()
                    current = "heap" if len(parts) > 5 and parts[5] == "[heap]" else ("anon" if len(parts) <= 5 else "file")
                elif line.startswith("Rss:"):
                    kb = int(line.split()[1])
                    if current == "heap":
                        heap += kb
                    elif current == "anon":
                        anon += kb
        rss = psutil.Process(pid).memory_info().rss / MB
    except (OSError, psutil.Error):
        return {"rss_mb": float("nan")}
    return {"rss_mb": round(rss, 1), "heap_mb": round(heap / 1024, 1), "anon_mb": round(anon / 1024, 1)}


def malloc_trim(pid: int) -> dict | None:
    """Ask glibc in the relay to give freed memory back (`malloc_trim(0)` through gdb, the process
    paused for a moment): what RSS drops by is memory that was free inside malloc's arenas, not
    held by Python objects."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return None
    try:
        subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "call (int) malloc_trim(0)"],
                       capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return None
    time.sleep(1)
    return relay_memory(pid)


# -- what it means ------------------------------------------------------------------------------

def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def resource_rows(sampler: Sampler, plan: Plan, soak_s: float) -> list[dict]:
    """Per process role over the soak: RSS after the warm-up and at the end (medians of a minute's
    samples), growth, peak; CPU in % of one core; fds and threads after the warm-up, at the end
    and at most. A restarted process (new pid) is judged on its last life, from a minute after
    it started."""
    rows = []
    warm = plan.warmup_min * 60
    for role in sorted(sampler.roles):
        samples = [s for s in sampler.of(role) if s["phase"] == "soak"]
        if not samples:
            continue
        pids = list(dict.fromkeys(s["pid"] for s in samples))
        life = [s for s in samples if s["pid"] == pids[-1]]
        from_t = warm if len(pids) == 1 else life[0]["t"] + 60
        base = [s for s in life if from_t <= s["t"] <= from_t + 60]
        end = [s for s in life if s["t"] >= soak_s - 60]
        cpu_s = sum(max(0.0, [s for s in samples if s["pid"] == p][-1]["cpu_s"] - [s for s in samples if s["pid"] == p][0]["cpu_s"]) for p in pids)
        rss_base, rss_end = _median([s["rss_mb"] for s in base]), _median([s["rss_mb"] for s in end])
        rows.append({
            "role": role, "starts": len(pids), "judged_from_s": round(from_t), "rss_base_mb": rss_base, "rss_end_mb": rss_end,
            "rss_growth_pct": round(100 * (rss_end - rss_base) / rss_base, 1) if rss_base and rss_end else None,
            "rss_max_mb": max(s["rss_mb"] for s in samples), "cpu_pct": round(100 * cpu_s / max(1.0, samples[-1]["t"] - samples[0]["t"]), 1),
            "fds_base": base[0]["fds"] if base else None, "fds_end": end[-1]["fds"] if end else None, "fds_max": max(s["fds"] for s in life),
            "threads_base": base[0]["threads"] if base else None, "threads_end": end[-1]["threads"] if end else None,
            "threads_max": max(s["threads"] for s in life)})
    return rows


def disturbances(events: list[Event]) -> dict[str, list[tuple[float, float, str]]]:
    """When each camera's picture was expected to stop: its camera process down (and its
    backoff after), or its ingest worker killed (until the takeover and the move back)."""
    out: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for e in events:
        if e.kind in ("camera_kill", "worker_kill"):
            for camera in e.cameras:
                out[camera].append((*e.window(events), e.id))
    return out


def gap_rows(events: list[Event], gaps: dict) -> list[dict]:
    """Per fault: the longest gap of the viewers it hit directly (their camera's process, or the
    cameras the killed worker held) and of the bystanders (every viewer whose camera was not
    disturbed by any fault in the window)."""
    disturbed = disturbances(events)
    rows = []
    for e in events:
        start, end = e.window(events)
        direct, bystanders, recovery, silent, worst_at = [], [], [], 0, None
        for viewer in gaps.values():
            values = viewer["windows"].get(e.id)
            if values is None:
                continue
            gap, gap_at, first_after_up = values
            hit = viewer["camera"] in e.cameras and e.kind in ("camera_kill", "worker_kill")
            if any(a < end and b > start and other != e.id for a, b, other in disturbed.get(viewer["camera"], [])):
                continue  # another fault hit this camera meanwhile: neither direct nor bystander here
            if gap is None:
                silent += not hit
                continue
            if any(a <= gap_at < b and other != e.id for a, b, other in disturbed.get(viewer["camera"], [])):
                continue  # the gap began in another fault on this camera (still in its backoff): that fault's
            if not hit and (not bystanders or gap > max(bystanders)):
                worst_at = gap_at
            (direct if hit else bystanders).append(gap)
            if hit and first_after_up is not None and first_after_up <= end and viewer["joined"] < e.end:
                recovery.append(first_after_up - e.end)
        rows.append({"id": e.id, "kind": e.kind, "t": round(e.start, 1), "cameras": len(e.cameras), "detail": e.detail,
                     "direct_viewers": len(direct), "direct_max_gap_s": round(max(direct), 2) if direct else None,
                     "direct_frames_again_after_source_back_max_s": round(max(recovery), 2) if recovery else None,
                     "bystanders": len(bystanders), "bystander_max_gap_s": round(max(bystanders), 2) if bystanders else None,
                     "bystanders_over_1s": sum(g > 1.0 for g in bystanders), "bystander_worst_gap_at": worst_at,
                     "bystanders_without_frames": silent})
    return rows


def online_checks(events: list[Event], status_log: dict[str, list[dict]], registry_down: list[tuple[float, float]]) -> list[dict]:
    """After each camera process came back: was each of its cameras `online` again by the retry
    it had announced (`status.retry_in_s` of its last `offline` report before the source came
    back) plus ONLINE_SLACK_S?"""
    checks = []
    for e in (e for e in events if e.kind == "camera_kill"):
        for camera in e.cameras:
            log = status_log.get(camera, [])
            # The camera's last report before its source came back (an outage just before this one
            # may have announced the retry that is still pending).
            reports = [s for s in log if s["since"] is not None and s["since"] <= e.end]
            before = reports[-1:] if reports and reports[-1]["state"] == "offline" else []
            went_down = [s for s in log if s["t"] >= e.start and s["state"] != "online"]
            online = next((s for s in log if s["t"] > e.end and s["state"] == "online"
                           and any(d["t"] <= s["t"] for d in went_down)), None) if went_down else \
                next((s for s in log if s["t"] >= e.start and s["state"] == "online"), None)
            pending = (before[-1]["since"] + (before[-1]["retry_in_s"] or 0)) if before else e.end
            deadline = max(e.end, pending) + ONLINE_SLACK_S
            window_end = e.window(events)[1]
            if window_end < deadline and not (online and online["t"] <= window_end):
                checks.append({"event": e.id, "camera": camera, "interrupted": True, "ok": True})
                continue  # its camera process was killed again before the deadline
            registry_blind = any(a - 1 < deadline and b + 5 > e.start for a, b in registry_down)
            worker_killed = any(w.kind == "worker_kill" and camera in w.cameras and w.start < deadline and w.end + 10 > e.start
                                for w in events)
            online_at = online["since"] if online and online["since"] is not None else (online["t"] if online else None)
            checks.append({"event": e.id, "camera": camera, "interrupted": False, "source_back_s": round(e.end, 1),
                           "announced_retry_s": before[-1]["retry_in_s"] if before else None,
                           "online_after_source_back_s": round(online_at - e.end, 1) if online_at is not None else None,
                           "allowed_s": round(deadline - e.end, 1), "registry_restarted_meanwhile": registry_blind,
                           "worker_killed_meanwhile": worker_killed, "ok": online_at is not None and online_at <= deadline})
    return checks


def summarise(soak: Soak) -> dict:
    plan, events = soak.plan, soak.events
    soak_s = plan.minutes * 60
    r = soak.results
    resources = resource_rows(soak.sampler, plan, soak_s)
    gaps = gap_rows(events, r.get("gaps", {}))
    checks = online_checks(events, soak.status_log, soak.registry_down)
    statuses = defaultdict(dict)
    for (kind, status), count in sorted(soak.http.counts.items()) if soak.http else []:
        statuses[kind][status] = count
    five_xx = [b for b in (soak.http.bad if soak.http else []) if isinstance(b["status"], int)]
    for bad in five_xx:
        bad["registry_down"] = any(a - 0.5 <= bad["t"] <= b + 3 for a, b in soak.registry_down)
    errors = [b for b in (soak.http.bad if soak.http else []) if not isinstance(b["status"], int)]
    end_states = r.get("end_states", {})
    disturbed = disturbances(events)

    def undisturbed_s(viewer: dict) -> float:
        stay = (viewer["joined"], viewer["left"] if viewer["left"] is not None else soak_s)
        overlap = sum(max(0.0, min(b, stay[1]) - max(a, stay[0])) for a, b, _ in disturbed.get(viewer["camera"], []))
        return stay[1] - stay[0] - overlap

    never_framed = sorted(k for k, v in r.get("gaps", {}).items() if v["frames"] == 0 and undisturbed_s(v) > 10)
    by_kind = defaultdict(list)
    for row in gaps:
        by_kind[row["kind"]].append(row)
    kinds = {}
    for kind, rows in by_kind.items():
        def worst(name: str, rows=rows) -> float | None:
            values = [row[name] for row in rows if row[name] is not None]
            return max(values) if values else None
        kinds[kind] = {"events": len(rows), "direct_max_gap_s": worst("direct_max_gap_s"),
                       "direct_frames_again_after_source_back_max_s": worst("direct_frames_again_after_source_back_max_s"),
                       "bystander_max_gap_s": worst("bystander_max_gap_s"),
                       "bystander_gaps_over_1s": sum(row["bystanders_over_1s"] for row in rows),
                       "bystander_samples": sum(row["bystanders"] for row in rows)}
    judged = [c for c in checks if not c["interrupted"] and not c["worker_killed_meanwhile"]]
    late = [c for c in judged if not c["ok"]]
    late_with_worker_kill = [c for c in checks if not c["ok"] and c.get("worker_killed_meanwhile")]
    steady = r.get("steady", {})
    leaks = {}
    for role in ("relay", "ingest-b", "bus redis"):
        a, b = steady.get("idle start", {}).get(role), steady.get("idle end", {}).get(role)
        if a and b:
            leaks[role] = {"fds": [a["fds"], b["fds"]], "threads": [a["threads"], b["threads"]], "rss_mb": [a["rss_mb"], b["rss_mb"]],
                           "same_pid": a["pid"] == b["pid"], "fd_kinds": [a.get("fd_kinds"), b.get("fd_kinds")]}
    machine = [m for m in soak.sampler.samples if m["role"] == "machine" and m["phase"] == "soak"]
    sessions = r.get("sessions") or {}
    by_session = {(v.get("location") or "").rsplit("/", 1)[-1]: (k, v) for k, v in r.get("gaps", {}).items()}
    sessions["left_viewers"] = [{"session": sid, "viewer": by_session[sid][0], "camera": by_session[sid][1]["camera"],
                                 "joined_s": round(by_session[sid][1]["joined"], 1),
                                 "left_s": None if by_session[sid][1]["left"] is None else round(by_session[sid][1]["left"], 1),
                                 "abandoned": by_session[sid][0] in soak.abandoned,
                                 "registry_down_when_it_left": any(a - 2 <= (by_session[sid][1]["left"] or -1e9) <= b + 5
                                                                   for a, b in soak.registry_down)}
                                for sid in sessions.get("left_sessions", []) if sid in by_session]
    return {
        "plan": asdict(plan), "soak_s": soak_s,
        "machine": {"busy_pct_median": _median([m["busy_pct"] for m in machine]), "busy_pct_max": max((m["busy_pct"] for m in machine), default=None),
                    "load1_max": max((m["load1"] for m in machine), default=None)}, "events": Counter(e.kind for e in events), "resources": resources,
        "idle_start_vs_idle_end": leaks, "steady": steady, "sessions_left": sessions,
        "gaps_by_kind": kinds, "gaps_by_event": gaps, "online_checks": {"judged": len(judged), "not_judged": len(checks) - len(judged), "late": late,
                                                                          "late_with_worker_kill": late_with_worker_kill},
        "offline_at_end": sorted(c for c in (s.id for s in soak.specs) if end_states.get(c) != "online"),
        "viewers_never_framed": never_framed, "http_statuses": statuses, "http_5xx": five_xx, "http_errors": errors,
        "flood": r.get("flood"), "hls": r.get("hls"), "exits": r.get("exits"), "problems": soak.problems}


def _f(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def report(summary: dict, started: str, error: str | None) -> str:
    plan = summary["plan"]
    lines = [f"# Soak ({plan['minutes']:g} min)", "",
             f"Started {started} UTC on a {os.cpu_count()}-core machine (shared). Site: registry Redis + bus Redis + 2 `pantau ingest` "
             f"+ 1 `pantau relay`; {CAMERAS} cameras on 5 GStreamer processes (320x180 10 fps; 13 URLs carry two cameras; 1 H.265 "
             f"and 2 B-frame cameras transcoded); {CAMERAS} WHEP viewers in {VIEWER_PROCESSES} processes. Faults: "
             + ", ".join(f"{k} x{v}" for k, v in summary["events"].items()) + f"; last {plan['quiet_s']:g} s quiet. "
             f"Machine during the soak: {summary['machine']['busy_pct_median']} % busy (median of all cores; max "
             f"{summary['machine']['busy_pct_max']} %), load average up to {summary['machine']['load1_max']}.", ""]
    lines += ["## Processes (RSS judged from the end of minute " + f"{plan['warmup_min']:g}; a restarted one from a minute after its last start)", "",
              "| process | starts | RSS base → end MB | growth (target ≤ 10 %) | RSS max MB | CPU % core | fds base → end (max) | threads base → end (max) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in summary["resources"]:
        growth = row["rss_growth_pct"]
        verdict = "" if growth is None or row["role"].startswith(("camera", "viewers", "bench", "hls players")) else (" PASS" if growth <= 10 else " **MISS**")
        lines.append(f"| {row['role']} | {row['starts']} | {_f(row['rss_base_mb'])} → {_f(row['rss_end_mb'])} | {_f(growth)} %{verdict} "
                     f"| {_f(row['rss_max_mb'])} | {_f(row['cpu_pct'])} | {row['fds_base']} → {row['fds_end']} ({row['fds_max']}) "
                     f"| {row['threads_base']} → {row['threads_end']} ({row['threads_max']}) |")
    lines += ["", "Same load before and after (cameras online, no viewer): idle at the start vs idle after every viewer left:", "",
              "| process | fds | threads | RSS MB | fds by kind, start → end |", "|---|---:|---:|---:|---|"]
    for role, v in summary["idle_start_vs_idle_end"].items():
        kinds = " → ".join(", ".join(f"{k} {n}" for k, n in sorted(d.items())) if d else "n/a" for d in v["fd_kinds"])
        lines.append(f"| {role}{'' if v['same_pid'] else ' (restarted)'} | {v['fds'][0]} → {v['fds'][1]} | {v['threads'][0]} → {v['threads'][1]} "
                     f"| {v['rss_mb'][0]} → {v['rss_mb'][1]} | {kinds} |")
    sessions = summary["sessions_left"] or {}
    lines += ["", f"Sessions left after every viewer left: relay {sessions.get('relay_viewers')}, session directory keys "
              f"{sessions.get('session_directory_keys')}, viewer counts in the registry {sessions.get('viewer_counts_in_registry')} "
              f"(checked until {sessions.get('seconds_after_leaving')} s after leaving).", "",
              *(f"- left in the session directory: {v['viewer']} on {v['camera']}, joined {v['joined_s']} s, left {v['left_s']} s"
                f"{' without a DELETE' if v['abandoned'] else ' with a DELETE'}"
                f"{', the registry Redis down then' if v['registry_down_when_it_left'] else ''}" for v in sessions.get("left_viewers", [])),
              "",
              "## Longest gap at the viewers after each kind of fault", "",
              "Direct: viewers of the cameras the fault hit (for a camera process: its cameras, the gap includes the time it was down; "
              "for a worker kill: the cameras it held, taken over). Bystanders: every other viewer whose camera no fault touched meanwhile.", "",
              "| fault | events | direct: longest gap s | direct: frames again after source back, worst s | bystanders: longest gap s | bystander gaps > 1 s |",
              "|---|---:|---:|---:|---:|---:|"]
    for kind, v in sorted(summary["gaps_by_kind"].items()):
        lines.append(f"| {kind} | {v['events']} | {_f(v['direct_max_gap_s'], 2)} | {_f(v['direct_frames_again_after_source_back_max_s'], 2)} "
                     f"| {_f(v['bystander_max_gap_s'], 2)} | {v['bystander_gaps_over_1s']} of {v['bystander_samples']} |")
    checks = summary["online_checks"]
    lines += ["", f"Cameras online again within their announced retry + {ONLINE_SLACK_S:g} s after their camera process came back: "
              f"{checks['judged'] - len(checks['late'])} of {checks['judged']} ({checks['not_judged']} more not judged: their process was "
              f"killed again before the deadline, or their ingest worker was killed meanwhile: {len(checks['late_with_worker_kill'])} of these "
              f"were late); offline at the end (after the quiet minutes): {', '.join(summary['offline_at_end']) or 'none'}; "
              f"viewers that never got a frame although their camera was up for 10 s or more of their stay: {len(summary['viewers_never_framed'])}.", ""]
    for late in checks["late"][:10]:
        lines.append(f"- late: {late['camera']} after {late['event']}: online {late['online_after_source_back_s']} s after its source "
                     f"(allowed {late['allowed_s']} s{', registry restarted meanwhile' if late['registry_restarted_meanwhile'] else ''})")
    lines += ["", "## HTTP statuses the bench got", "", "| call | statuses |", "|---|---|"]
    for kind, counts in summary["http_statuses"].items():
        lines.append(f"| {kind} | {', '.join(f'{s}: {n}' for s, n in counts.items())} |")
    lines += ["", f"5xx: {len(summary['http_5xx'])} ({sum(b['registry_down'] for b in summary['http_5xx'])} of them while the registry "
              f"Redis was down or within 3 s after); transport errors: {len(summary['http_errors'])}."]
    for bad in (summary["http_5xx"] + summary["http_errors"])[:10]:
        lines.append(f"- {bad['t']} s {bad['kind']}: {bad['status']} {bad['detail'][:150]}")
    hls = summary.get("hls")
    if hls:
        gaps = sorted(hls["longest_gaps"])
        other_5xx = {k: v for k, v in hls["statuses"].items() if k.startswith("5") and k != "503"}
        lines += ["", "## LL-HLS players", "",
                  f"{len(hls['kept_up'])} players over {plan['hls_players']} cameras for the whole soak: {hls['parts']} parts "
                  f"({hls['bytes'] / 1e6:.1f} MB); statuses {', '.join(f'{k}: {v}' for k, v in sorted(hls['statuses'].items()))} "
                  "(a 503 is the origin's designed \"not there yet\" while a camera is away, RFC 8216bis 6.2.5.2); other 5xx: "
                  f"{sum(other_5xx.values())}; longest wait for a part per player: median {_f(_median(gaps), 2)} s, max "
                  f"{_f(gaps[-1] if gaps else None, 2)} s (a camera kill hits its players for as long as its source is down); "
                  f"start-overs: {', '.join(f'{k} {v}' for k, v in sorted(hls['failures'].items())) or 'none'}; "
                  f"players that crashed: {sum(hls['errors'].values())}."]
    flood = summary["flood"]
    if flood:
        trimmed = flood["after_malloc_trim"] or {}
        lines += ["", "## Flood of bad requests (relay; after the soak, no viewer)", "",
                  f"{flood['requests']} requests in {flood['seconds']} s, 8 at a time (one at a time where the kind says so), two rounds of the same kinds; RSS peak "
                  f"{flood['peak_rss_mb']} MB. [heap]: glibc's main arena; anonymous: its other arenas, large blocks and Python's own arenas.", "",
                  "| after | requests | RSS MB | [heap] MB | anonymous MB | fds | threads |", "|---|---:|---:|---:|---:|---:|---:|"]
        rows = [("before", "", flood["before"]), *((f"round {s['round']}: {s['kind']}", s["requests"], s) for s in flood["steps"]),
                (f"{flood['watch_s']:g} s without load", "", flood["after_watch"]), ("malloc_trim(0) (through gdb)", "", trimmed)]
        for name, count, m in rows:
            lines.append(f"| {name} | {count} | {m.get('rss_mb', 'n/a')} | {m.get('heap_mb', 'n/a')} | {m.get('anon_mb', 'n/a')} "
                         f"| {m.get('fds', '')} | {m.get('threads', '')} |")
    problems = summary["problems"] + ([f"the run stopped early: {error}"] if error else [])
    if problems:
        lines += ["", "Problems:", "", *(f"- {p}" for p in problems)]
    return "\n".join(lines) + "\n"


# -- main ---------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> tuple[dict, str | None]:
    workdir = Path(tempfile.mkdtemp(prefix="pantau-soak-"))
    soak = Soak(workdir, args.plan, args.seed)
    started = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    error = None
    try:
        await (soak.execute_flood_only() if args.flood_only else soak.execute())
    except (BenchError, aiohttp.ClientError, OSError, TimeoutError, RuntimeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        print(f"FAILED: {error}", file=sys.stderr, flush=True)
    except asyncio.CancelledError:
        error = "cancelled (deadline, SIGTERM or Ctrl-C)"
        raise
    finally:
        await asyncio.shield(soak.stop_all())
        summary = summarise(soak)
        summary["error"] = error
        text = report(summary, started, error)
        print("\n" + text, flush=True)
        dump_json(args.out, {"summary": summary, "samples": soak.sampler.samples, "status_log": soak.status_log,
                             "events": [asdict(e) for e in soak.events], "viewers": soak.results.get("gaps", {})})
        args.out.with_suffix(".md").write_text(text, encoding="utf-8")
        print(f"written to {args.out} and {args.out.with_suffix('.md')}", flush=True)
        if args.keep:
            print(f"logs kept in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return summary, error


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 minutes with a compressed fault schedule (a smoke test)")
    parser.add_argument("--minutes", type=float, help="length of the soak (default 30; --quick 4)")
    parser.add_argument("--seed", type=int, default=13, help="the fault schedule's random seed")
    parser.add_argument("--out", type=Path, help="JSON report (default bench/results/soak.json or soak-quick.json; a .md beside it)")
    parser.add_argument("--timeout", type=float, help="stop everything after this many seconds (default: the soak + 15 min)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (node, camera, viewer logs)")
    parser.add_argument("--flood-only", action="store_true", help="only the relay and its Redis servers, and the flood of bad requests")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.minutes:
        plan = Plan(**{**asdict(plan), "minutes": args.minutes})
    args.plan = plan
    args.timeout = args.timeout or plan.minutes * 60 + 900
    args.out = args.out or RESULTS_DIR / ("soak-quick.json" if args.quick else "soak.json")
    return args


def failed(outcome: tuple[dict, str | None]) -> bool:
    summary, error = outcome
    return error is not None or bool(summary["problems"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench("soak", run, args, failed)


if __name__ == "__main__":
    sys.exit(main())
