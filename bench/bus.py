"""Benchmark of the Redis Streams stream bus: what publishing every camera to Redis costs, and
how many cameras one node pushes through it before falling behind.

    .venv/bin/python bench/bus.py            # 20 cameras side by side, then a ramp 20, 40, 60 … 160 (~7 minutes)
    .venv/bin/python bench/bus.py --quick    # 4 cameras, a ramp 4, 8, short windows: a smoke test (~2 minutes)

One GStreamer RTSP test camera process serves one shared 720p25 H.264 mount (2 Mbps, a keyframe
every 2 s) that every client reads. Two redis-servers form the site: the registry (append-only)
and the bus (no persistence).

1. Side by side, so both see the same neighbours on a shared machine: N cameras on
   `pantau serve` (the embedded default: private Redis, in-process bus) and the same N cameras
   on `pantau ingest --redis-url R --bus-redis-url B --cameras 31.71` (the Redis bus). Three
   windows: no demand (nothing leaves the ingest process), every camera's demand key kept
   alive by the bench as a relay would (every packet goes to Redis), and the same plus a reader
   in the bench process (a RedisStreamBus subscribed to every camera, as a relay with viewers).
   CPU-s per camera-minute of each Pantau process, and of the bus redis-server; INFO
   used_memory above the no-demand window, per camera; time.time() - received_at of every packet
   the reader gets (ingest receive → relay hub, one clock).
2. The ramp: `pantau serve` stopped, the ingest node alone with the reader, N raised step by
   step until the reader's p99 exceeds 1 s or the slowest camera delivers under 90 % of 25 fps
   (or the time budget ends); the last N that kept up is the figure.

Results: a Markdown table on stdout and bench/results/bus.md, all figures in bench/results/bus.json
(`bus-quick.*` with --quick). The exit code is non-zero only when something broke.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil
import redis.asyncio as aioredis
from bus_support import SELECTOR, BusReader, DemandKeeper, IngestNode, NodeApi, dump_json, register_cameras, start_bus_redis, write_lag_s
from camera_set import REPO
from measure import Window, measure_window, percentile
from processes import BenchError, PantauNode, RedisServer, kill_leftover
from runner import run_bench

sys.path.insert(0, str(REPO))  # the RTSP test camera is the tests' own (tests/support)
from tests.support.rtsp_camera import Mount, RtspCameraServer  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
H264 = Mount(path="/bench-h264", codec="h264", width=1280, height=720, fps=25, bitrate_kbps=2000, gop_seconds=2.0)
MAX_P99_S = 1.0
MIN_FPS_SHARE = 0.9
MB = 2**20
READER_CONNECTIONS = 1000
CLOSE_TIMEOUT_S = 15.0

# Process groups measured in every window.
SERVE, INGEST, BUS, READER, CAMERA = "pantau serve (in-process bus)", "pantau ingest (Redis bus)", "bus redis", "reader", "camera"


@dataclass(frozen=True)
class Plan:
    cameras: int  # side by side
    ramp: tuple[int, ...]
    window_s: float
    ramp_window_s: float
    settle_s: float
    budget_s: float  # no new ramp step after this many seconds of the run


FULL = Plan(cameras=20, ramp=(20, 40, 60, 80, 100, 120, 140, 160), window_s=30.0, ramp_window_s=20.0, settle_s=5.0, budget_s=600.0)
QUICK = Plan(cameras=4, ramp=(4, 8), window_s=8.0, ramp_window_s=8.0, settle_s=3.0, budget_s=150.0)


def summary_ms(samples: list[float]) -> dict:
    if not samples:
        return {"count": 0, "p50": math.nan, "p90": math.nan, "p99": math.nan, "max": math.nan}
    return {"count": len(samples), **{f"p{p}": 1000 * percentile(samples, p) for p in (50, 90, 99)}, "max": 1000 * max(samples)}


@dataclass
class Step:
    """One measured window."""

    label: str
    cameras: int
    window: Window
    used_memory_mb: float  # bus Redis INFO used_memory, median of the window's samples
    published: int  # packets the ingest node appended to Redis during the window
    latency_ms: dict = field(default_factory=dict)  # reader: ingest receive → relay hub
    write_lag_ms: dict = field(default_factory=dict)  # ingest receive → XADD (the entry id's time)
    fps: list[float] = field(default_factory=list)  # per camera, delivered to the reader
    skips: int = 0
    kept_up: bool | None = None
    why: str = ""

    def per_camera_minute(self, group: str) -> float:
        return self.window.cpu_s_per_camera_minute(group, self.cameras) if group in self.window.usage else math.nan

    @property
    def published_fps(self) -> float:
        return self.published / self.window.seconds / self.cameras

    def memory_per_camera_mb(self, baseline_mb: float) -> float:
        return (self.used_memory_mb - baseline_mb) / self.cameras

    def judge(self, fps: float) -> None:
        low = min(self.fps) if self.fps else 0.0
        problems = []
        if not self.latency_ms.get("count"):
            problems.append("no packet reached the reader")
        elif self.latency_ms["p99"] > MAX_P99_S * 1000:
            problems.append(f"p99 {self.latency_ms['p99']:.0f} ms > {MAX_P99_S * 1000:.0f}")
        if low < MIN_FPS_SHARE * fps:
            problems.append(f"slowest camera {low:.1f} fps < {MIN_FPS_SHARE * fps:.1f}")
        self.kept_up = not problems
        self.why = "; ".join(problems)

    def to_json(self, baseline_mb: float) -> dict:
        return {
            "label": self.label, "cameras": self.cameras, "seconds": self.window.seconds,
            "cpu_s": {g: u.cpu_s for g, u in self.window.usage.items()},
            "cpu_s_per_camera_minute": {g: self.per_camera_minute(g) for g in self.window.usage},
            "core_pct": {g: self.window.core_pct(g) for g in self.window.usage},
            "rss_mb": {g: u.rss_mb for g, u in self.window.usage.items()},
            "machine_busy_pct": self.window.machine_busy_pct,
            "bus_used_memory_mb": self.used_memory_mb, "bus_memory_per_camera_mb": self.memory_per_camera_mb(baseline_mb),
            "published_fps_per_camera": self.published_fps, "delivered_fps_per_camera": self.fps,
            "latency_ms": self.latency_ms, "write_lag_ms": self.write_lag_ms, "reader_skips": self.skips,
            "kept_up": self.kept_up, "why": self.why,
        }


@dataclass
class Results:
    plan: Plan
    baseline_memory_mb: float = math.nan
    side_by_side: list[Step] = field(default_factory=list)
    ramp: list[Step] = field(default_factory=list)
    capacity: int | None = None  # the last ramp N that kept up
    capacity_note: str = ""
    problems: list[str] = field(default_factory=list)


# -- the site -------------------------------------------------------------------------------------

class Site:
    """Everything one run starts, stopped in `close()` whatever happened."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.token = secrets.token_urlsafe(24)
        (workdir / "camera").mkdir()
        self.camera = RtspCameraServer([H264], log_dir=workdir / "camera")
        self.registry = RedisServer(workdir / "registry-redis")
        self.bus: RedisServer | None = None
        self.ingest: IngestNode | None = None
        self.serve: PantauNode | None = None
        self.serve_redis_pid: int | None = None
        self.api = self.bus_client = self.demand = self.reader = None

    async def start(self) -> None:
        self.camera.start(timeout=20)
        self.registry.start()
        self.bus = start_bus_redis(self.workdir / "bus-redis")
        self.bus_client = aioredis.from_url(self.bus.url)  # bytes: entries carry video
        self.api = NodeApi(self.token)
        self.demand = DemandKeeper(self.bus_client)
        # The reader's own client: one blocking XREAD per camera holds one connection each, and
        # redis-py's default pool stops at 100 (a relay on pantau.runtime.node.open_bus's client would).
        self.reader = BusReader(aioredis.from_url(self.bus.url, max_connections=READER_CONNECTIONS))
        self.ingest = IngestNode(self.workdir / "ingest", self.token,
                                 ["--redis-url", self.registry.url, "--bus-redis-url", self.bus.url, "--cameras", SELECTOR])
        self.ingest.start()

    def start_serve(self) -> None:
        self.serve = PantauNode(self.workdir / "serve", self.token, [])
        self.serve.start()
        self.serve_redis_pid, _ = self.serve.embedded_redis()

    def stop_serve(self, results: Results) -> None:
        if self.serve is None:
            return
        code, _ = self.serve.stop()
        if code != 0:
            results.problems.append(f"pantau serve exit code after SIGTERM: {code}\n{self.serve.log_tail()}")
        if self.serve_redis_pid is not None and kill_leftover(self.serve_redis_pid):
            results.problems.append("pantau serve left its embedded redis-server running")
        self.serve = None

    async def close(self, results: Results) -> None:
        """Stops every part: each async step bounded (one that hangs is reported and left), the
        processes whatever happened."""
        try:
            steps = [*self.reader.closers(), ("demand keeper", self.demand.stop), ("HTTP client", self.api.close),
                     ("bus Redis client", self.bus_client.aclose)] if self.reader else []
            for name, stop in steps:
                task = asyncio.ensure_future(stop())
                done, _ = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)
                if not done:
                    task.cancel()
                    results.problems.append(f"bench cleanup: {name} did not return within {CLOSE_TIMEOUT_S:.0f} s")
                elif not task.cancelled() and task.exception() is not None:
                    results.problems.append(f"bench cleanup: {name}: {task.exception()!r}")
        finally:
            self.stop_serve(results)
            if self.ingest is not None and self.ingest.process is not None:
                code, _ = self.ingest.stop()
                if code != 0:
                    results.problems.append(f"pantau ingest exit code after SIGTERM: {code}\n{self.ingest.log_tail()}")
            for server in (self.bus, self.registry):
                if server is not None:
                    server.stop()
            self.camera.stop()

    def groups(self) -> dict[str, list[psutil.Process]]:
        groups = {INGEST: [psutil.Process(self.ingest.pid)], BUS: [psutil.Process(self.bus.process.pid)],
                  READER: [psutil.Process()], CAMERA: [psutil.Process(self.camera.pid)]}
        if self.serve is not None:
            groups[SERVE] = [psutil.Process(self.serve.pid)]
        return groups

    async def used_memory_mb(self) -> float:
        return (await self.bus_client.info("memory"))["used_memory"] / MB

    async def published(self) -> int:
        return (await self.api.ingest_metrics(self.ingest))["bus"]["published_packets"]

    async def add_cameras(self, count: int, online_timeout: float) -> list[str]:
        """`count` cameras registered on the site (and on `pantau serve` while it runs), all online."""
        source = self.camera.url(H264)
        ids = await asyncio.to_thread(register_cameras, count, source, ["--redis-url", self.registry.url], self.workdir, self.token)
        waits = [self.api.wait_online(self.ingest, count, online_timeout, ingest=True)]
        if self.serve is not None:
            await asyncio.to_thread(register_cameras, count, source, ["--data-dir", str(self.serve.data_dir)], self.workdir,
                                    self.token)
            waits.append(self.api.wait_online(self.serve, count, online_timeout, ingest=False))
        await asyncio.gather(*waits)
        return ids


# -- measuring ------------------------------------------------------------------------------------

async def measure(site: Site, label: str, cameras: list[str], seconds: float, reading: bool) -> Step:
    """One window: CPU of every group, the bus Redis's memory, and (with the reader) latency and
    delivered fps; ingest → Redis lag sampled once a second from the streams themselves."""
    memory, lags, seen = [], [], {}
    published_before = await site.published()
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            memory.append(await site.used_memory_mb())
            lags.extend(await write_lag_s(site.bus_client, cameras, seen))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 1.0)

    sampler = asyncio.create_task(sample())
    if reading:
        site.reader.record()
    try:
        window = await measure_window(site.groups(), seconds)
    finally:
        site.reader.stop_recording()
        done.set()
        await asyncio.wait_for(sampler, 30)
    step = Step(label, len(cameras), window, statistics.median(memory) if memory else math.nan,
                await site.published() - published_before, write_lag_ms=summary_ms(lags))
    if reading:
        step.latency_ms = summary_ms(site.reader.latency_s)
        step.fps = [site.reader.packets[c] / window.seconds for c in cameras]
        step.skips = site.reader.skips()
    return step


async def wait_demanded(site: Site, cameras: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (await site.api.ingest_metrics(site.ingest))["bus"]["demanded_cameras"] != cameras:
        if time.monotonic() > deadline:
            raise BenchError(f"the ingest node did not see demand for {cameras} cameras within {timeout_s:.0f} s")
        await asyncio.sleep(0.25)


async def side_by_side(site: Site, plan: Plan, args: argparse.Namespace, results: Results) -> None:
    n = plan.cameras
    print(f"side by side, {n} cameras: pantau serve (in-process bus) and pantau ingest (Redis bus)", flush=True)
    site.start_serve()
    try:
        cameras = await site.add_cameras(n, args.online_timeout)
        await asyncio.sleep(plan.settle_s)
        print("  window: no demand (nothing goes to Redis)", flush=True)
        step = await measure(site, "no demand", cameras, plan.window_s, reading=False)
        results.baseline_memory_mb = step.used_memory_mb
        results.side_by_side.append(step)
        site.demand.want(cameras)
        await wait_demanded(site, n)
        await asyncio.sleep(plan.settle_s)
        print("  window: every camera demanded (published to Redis), no reader", flush=True)
        results.side_by_side.append(await measure(site, "demanded", cameras, plan.window_s, reading=False))
        site.reader.watch(cameras)
        await asyncio.sleep(plan.settle_s)
        print("  window: demanded and read by a relay-side RedisStreamBus", flush=True)
        step = await measure(site, "demanded + reader", cameras, plan.window_s, reading=True)
        step.judge(H264.fps)
        results.side_by_side.append(step)
    finally:
        site.stop_serve(results)


async def ramp(site: Site, plan: Plan, args: argparse.Namespace, results: Results, started: float) -> None:
    print("ramp: pantau ingest alone, every camera demanded and read", flush=True)
    for n in plan.ramp:
        if time.monotonic() - started > plan.budget_s:
            results.capacity_note = f"time budget ({plan.budget_s:.0f} s) reached before {n} cameras"
            break
        print(f"  {n} cameras ({time.monotonic() - started:.0f} s into the run)", flush=True)
        cameras = await site.add_cameras(n, args.online_timeout)
        site.demand.want(cameras)
        site.reader.watch(cameras)
        await wait_demanded(site, n)
        await asyncio.sleep(plan.settle_s)
        step = await measure(site, f"ramp {n}", cameras, plan.ramp_window_s, reading=True)
        step.judge(H264.fps)
        results.ramp.append(step)
        print(f"    p99 {step.latency_ms['p99']:.0f} ms, slowest {min(step.fps):.1f} fps: "
              f"{'kept up' if step.kept_up else 'fell behind (' + step.why + ')'}", flush=True)
        if not step.kept_up:
            break
        results.capacity = n
    else:
        results.capacity_note = f"kept up at the largest N tried ({plan.ramp[-1]})"


# -- report ---------------------------------------------------------------------------------------

def _f(value: float, digits: int = 2) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def _pair(summary: dict, digits: int = 0) -> str:
    return f"{_f(summary.get('p50'), digits)} / {_f(summary.get('p99'), digits)}" if summary.get("count") else "–"


def _header(columns: list[str], left: int) -> list[str]:
    """A Markdown table's first two lines: the first `left` columns left-aligned, the rest right."""
    return ["| " + " | ".join(columns) + " |", "|" + "|".join("---" if i < left else "---:" for i in range(len(columns))) + "|"]


def side_table(r: Results) -> list[str]:
    lines = _header(["window", "in-process bus (`serve`) CPU-s / camera-min", "Redis bus (`ingest`) CPU-s / camera-min",
                     "Redis / in-process", "bus redis-server CPU-s / camera-min", "bus Redis used_memory / camera MB",
                     "ingest → Redis p50 / p99 ms", "ingest → reader p50 / p99 ms", "reader % core", "machine busy %"], left=1)
    for s in r.side_by_side:
        serve, ingest = s.per_camera_minute(SERVE), s.per_camera_minute(INGEST)
        lines.append(f"| {s.label} | {_f(serve)} | {_f(ingest)} | {_f(ingest / serve)}x | {_f(s.per_camera_minute(BUS), 3)} "
                     f"| {_f(s.memory_per_camera_mb(r.baseline_memory_mb))} | {_pair(s.write_lag_ms, 1)} | {_pair(s.latency_ms, 1)} "
                     f"| {_f(s.window.core_pct(READER), 1) if s.latency_ms else '–'} | {_f(s.window.machine_busy_pct, 0)} |")
    return lines


def ramp_table(r: Results) -> list[str]:
    lines = _header(["cameras", "kept up", "delivered fps slowest / median", "published fps", "ingest → reader p50 / p99 ms",
                     "ingest → Redis p50 / p99 ms", "ingest % core (CPU-s / camera-min)", "bus Redis % core (CPU-s / camera-min)",
                     "bus Redis MB / camera", "reader % core", "camera % core", "machine busy %"], left=0)
    lines[1] = lines[1].replace("|---:|---:|", "|---:|---|", 1)  # the verdict is text
    for s in r.ramp:
        verdict = "yes" if s.kept_up else f"**no**: {s.why}"
        lines.append(
            f"| {s.cameras} | {verdict} | {_f(min(s.fps), 1)} / {_f(statistics.median(s.fps), 1)} | {_f(s.published_fps, 1)} "
            f"| {_pair(s.latency_ms)} | {_pair(s.write_lag_ms)} "
            f"| {_f(s.window.core_pct(INGEST), 0)} ({_f(s.per_camera_minute(INGEST))}) "
            f"| {_f(s.window.core_pct(BUS), 1)} ({_f(s.per_camera_minute(BUS), 3)}) | {_f(s.memory_per_camera_mb(r.baseline_memory_mb))} "
            f"| {_f(s.window.core_pct(READER), 0)} | {_f(s.window.core_pct(CAMERA), 0)} | {_f(s.window.machine_busy_pct, 0)} |")
    return lines


def headline(r: Results) -> list[str]:
    lines = []
    demanded = next((s for s in r.side_by_side if s.label == "demanded"), None)
    if demanded:
        ratio = demanded.per_camera_minute(INGEST) / demanded.per_camera_minute(SERVE)
        lines.append(f"- Ingest CPU, Redis bus / in-process bus, every camera published: **{ratio:.2f}x** "
                     f"({_f(demanded.per_camera_minute(INGEST))} vs {_f(demanded.per_camera_minute(SERVE))} CPU-s per camera-minute)")
        lines.append(f"- Bus redis-server per watched camera: {_f(demanded.per_camera_minute(BUS), 3)} CPU-s per camera-minute, "
                     f"{_f(demanded.memory_per_camera_mb(r.baseline_memory_mb))} MB used_memory")
    read = next((s for s in r.side_by_side if s.latency_ms), None)
    if read:
        lines.append(f"- Added latency, ingest receive → relay hub through Redis ({read.cameras} cameras): "
                     f"p50 {_f(read.latency_ms['p50'], 1)} ms, p99 {_f(read.latency_ms['p99'], 1)} ms")
    if r.ramp:
        capacity = f"**{r.capacity}**" if r.capacity else "**none of the steps**"
        lines.append(f"- 720p25 2 Mbps cameras ingested into Redis and read back on this 2-core machine while keeping up "
                     f"(p99 ≤ {MAX_P99_S:g} s, every camera ≥ {MIN_FPS_SHARE * H264.fps:g} fps): {capacity}"
                     + (f" ({r.capacity_note})" if r.capacity_note else ""))
    return lines


def report(r: Results) -> str:
    p = r.plan
    text = [
        "# Stream bus benchmark (Redis Streams)", "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()}). "
        f"One GStreamer RTSP camera, one shared mount: H.264 {H264.width}x{H264.height} {H264.fps} fps {H264.bitrate_kbps} kbit/s, "
        f"a keyframe every {H264.gop_seconds:g} s. Bus redis-server: Debian's, no persistence. CPU = user + system of each "
        f"process over the window; windows of {p.window_s:g} s (ramp {p.ramp_window_s:g} s) after {p.settle_s:g} s settling. "
        "Latency = time.time() at the reader minus the ingest receive time carried in each entry (one machine, one clock).", "",
        *headline(r), "",
        f"## Side by side, {p.cameras} cameras: `pantau serve` (embedded, in-process bus) and `pantau ingest` (Redis bus), same windows", "",
        *side_table(r), "",
        "## Ramp: `pantau ingest` alone, every camera demanded and read by a relay-side RedisStreamBus in the bench process", "",
        *ramp_table(r),
    ]
    if r.problems:
        text += ["", "Problems:", "", *[f"- {line}" for line in r.problems]]
    return "\n".join(text) + "\n"


def results_json(r: Results) -> dict:
    return {"when": datetime.now(UTC).isoformat(), "host": platform.node(), "cpus": os.cpu_count(), "plan": r.plan.__dict__,
            "baseline_used_memory_mb": r.baseline_memory_mb, "capacity_cameras": r.capacity, "capacity_note": r.capacity_note,
            "side_by_side": [s.to_json(r.baseline_memory_mb) for s in r.side_by_side],
            "ramp": [s.to_json(r.baseline_memory_mb) for s in r.ramp], "problems": r.problems}


# -- main -----------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> Results:
    plan = QUICK if args.quick else FULL
    results = Results(plan)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="pantau-bench-bus-"))
    site = Site(workdir)
    try:
        await site.start()
        print(f"site up: ingest at {site.ingest.base_url}, bus Redis {site.bus.url}", flush=True)
        await side_by_side(site, plan, args, results)
        await ramp(site, plan, args, results, started)
    except (BenchError, aiohttp.ClientError, OSError, psutil.Error) as exc:
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        results.problems.append(str(exc))
    except asyncio.CancelledError:
        results.problems.append(f"cancelled after {time.monotonic() - started:.0f} s (--timeout or a signal); figures so far")
        raise
    finally:
        write_report(results, args)  # first: the figures are kept even if stopping hangs or is cancelled
        problems = len(results.problems)
        try:
            await site.close(results)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            if len(results.problems) > problems:
                write_report(results, args)
    return results


def write_report(results: Results, args: argparse.Namespace) -> None:
    text = report(results)
    print("\n" + text)
    stem = RESULTS_DIR / ("bus-quick" if args.quick else "bus")
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    dump_json(stem.with_suffix(".json"), results_json(results))
    print(f"written to {stem}.md and .json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 cameras, ramp 4 and 8, 8 s windows (smoke test)")
    parser.add_argument("--online-timeout", type=float, default=90.0, help="seconds for the cameras to come online (default 90)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="stop everything after this many seconds (default 1200)")
    args = parser.parse_args(argv)
    return run_bench("bus bench", run, args, lambda results: results.problems)


if __name__ == "__main__":
    sys.exit(main())
