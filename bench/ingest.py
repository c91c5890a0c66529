"""Benchmark of RTSP ingest: Pantau against `ffmpeg -c copy` on the same streams, in one run.

    .venv/bin/python bench/ingest.py            # N = 1, 10, 40 cameras, 30 s windows, ~8 minutes
    .venv/bin/python bench/ingest.py --quick    # N = 1, 4, 8 s windows: a smoke test of the benchmark itself
    .venv/bin/python bench/ingest.py --tamper-cost   # only what the tamper checks add (bench/tamper_cost.py)
    .venv/bin/python bench/ingest.py --masks         # a masked camera vs plain transcode and ffmpeg (bench/mask_cost.py)

One GStreamer RTSP test camera process serves a shared 720p25 H.264 mount (2 Mbps, a keyframe
every 2 s) that every client reads, so the camera side costs one encoder whatever N is, plus an
H.265 mount for the transcode figure. Only the clients are measured (user + system CPU of the
processes over a fixed window, RSS sampled every second). For each N, back to back: N
`ffmpeg -c copy` processes, then one `pantau serve` node (passthrough, keyframe health and
tiles, GOP cache) with N cameras registered through its admin API (deleted again afterwards);
then the same for one H.265 camera (ffmpeg and the node transcoding to H.264); last a fresh
node with the default demo set. The machine is shared and noisy, so every figure is
compared with a baseline from the same invocation; targets are reported PASS/MISS, and the
exit code is non-zero only when something broke (a client died, cameras never came online).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import av
import psutil
from camera_set import REPO
from measure import Window, measure_window
from processes import FFMPEG, BenchError, FfmpegClient, PantauNode, PyavDemuxClient, StreamClient, kill_leftover
from runner import run_bench

sys.path.insert(0, str(REPO))  # the RTSP test camera is the tests' own (tests/support)
from tests.support.rtsp_camera import Mount, RtspCameraServer  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
COUNTS = (1, 10, 40)
QUICK_COUNTS = (1, 4)
KELURAHAN = "31.71.01.1001"  # every bench camera is a TPS here, numbered 1..N
DEMO_CAMERAS = 176  # the default demo set: 44 recap + 132 TPS cameras
H264 = Mount(path="/bench-h264", codec="h264", width=1280, height=720, fps=25, bitrate_kbps=2000, gop_seconds=2.0)
H265 = Mount(path="/bench-h265", codec="h265", width=1280, height=720, fps=25, bitrate_kbps=2000, gop_seconds=2.0)
CPU_RATIO_TARGET = 1.3
RSS_PER_CAMERA_TARGET_MB = 8.0
DEMO_FPS = 10  # the demo loops' frame rate (ingest/sources/demo_video.py)
KEEPING_UP = 0.8  # a camera below this share of its frame rate was not ingested in full: figures suspect

# The baseline: a plain copy, exactly the command (plus a progress file).
COPY_ARGS = ["-c", "copy"]
# The same transcode as the node's (ingest/transcoder.py defaults: libx264 ultrafast, zerolatency,
# constrained baseline, no B-frames, 1500 kbit/s, a keyframe every 2 s, one decoder and one
# encoder thread), so the transcode figure has a like-for-like reference.
TRANSCODE_INPUT_ARGS = ["-threads", "1"]
TRANSCODE_ARGS = ["-an", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
                  "-bf", "0", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-b:v", "1500k", "-maxrate", "1500k",
                  "-bufsize", "3000k", "-threads", "1"]

# Process groups in a window: the clients measured, and the rest reported for context only.
CLIENT, REDIS, CAMERA = "client", "redis", "camera"


@dataclass
class Run:
    """One measured window: `cameras` streams on one kind of client."""

    label: str
    cameras: int
    window: Window
    fps: list[float] = field(default_factory=list)  # per camera
    kbps: list[float] = field(default_factory=list)  # per camera (Pantau's status)
    modes: list[str] = field(default_factory=list)  # per camera (Pantau's status)
    online: int = 0  # cameras online after the window (Pantau's status)
    pss_mb: float = float("nan")  # ffmpeg: proportional set size of all the processes, per camera

    def cpu_per_camera_minute(self, minus: Run | None = None) -> float:
        """Client CPU seconds per camera-minute; `minus`: an idle run whose cost is not counted."""
        return self.window.cpu_s_per_camera_minute(CLIENT, self.cameras, minus.window.cpu_s_per_minute(CLIENT) if minus else 0.0)

    @property
    def rss_mb(self) -> float:
        return self.window.usage[CLIENT].rss_mb


@dataclass
class Results:
    counts: tuple[int, ...]
    ffmpeg: dict[int, Run] = field(default_factory=dict)
    pyav: dict[int, Run] = field(default_factory=dict)  # bare PyAV demux, the floor
    ffmpeg_transcode: Run | None = None
    idle: Run | None = None  # the node with no camera
    pantau: dict[int, Run] = field(default_factory=dict)
    idle_after: Run | None = None  # the same node after its cameras were deleted
    transcode: Run | None = None
    demo: Run | None = None
    problems: list[str] = field(default_factory=list)  # something broke: the run fails
    notes: list[str] = field(default_factory=list)


# -- waiting ------------------------------------------------------------------------------------

async def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(0.25)


def check_fps(run: Run, expected_fps: float, results: Results) -> None:
    slow = [fps for fps in run.fps if fps < KEEPING_UP * expected_fps]
    if slow:
        results.notes.append(f"{run.label}, {run.cameras} camera(s): {len(slow)} below {KEEPING_UP * expected_fps:.0f} fps "
                             f"(lowest {min(slow):.1f}); the client or the camera did not keep up")


# -- ffmpeg ---------------------------------------------------------------------------------------

async def measure_clients(clients: list[StreamClient], label: str, cameras: int, camera_pid: int,
                          args: argparse.Namespace) -> Run:
    """Start `clients` (together reading `cameras` streams), measure once all of them get frames."""
    per_client = cameras / len(clients)
    try:
        for client in clients:
            client.start()

        def all_flowing() -> bool:
            for client in clients:
                client.check_running()
            return all(client.frames() > 0 for client in clients)

        await wait_for(all_flowing, args.online_timeout, f"{len(clients)} {clients[0].label} client(s) getting frames")
        await asyncio.sleep(args.settle)
        processes = [psutil.Process(client.pid) for client in clients]
        frames_before = [client.frames() for client in clients]
        window = await measure_window({CLIENT: processes, CAMERA: [psutil.Process(camera_pid)]}, args.window)
        for client in clients:
            client.check_running()
        fps = [(client.frames() - before) / window.seconds / per_client for client, before in zip(clients, frames_before)]
        # RSS counts the shared libraries in full in every process; PSS splits them among the
        # processes sharing them: what the machine pays per camera. Needs /proc/PID/smaps, so it
        # is read once, not every second.
        pss = sum(p.memory_full_info().pss for p in processes) / 2**20 / cameras
        return Run(label, cameras, window, fps=fps, pss_mb=pss)
    finally:
        for client in clients:
            client.stop()


async def bench_ffmpeg(url: str, cameras: int, label: str, output_args: list[str], camera_pid: int,
                       args: argparse.Namespace, input_args: list[str] | None = None) -> Run:
    """`cameras` ffmpeg processes on `url`."""
    workdir = args.workdir / "ffmpeg"
    workdir.mkdir(exist_ok=True)
    clients = [FfmpegClient(url, workdir, f"{label}-{cameras}-{i}", output_args, input_args) for i in range(cameras)]
    return await measure_clients(clients, label, cameras, camera_pid, args)


async def bench_pyav_demux(url: str, cameras: int, camera_pid: int, args: argparse.Namespace) -> Run:
    """One process, `cameras` threads of bare PyAV demux: the floor under any PyAV ingest."""
    workdir = args.workdir / "pyav"
    workdir.mkdir(exist_ok=True)
    client = PyavDemuxClient(url, workdir, f"pyav-{cameras}", cameras)
    return await measure_clients([client], "PyAV demux alone", cameras, camera_pid, args)


# -- Pantau ---------------------------------------------------------------------------------------

class AdminApi:
    """The few admin calls the bench needs, with the node's admin token."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}, timeout=aiohttp.ClientTimeout(total=30))

    async def __aenter__(self) -> AdminApi:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.http.close()

    async def create(self, tps: int, source: str) -> str:
        body = {"kind": "tps", "region": KELURAHAN, "tps": tps, "source": source}
        async with self.http.post(f"{self.base_url}/api/admin/cameras", json=body) as response:
            if response.status != 201:
                raise BenchError(f"creating TPS {tps} answered {response.status}: {(await response.text())[:300]}")
            return (await response.json())["id"]

    async def delete(self, camera_id: str) -> None:
        async with self.http.delete(f"{self.base_url}/api/admin/cameras/{camera_id}") as response:
            if response.status != 204:
                raise BenchError(f"deleting {camera_id} answered {response.status}")

    async def statuses(self) -> dict[str, dict]:
        """Every camera's status, by id."""
        async with self.http.get(f"{self.base_url}/api/admin/cameras", params={"limit": "5000"}) as response:
            if response.status != 200:
                raise BenchError(f"listing cameras answered {response.status}")
            return {c["id"]: c["status"] for c in (await response.json())["cameras"]}


async def wait_online(api: AdminApi, cameras: int, mode: str | None, timeout_s: float) -> None:
    """Until the node has exactly `cameras` cameras, all online (and in `mode`, if given)."""
    deadline = time.monotonic() + timeout_s
    while True:
        statuses = await api.statuses()
        ready = [s for s in statuses.values() if s["state"] == "online" and (mode is None or s["mode"] == mode)]
        if len(statuses) == cameras and len(ready) == cameras:
            return
        if time.monotonic() > deadline:
            states = Counter(f"{s['state']}/{s['mode']}" for s in statuses.values())
            raise BenchError(f"{len(ready)} of {cameras} cameras online{f' in {mode}' if mode else ''} after "
                             f"{timeout_s:.0f} s; state/mode: {dict(states)}")
        await asyncio.sleep(0.5)


async def measure_node(api: AdminApi, groups: dict[str, list[psutil.Process]], label: str, cameras: int,
                       mode: str | None, expected_fps: float, args: argparse.Namespace, results: Results) -> Run:
    """Wait for the node's `cameras` to be online, let it settle, measure; the statuses read
    after the window say whether it really ingested all the while."""
    await wait_online(api, cameras, mode, args.online_timeout)
    await asyncio.sleep(args.settle)
    window = await measure_window(groups, args.window)
    statuses = (await api.statuses()).values()
    run = Run(label, cameras, window, fps=[s["fps"] or 0.0 for s in statuses], kbps=[s["bitrate_kbps"] or 0.0 for s in statuses],
              modes=[s["mode"] for s in statuses], online=sum(s["state"] == "online" for s in statuses))
    if run.online != cameras:
        states = Counter(s["state"] for s in statuses)
        results.problems.append(f"{label}: {run.online} of {cameras} camera(s) online after the window: {dict(states)}")
    check_fps(run, expected_fps, results)
    return run


async def measure_node_cameras(api: AdminApi, camera: RtspCameraServer, mount: Mount, cameras: int, mode: str,
                               groups: dict, args: argparse.Namespace, results: Results) -> Run:
    """Register `cameras` cameras on `mount`, measure, delete them again (so the next ffmpeg
    window runs beside an idle node)."""
    ids = [await api.create(tps, camera.url(mount)) for tps in range(1, cameras + 1)]
    run = await measure_node(api, groups, f"pantau {mode}", cameras, mode, mount.fps, args, results)
    if camera.open_connections != cameras:  # one camera connection per camera, however many viewers
        results.notes.append(f"{cameras} Pantau camera(s): the RTSP camera counts {camera.open_connections} open connections")
    for camera_id in ids:
        await api.delete(camera_id)
    await wait_for(lambda: camera.open_connections == 0, args.online_timeout, "deleted cameras closing their connections")
    return run


def stop_node(node: PantauNode, redis_pid: int | None, results: Results) -> None:
    code, _ = node.stop()
    if code != 0:
        results.problems.append(f"pantau serve exit code after SIGTERM: {code} (None = had to be killed)\n{node.log_tail()}")
    if redis_pid is not None and kill_leftover(redis_pid):
        results.problems.append(f"the embedded redis-server (pid {redis_pid}) was still running after the node stopped")


def node_groups(node: PantauNode, redis_pid: int, camera: RtspCameraServer | None) -> dict[str, list[psutil.Process]]:
    """The node's Python process alone is the client (its embedded Redis is a separate process,
    reported on its own); the camera server only for context."""
    groups = {CLIENT: [psutil.Process(node.pid)], REDIS: [psutil.Process(redis_pid)]}
    if camera is not None:
        groups[CAMERA] = [psutil.Process(camera.pid)]
    return groups


async def bench_clients(api: AdminApi, camera: RtspCameraServer, groups: dict, args: argparse.Namespace, results: Results) -> None:
    """The idle node, then for each N ffmpeg and Pantau back to back (the machine is shared: a
    minute apart they see much the same neighbours), then the same for one H.265 camera."""
    print("  pantau, no camera", flush=True)
    results.idle = await measure_node(api, groups, "pantau idle", 0, None, 0, args, results)
    for n in args.counts:
        print(f"  {n} camera(s): ffmpeg -c copy, bare PyAV demux, then pantau", flush=True)
        results.ffmpeg[n] = run = await bench_ffmpeg(camera.url(H264), n, "ffmpeg -c copy", COPY_ARGS, camera.pid, args)
        check_fps(run, H264.fps, results)
        results.pyav[n] = run = await bench_pyav_demux(camera.url(H264), n, camera.pid, args)
        check_fps(run, H264.fps, results)
        results.pantau[n] = await measure_node_cameras(api, camera, H264, n, "passthrough", groups, args, results)
    print("  pantau, no camera again", flush=True)
    results.idle_after = await measure_node(api, groups, "pantau idle after", 0, None, 0, args, results)
    print("  1 H.265 camera: ffmpeg -> libx264, then pantau (transcode)", flush=True)
    results.ffmpeg_transcode = run = await bench_ffmpeg(camera.url(H265), 1, "ffmpeg transcode", TRANSCODE_ARGS, camera.pid,
                                                        args, TRANSCODE_INPUT_ARGS)
    check_fps(run, H265.fps, results)
    results.transcode = await measure_node_cameras(api, camera, H265, 1, "transcode", groups, args, results)


async def bench_with_camera(camera: RtspCameraServer, args: argparse.Namespace, results: Results) -> None:
    token = secrets.token_urlsafe(24)
    node = PantauNode(args.workdir / "node", token, [])
    redis_pid = None
    try:
        node.start()
        redis_pid, _ = node.embedded_redis()
        print(f"  node up at {node.base_url}", flush=True)
        async with AdminApi(node.base_url, token) as api:
            await bench_clients(api, camera, node_groups(node, redis_pid, camera), args, results)
    finally:
        stop_node(node, redis_pid, results)


async def bench_demo(args: argparse.Namespace, results: Results) -> None:
    """A fresh node as `pantau serve` starts by default: embedded Redis, the demo set."""
    token = secrets.token_urlsafe(24)
    node = PantauNode(args.workdir / "demo", token, [], demo=True)
    redis_pid = None
    try:
        node.start()
        redis_pid, _ = node.embedded_redis()
        print(f"  demo node up at {node.base_url}", flush=True)
        async with AdminApi(node.base_url, token) as api:
            groups = node_groups(node, redis_pid, None)
            results.demo = await measure_node(api, groups, "pantau demo set", DEMO_CAMERAS, None, DEMO_FPS, args, results)
    finally:
        stop_node(node, redis_pid, results)


# -- report ---------------------------------------------------------------------------------------

def _f(value: float, digits: int = 2) -> str:
    return "?" if value != value else f"{value:.{digits}f}"  # NaN (not measured) as "?"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rss_per_camera(run: Run, idle: Run | None) -> float:
    return (run.rss_mb - idle.rss_mb) / run.cameras if idle else float("nan")


def passthrough_table(r: Results) -> list[str]:
    lines = [
        "| cameras | ffmpeg CPU-s / camera-min | PyAV demux alone | Pantau | Pantau / ffmpeg (target ≤ 1.3) "
        "| PyAV demux alone / ffmpeg | Pantau minus idle node / ffmpeg | Pantau RSS / camera MB (target ≤ 8) | ffmpeg RSS / camera MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    nan = float("nan")
    for n in r.counts:
        ff, py, pa = r.ffmpeg.get(n), r.pyav.get(n), r.pantau.get(n)
        ff_cpm = ff.cpu_per_camera_minute() if ff else nan
        py_cpm = py.cpu_per_camera_minute() if py else nan
        pa_cpm = pa.cpu_per_camera_minute() if pa else nan
        net = pa.cpu_per_camera_minute(minus=r.idle) if pa and r.idle else nan
        lines.append(f"| {n} | {_f(ff_cpm)} | {_f(py_cpm)} | {_f(pa_cpm)} | {_f(pa_cpm / ff_cpm)}x | {_f(py_cpm / ff_cpm)}x "
                     f"| {_f(net / ff_cpm)}x | {_f(rss_per_camera(pa, r.idle), 1) if pa else '?'} | {_f(ff.rss_mb / n, 1) if ff else '?'} |")
    return lines


def passthrough_details(r: Results) -> list[str]:
    lines = [
        "| cameras | Pantau minus idle node CPU-s / camera-min | … / ffmpeg | Pantau % core | Pantau RSS MB | RSS / camera MB since "
        "previous N | embedded Redis % core | ffmpeg PSS / camera MB | fps Pantau / ffmpeg | kbit/s (Pantau) "
        "| camera server % core ffmpeg / Pantau | machine busy % ffmpeg / Pantau |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    previous = r.idle
    for n in r.counts:
        ff, pa = r.ffmpeg.get(n), r.pantau.get(n)
        if not (ff and pa):
            continue
        net = pa.cpu_per_camera_minute(minus=r.idle)
        # The slope without the node's one-off costs (the first camera loads codecs, starts pools).
        marginal = (pa.rss_mb - previous.rss_mb) / (n - previous.cameras) if previous else float("nan")
        previous = pa
        lines.append(
            f"| {n} | {_f(net)} | {_f(net / ff.cpu_per_camera_minute())}x | {_f(pa.window.core_pct(CLIENT), 1)} | {_f(pa.rss_mb, 0)} "
            f"| {_f(marginal, 1)} | {_f(pa.window.core_pct(REDIS), 1)} | {_f(ff.pss_mb, 1)} | {_f(_median(pa.fps), 1)} / {_f(_median(ff.fps), 1)} "
            f"| {_f(_median(pa.kbps), 0)} | {_f(ff.window.core_pct(CAMERA), 0)} / {_f(pa.window.core_pct(CAMERA), 0)} "
            f"| {_f(ff.window.machine_busy_pct, 0)} / {_f(pa.window.machine_busy_pct, 0)} |")
    return lines


def transcode_table(r: Results) -> list[str]:
    """One camera each; Pantau's figures net of its idle node, so they compare camera with camera."""
    one_pa, one_ff = r.pantau.get(1), r.ffmpeg.get(1)
    base_pa = one_pa.cpu_per_camera_minute(minus=r.idle) if one_pa else float("nan")
    base_ff = one_ff.cpu_per_camera_minute() if one_ff else float("nan")
    rows = [
        ("Pantau passthrough, H.264 (minus idle node)", one_pa, r.idle, base_pa),
        ("Pantau transcode, H.265 → H.264 (minus idle node)", r.transcode, r.idle, base_pa),
        ("ffmpeg -c copy, H.264", one_ff, None, base_ff),
        ("ffmpeg H.265 → libx264, same settings", r.ffmpeg_transcode, None, base_ff),
    ]
    lines = ["| one camera | CPU-s / camera-min | % of one core | vs passthrough / copy of the same client |", "|---|---:|---:|---:|"]
    for label, run, idle, base in rows:
        if run is None:
            lines.append(f"| {label} | not measured | | |")
            continue
        cpm = run.cpu_per_camera_minute(minus=idle)
        lines.append(f"| {label} | {_f(cpm)} | {_f(100 * cpm / 60, 1)} | {_f(cpm / base, 1)}x |")
    return lines


def demo_table(r: Results) -> list[str]:
    idle_pct = r.idle.window.core_pct(CLIENT) if r.idle else float("nan")
    lines = ["| node | cameras online | CPU % of one core | RSS MB | embedded Redis % core | CPU vs 0-camera node |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, run in (("`pantau serve --no-demo`, no camera", r.idle), ("same node after deleting its cameras", r.idle_after),
                       ("`pantau serve` (default demo set)", r.demo)):
        if run is None:
            lines.append(f"| {label} | not measured | | | | |")
            continue
        pct = run.window.core_pct(CLIENT)
        lines.append(f"| {label} | {run.online} | {_f(pct, 1)} | {_f(run.rss_mb, 0)} | {_f(run.window.core_pct(REDIS), 1)} | {_f(pct / idle_pct, 1)}x |")
    return lines


def target_lines(r: Results) -> list[str]:
    lines = []
    for n in r.counts:
        ff, pa = r.ffmpeg.get(n), r.pantau.get(n)
        if not (ff and pa):
            lines.append(f"- {n} camera(s): not measured")
            continue
        ratio = pa.cpu_per_camera_minute() / ff.cpu_per_camera_minute()
        rss = rss_per_camera(pa, r.idle)
        lines += [f"- {n} camera(s): CPU Pantau / ffmpeg {ratio:.2f}x ≤ {CPU_RATIO_TARGET}: **{_verdict(ratio <= CPU_RATIO_TARGET)}**",
                  f"- {n} camera(s): RSS per camera {rss:.1f} MB ≤ {RSS_PER_CAMERA_TARGET_MB:.0f} MB: "
                  f"**{_verdict(rss <= RSS_PER_CAMERA_TARGET_MB)}**"]
    return lines


def versions() -> str:
    ffmpeg = subprocess.run([FFMPEG, "-version"], capture_output=True, text=True, timeout=10).stdout.split("\n", 1)[0]
    libav = ".".join(map(str, av.library_versions["libavformat"]))
    return f"{ffmpeg.removeprefix('ffmpeg version ').split(' ')[0]} (baseline) vs PyAV {av.__version__} (libavformat {libav})"


def report(r: Results, args: argparse.Namespace) -> str:
    header = [
        "# Ingest benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()}); "
        f"FFmpeg {versions()}. One GStreamer RTSP camera process, shared mounts: H.264 {H264.width}x{H264.height} {H264.fps} fps "
        f"{H264.bitrate_kbps} kbit/s, a keyframe every {H264.gop_seconds:g} s (and the same in H.265). Windows of {args.window:g} s "
        f"after {args.settle:g} s settling; CPU = user + system of the client processes only (Pantau: the node's Python "
        "process; its embedded Redis and the camera server are listed apart). Pantau / ffmpeg compares whole-node CPU with "
        "ffmpeg's; \"minus idle node\" subtracts what the same node spends with no camera. \"PyAV demux alone\" is "
        "bench/pyav_demux.py: one process, a thread per camera that only demuxes (the product's open options), "
        "the floor under any ingest built on PyAV.",
        "",
        "## Passthrough: Pantau (passthrough + keyframe health + GOP cache) vs `ffmpeg -rtsp_transport tcp -i URL -c copy -f null -`",
        "",
    ]
    body = [*passthrough_table(r), "", "Targets:", "", *target_lines(r), "", "Details:", "", *passthrough_details(r), "",
            "## One transcoded H.265 camera", "", *transcode_table(r), "",
            "## Embedded default with the full demo set", "", *demo_table(r)]
    findings = [f"- {text}" for text in r.problems + r.notes]
    if findings:
        body += ["", "Problems and notes:", "", *findings]
    return "\n".join(header + body) + "\n"


# -- main -----------------------------------------------------------------------------------------

async def guarded(section: str, coroutine, results: Results) -> None:
    """Run one part; a failure is recorded and the run goes on with the next part."""
    print(f"{section}:", flush=True)
    try:
        await coroutine
    except (BenchError, aiohttp.ClientError, OSError, psutil.Error) as exc:
        print(f"  FAILED: {exc}", file=sys.stderr, flush=True)
        results.problems.append(f"{section}: {exc}")


async def run(args: argparse.Namespace) -> Results:
    results = Results(args.counts)
    args.workdir = Path(tempfile.mkdtemp(prefix="pantau-bench-ingest-"))
    try:
        (args.workdir / "camera").mkdir()
        camera = RtspCameraServer([H264, H265], log_dir=args.workdir / "camera")
        try:
            camera.start(timeout=20)
            await guarded("ffmpeg and pantau", bench_with_camera(camera, args, results), results)
        finally:
            camera.stop()  # before the demo node: its encoders would only add noise there
        await guarded("demo set", bench_demo(args, results), results)
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)
    text = report(results, args)
    print("\n" + text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"written to {args.output}")
    return results


def parse_counts(text: str) -> tuple[int, ...]:
    counts = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError("camera counts are whole numbers ≥ 1, e.g. 1,10,40")
    return counts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1, 4 and 8 s windows (smoke test)")
    parser.add_argument("--counts", type=parse_counts, help="camera counts N, comma-separated (default 1,10,40; --quick: 1,4)")
    parser.add_argument("--window", type=float, help="seconds measured per run (default 30; --quick: 8)")
    parser.add_argument("--settle", type=float, help="seconds waited once all streams flow (default 5; --quick: 3)")
    parser.add_argument("--online-timeout", type=float, default=90.0, help="seconds for all cameras to come online (default 90)")
    parser.add_argument("--timeout", type=float, default=900.0, help="stop everything after this many seconds (default 900)")
    parser.add_argument("--output", type=Path, help="Markdown report (default bench/results/ingest.md, or ingest-quick.md)")
    parser.add_argument("--tamper-cost", action="store_true",
                        help="only the cost of the tamper checks (issue 16): per keyframe, and a node with them off/on in ABBA "
                             "windows (N = the last --counts, default 20); see bench/tamper_cost.py")
    parser.add_argument("--masks", action="store_true",
                        help="only privacy masks (issue 17): a masked camera at 720p and 854x480 beside the plain transcode "
                             "and ffmpeg's drawbox/boxblur, ABBA (--rounds, 20 s windows); see bench/mask_cost.py")
    parser.add_argument("--rounds", type=int, default=2, help="--tamper-cost, --masks: ABBA rounds (default 2)")
    parser.add_argument("--mask-sides", default="ABCDEFG",
                        help="--masks: the sides to run, e.g. BG (the officials' exception beside masked 720p; default all)")
    args = parser.parse_args(argv)
    args.counts_given = args.counts is not None
    args.counts = args.counts or (QUICK_COUNTS if args.quick else COUNTS)
    args.window = args.window or (8.0 if args.quick else 30.0)
    args.settle = args.settle if args.settle is not None else (3.0 if args.quick else 5.0)
    args.output = args.output or RESULTS_DIR / ("ingest-quick.md" if args.quick else "ingest.md")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.masks:
        import mask_cost

        given = argv or sys.argv
        args.window = args.window if "--window" in given else (8.0 if args.quick else 20.0)
        args.timeout = args.timeout if "--timeout" in given else 1800.0  # 24 windows of a fresh node or ffmpeg
        return run_bench("ingest bench (masks)", lambda a: mask_cost.run_and_report(a, sys.modules[__name__]), args,
                         lambda results: results.problems)
    if args.tamper_cost:
        import tamper_cost

        return run_bench("ingest bench (tamper cost)", lambda a: tamper_cost.run_and_report(a, sys.modules[__name__]), args,
                         lambda results: results.problems)
    return run_bench("ingest bench", run, args, lambda results: results.problems)


if __name__ == "__main__":
    sys.exit(main())
