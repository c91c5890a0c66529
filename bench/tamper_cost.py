"""`bench/ingest.py --tamper-cost`: what the tamper checks of issue 16 (obstructed, moved,
blurred; ingest/picture/tamper_checks.py) add to ingest, beside today's keyframe analysis (tile, black,
frozen). The issue's budget: at most +0.05 CPU-s per camera-minute.

    .venv/bin/python bench/ingest.py --tamper-cost                # 20 cameras, ABBA x 2, 30 s windows (~10 min)
    .venv/bin/python bench/ingest.py --tamper-cost --quick        # 4 cameras, ABBA once, 8 s windows

Two measures:
1. Per keyframe: real keyframes of the bench's mounts, decoded as ingest decodes them, then
   `PictureHealth.observe` with the tamper checks off and on (with a reference view), in
   alternating blocks; the median CPU ms of each, times 30 keyframes a minute (a 2 s GOP).
   Two scenes: the bench's test card with its clock (what the node windows stream), and the
   same card with a person-sized ball moving in front, on which the checks do the most work
   (a uniform area to measure, the shift estimate: the structure matches less).
2. Whole node: one `pantau serve` with N cameras on the bench's shared 720p25 mount, the checks
   off (`ingest.picture.tamper_checks: false`: today's analysis) or on with every camera's
   reference set through the admin API, in ABBA order (the machine is shared: neighbours drift);
   the added cost is the median of the paired differences (B - A) over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import av
import psutil
from processes import BenchError
from runner import in_workdir_and_reported

BUDGET_CPU_S_PER_CAMERA_MINUTE = 0.05
KEYFRAMES_PER_MINUTE = 30  # a keyframe every 2 s
MICRO_ROUNDS = 6  # blocks of each, alternating
MICRO_OBSERVATIONS = 40  # observations per block


@dataclass
class NodeRun:
    label: str  # "A off" / "B on"
    checks: bool
    cpu_per_camera_minute: float
    machine_busy_pct: float
    analysis_ms: float  # the node's own count: CPU ms per analysed keyframe (decode, tile, health)
    analysis_per_camera_minute: float  # ...and its CPU-s per camera-minute
    pictures: dict[str, int] = field(default_factory=dict)  # picture values after the window


@dataclass
class CostResults:
    cameras: int
    per_keyframe_ms: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # scene -> (off, on, on without reference)
    runs: list[NodeRun] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def added(self, figure: str = "cpu_per_camera_minute") -> float:
        """Median of the paired differences of a NodeRun figure, ABBA: (A1, B1), (B2, A2), ..."""
        pairs = self.pairs(figure)
        return statistics.median(pairs) if pairs else float("nan")

    def pairs(self, figure: str) -> list[float]:
        offs = [r for r in self.runs if not r.checks]
        ons = [r for r in self.runs if r.checks]
        return [getattr(b, figure) - getattr(a, figure) for a, b in zip(offs, ons)]


# -- per keyframe ----------------------------------------------------------------------------------

def keyframe_pictures(url: str, count: int) -> list:
    """`count` keyframes of the stream, decoded and scaled as ingest/picture/keyframe_tiles.py does."""
    from ingest.picture.keyframe_tiles import TILE_WIDTH, KeyframeAnalyzer

    pictures = []
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as container:
        for packet in container.demux(video=0):
            if not packet.is_keyframe or packet.size == 0:
                continue
            frame = KeyframeAnalyzer.decode_keyframe(bytes(packet))
            if frame is None:
                continue
            height = max(2, round(frame.height * TILE_WIDTH / frame.width / 2) * 2)
            pictures.append(frame.reformat(width=TILE_WIDTH, height=height, format="bgr24", interpolation="AREA").to_ndarray())
            if len(pictures) >= count:
                return pictures
    return pictures


def per_keyframe_ms(pictures: list) -> tuple[float, float, float]:
    """Median CPU ms of one `observe`: tamper checks off, on (reference: the first picture), and on
    without a reference (then only obstruction is judged: cells' levels, no structure)."""
    import cv2

    from ingest.picture.picture_health import HealthThresholds, PictureHealth
    from pantau.media.view_signature import ViewSignature, thumbnail

    cv2.setNumThreads(1)  # as the ingest worker runs it
    reference = ViewSignature.of(thumbnail(pictures[0]))
    variants = (("off", False, None), ("on", True, reference), ("on, no reference", True, None))
    timings: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for round_ in range(MICRO_ROUNDS):
        for name, checks, view in (variants if round_ % 2 == 0 else variants[::-1]):  # ABBA
            health = PictureHealth(HealthThresholds(tamper_checks=checks))
            health.set_reference(view)
            health.observe(pictures[0])  # warm
            started = time.process_time()
            for n in range(MICRO_OBSERVATIONS):
                health.observe(pictures[n % len(pictures)])
            timings[name].append((time.process_time() - started) * 1000 / MICRO_OBSERVATIONS)
    return tuple(statistics.median(timings[name]) for name, _, _ in variants)


# -- whole node ------------------------------------------------------------------------------------

async def node_window(bench, camera, cameras: int, checks: bool, label: str, args: argparse.Namespace,
                      results: CostResults) -> NodeRun:
    """`bench`: bench/ingest.py (run as a script, so handed over rather than imported)."""
    from measure import measure_window
    from processes import PantauNode

    workdir = args.workdir / f"node-{secrets.token_hex(3)}"  # short and plain: the embedded Redis socket lives below
    workdir.mkdir(parents=True)
    config = workdir / "pantau.yaml"
    config.write_text(f"ingest:\n  picture:\n    tamper_checks: {'true' if checks else 'false'}\n")
    token = secrets.token_urlsafe(24)
    node = PantauNode(workdir, token, ["--config", str(config)])
    redis_pid = None
    try:
        node.start()
        redis_pid, _ = node.embedded_redis()
        async with bench.AdminApi(node.base_url, token) as api:
            ids = [await api.create(tps, camera.url(bench.H264)) for tps in range(1, cameras + 1)]
            await bench.wait_online(api, cameras, "passthrough", args.online_timeout)
            if checks:
                await set_references(api, ids)
            await asyncio.sleep(args.settle)
            groups = {bench.CLIENT: [psutil.Process(node.pid)], bench.REDIS: [psutil.Process(redis_pid)]}
            keyframes, analysis_s = await analysis_counters(api)
            window = await measure_window(groups, args.window)
            keyframes_after, analysis_after = await analysis_counters(api)
            keyframes, analysis_s = keyframes_after - keyframes, analysis_after - analysis_s
            pictures: dict[str, int] = {}
            for status in (await api.statuses()).values():
                pictures[str(status["picture"])] = pictures.get(str(status["picture"]), 0) + 1
            return NodeRun(label, checks, window.cpu_s_per_camera_minute(bench.CLIENT, cameras), window.machine_busy_pct,
                           1000 * analysis_s / max(keyframes, 1), analysis_s / (window.seconds / 60) / cameras, pictures)
    finally:
        bench.stop_node(node, redis_pid, results)


async def analysis_counters(api) -> tuple[float, float]:
    """(keyframes analysed, CPU seconds spent on them) from the node's /metrics (ingest/metrics.py
    times every keyframe's analysis on its thread's CPU clock)."""
    async with api.http.get(f"{api.base_url}/metrics") as response:
        if response.status != 200:
            raise BenchError(f"/metrics answered {response.status}")
        text = await response.text()
    values = dict(line.split(" ", 1) for line in text.splitlines() if line.startswith("pantau_ingest_keyframe"))
    return float(values["pantau_ingest_keyframes_analysed_total"]), float(values["pantau_ingest_keyframe_analysis_cpu_seconds_total"])


async def set_references(api, ids: list[str]) -> None:
    for camera_id in ids:
        async with api.http.post(f"{api.base_url}/api/admin/cameras/{camera_id}/reference") as response:
            if response.status != 201:
                raise BenchError(f"setting the reference of {camera_id} answered {response.status}: {await response.text()}")
    deadline = time.monotonic() + 30
    while not all(s.get("reference") for s in (await api.statuses()).values()):
        if time.monotonic() > deadline:
            raise BenchError("the node did not apply the references within 30 s")
        await asyncio.sleep(0.5)


# -- the mode -------------------------------------------------------------------------------------

async def run(args: argparse.Namespace, bench) -> CostResults:
    from tests.support.rtsp_camera import Mount, RtspCameraServer

    H264 = bench.H264
    cameras = args.counts[-1] if args.counts_given else (4 if args.quick else 20)
    results = CostResults(cameras)
    busy_scene = Mount(path="/bench-person", width=H264.width, height=H264.height, fps=H264.fps, bitrate_kbps=H264.bitrate_kbps,
                       gop_seconds=H264.gop_seconds, tamperable=True, person=0.6)
    camera = RtspCameraServer([H264, busy_scene], log_dir=args.workdir / "camera")
    try:
        camera.start(timeout=20)
        print("per keyframe: decoding keyframes of both scenes", flush=True)
        for label, mount in (("test card + clock (the node windows' scene)", H264),
                             ("test card + clock + a person-sized ball", busy_scene)):
            pictures = await asyncio.to_thread(keyframe_pictures, camera.url(mount), 8)
            results.per_keyframe_ms[label] = await asyncio.to_thread(per_keyframe_ms, pictures)
        rounds = 1 if args.quick else args.rounds
        order = [False, True, True, False] * rounds
        for number, checks in enumerate(order, start=1):
            label = f"{'B on' if checks else 'A off'} #{number}"
            print(f"node window {number}/{len(order)}: {cameras} cameras, tamper checks {'on' if checks else 'off'}", flush=True)
            try:
                results.runs.append(await node_window(bench, camera, cameras, checks, label, args, results))
            except (BenchError, OSError, psutil.Error) as exc:
                print(f"  FAILED: {exc}", file=sys.stderr, flush=True)
                results.problems.append(f"{label}: {exc}")
    finally:
        camera.stop()
    return results


def report(results: CostResults, args: argparse.Namespace) -> str:
    added = results.added()
    lines = [
        "# Ingest benchmark: cost of the tamper checks (issue 16)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Budget: at most +{BUDGET_CPU_S_PER_CAMERA_MINUTE} CPU-s per camera-minute over today's "
        "keyframe analysis (tile, black, frozen).",
        "",
        "## Per keyframe (480 px picture of a decoded 720p keyframe; median CPU ms of `PictureHealth.observe`)",
        "",
        "| scene | checks off (today) ms | on, with a reference ms | added ms | added CPU-s / camera-min at a 2 s GOP "
        "| on, no reference: added ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for scene, (off, on, bare) in results.per_keyframe_ms.items():
        lines.append(f"| {scene} | {off:.3f} | {on:.3f} | {on - off:.3f} | {(on - off) * KEYFRAMES_PER_MINUTE / 1000:.4f} "
                     f"| {bare - off:.3f} |")
    lines += [
        "",
        f"## Whole node: `pantau serve`, {results.cameras} cameras on the shared 720p25 2 Mbps mount (GOP 2 s), "
        f"{args.window:g} s windows, ABBA",
        "",
        "| window | tamper checks | node CPU-s / camera-min | keyframe analysis CPU ms / keyframe (node's count) "
        "| keyframe analysis CPU-s / camera-min | machine busy % | pictures after |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for run_ in results.runs:
        lines.append(f"| {run_.label} | {'on, references set' if run_.checks else 'off'} | {run_.cpu_per_camera_minute:.3f} "
                     f"| {run_.analysis_ms:.2f} | {run_.analysis_per_camera_minute:.4f} | {run_.machine_busy_pct:.0f} | {run_.pictures} |")
    analysis = results.added("analysis_per_camera_minute")
    verdict = "PASS" if max(added, analysis) <= BUDGET_CPU_S_PER_CAMERA_MINUTE else "MISS"
    pairs = ", ".join(f"{d:+.3f}" for d in results.pairs("cpu_per_camera_minute"))
    lines += ["", f"Added by the tamper checks (median of the paired differences): whole node **{added:+.3f} CPU-s per "
                  f"camera-minute** (pairs {pairs}); keyframe analysis as the node times it **{analysis:+.4f}** "
                  f"({results.added('analysis_ms'):+.2f} ms per keyframe). Budget +{BUDGET_CPU_S_PER_CAMERA_MINUTE}: **{verdict}**"]
    if results.problems:
        lines += ["", "Problems:", "", *[f"- {p}" for p in results.problems]]
    return "\n".join(lines) + "\n"


async def run_and_report(args: argparse.Namespace, bench) -> CostResults:
    """`bench`: the bench/ingest.py module, whose node helpers and mount this mode shares."""
    output = args.output.with_name("ingest-tamper-cost" + ("-quick" if args.quick else "") + ".md")
    return await in_workdir_and_reported(args, "pantau-bench-tamper-cost-", lambda a: run(a, bench), report, output)
