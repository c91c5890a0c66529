"""`bench/ingest.py --masks`: what a camera with privacy masks (issue 17; ingest/mask_painter.py)
costs, at 720p and at the lower masked size (854x480), beside the plain transcode of the same
stream and `ffmpeg` doing the same with `drawbox`/`boxblur` in the same run (the issue's goal:
within 1.2x of ffmpeg).

    .venv/bin/python bench/ingest.py --masks            # 6 sides, ABBA x 2, 20 s windows (~15 min)
    .venv/bin/python bench/ingest.py --masks --quick    # 8 s windows (a smoke test)
    .venv/bin/python bench/ingest.py --masks --mask-sides BG   # the officials' exception's cost only

One camera per window on the bench's shared 720p25 H.264 mount (2 Mbps, GOP 2 s), two masks
that ffmpeg can reproduce exactly: a black fill over the top-right corner (a booth) and a blur
over the bottom-left quarter (a table), rectangles in picture-relative coordinates. Each Pantau
window is a fresh `pantau serve` node: its idle CPU is measured first (no camera) and taken
off, so the figure is the camera's. ffmpeg runs the same libx264 settings as the node
(bench/ingest.py TRANSCODE_ARGS), one thread everywhere, the masks at the output size (as the
node paints them after scaling). Side G is B with the officials' exception on
(`unmasked_for_officials`: the source's packets also go on the bus unmasked, nobody watching
them). The sides run in the order A..G then G..A per round (the machine is shared: neighbours
drift); each side's figure is its median.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psutil
from processes import BenchError
from runner import in_workdir_and_reported

GOAL_VS_FFMPEG = 1.2
FILL = (0.75, 0.0, 1.0, 0.3)  # x0, y0, x1, y1: a booth in the top-right corner
BLUR = (0.0, 0.5, 0.25, 1.0)  # a counting table's corner, bottom left
LOWER = (854, 480)


def rectangle(kind: str, box: tuple[float, float, float, float]) -> dict:
    x0, y0, x1, y1 = box
    return {"kind": kind, "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]}


MASKS = [rectangle("fill", FILL), rectangle("blur", BLUR)]


def ffmpeg_mask_filter(width: int, height: int, scale: tuple[int, int] | None) -> str:
    """The same masks as ffmpeg filters: drawbox for the fill, crop + boxblur + overlay for the
    blur (radius = half of ingest's box, height / 12), after the scale when there is one."""
    if scale:
        width, height = scale
    fx, fy, fw, fh = (round(FILL[0] * width), round(FILL[1] * height), round((FILL[2] - FILL[0]) * width),
                      round((FILL[3] - FILL[1]) * height))
    bx, by, bw, bh = (round(BLUR[0] * width), round(BLUR[1] * height), round((BLUR[2] - BLUR[0]) * width),
                      round((BLUR[3] - BLUR[1]) * height))
    radius = max(1, height // 12 // 2)
    head = f"[0:v]scale={scale[0]}:{scale[1]}:flags=bilinear," if scale else "[0:v]"
    return (f"{head}split=2[base][region];[region]crop={bw}:{bh}:{bx}:{by},boxblur={radius}:1:{max(1, radius // 2)}:1[blurred];"
            f"[base][blurred]overlay={bx}:{by},drawbox=x={fx}:y={fy}:w={fw}:h={fh}:color=black:t=fill[out]")


@dataclass
class Side:
    key: str
    label: str
    client: str  # pantau | ffmpeg
    masked: bool
    lower: bool
    unmasked_for_officials: bool = False
    runs: list[float] = field(default_factory=list)  # CPU-s per camera-minute
    sizes: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")


def sides() -> list[Side]:
    return [Side("A", "Pantau transcode, no masks (720p)", "pantau", False, False),
            Side("B", "Pantau masked, 720p", "pantau", True, False),
            Side("C", f"Pantau masked, {LOWER[0]}x{LOWER[1]}", "pantau", True, True),
            Side("D", "ffmpeg → libx264, no masks (720p)", "ffmpeg", False, False),
            Side("E", "ffmpeg drawbox + boxblur → libx264, 720p", "ffmpeg", True, False),
            Side("F", f"ffmpeg scale + drawbox + boxblur → libx264, {LOWER[0]}x{LOWER[1]}", "ffmpeg", True, True),
            Side("G", "Pantau masked, 720p, officials' exception on (unmasked passthrough on the bus)", "pantau", True, False,
                 unmasked_for_officials=True)]


@dataclass
class MaskResults:
    sides: list[Side]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def pantau_window(bench, camera, side: Side, args: argparse.Namespace, results: MaskResults) -> None:
    from measure import measure_window
    from processes import PantauNode

    workdir = args.workdir / f"node-{secrets.token_hex(3)}"  # short: the embedded Redis socket lives below
    workdir.mkdir(parents=True)
    config = workdir / "pantau.yaml"
    config.write_text(f"ingest:\n  transcode:\n    masked_max_width: {LOWER[0]}\n    masked_max_height: {LOWER[1]}\n"
                      if side.lower else "{}\n")
    token = secrets.token_urlsafe(24)
    node = PantauNode(workdir, token, ["--config", str(config)])
    redis_pid = None
    try:
        node.start()
        redis_pid, _ = node.embedded_redis()
        groups = {bench.CLIENT: [psutil.Process(node.pid)], bench.REDIS: [psutil.Process(redis_pid)]}
        async with bench.AdminApi(node.base_url, token) as api:
            await asyncio.sleep(args.settle)
            idle = await measure_window(groups, min(args.window, 8.0))
            body = {"kind": "tps", "region": bench.KELURAHAN, "tps": 1, "source": camera.url(bench.H264),
                    **({"masks": MASKS} if side.masked else {"tags": ["force_transcode"]}),
                    "unmasked_for_officials": side.unmasked_for_officials}
            async with api.http.post(f"{node.base_url}/api/admin/cameras", json=body) as response:
                if response.status != 201:
                    raise BenchError(f"creating the camera answered {response.status}: {await response.text()}")
            await bench.wait_online(api, 1, "transcode", args.online_timeout)
            await asyncio.sleep(args.settle)
            window = await measure_window(groups, args.window)
            status = next(iter((await api.statuses()).values()))
        side.runs.append(window.cpu_s_per_camera_minute(bench.CLIENT, 1, idle.cpu_s_per_minute(bench.CLIENT)))
        side.sizes.append(f"{status['width']}x{status['height']}")
        if (status["fps"] or 0) < bench.KEEPING_UP * bench.H264.fps:
            results.notes.append(f"{side.key}: the node reported {status['fps']} fps: it did not keep up")
    finally:
        bench.stop_node(node, redis_pid, results)


async def ffmpeg_window(bench, camera, side: Side, args: argparse.Namespace, results: MaskResults) -> None:
    one_thread = [*bench.TRANSCODE_INPUT_ARGS, "-filter_threads", "1", "-filter_complex_threads", "1"]
    if side.masked:
        chain = ffmpeg_mask_filter(bench.H264.width, bench.H264.height, LOWER if side.lower else None)
        output = ["-filter_complex", chain, "-map", "[out]", *bench.TRANSCODE_ARGS]
    else:
        output = bench.TRANSCODE_ARGS
    run = await bench.bench_ffmpeg(camera.url(bench.H264), 1, f"ffmpeg-{side.key}", output, camera.pid, args, one_thread)
    bench.check_fps(run, bench.H264.fps, results)
    side.runs.append(run.cpu_per_camera_minute())


async def run(args: argparse.Namespace, bench) -> MaskResults:
    from tests.support.rtsp_camera import RtspCameraServer

    results = MaskResults([side for side in sides() if side.key in args.mask_sides.upper()])
    rounds = 1 if args.quick else args.rounds
    order = [side for _ in range(rounds) for side in [*results.sides, *reversed(results.sides)]]
    camera = RtspCameraServer([bench.H264], log_dir=args.workdir / "camera")
    try:
        camera.start(timeout=20)
        for number, side in enumerate(order, start=1):
            print(f"window {number}/{len(order)}: {side.key} {side.label}", flush=True)
            try:
                window = pantau_window if side.client == "pantau" else ffmpeg_window
                await window(bench, camera, side, args, results)
                print(f"  {side.runs[-1]:.2f} CPU-s / camera-min", flush=True)
            except (BenchError, OSError, psutil.Error) as exc:
                print(f"  FAILED: {exc}", file=sys.stderr, flush=True)
                results.problems.append(f"{side.key} #{number}: {exc}")
    finally:
        camera.stop()
    return results


def report(results: MaskResults, args: argparse.Namespace) -> str:
    by_key = {side.key: side for side in results.sides}
    lines = [
        "# Ingest benchmark: privacy masks (issue 17)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. One camera on the shared 720p25 H.264 2 Mbps mount (GOP 2 s); masks: a black "
        f"fill over {FILL} and a blur over {BLUR} (x0, y0, x1, y1 of the picture). {args.window:g} s windows, sides in the "
        f"order {results.sides[0].key}..{results.sides[-1].key} and back per round; CPU-s per camera-minute, Pantau net "
        "of its idle node; medians.",
        "",
        "| side | CPU-s / camera-min (median) | % of one core | runs | output size |",
        "|---|---:|---:|---|---|",
    ]
    for side in results.sides:
        runs = ", ".join(f"{r:.2f}" for r in side.runs)
        size = ", ".join(sorted(set(side.sizes))) or ("1280x720" if not side.lower else f"{LOWER[0]}x{LOWER[1]}")
        lines.append(f"| {side.key}: {side.label} | {side.median:.2f} | {100 * side.median / 60:.1f} | {runs} | {size} |")
    def ratio(top: str, bottom: str) -> float | None:
        if top in by_key and bottom in by_key and by_key[top].runs and by_key[bottom].runs:
            return by_key[top].median / by_key[bottom].median
        return None

    lines.append("")
    for top, bottom, text, goal in (
            ("B", "E", "Pantau masked / ffmpeg masked, 720p", GOAL_VS_FFMPEG),
            ("C", "F", f"Pantau masked / ffmpeg masked, {LOWER[0]}x{LOWER[1]}", GOAL_VS_FFMPEG),
            ("B", "A", "What the masks add to Pantau's transcode", None),
            ("C", "B", "The lower size against 720p masked", None),
            ("E", "D", "ffmpeg's masks against its plain transcode", None),
            ("G", "B", "The officials' exception on, against masked 720p", None)):
        value = ratio(top, bottom)
        if value is not None:
            verdict = f" ≤ {goal}: **{'PASS' if value <= goal else 'MISS'}**" if goal else ""
            lines.append(f"- {text} ({top}/{bottom}): {value:.2f}x{verdict}")
    findings = [f"- {text}" for text in results.problems + results.notes]
    if findings:
        lines += ["", "Problems and notes:", "", *findings]
    return "\n".join(lines) + "\n"


async def run_and_report(args: argparse.Namespace, bench) -> MaskResults:
    subset = "" if set(args.mask_sides.upper()) >= {side.key for side in sides()} else f"-{args.mask_sides.upper()}"
    output = bench.RESULTS_DIR / f"ingest-masks{subset}{'-quick' if args.quick else ''}.md"
    return await in_workdir_and_reported(args, "pantau-bench-masks-", lambda a: run(a, bench), report, output)
