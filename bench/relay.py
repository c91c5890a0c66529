"""Benchmark of the relay: time to first frame, and the WebRTC fan-out's CPU and memory per
viewer beside Janus, relay latency.

    .venv/bin/python bench/relay.py            # 20 first-frame viewers per server, 15 s windows at 0/1/10/50/100 viewers, 5 churn cycles (~40 min)
    .venv/bin/python bench/relay.py --quick    # 5 first-frame viewers, 8 s windows, 2 churn cycles: a smoke test
    .venv/bin/python bench/relay.py --profile  # and py-spy each Pantau path at 100 viewers
    .venv/bin/python bench/relay.py --rounds 3 --servers "Pantau shared,Pantau shared python,Janus event_loops=2"
                                               # every step three times (ABBA), the median reported

One GStreamer RTSP test camera (720p, 25 fps, 2 Mbit/s H.264; one encoder per mount, shared by
every client) feeds seven servers side by side, all ingesting it throughout: Pantau with the
shared fan-out (`relay.fanout: shared`, the default; live viewers sent by one task per camera
through the compiled relay.webrtc._fastsend, `relay.fanout_send: native`, from the event
loop's thread), the same with a frame to many viewers sent half from a helper thread
(`relay.fanout_send_threads: 2`, "Pantau shared 2 threads"), the same with the
camera task's Python send (`relay.fanout_send: python`), Pantau with aiortc's own per-viewer
sender (`relay.fanout: aiortc`), the stock aiortc baseline from `relay_support.py`
(`MediaPlayer(decode=False)` + `MediaRelay`), and Janus 1.1.2 (Debian's `janus`, streaming
plugin) with its default configuration and with `event_loops = 2` (`relay_janus.py`, the
configurations in ../shared/bench/janus/). The same aiortc viewers (`relay_clients.py`: the
shared Janus fan-out client, in processes of their own; light viewers by default,
relay_light_viewer.py) watch one server at a time; the order
of the servers reverses at every step (ABBA), so a noisy moment of the shared 2-core machine
hits them alike. CPU and memory are the server process's alone. Targets are printed PASS/MISS;
the exit code is non-zero only when something broke.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil
from camera_set import REPO
from measure import percentile
from processes import BenchError, PantauNode, kill_leftover
from relay_clients import LIGHT_VIEWERS_PER_PROCESS, VIEWERS_PER_PROCESS, ClientFigures, FanoutClients
from relay_janus import JanusServer, ServerProcess
from runner import run_bench

sys.path.insert(0, str(REPO))  # the RTSP test camera lives in tests/support
from tests.support.rtsp_camera import Mount, RtspCameraServer  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SUPPORT = Path(__file__).resolve().with_name("relay_support.py")
REPLY_PREFIX = "@@ "  # relay_support's answer lines
MB = 2**20

STREAM = {"width": 1280, "height": 720, "fps": 25, "bitrate_kbps": 2000}
TTFF_MOUNT = Mount(path="/gop4", gop_seconds=4, **STREAM)
LOAD_MOUNT = Mount(path="/gop2", gop_seconds=2, **STREAM)
REGION = "31.71.01.1001"  # any kelurahan of configs/regions-dki.json

TTFF_TARGET_S = 0.5
STEPS = (1, 10, 50, 100)  # viewers connected during the CPU windows (after a window with none)
CHURN_VIEWERS = 50
HOLD_S = 3.0  # a churn cycle's viewers watch this long before leaving
MIN_FPS = 20.0  # of the camera's 25: a viewer below it costs the server less and flatters it
CLIENT_MARGIN_S = 10.0  # clients keep receiving this long past the window (they connect at different times)
LIGHT_CLIENT_MARGIN_S = 4.0  # the same for light viewers, whose processes connect within a moment of each other
SHARED, SHARED_2T, SHARED_PY, OLD = "Pantau shared", "Pantau shared 2 threads", "Pantau shared python", "Pantau aiortc"
STOCK, JANUS, JANUS_TUNED = "stock aiortc", "Janus", "Janus event_loops=2"
SERVERS = (SHARED, SHARED_2T, SHARED_PY, OLD, STOCK, JANUS, JANUS_TUNED)
# (name, relay.fanout, relay.fanout_send, relay.fanout_send_threads)
PANTAU_NODES = ((SHARED, "shared", "native", 1), (SHARED_2T, "shared", "native", 2), (SHARED_PY, "shared", "python", 1),
                (OLD, "aiortc", "native", 1))
GOAL_RATIO = 0.5  # of tuned Janus's CPU per viewer-minute (issue 19)
GOAL_RSS_PER_VIEWER_MB = 0.5
GOAL_LATENCY_P99_MS = 10.0


@dataclass(frozen=True)
class Plan:
    ttff_viewers: int
    window_s: float
    settle_s: float
    churn_cycles: int
    light: bool = True  # light viewers (relay_light_viewer.py); False: aiortc's whole receive path
    churn: bool = True
    viewer_nice: int = 0  # the viewer processes' niceness, the same for every server (10: they yield to it)

    @property
    def per_process(self) -> int:
        return LIGHT_VIEWERS_PER_PROCESS if self.light else VIEWERS_PER_PROCESS


FULL = Plan(ttff_viewers=20, window_s=15.0, settle_s=5.0, churn_cycles=5)
QUICK = Plan(ttff_viewers=5, window_s=8.0, settle_s=3.0, churn_cycles=2)


# -- results ------------------------------------------------------------------------------------

@dataclass
class Step:
    """One CPU window with `viewers` connected."""

    viewers: int
    seconds: float
    cpu_s: float  # the server process
    rss_mb: float  # the server process, median of 1 s samples
    clients_cpu_s: float
    machine_busy_pct: float  # of both cores: what the server was competing with
    fps: list[float]  # per client process: its slowest viewer, over the client's receiving time
    clients: ClientFigures | None = None
    latency: dict | None = None  # Pantau's /api/metrics relay_latency_ms at the end
    window_latency: dict | None = None  # Pantau: the window's own samples (latency_in_window)

    @property
    def cpu_s_per_minute(self) -> float:
        return self.cpu_s / (self.seconds / 60)

    def core_pct(self, cpu_s: float) -> float:
        return 100 * cpu_s / self.seconds


@dataclass
class ServerResult:
    name: str
    ttff: list[float] = field(default_factory=list)
    ttff_errors: list[str] = field(default_factory=list)
    steps: dict[int, Step] = field(default_factory=dict)  # per viewer count, the median round's
    rounds: dict[int, list[Step]] = field(default_factory=dict)  # every round's window
    rss_after_load_mb: float = math.nan  # after the CPU windows (each one's viewers joined and left)
    churn_rss_mb: list[float] = field(default_factory=list)
    leftovers: str = ""  # what the server still holds after the churn
    profile: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def per_viewer_minute(self, viewers: int) -> float:
        """Marginal CPU-seconds per viewer-minute: above the same server with no viewer, per
        viewer that connected (on a saturated machine some do not within the client's 10 s)."""
        if viewers not in self.steps or 0 not in self.steps:
            return math.nan
        step = self.steps[viewers]
        connected = step.clients.connected if step.clients and step.clients.connected else viewers
        return (step.cpu_s_per_minute - self.steps[0].cpu_s_per_minute) / connected

    def take_medians(self) -> None:
        """`steps` from the rounds: the window whose marginal CPU per viewer is the median
        (the no-viewer windows: the median CPU), so one noisy window does not make the figure."""
        if 0 in self.rounds:
            self.steps[0] = sorted(self.rounds[0], key=lambda step: step.cpu_s_per_minute)[(len(self.rounds[0]) - 1) // 2]
        for viewers, runs in self.rounds.items():
            if viewers:
                ranked = sorted(runs, key=lambda step: self._marginal(step))
                self.steps[viewers] = ranked[(len(ranked) - 1) // 2]

    def _marginal(self, step: Step) -> float:
        connected = step.clients.connected if step.clients and step.clients.connected else step.viewers
        zero = self.steps.get(0)
        return (step.cpu_s_per_minute - (zero.cpu_s_per_minute if zero else 0.0)) / connected

    def round_figures(self, viewers: int) -> str:
        """Every round's CPU-s per viewer-minute at one step (the spread behind the median)."""
        return ", ".join(_f(self._marginal(step), 3) for step in self.rounds.get(viewers, []))

    @property
    def slope(self) -> float:
        """CPU-seconds per viewer-minute as the least-squares slope over every window."""
        points = [(v, step.cpu_s_per_minute) for v, step in self.steps.items()]
        if len(points) < 2:
            return math.nan
        mean_v = statistics.fmean(v for v, _ in points)
        mean_c = statistics.fmean(c for _, c in points)
        spread = sum((v - mean_v) ** 2 for v, _ in points)
        return sum((v - mean_v) * (c - mean_c) for v, c in points) / spread if spread else math.nan

    @property
    def rss_per_viewer_mb(self) -> float:
        top = max(STEPS)
        if top not in self.steps or 0 not in self.steps:
            return math.nan
        return (self.steps[top].rss_mb - self.steps[0].rss_mb) / top

    @property
    def churn_growth_mb(self) -> float:
        return self.churn_rss_mb[-1] - self.rss_after_load_mb if self.churn_rss_mb else math.nan


# -- processes ----------------------------------------------------------------------------------

def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def machine_busy_seconds() -> tuple[float, float]:
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq + times.steal, sum(times)


class ViewerProcess:
    """relay_support.py viewers: aiortc WHEP viewers in a process of their own, driven by
    one JSON command per line."""

    def __init__(self, workdir: Path, name: str, decode: bool):
        self.stderr_path = workdir / f"{name}.err"
        self.decode = decode
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> ViewerProcess:
        with open(self.stderr_path, "wb") as err:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, str(SUPPORT), "viewers", *(["--decode"] if self.decode else []),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err)
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    async def call(self, command: dict, timeout_s: float = 120.0) -> dict:
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        async with asyncio.timeout(timeout_s):
            while line := await self.process.stdout.readline():
                if line.startswith(REPLY_PREFIX.encode()):
                    return json.loads(line[len(REPLY_PREFIX):])
        tail = self.stderr_path.read_text(errors="replace")[-2000:]
        raise BenchError(f"a viewer process exited (code {await self.process.wait()}):\n{tail}")

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        try:
            self.process.stdin.write(b'{"op": "quit"}\n')
            async with asyncio.timeout(15):
                await self.process.wait()
        except (TimeoutError, ConnectionError, asyncio.CancelledError):
            self.process.kill()
            await self.process.wait()


# -- the servers --------------------------------------------------------------------------------

class Server:
    name: str
    base_url: str
    camera: str
    pid: int

    async def sessions(self, http: aiohttp.ClientSession) -> dict:
        """What the server still holds: {"sessions": n, ...}."""
        raise NotImplementedError

    async def latency(self, http: aiohttp.ClientSession) -> dict | None:
        return None

class PantauServer(Server):
    def __init__(self, name: str, node: PantauNode, camera: str):
        self.name = name
        self.node = node
        self.base_url = node.base_url
        self.camera = camera
        self.pid = node.process.pid

    async def _metrics(self, http: aiohttp.ClientSession) -> dict:
        return await admin_call(http, self.node, "GET", "/api/metrics")

    async def sessions(self, http: aiohttp.ClientSession) -> dict:
        metrics = await self._metrics(http)
        return {"sessions": metrics["viewers"], "per_camera": metrics["viewers_per_camera"]}

    async def latency(self, http: aiohttp.ClientSession) -> dict | None:
        return (await self._metrics(http))["relay_latency_ms"]

    async def latency_histogram(self, http: aiohttp.ClientSession) -> list[tuple[float, int]] | None:
        """The relay latency histogram since the node started (Prometheus `/metrics`): [(le s, count)]."""
        text = await admin_call(http, self.node, "GET", "/metrics")
        found = re.findall(r'^pantau_relay_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M)
        return [(float(le), int(float(count))) for le, count in found]


async def latency_histogram(server, http: aiohttp.ClientSession) -> list[tuple[float, int]] | None:
    """Pantau's relay latency histogram; None for the servers that have none (Janus, stock aiortc)."""
    read = getattr(server, "latency_histogram", None)
    return await read(http) if read is not None else None


def latency_in_window(before: list[tuple[float, int]] | None, after: list[tuple[float, int]] | None) -> dict | None:
    """p50 and p99 of the samples taken between two histogram readings, as the upper bound of the
    bucket they fall in (ms), and the share within the goal. The window's own: /api/metrics' figures
    cover the last 20,000 samples, joins, leaves and earlier windows included."""
    if not before or not after:
        return None
    counts = [(le, end - start) for (le, start), (_, end) in zip(before, after)]
    total = counts[-1][1]
    if not total:
        return None

    def bound(quantile: float) -> float:
        return next(1000 * le for le, count in counts if count >= quantile * total)

    within = next((count for le, count in counts if le >= GOAL_LATENCY_P99_MS / 1000), total)
    return {"p50": bound(0.5), "p99": bound(0.99), "within_goal": within / total, "samples": total}


class StockServer(Server, ServerProcess):
    """relay_support.py stock-server on one RTSP URL; stdout/stderr go to files."""

    name = STOCK
    camera = "cam"  # it serves one camera, whatever the id

    def __init__(self, rtsp_url: str, workdir: Path, name: str):
        self.rtsp_url = rtsp_url
        self.stdout_path = workdir / f"{name}.out"
        self.stderr_path = workdir / f"{name}.err"
        self.process: subprocess.Popen | None = None
        self.base_url = ""

    def start(self, timeout_s: float = 40.0) -> StockServer:
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen([sys.executable, str(SUPPORT), "stock-server", "--rtsp", self.rtsp_url],
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.stdout_path.read_text(errors="replace").splitlines():
                if line.startswith("READY "):
                    self.base_url = line.split()[1]
                    return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise BenchError(f"the stock aiortc server did not start:\n{self.stderr_path.read_text(errors='replace')[-2000:]}")

    async def sessions(self, http: aiohttp.ClientSession) -> dict:
        async with http.get(f"{self.base_url}/stats") as response:
            return await response.json()


async def admin_call(http: aiohttp.ClientSession, node: PantauNode, method: str, path: str, body: dict | None = None):
    headers = {"Authorization": f"Bearer {node.admin_token}"}
    async with http.request(method, node.base_url + path, json=body, headers=headers) as response:
        data = await response.json() if response.content_type == "application/json" else await response.text()
        if response.status >= 300:
            raise BenchError(f"{method} {path} answered {response.status}: {data}")
        return data


async def add_camera(http: aiohttp.ClientSession, node: PantauNode, camera_id: str, source: str, tps: int) -> None:
    """A public camera (no credentials needed to watch it), then wait until it is ingested."""
    body = {"id": camera_id, "kind": "tps", "region": REGION, "tps": tps, "source": source, "public": True}
    await admin_call(http, node, "POST", "/api/admin/cameras", body)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = (await admin_call(http, node, "GET", f"/api/admin/cameras/{camera_id}"))["status"]
        if state["state"] == "online":
            return
        await asyncio.sleep(0.2)
    raise BenchError(f"camera {camera_id} was not online after 30 s: {state}")


def node_config(workdir: Path, fanout: str = "shared", fanout_send: str = "native", threads: int = 1) -> Path:
    """Loopback-only ICE (the bench never leaves 127.0.0.1), room for every viewer (all of them
    public viewers from one address: no offer rate limit), the fan-out path. Given as a config
    file: PantauNode passes no PANTAU_* variables through to the node."""
    path = workdir / f"pantau-{fanout}-{fanout_send}-{threads}.yaml"
    path.write_text(f"relay:\n  fanout: {fanout}\n  fanout_send: {fanout_send}\n  fanout_send_threads: {threads}\n  max_viewers_per_camera: 1000\n  ice:\n    include_loopback: true\n"
                    "    host_addresses: [\"127.0.0.1\"]\nlimits:\n  pending_offers_per_address: 1000\n"
                    "  offers: {per_s: 1000, burst: 1000}\n", encoding="utf-8")
    return path


# -- phases -------------------------------------------------------------------------------------

async def time_to_first_frame(servers: list[Server], results: dict[str, ServerResult], viewer: ViewerProcess,
                              plan: Plan, rng: random.Random) -> None:
    """New viewers one at a time, alternating servers, each after a random 0-4 s pause so they
    join at random points of the 4 s GOP; seconds from the POST to the first decoded frame."""
    for _ in range(plan.ttff_viewers):
        for server in servers:
            await asyncio.sleep(rng.uniform(0, TTFF_MOUNT.gop_seconds))
            reply = await viewer.call({"op": "ttff", "base": server.base_url, "camera": server.camera}, timeout_s=60)
            result = results[server.name]
            if "error" in reply:
                result.ttff_errors.append(reply["error"])
                continue
            result.ttff.append(reply["ttff"])
            if reply["codec"] != "H264" or reply["delete"] != 200:
                result.problems.append(f"first-frame viewer: codec {reply['codec']}, DELETE answered {reply['delete']}")


async def window(server, viewers: int, plan: Plan, http: aiohttp.ClientSession, workdir: Path) -> Step:
    """`viewers` connected, settle, then the server's CPU and RSS over the window; the viewers
    leave (and the server must then hold no session)."""
    clients = FanoutClients(server, viewers, hold_for(plan, viewers), workdir, plan.light, plan.viewer_nice) if viewers else None
    try:
        if clients:
            await clients.connect()
        await asyncio.sleep(plan.settle_s)
        process = psutil.Process(server.pid)
        try:
            client_processes = [psutil.Process(p.pid) for p in clients.processes] if clients else []
        except psutil.NoSuchProcess:
            raise BenchError("a fan-out client ended before the window (its viewers failed)") from None
        histogram_before = await latency_histogram(server, http)
        cpu_before, clients_before = cpu_seconds(process), sum(map(cpu_seconds, client_processes))
        busy_before, total_before = machine_busy_seconds()
        started = time.monotonic()
        rss = []
        while (left := started + plan.window_s - time.monotonic()) > 0:
            await asyncio.sleep(min(1.0, left))
            rss.append(process.memory_info().rss / MB)
        seconds = time.monotonic() - started
        try:
            cpu_s, clients_s = cpu_seconds(process) - cpu_before, sum(map(cpu_seconds, client_processes)) - clients_before
        except psutil.NoSuchProcess:
            raise BenchError("a fan-out client ended during the window (its viewers failed)") from None
        busy, total = machine_busy_seconds()
        latency = await server.latency(http)
        window_latency = latency_in_window(histogram_before, await latency_histogram(server, http))
        figures = await clients.finish() if clients else ClientFigures(0)
    finally:
        if clients:
            await clients.kill()
    return Step(viewers, seconds, cpu_s, statistics.median(rss), clients_s, 100 * (busy - busy_before) / (total - total_before),
                figures.fps, clients=figures, latency=latency, window_latency=window_latency)


def hold_for(plan: Plan, viewers: int) -> float:
    """How long each client process keeps receiving once its viewers are connected: the window
    must lie inside every one's, and a server that answers offers slowly connects the last
    process long after the first (stock aiortc: ~0.5 s a viewer at 100). Light viewers: each
    process negotiates its share one after another, the processes side by side."""
    if not plan.light:
        return plan.settle_s + plan.window_s + CLIENT_MARGIN_S + 0.5 * viewers
    share = math.ceil(viewers / math.ceil(viewers / plan.per_process))
    return plan.settle_s + plan.window_s + LIGHT_CLIENT_MARGIN_S + 0.2 * share + 0.02 * viewers


async def until_no_session(server, http: aiohttp.ClientSession, result: ServerResult) -> None:
    deadline = time.monotonic() + 10
    while (held := await server.sessions(http)).get("sessions") and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    if held.get("sessions"):
        result.problems.append(f"{held['sessions']} sessions still open 10 s after their viewers left: {held}")


async def rss_now(pid: int, samples: int = 3) -> float:
    values = []
    for _ in range(samples):
        values.append(psutil.Process(pid).memory_info().rss / MB)
        await asyncio.sleep(1)
    return statistics.median(values)


async def churn(server, plan: Plan, http: aiohttp.ClientSession, result: ServerResult, workdir: Path) -> None:
    """Cycles of 50 viewers joining, watching a moment and leaving; RSS after each."""
    print(f"{server.name}: churn", flush=True)
    await asyncio.sleep(plan.settle_s)
    result.rss_after_load_mb = await rss_now(server.pid)
    for cycle in range(plan.churn_cycles):
        clients = FanoutClients(server, CHURN_VIEWERS, HOLD_S, workdir, plan.light, plan.viewer_nice)
        try:
            await clients.connect()
            figures = await clients.finish()
        finally:
            await clients.kill()
        if figures.connected < CHURN_VIEWERS:
            result.problems.append(f"churn cycle {cycle + 1}: {figures.connected} of {CHURN_VIEWERS} viewers connected")
        await until_no_session(server, http, result)
        await asyncio.sleep(plan.settle_s)
        result.churn_rss_mb.append(await rss_now(server.pid))
        print(f"  churn cycle {cycle + 1}: RSS {result.churn_rss_mb[-1]:.0f} MB", flush=True)
    result.leftovers = json.dumps(await server.sessions(http))


async def profile(server, seconds: float, path: Path) -> list[str]:
    """py-spy (non-blocking, so the server is not paused) over `seconds`: the functions the
    server spends its CPU in, by own samples."""
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        return [f"(no py-spy next to {sys.executable}: .venv/bin/pip install py-spy)"]
    command = [str(py_spy), "record", "--nonblocking", "--format", "raw", "--rate", "100", "--duration", str(int(seconds)),
               "--pid", str(server.pid), "--output", str(path)]
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode != 0 or not path.exists():
        return [f"(py-spy failed: {err.decode(errors='replace').strip()[-300:]})"]
    own: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            own[re.sub(r":\d+\)$", ")", stack.rsplit(";", 1)[-1])] += int(count)  # per function, not per line
    total = sum(own.values()) or 1
    return [f"{100 * n / total:5.1f} % {frame}" for frame, n in own.most_common(14)]


async def cpu_step(server, viewers: int, plan: Plan, http: aiohttp.ClientSession, result: ServerResult, workdir: Path) -> None:
    """One CPU window of one server."""
    try:
        step = await window(server, viewers, plan, http, workdir)
        result.rounds.setdefault(viewers, []).append(step)
    except (BenchError, TimeoutError) as exc:  # one server failing a step does not end the run
        result.problems.append(f"{viewers} viewers: {type(exc).__name__}: {exc}")
        print(f"  {server.name}, {viewers} viewers: FAILED {exc}", flush=True)
        return
    await until_no_session(server, http, result)
    if viewers:
        figures = step.clients
        if figures.connected < viewers or figures.errors:
            result.problems.append(f"{viewers} viewers: {figures.connected} connected, client errors {figures.errors[:2]}")
        if figures.codecs - {"video/H264"}:
            result.problems.append(f"{viewers} viewers: codecs {sorted(figures.codecs)}, not H.264 alone")
        if figures.fps_min < MIN_FPS:
            result.problems.append(f"{viewers} viewers: the slowest viewer got {figures.fps_min:.1f} fps (< {MIN_FPS:.0f})")
        result.problems += light_viewer_problems(viewers, figures)
    light = step.clients.light if step.clients else {}
    print(f"  {server.name}, {viewers} viewers: {step.core_pct(step.cpu_s):.1f} % core, RSS {step.rss_mb:.0f} MB, "
          f"viewer fps min {min(step.fps, default=math.nan):.1f}, clients {step.core_pct(step.clients_cpu_s):.0f} % core, "
          f"machine busy {step.machine_busy_pct:.0f} %"
          + (f", lost {light.get('lost', 0)} of {light.get('packets', 0)} packets, SRTP checked {light.get('srtp_checked', 0)} "
             f"(failed {light.get('srtp_failed', 0)}), sampled decode {[s and s['pictures'] for s in step.clients.samples]}" if light else ""),
          flush=True)


def light_viewer_problems(viewers: int, figures: ClientFigures) -> list[str]:
    """What light viewers found wrong with what they received: a packet SRTP refused, a
    sampled viewer whose frames did not decode (relay_light_viewer.py)."""
    problems = []
    if figures.light.get("srtp_failed"):
        problems.append(f"{viewers} viewers: {figures.light['srtp_failed']} of {figures.light['srtp_checked']} sampled packets failed SRTP")
    for sample in figures.samples:
        if not sample or sample["pictures"] < sample["frames"] - 1 or sample["errors"]:
            problems.append(f"{viewers} viewers: a sampled viewer's H.264 did not decode: {sample}")
    return problems


async def profiled_window(server, plan: Plan, result: ServerResult, path: Path, workdir: Path) -> None:
    """An extra window, after the measured ones: py-spy's own CPU must not be in them."""
    clients = FanoutClients(server, max(STEPS), hold_for(plan, max(STEPS)), workdir, plan.light, plan.viewer_nice)
    try:
        await clients.connect()
        await asyncio.sleep(plan.settle_s)
        result.profile = await profile(server, plan.window_s, path)
        await clients.finish()
    finally:
        await clients.kill()


# -- the run ------------------------------------------------------------------------------------

class Run:
    """Every process one invocation starts, so `finally` can stop them all whatever failed."""

    def __init__(self, workdir: Path, plan: Plan, profile_dir: Path | None, only: tuple[str, ...] = SERVERS, rounds: int = 1):
        self.only = only  # the servers of the load phase
        self.rounds = rounds  # every step this many times, the order of the servers reversed each time
        self.workdir = workdir
        self.plan = plan
        self.profile_dir = profile_dir
        self.results = {name: ServerResult(name) for name in SERVERS}
        self.camera = RtspCameraServer([TTFF_MOUNT, LOAD_MOUNT], log_dir=workdir / "camera")
        self.admin_token = "adm-" + secrets.token_urlsafe(16)
        self.nodes: list[PantauNode] = []
        self.embedded_redis_pids: list[int] = []
        self.stock: list[StockServer] = []
        self.janus: list[JanusServer] = []
        self.viewers: list[ViewerProcess] = []

    def start_node(self, name: str, fanout: str = "shared", fanout_send: str = "native", threads: int = 1) -> PantauNode:
        node = PantauNode(self.workdir / name, self.admin_token, ["--config", str(node_config(self.workdir, fanout, fanout_send, threads))])
        self.nodes.append(node)
        node.start()
        self.embedded_redis_pids.append(node.embedded_redis()[0])
        return node

    def stop_node(self, node: PantauNode) -> None:
        if node.process is None or node.process.poll() is not None:
            return
        code, _ = node.stop()
        if code != 0:
            self.results[SHARED].problems.append(f"pantau serve exit code after SIGTERM: {code} (None = killed)\n{node.log_tail()}")

    async def viewer_processes(self, count: int, decode: bool) -> list[ViewerProcess]:
        started = [ViewerProcess(self.workdir, f"viewers-{len(self.viewers) + i}", decode) for i in range(count)]
        self.viewers += started
        return list(await asyncio.gather(*(p.start() for p in started)))

    def stock_server(self, mount: Mount, name: str) -> StockServer:
        server = StockServer(self.camera.url(mount), self.workdir, name)
        self.stock.append(server)
        return server.start()

    async def execute(self, ttff: bool = True) -> None:
        self.camera.start(timeout=20)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            if ttff:
                await self.ttff_phase(http)
            await self.load_phase(http)

    async def ttff_phase(self, http: aiohttp.ClientSession) -> None:
        """On a node of its own: the load phases' relay latency must not include these viewers'."""
        print(f"time to first frame: {self.plan.ttff_viewers} viewers per server, GOP {TTFF_MOUNT.gop_seconds:g} s", flush=True)
        node = self.start_node("node-ttff")
        await add_camera(http, node, "bench-gop4", self.camera.url(TTFF_MOUNT), tps=4)
        stock = self.stock_server(TTFF_MOUNT, "stock-gop4")
        [viewer] = await self.viewer_processes(1, decode=True)
        await asyncio.sleep(2)  # both servers past their first keyframe
        ours = PantauServer(SHARED, node, "bench-gop4")
        await time_to_first_frame([ours, stock], self.results, viewer, self.plan, random.Random(4))
        latency = await ours.latency(http)
        self.results[SHARED].notes.append(
            f"/api/metrics after the first-frame viewers (each watched under a second): relay latency p50 {latency['p50']} / "
            f"p99 {latency['p99']} ms over {latency['samples']} samples")
        await viewer.stop()
        stock.stop()
        self.stop_node(node)

    def janus_server(self, name: str, config: str, index: int) -> JanusServer:
        server = JanusServer(name, config, self.camera.url(LOAD_MOUNT), self.workdir, 18088 + index,
                             (20000 + 10000 * index, 29999 + 10000 * index))
        self.janus.append(server)
        return server.start()

    async def load_phase(self, http: aiohttp.ClientSession) -> None:
        """Every server ingests the GOP 2 s camera throughout; only the measured one has viewers.
        At each step the servers take turns, in reverse order at the next step (ABBA)."""
        servers = []
        for name, fanout, fanout_send, threads in PANTAU_NODES:
            if name in self.only:
                node = self.start_node(f"node-{fanout}-{fanout_send}-{threads}", fanout, fanout_send, threads)
                await add_camera(http, node, "bench-gop2", self.camera.url(LOAD_MOUNT), tps=2)
                servers.append(PantauServer(name, node, "bench-gop2"))
        if STOCK in self.only:
            servers.append(self.stock_server(LOAD_MOUNT, "stock-gop2"))
        servers += [self.janus_server(name, config, index) for index, (name, config)
                    in enumerate(((JANUS, "conf"), (JANUS_TUNED, "conf_el2"))) if name in self.only]
        await asyncio.sleep(self.plan.settle_s)
        print(f"CPU windows ({'light ' if self.plan.light else ''}viewers in processes of {self.plan.per_process})", flush=True)
        turn = 0
        for round_index in range(self.rounds):
            if self.rounds > 1:
                print(f"round {round_index + 1} of {self.rounds}", flush=True)
            for viewers in (0, *STEPS):
                for server in servers if turn % 2 == 0 else servers[::-1]:
                    await cpu_step(server, viewers, self.plan, http, self.results[server.name], self.workdir)
                turn += 1
        for server in servers:
            self.results[server.name].take_medians()
        if self.profile_dir is not None:
            for server in [s for s in servers if isinstance(s, PantauServer)]:
                path = self.profile_dir / f"relay-{server.name.replace(' ', '-').lower()}-{max(STEPS)}-viewers.txt"
                await profiled_window(server, self.plan, self.results[server.name], path, self.workdir)
        for server in servers if self.plan.churn else ():
            await churn(server, self.plan, http, self.results[server.name], self.workdir)

    async def stop_all(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.viewers), return_exceptions=True)
        for server in self.stock + self.janus:
            server.stop()
        for node in self.nodes:
            self.stop_node(node)
        if [pid for pid in self.embedded_redis_pids if kill_leftover(pid)]:  # kill every one left
            self.results[SHARED].problems.append("a node's embedded Redis was still running after the node stopped")
        self.camera.stop()


# -- report -------------------------------------------------------------------------------------

def _f(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs and not math.isnan(ours / theirs) else "n/a"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ttff_table(results: list[ServerResult]) -> list[str]:
    lines = ["| server | viewers | p50 s | p95 s | max s | failed | p95 ≤ 0.5 s |", "|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        p50, p95 = (percentile(r.ttff, 50), percentile(r.ttff, 95)) if r.ttff else (math.nan, math.nan)
        lines.append(f"| {r.name} | {len(r.ttff)} | {_f(p50)} | {_f(p95)} | {_f(max(r.ttff, default=math.nan))} "
                     f"| {len(r.ttff_errors)} | {_verdict(p95 <= TTFF_TARGET_S) if r.ttff else 'n/a'} |")
    ours, stock = results
    if ours.ttff and stock.ttff:
        lines += ["", f"Pantau / stock aiortc: p50 {percentile(ours.ttff, 50) / percentile(stock.ttff, 50):.2f}x, "
                      f"p95 {percentile(ours.ttff, 95) / percentile(stock.ttff, 95):.2f}x."]
    return lines


def _latency(step: Step | None) -> str:
    if step is None or not step.latency or step.latency.get("p50") is None:
        return "n/a"
    window = step.window_latency
    inside = (f"≤ {window['p50']:g} / ≤ {window['p99']:g} ({100 * window['within_goal']:.1f} % ≤ {GOAL_LATENCY_P99_MS:g} ms, "
              f"{window['samples']} viewer-frames); " if window else "")
    return f"{inside}{_f(step.latency['p50'], 1)} / {_f(step.latency['p99'], 1)}"


def cpu_table(results: list[ServerResult]) -> list[str]:
    """% of a core at each step, and CPU-s per viewer-minute above the same server with none."""
    tuned = next((r for r in results if r.name == JANUS_TUNED), None)
    head = " | ".join(f"{v} viewers % core / CPU-s per viewer-min" for v in STEPS)
    lines = [f"| server | 0 viewers % core | {head} | slope CPU-s per viewer-min | / {JANUS_TUNED} at {max(STEPS)} |",
             "|---|---:|" + "---:|" * len(STEPS) + "---:|---:|"]
    for r in results:
        zero = r.steps.get(0)
        cells = [f"{_f(s.core_pct(s.cpu_s), 1)} / {_f(r.per_viewer_minute(v), 3)}" if (s := r.steps.get(v)) else "n/a" for v in STEPS]
        ratio = _ratio(r.per_viewer_minute(max(STEPS)), tuned.per_viewer_minute(max(STEPS))) if tuned else "n/a"
        lines.append(f"| {r.name} | {_f(zero.core_pct(zero.cpu_s), 1) if zero else 'n/a'} | {' | '.join(cells)} | {_f(r.slope, 3)} | {ratio} |")
    return lines


def rounds_table(results: list[ServerResult]) -> list[str]:
    """Each round's CPU-s per viewer-minute, of which the tables above give the median."""
    lines = ["| server | " + " | ".join(f"{v} viewers, each round" for v in STEPS) + " |", "|---|" + "---|" * len(STEPS)]
    return lines + [f"| {r.name} | {' | '.join(r.round_figures(v) or 'n/a' for v in STEPS)} |" for r in results if r.rounds]


def load_table(results: list[ServerResult]) -> list[str]:
    """What each window ran beside: the viewers' frame rate, the clients' and the machine's load."""
    lines = ["| server | " + " | ".join(f"{v} viewers: min fps / clients % core / machine busy %" for v in STEPS) + " |",
             "|---|" + "---:|" * len(STEPS)]
    for r in results:
        cells = [f"{_f(min(s.fps, default=math.nan), 1)} / {_f(s.core_pct(s.clients_cpu_s), 0)} / {_f(s.machine_busy_pct, 0)}"
                 if (s := r.steps.get(v)) else "n/a" for v in STEPS]
        lines.append(f"| {r.name} | {' | '.join(cells)} |")
    return lines


def latency_table(results: list[ServerResult]) -> list[str]:
    lines = ["| server | " + " | ".join(f"{v} viewers p50 / p99 ms: window; last 20,000" for v in STEPS) + " |",
             "|---|" + "---:|" * len(STEPS)]
    for r in results:
        if any(s.latency for s in r.steps.values()):
            lines.append(f"| {r.name} | {' | '.join(_latency(r.steps.get(v)) for v in STEPS)} |")
    return lines


def memory_table(results: list[ServerResult]) -> list[str]:
    top = max(STEPS)
    lines = [f"| server | RSS 0 viewers MB | RSS {top} viewers MB | MB per viewer | after the CPU windows MB "
             "| after each churn cycle MB | growth over the cycles MB | last cycle − 0 viewers MB | held after the last cycle |",
             "|---|---:|---:|---:|---:|---|---:|---:|---|"]
    for r in results:
        zero, full = r.steps.get(0), r.steps.get(top)
        lines.append(f"| {r.name} | {_f(zero.rss_mb, 0) if zero else 'n/a'} | {_f(full.rss_mb, 0) if full else 'n/a'} "
                     f"| {_f(r.rss_per_viewer_mb)} | {_f(r.rss_after_load_mb, 0)} | {', '.join(f'{v:.0f}' for v in r.churn_rss_mb) or 'n/a'} "
                     f"| {_f(r.churn_growth_mb, 0)} | {_f(r.churn_rss_mb[-1] - zero.rss_mb, 0) if zero and r.churn_rss_mb else 'n/a'} "
                     f"| `{r.leftovers or 'n/a'}` |")
    return lines


def goals(results: dict[str, ServerResult]) -> list[str]:
    ours, tuned, top = results[SHARED], results[JANUS_TUNED], max(STEPS)
    ratio = ours.per_viewer_minute(top) / tuned.per_viewer_minute(top) if tuned.per_viewer_minute(top) else math.nan
    step = ours.steps.get(top)
    p99 = step.window_latency["p99"] if step and step.window_latency else math.nan
    growth = ours.churn_growth_mb
    return [f"- CPU per viewer-minute at {top} viewers ≤ {GOAL_RATIO}x {JANUS_TUNED}: {_f(ratio)}x — {_verdict(ratio <= GOAL_RATIO)}",
            f"- RSS per viewer ≤ {GOAL_RSS_PER_VIEWER_MB} MB: {_f(ours.rss_per_viewer_mb)} MB — {_verdict(ours.rss_per_viewer_mb <= GOAL_RSS_PER_VIEWER_MB)}",
            f"- RSS flat over the churn cycles (growth ≤ 5 MB): {_f(growth, 0)} MB — {_verdict(growth <= 5)}",
            f"- relay-added latency p99 ≤ {GOAL_LATENCY_P99_MS:g} ms at {top} viewers (the window's frames): ≤ {_f(p99, 1)} ms — "
            f"{_verdict(p99 <= GOAL_LATENCY_P99_MS)}"]


def report(results: dict[str, ServerResult], plan: Plan, error: str | None) -> str:
    ordered = [results[name] for name in SERVERS]
    lines = [
        "# Relay benchmark", "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()}). "
        f"Camera: GStreamer RTSP test camera, {STREAM['width']}x{STREAM['height']} {STREAM['fps']} fps H.264 {STREAM['bitrate_kbps']} kbit/s "
        f"(x264 ultrafast, zerolatency), GOP {TTFF_MOUNT.gop_seconds:g} s for the first frame, {LOAD_MOUNT.gop_seconds:g} s for CPU and memory. "
        "Pantau: `pantau serve` (ingest and relay in one process; its embedded Redis not counted), `relay.fanout: shared` and `aiortc`. "
        "Stock aiortc: `MediaPlayer(decode=False)` + `MediaRelay().subscribe()` per viewer (`bench/relay_support.py`). "
        "Janus 1.1.2 (Debian), streaming plugin pulling the camera, default configuration and `event_loops = 2` (../shared/bench/janus/). "
        f"Viewers: the shared fan-out client's aiortc viewers ({'light: media counted from the RTP header, SRTP checked one packet in 64, one sampled viewer per process decoded (bench/relay_light_viewer.py)' if plan.light else 'no decoding'}) "
        f"in processes of {plan.per_process}"
        f"{f', run at nice {plan.viewer_nice} for every server alike (a relay in production has no viewers on its cores)' if plan.viewer_nice else ''}; "
        "first-frame viewers (Pantau and stock aiortc only) decode. Everything on 127.0.0.1 (loopback ICE). "
        f"CPU windows {plan.window_s:g} s after {plan.settle_s:g} s of settling; every server ingests the camera throughout, only the "
        "measured one has viewers; the servers' order reverses at each step. CPU and RSS of the server process only. "
        "The machine has 2 cores shared by the server, the clients, the camera's encoder and whatever else runs: see the load table "
        f"(load average at the end of the run: {', '.join(f'{v:.1f}' for v in os.getloadavg())}).",
        "", f"## Time to first frame (new viewer, GOP {TTFF_MOUNT.gop_seconds:g} s; POST to first decoded frame)", "",
        *ttff_table([results[SHARED], results[STOCK]]),
        "", "## CPU per viewer (marginal over the same server with no viewer; camera ingesting)", "",
        *cpu_table(ordered), "",
        *(["Every round (CPU-s per viewer-minute; the table above has the median round):", "", *rounds_table(ordered), ""]
          if any(len(runs) > 1 for r in ordered for runs in r.rounds.values()) else []),
        "What each window ran beside (the median round's):", "", *load_table(ordered), "",
        "## Goals (issue 19), Pantau shared", "", *goals(results), "",
        "## Relay-added latency (Pantau: ingest receipt to hand-over to the RTP sender, per viewer and frame: for the camera task's live viewers, "
        "when that viewer's packets of the frame went to the kernel. "
        "Window: the frames of the CPU window, every viewer connected, from `/metrics`' histogram (bucket bounds 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 50 ms ...); "
        "last 20,000: `/api/metrics`, joins, leaves and earlier windows included)", "",
        *latency_table(ordered),
        "", f"## Memory (RSS of the server process; churn: {CHURN_VIEWERS} viewers join, watch {HOLD_S:g} s, leave)", "",
        *memory_table(ordered),
    ]
    for r in ordered:
        if r.profile:
            lines += ["", f"py-spy, {r.name} at {max(STEPS)} viewers (own samples, top functions):", "", "```", *r.profile, "```"]
    findings = [f"- {r.name}: {text}" for r in ordered for text in r.problems + r.notes + r.ttff_errors[:3]]
    if error:
        findings.insert(0, f"- the run stopped early: {error}")
    if findings:
        lines += ["", "Problems and notes:", "", *findings]
    return "\n".join(lines) + "\n"


# -- main ---------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> tuple[dict[str, ServerResult], str | None]:
    workdir = Path(tempfile.mkdtemp(prefix="pantau-bench-relay-"))
    bench = Run(workdir, args.plan, RESULTS_DIR if args.profile else None, args.servers, args.rounds)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    error = None
    try:
        await bench.execute(ttff=not args.no_ttff)
    except (BenchError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        print(f"FAILED: {error}", file=sys.stderr, flush=True)
    except asyncio.CancelledError:
        error = "cancelled (deadline, SIGTERM or Ctrl-C)"
        raise
    finally:
        await bench.stop_all()
        if args.keep:
            print(f"logs kept in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        # Whatever was measured before a failure is still worth reading.
        text = report(bench.results, args.plan, error)
        print("\n" + text)
        args.output.write_text(text, encoding="utf-8")
        print(f"written to {args.output}")
    return bench.results, error


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    global STEPS  # --steps replaces the default for the phases and the report
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer first-frame viewers, 8 s windows, 2 churn cycles (smoke test)")
    parser.add_argument("--profile", action="store_true", help=f"py-spy each Pantau path for one more window at {max(STEPS)} viewers")
    parser.add_argument("--timeout", type=float, help="stop everything after this many seconds (default 3000; --quick 1500)")
    parser.add_argument("--steps", help=f"viewer counts of the CPU windows, comma-separated (default {','.join(map(str, STEPS))})")
    parser.add_argument("--no-ttff", action="store_true", help="skip the first-frame phase")
    parser.add_argument("--no-churn", action="store_true", help="skip the churn cycles")
    parser.add_argument("--full-viewers", action="store_true",
                        help="viewers with aiortc's whole receive path instead of light ones (relay_light_viewer.py)")
    parser.add_argument("--viewer-nice", type=int, default=0,
                        help="niceness of the viewer processes, the same for every server (default 0: as the servers; 10: they yield)")
    parser.add_argument("--rounds", type=int, default=1, help="CPU windows of every step this many times (ABBA); the median is reported")
    parser.add_argument("--servers", type=lambda text: tuple(text.split(",")), default=SERVERS,
                        help=f"the load phase's servers, comma-separated (default all: {','.join(SERVERS)})")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (node, camera, viewer logs)")
    parser.add_argument("--output", type=Path, help="Markdown report (default bench/results/relay.md, or relay-quick.md)")
    args = parser.parse_args(argv)
    args.plan = replace(QUICK if args.quick else FULL, light=not args.full_viewers, churn=not args.no_churn,
                        viewer_nice=args.viewer_nice)
    if args.steps:
        STEPS = tuple(int(n) for n in args.steps.split(","))
    args.timeout = args.timeout or (1500.0 if args.quick else 3000.0)
    args.output = args.output or RESULTS_DIR / ("relay-quick.md" if args.quick else "relay.md")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench("relay bench", run, args, lambda outcome: outcome[1] is not None or any(r.problems for r in outcome[0].values()))


if __name__ == "__main__":
    sys.exit(main())
