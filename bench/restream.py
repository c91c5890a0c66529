"""Benchmark of the RTMP restream (issue 18 part 4): what restreaming a camera costs Pantau,
beside `ffmpeg -c copy -f flv` pushing the same stream, in one run.

    .venv/bin/python bench/restream.py             # 4 cameras, 2 rounds of ABBA, 30 s windows (~6 minutes)
    .venv/bin/python bench/restream.py --quick     # 2 cameras, 1 round, 8 s windows: a smoke test

One GStreamer RTSP test camera serves a shared 720p25 H.264 mount (2 Mbps, a keyframe every 2 s);
Debian's nginx with libnginx-mod-rtmp receives every push on 127.0.0.1. One `pantau serve` node
ingests N cameras of that mount all the time. Windows alternate ABBA:

  A  the node restreams its N cameras (restream_url + key set through the admin API); measured:
     the node and its pusher processes;
  B  the node only ingests (restream removed), and N `ffmpeg -rtsp_transport tcp -i URL -c copy
     -f flv rtmp://...` processes push the same stream; measured: the node, and the ffmpeg's.

Pantau's cost per restreamed camera = (node + pushers in A - node in the B windows) / N; the
baseline's = ffmpeg in B / N, which includes its own RTSP pull (Pantau's ingest is already paid
for). Figures are CPU seconds per camera-minute, medians over the windows of each side. The
restreams must be live for the whole window (no new session), or the run fails; the ffmpeg's
frame rates are reported (a loaded machine slows the test camera too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psutil
from camera_set import REPO
from measure import measure_window
from processes import FFMPEG, BenchError, PantauNode, StreamClient, kill_leftover
from runner import run_bench

sys.path.insert(0, str(REPO))  # the test camera and RTMP server are the tests' own (tests/support)
from tests.support.rtmp_server import RtmpServer  # noqa: E402
from tests.support.rtsp_camera import Mount, RtspCameraServer  # noqa: E402

MOUNT = Mount(path="/bench-h264", codec="h264", width=1280, height=720, fps=25, bitrate_kbps=2000, gop_seconds=2.0)
KELURAHAN = "31.71.01.1001"


class FfmpegPush(StreamClient):
    label = "ffmpeg -c copy -f flv"

    def __init__(self, url: str, workdir: Path, name: str, destination: str):
        super().__init__(url, workdir, name, [
            FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-stats_period", "2", "-progress",
            str(workdir / f"{name}.progress"), "-rtsp_transport", "tcp", "-i", url, "-c", "copy", "-an", "-f", "flv", destination])


def admin(node: PantauNode, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(node.base_url + path, data=json.dumps(body).encode() if body is not None else None,
                                     method=method, headers={"Authorization": f"Bearer {node.admin_token}",
                                                             "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def statuses(node: PantauNode) -> dict[str, dict]:
    return {c["id"]: c["status"] for c in admin(node, "GET", "/api/admin/cameras?limit=100")["cameras"]}


async def wait_until(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise BenchError(f"{what} not within {timeout_s:.0f} s")
        await asyncio.sleep(0.5)


def pushers(node: PantauNode) -> list[psutil.Process]:
    """The node's running pusher processes (one that is exiting counts as gone)."""
    found = []
    for child in psutil.Process(node.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "outputs.restream.flv_pusher" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


async def restream_window(node: PantauNode, ids: list[str], rtmp: RtmpServer, args) -> tuple[float, float, float]:
    """(node + pushers, pushers alone) CPU-s per minute while restreaming all cameras, and the
    RSS of one pusher (MB)."""
    for camera_id in ids:
        admin(node, "PATCH", f"/api/admin/cameras/{camera_id}", {"restream_url": rtmp.url, "restream_key": f"pantau-{camera_id}"})
    await wait_until(lambda: all((s.get("restream") or {}).get("state") == "live" for s in statuses(node).values())
                     and len(pushers(node)) == len(ids), 60, "every restream live")
    await asyncio.sleep(args.settle)
    before = {cid: s["restream"]["since"] for cid, s in statuses(node).items()}
    children = pushers(node)
    if len(children) != len(ids):
        raise BenchError(f"{len(children)} pusher processes for {len(ids)} restreams")
    window = await measure_window({"node": [psutil.Process(node.pid)], "pushers": children}, args.window)
    after = {cid: s["restream"] for cid, s in statuses(node).items()}
    if any(a["state"] != "live" or a["since"] != before[cid] for cid, a in after.items()):
        raise BenchError(f"a restream was not live for the whole window: {after}")
    for camera_id in ids:
        admin(node, "PATCH", f"/api/admin/cameras/{camera_id}", {"restream_url": None, "restream_key": None})
    await wait_until(lambda: not pushers(node), 30, "the pushers stopping")
    return (window.cpu_s_per_minute("node") + window.cpu_s_per_minute("pushers"), window.cpu_s_per_minute("pushers"),
            window.usage["pushers"].rss_mb / len(children))


async def ffmpeg_window(node: PantauNode, camera: RtspCameraServer, rtmp: RtmpServer, count: int, workdir: Path,
                        round_index: int, args) -> tuple[float, float, float]:
    """(node, ffmpeg's) CPU-s per minute with N ffmpeg pushes beside an ingesting node, and the
    slowest ffmpeg's frames per second (a loaded machine can slow the test camera itself)."""
    clients = [FfmpegPush(camera.url(MOUNT), workdir, f"ffmpeg-{round_index}-{n}", f"{rtmp.url}/ffmpeg-{n}") for n in range(count)]
    try:
        for client in clients:
            client.start()
        await wait_until(lambda: all(c.frames() > 0 for c in clients), 30, "every ffmpeg writing frames")
        await asyncio.sleep(args.settle)
        frames = [c.frames() for c in clients]
        window = await measure_window({"node": [psutil.Process(node.pid)], "ffmpeg": [psutil.Process(c.pid) for c in clients]},
                                      args.window)
        for client in clients:
            client.check_running()
        await asyncio.sleep(2.5)  # the next progress report
        slowest = min(c.frames() - f for c, f in zip(clients, frames)) / (window.seconds + 2.5)
        return window.cpu_s_per_minute("node"), window.cpu_s_per_minute("ffmpeg"), slowest
    finally:
        for client in clients:
            client.stop()


async def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="pantau-bench-restream-"))
    camera = RtspCameraServer([MOUNT], log_dir=workdir / "camera").start()
    rtmp = RtmpServer(workdir / "rtmp").start()
    node = PantauNode(workdir / "node", "adm-" + secrets.token_urlsafe(12), [])
    redis_pid = None
    try:
        node.start()
        redis_pid = node.embedded_redis()[0]
        ids = [admin(node, "POST", "/api/admin/cameras", {"kind": "tps", "region": KELURAHAN, "tps": n + 1,
                                                          "source": camera.url(MOUNT)})["id"] for n in range(args.cameras)]
        await wait_until(lambda: all(s["state"] == "online" for s in statuses(node).values()), 60, "every camera online")
        pantau, pusher_share, pusher_rss, node_alone, ffmpeg, ffmpeg_fps = [], [], [], [], [], []
        for round_index in range(args.rounds):
            for side in "ABBA":
                if side == "A":
                    total, pushing, rss = await restream_window(node, ids, rtmp, args)
                    pantau.append(total)
                    pusher_share.append(pushing)
                    pusher_rss.append(rss)
                else:
                    alone, pushing, fps = await ffmpeg_window(node, camera, rtmp, args.cameras, workdir, round_index, args)
                    node_alone.append(alone)
                    ffmpeg.append(pushing)
                    ffmpeg_fps.append(fps)
                print(f"  round {round_index + 1} {side}: done", file=sys.stderr)
        baseline = statistics.median(node_alone)
        return {"cameras": args.cameras, "windows": len(pantau), "window_s": args.window,
                "pantau_added": [(t - baseline) / args.cameras for t in pantau],
                "pushers": [p / args.cameras for p in pusher_share], "pusher_rss_mb": pusher_rss,
                "ffmpeg": [f / args.cameras for f in ffmpeg], "ffmpeg_fps": ffmpeg_fps, "node_ingest_only": [n / args.cameras for n in node_alone]}
    finally:
        node.stop()
        if redis_pid:
            kill_leftover(redis_pid)
        rtmp.stop()
        camera.stop()


def report(results: dict) -> str:
    med = {k: statistics.median(v) for k, v in results.items() if isinstance(v, list)}
    ffmpeg_version = subprocess.run([FFMPEG, "-version"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    lines = [
        f"Restream benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {psutil.cpu_count()} cores; "
        f"{results['cameras']} cameras of one 720p25 H.264 2 Mbps mount, {results['windows']} windows of "
        f"{results['window_s']:g} s per side (ABBA); {ffmpeg_version}",
        "",
        "| CPU-s per camera-minute (median) | value | windows |",
        "| --- | --- | --- |",
        f"| Pantau restream, added to ingest (node + pusher - node ingesting only) | {med['pantau_added']:.2f} | "
        f"{', '.join(f'{v:.2f}' for v in results['pantau_added'])} |",
        f"| of which the pusher process | {med['pushers']:.2f} | {', '.join(f'{v:.2f}' for v in results['pushers'])} |",
        f"| `ffmpeg -c copy -f flv` (its own RTSP pull included) | {med['ffmpeg']:.2f} | "
        f"{', '.join(f'{v:.2f}' for v in results['ffmpeg'])} |",
        f"| Pantau node ingesting only (for scale) | {med['node_ingest_only']:.2f} | "
        f"{', '.join(f'{v:.2f}' for v in results['node_ingest_only'])} |",
        "",
        f"Pantau's restream / ffmpeg: {med['pantau_added'] / med['ffmpeg']:.2f}x; one pusher process: "
        f"{med['pusher_rss_mb']:.0f} MB RSS (median); slowest ffmpeg push per window "
        f"{', '.join(f'{v:.1f}' for v in results['ffmpeg_fps'])} fps (the camera sends {MOUNT.fps})",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured per window")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds to wait before a window")
    parser.add_argument("--quick", action="store_true", help="2 cameras, 1 round, 8 s windows")
    parser.add_argument("--timeout", type=float, default=1200.0)
    args = parser.parse_args()
    if args.quick:
        args.cameras, args.rounds, args.window, args.settle = 2, 1, 8.0, 2.0

    async def bench(args):
        results = await run(args)
        print(report(results))
        return results

    return run_bench("bench/restream.py", bench, args, failed=lambda results: False)


if __name__ == "__main__":
    sys.exit(main())
