"""Benchmark of the tamper signals (issue 16): how fast each kind is named, and how often a
moving scene raises one anyway.

    .venv/bin/python bench/tamper.py              # 10 minutes, 10 detections per kind (~11 min)
    .venv/bin/python bench/tamper.py --quick      # 2 minutes, 3 detections per kind: a smoke test

One GStreamer RTSP camera process (tests/support, the tests' own camera), 640x360 at 15 fps,
a keyframe every 2 s, and one `pantau serve` node ingesting every mount, each camera with its
reference view set through the admin API:

- Detection: one camera per tamper (turned, defocused, a flag over 56 % of the view, covered
  with the clock still drawn, frozen), each a moving scene (test card, a person-sized ball in
  front, the clock). Each round waits a random 0-2 s (any phase against the GOP), tampers, and
  times until the node's event stream (`/api/events`) shows the expected `picture`; then undoes
  it and waits for `ok`. The five cameras run their rounds at the same time.
- False alarms: two moving scenes watched for the whole run, with references set: the test
  card with the person-sized ball (22 % of the picture) in front and the light dimmed and
  raised every minute, and videotestsrc's ball on black with the clock. Every change from `ok`
  to anything else is a false alarm; per camera-hour.

Figures are this machine's (2 cores, shared): detection time is bounded by the GOP (two
keyframes must agree), not by CPU. Results: bench/results/tamper.md (tamper-quick.md).
"""

from __future__ import annotations

import argparse
import asyncio
import random
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
from camera_set import REPO
from processes import BenchError, PantauNode, kill_leftover
from runner import run_bench

sys.path.insert(0, str(REPO))  # the RTSP test camera and the SSE reader are the tests' own (tests/support)
from tests.support.rtsp_camera import Mount, RtspCameraServer  # noqa: E402
from tests.support.sse import PictureLog  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SCENE = {"width": 640, "height": 360, "fps": 15, "bitrate_kbps": 600, "gop_seconds": 2.0}
PERSON = 0.7  # the ball in front: 70 % of the picture's height across, ~22 % of the picture
KINDS = {"turn": "moved", "blur": "blurred", "obstruct": "obstructed", "cover": "black", "freeze": "frozen"}
QUIET = {"quiet-person-light": Mount(path="/quiet-person-light", tamperable=True, person=PERSON, **SCENE),
         "quiet-ball": Mount(path="/quiet-ball", pattern="ball", **SCENE)}
LIGHT_EVERY_S = 60.0
DETECT_TIMEOUT_S = 20.0
TARGET_S = 5.0


@dataclass
class Detection:
    kind: str
    seconds: float | None  # None: not named within DETECT_TIMEOUT_S
    first: str | None  # the first picture other than ok that was shown


@dataclass
class Results:
    minutes: float
    detections: list[Detection] = field(default_factory=list)
    quiet_hours: dict[str, float] = field(default_factory=dict)
    false_alarms: dict[str, list[str]] = field(default_factory=dict)  # camera -> pictures raised
    problems: list[str] = field(default_factory=list)


class Node:
    """The few admin calls the bench makes."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}, timeout=aiohttp.ClientTimeout(total=30))

    async def add(self, camera_id: str, tps: int, source: str) -> None:
        body = {"id": camera_id, "kind": "tps", "region": "31.71.01.1001", "tps": tps, "source": source}
        async with self.http.post(f"{self.base_url}/api/admin/cameras", json=body) as response:
            if response.status != 201:
                raise BenchError(f"creating {camera_id}: {response.status} {await response.text()}")

    async def status(self, camera_id: str) -> dict:
        async with self.http.get(f"{self.base_url}/api/admin/cameras/{camera_id}") as response:
            return (await response.json())["status"]

    async def wait(self, camera_id: str, check, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not check(await self.status(camera_id)):
            if time.monotonic() > deadline:
                raise BenchError(f"{camera_id}: status not reached within {timeout:.0f} s: {await self.status(camera_id)}")
            await asyncio.sleep(0.25)

    async def set_reference(self, camera_id: str) -> None:
        async with self.http.post(f"{self.base_url}/api/admin/cameras/{camera_id}/reference") as response:
            if response.status != 201:
                raise BenchError(f"reference of {camera_id}: {response.status} {await response.text()}")
        await self.wait(camera_id, lambda s: s.get("reference") is True and s["picture"] == "ok")


async def detection_rounds(camera: RtspCameraServer, events: PictureLog, action: str, rounds: int, results: Results) -> None:
    camera_id, kind = f"tamper-{action}", KINDS[action]
    rng = random.Random(action)
    for _ in range(rounds):
        await asyncio.sleep(rng.uniform(0, SCENE["gop_seconds"]))  # any phase against the GOP
        started = await asyncio.to_thread(camera.tamper, f"/{action}", action)
        found = await events.wait(camera_id, kind, started, DETECT_TIMEOUT_S)
        shown = [picture for _, picture in events.since(camera_id, started) if picture not in ("ok", None)]
        results.detections.append(Detection(kind, None if found is None else found - started, shown[0] if shown else None))
        undone = await asyncio.to_thread(camera.tamper, f"/{action}", "none")
        if await events.wait(camera_id, "ok", undone, DETECT_TIMEOUT_S) is None:
            results.problems.append(f"{camera_id}: not ok again within {DETECT_TIMEOUT_S:.0f} s of undoing {action}")
        await asyncio.sleep(2 * SCENE["gop_seconds"])  # a clean reference state before the next round


async def light_changes(camera: RtspCameraServer, until: float) -> None:
    dimmed = False
    while time.monotonic() + LIGHT_EVERY_S < until:
        await asyncio.sleep(LIGHT_EVERY_S)
        dimmed = not dimmed
        await asyncio.to_thread(camera.tamper, "/quiet-person-light", "light" if dimmed else "none")


async def watch(camera: RtspCameraServer, base_url: str, token: str, args: argparse.Namespace, results: Results) -> None:
    """Register every camera with its reference, then the detection rounds and the light changes
    while the moving scenes are watched for `args.minutes`."""
    api = Node(base_url, token)
    try:
        cameras = {f"tamper-{action}": f"/{action}" for action in KINDS} | {name: mount.path for name, mount in QUIET.items()}
        for tps, (camera_id, path) in enumerate(cameras.items(), start=1):
            await api.add(camera_id, tps, camera.url(path))
        for camera_id in cameras:
            await api.wait(camera_id, lambda s: s["state"] == "online" and s["picture"] == "ok")
            await api.set_reference(camera_id)
    finally:
        await api.http.close()
    print(f"{len(cameras)} cameras online with references; watching for {args.minutes:g} min", flush=True)
    async with PictureLog(base_url, token) as events:
        start = time.monotonic()
        until = start + args.minutes * 60
        lights = asyncio.create_task(light_changes(camera, until))
        try:
            await asyncio.gather(*(detection_rounds(camera, events, action, args.rounds, results) for action in KINDS))
            await asyncio.sleep(max(0.0, until - time.monotonic()))
        finally:
            lights.cancel()
            await asyncio.gather(lights, return_exceptions=True)
        hours = (time.monotonic() - start) / 3600
        for camera_id in QUIET:
            results.quiet_hours[camera_id] = hours
            results.false_alarms[camera_id] = [p for _, p in events.since(camera_id, start) if p not in ("ok", None)]


async def run(args: argparse.Namespace) -> Results:
    results = Results(args.minutes)
    workdir = Path(tempfile.mkdtemp(prefix="pantau-bench-tamper-"))
    mounts = [Mount(path=f"/{action}", tamperable=True, person=PERSON, **SCENE) for action in KINDS] + list(QUIET.values())
    camera = RtspCameraServer(mounts, log_dir=workdir / "camera")
    token = secrets.token_urlsafe(24)
    node = PantauNode(workdir / "node", token, [])
    redis_pid = None
    try:
        camera.start(timeout=20)
        node.start()
        redis_pid, _ = node.embedded_redis()
        await watch(camera, node.base_url, token, args, results)
    finally:
        code, _ = node.stop()
        if code != 0:
            results.problems.append(f"pantau serve exit code after SIGTERM: {code}")
        if redis_pid is not None and kill_leftover(redis_pid):
            results.problems.append("the embedded redis-server was still running after the node stopped")
        camera.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    text = report(results, args)
    print("\n" + text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"written to {args.output}")
    return results


def report(results: Results, args: argparse.Namespace) -> str:
    lines = [
        "# Tamper signals benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Cameras {SCENE['width']}x{SCENE['height']} {SCENE['fps']} fps, a keyframe every "
        f"{SCENE['gop_seconds']:g} s, each a moving scene; references set through the admin API. Detection time: from the tamper "
        "(at a random phase against the GOP) to the expected `picture` on the node's event stream.",
        "",
        f"| kind | runs | named right | p50 s | max s (target ≤ {TARGET_S:g}) | named otherwise first |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for kind in KINDS.values():
        runs = [d for d in results.detections if d.kind == kind]
        times = [d.seconds for d in runs if d.seconds is not None]
        other = sorted({d.first for d in runs if d.first not in (None, kind)})
        p50 = f"{statistics.median(times):.1f}" if times else "?"
        worst = f"{max(times):.1f}" if times else "?"
        lines.append(f"| {kind} | {len(runs)} | {len(times)} | {p50} | {worst} | {', '.join(other) or 'none'} |")
    lines += ["", "| moving scene | camera-hours | false alarms | per camera-hour |", "|---|---:|---:|---:|"]
    total_hours = sum(results.quiet_hours.values())
    total = sum(len(v) for v in results.false_alarms.values())
    for camera_id, hours in results.quiet_hours.items():
        alarms = results.false_alarms.get(camera_id, [])
        lines.append(f"| {camera_id} | {hours:.2f} | {len(alarms)} {alarms if alarms else ''} | {len(alarms) / hours:.1f} |")
    if total_hours:
        lines.append(f"| all | {total_hours:.2f} | {total} | {total / total_hours:.1f} |")
    if results.problems:
        lines += ["", "Problems:", "", *[f"- {p}" for p in results.problems]]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 minutes, 3 detections per kind")
    parser.add_argument("--minutes", type=float, help="how long the moving scenes are watched (default 10)")
    parser.add_argument("--rounds", type=int, help="detections per kind (default 10)")
    parser.add_argument("--timeout", type=float, help="stop everything after this many seconds (default: the run + 5 min)")
    parser.add_argument("--output", type=Path, help="Markdown report (default bench/results/tamper.md, or tamper-quick.md)")
    args = parser.parse_args(argv)
    args.minutes = args.minutes or (2.0 if args.quick else 10.0)
    args.rounds = args.rounds or (3 if args.quick else 10)
    args.timeout = args.timeout or args.minutes * 60 + args.rounds * 30 + 300
    args.output = args.output or RESULTS_DIR / ("tamper-quick.md" if args.quick else "tamper.md")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench("tamper bench", run, args, lambda results: bool(results.problems))


if __name__ == "__main__":
    sys.exit(main())
