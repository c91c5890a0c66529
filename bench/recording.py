"""Benchmark of recordings (issue 18): what recording adds beside ingest, and `pantau verify` speed.

    .venv/bin/python bench/recording.py            # 4 cameras, ABBA with 45 s windows (~4 min)
    .venv/bin/python bench/recording.py --quick    # 2 cameras, 15 s windows: a smoke test

One GStreamer RTSP test camera (720p, 25 fps, 2 Mbit/s H.264, 2 s GOP, one shared encoder)
ingested N times by one `pantau serve` node (N camera entries on the same URL). In the same
process, windows alternate A (ingest alone: `record` off) and B (recording: `record` on, set
through the admin API between windows) as A B B A; the node's CPU per window is the difference
of its cumulative counters. Reported: recording's CPU per camera-minute (per A B B A round
(B1 + B2 - A1 - A2) / 2 / N cameras, the median of the rounds; B - A of the medians beside it;
and, apart from ingest's noise, the recorder's own threads as the node counts them in /metrics),
its disk write per camera-minute against the H.264 payload recorded (container overhead: fMP4
boxes around the camera's own bytes), then `pantau verify` over the whole recording (segments
hashed, chain and signatures checked) against hashing the same files with hashlib alone (the floor),
medians of 3 runs each, in GB/min.
Goal (issue 18): recording adds <= 0.05 CPU-s per camera-minute beside ingest; storage = the
camera's bitrate, nothing more. Exit code non-zero only when something broke.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import av
import psutil
from camera_set import REPO
from measure import measure_window
from processes import BenchError, PantauNode, stop_process
from prometheus_client.parser import text_string_to_metric_families
from runner import run_bench

sys.path.insert(0, str(REPO))
from outputs.recording.chain import read_entries  # noqa: E402
from outputs.recording.verify import verify  # noqa: E402
from tests.support.rtsp_camera import Mount, RtspCameraServer  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
STREAM = {"width": 1280, "height": 720, "fps": 25, "bitrate_kbps": 2000}
GOAL_CPU_S = 0.05


def request(node: PantauNode, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(node.base_url + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {node.admin_token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def recording_cpu_s(node: PantauNode) -> float:
    """The node's own count of recording's CPU (writer threads and chores: /metrics)."""
    req = urllib.request.Request(node.base_url + "/metrics", headers={"Authorization": f"Bearer {node.admin_token}"})
    with urllib.request.urlopen(req, timeout=30) as response:
        for family in text_string_to_metric_families(response.read().decode()):
            if family.name == "pantau_recording_cpu_seconds":
                return sum(sample.value for sample in family.samples)
    return 0.0  # nothing recorded yet: the family appears with the first recorder


def thread_cpu_s(process: psutil.Process) -> dict[int, float]:
    return {thread.id: thread.user_time + thread.system_time for thread in process.threads()}


def where_it_went(per_thread: dict[str, list[dict[int, float]]], main_tid: int, cameras: int) -> dict[str, float]:
    """CPU-s per camera-minute, median B minus median A, of: the main thread (the event loop), the
    threads alive in every window (ingest's), and the threads only B windows had (the recorder's
    writer threads, started with the first recorder and ended with the last)."""
    everywhere = set.intersection(*(set(w) for side in per_thread.values() for w in side))

    def median_of(side: str, pick) -> float:
        return statistics.median(sum(v for tid, v in window.items() if pick(tid)) for window in per_thread[side])

    parts = {"main_thread": lambda tid: tid == main_tid,
             "threads_in_every_window": lambda tid: tid in everywhere and tid != main_tid,
             "threads_only_in_b": lambda tid: tid not in everywhere}
    return {name: round((median_of("B", pick) - median_of("A", pick)) / cameras, 4) for name, pick in parts.items()}


def set_recording(node: PantauNode, cameras: list[str], on: bool) -> None:
    for camera_id in cameras:
        request(node, "PATCH", f"/api/admin/cameras/{camera_id}", {"record": on})


def recorded(root: Path) -> tuple[int, float, int]:
    """(files, seconds recorded, bytes on disk) over every camera's chain."""
    files = seconds = size = 0
    for chain in root.glob("*/chain.jsonl"):
        for entry in read_entries(chain):
            if entry.kind == "segment":
                files += 1
                seconds += entry.end - entry.start
                size += entry.fields["bytes"]
    return files, seconds, size


def payload_bytes(root: Path) -> int:
    """The H.264 bytes inside the segment files (what the camera sent)."""
    total = 0
    for path in root.rglob("*.mp4"):
        with av.open(str(path)) as container:
            total += sum(packet.size for packet in container.demux(container.streams.video[0]) if packet.size)
    return total


def hash_only(root: Path) -> None:
    for path in root.rglob("*.mp4"):
        hashlib.sha256(path.read_bytes()).hexdigest()


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


async def run(args: argparse.Namespace) -> dict:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-recording-"))
    camera = RtspCameraServer([Mount(path="/rec", gop_seconds=2, **STREAM)], log_dir=work / "camera").start()
    node = PantauNode(work / "node", "adm-" + secrets.token_urlsafe(12), [])
    try:
        node.start()
        cameras = [f"rec{i}" for i in range(args.cameras)]
        for index, camera_id in enumerate(cameras):
            request(node, "POST", "/api/admin/cameras", {"id": camera_id, "kind": "tps", "region": "31.71.01.1001",
                                                          "tps": index + 1, "source": camera.url("/rec")})
        deadline = time.monotonic() + 30
        while any(request(node, "GET", f"/api/admin/cameras/{c}")["status"]["state"] != "online" for c in cameras):
            if time.monotonic() > deadline:
                raise BenchError("cameras did not come online")
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)
        process = psutil.Process(node.pid)
        root = node.data_dir / "recordings"
        windows: dict[str, list[float]] = {"A": [], "B": []}
        kernel: dict[str, list[float]] = {"A": [], "B": []}  # the system (kernel) part, CPU-s per minute
        per_thread: dict[str, list[dict[int, float]]] = {"A": [], "B": []}  # CPU-s per minute of each thread
        threads: list[float] = []  # B windows: the recorder's own threads, as the node counts them, per camera-minute
        load = [round(x, 2) for x in os.getloadavg()]
        for side in "ABBA" * args.rounds:
            set_recording(node, cameras, side == "B")
            await asyncio.sleep(2)  # the worker follows the registry within poll_registry_s
            system_before, threads_before = process.cpu_times().system, recording_cpu_s(node)
            tids_before = thread_cpu_s(process)
            window = await measure_window({"node": [process]}, args.window)
            per_thread[side].append({tid: (cpu - tids_before.get(tid, 0.0)) / (window.seconds / 60)
                                     for tid, cpu in thread_cpu_s(process).items()})
            if side == "B":
                threads.append((recording_cpu_s(node) - threads_before) / (window.seconds / 60) / args.cameras)
            windows[side].append(window.cpu_s_per_minute("node"))
            kernel[side].append((process.cpu_times().system - system_before) / (window.seconds / 60))
            print(f"  {side}: {window.core_pct('node'):.2f} % of a core ({kernel[side][-1]:.3f} CPU-s/min kernel), "
                  f"machine {window.machine_busy_pct:.0f} % busy", flush=True)
        load += [round(x, 2) for x in os.getloadavg()]
        set_recording(node, cameras, False)
        await asyncio.sleep(args.window / 3 + 2)
    finally:
        if node.process:
            stop_process(node.process)
        camera.stop()
    files, seconds, size = recorded(root)
    payload = payload_bytes(root)
    verify_s = [timed(lambda: verify(str(root))) for _ in range(3)]
    report = verify(str(root))
    if not report.ok:
        raise BenchError(f"verify failed on an untouched recording: {report.problems[:3]}")
    hash_s = [timed(lambda: hash_only(root)) for _ in range(3)]
    cpu_a, cpu_b = statistics.median(windows["A"]), statistics.median(windows["B"])
    # Each A B B A round on its own (B1 + B2 - A1 - A2) / 2: a drift of the machine's load over a
    # round cancels out; the headline is the median of the rounds.
    rounds = [(sum(windows["B"][2 * r:2 * r + 2]) - sum(windows["A"][2 * r:2 * r + 2])) / 2 / args.cameras
              for r in range(args.rounds)]
    per_camera_minute = statistics.median(rounds)
    gb = size / 1e9
    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cameras": args.cameras, "window_s": args.window,
        "cpu_s_per_min_ingest_alone": round(cpu_a, 3), "cpu_s_per_min_recording": round(cpu_b, 3),
        "recording_cpu_s_per_camera_minute": round(per_camera_minute, 4), "goal_cpu_s": GOAL_CPU_S,
        "per_round": [round(x, 4) for x in rounds],
        # Read apart from ingest's noise: the writer threads' and chores' CPU the node itself counts
        # (not in it: the bus handing packets to one more subscriber, ~0.003 in recording_replay.py).
        "recorder_threads_cpu_s_per_camera_minute": round(statistics.median(threads), 4),
        "recorder_threads_per_window": [round(x, 4) for x in threads],
        "b_minus_a_by_thread": where_it_went(per_thread, node.pid, args.cameras),
        "b_minus_a_of_medians": round((cpu_b - cpu_a) / args.cameras, 4),
        "of_which_kernel": round((statistics.median(kernel["B"]) - statistics.median(kernel["A"])) / args.cameras, 4),
        "windows_cpu_s_per_min": {side: [round(x, 3) for x in values] for side, values in windows.items()},
        "load_average_1_5_15_before_after": load,
        # Per recorded minute (segments reach the chain a segment late, so per-window bytes would cut some off).
        "written_mb_per_camera_minute": round(size / (seconds / 60) / 1e6, 2) if seconds else None,
        "h264_mb_per_camera_minute": round(payload / (seconds / 60) / 1e6, 2) if seconds else None,
        "camera_target_mb_per_minute": round(STREAM["bitrate_kbps"] * 1000 / 8 * 60 / 1e6, 2),
        "segments": files, "seconds_recorded": round(seconds, 1), "bytes": size,
        "container_overhead_pct": round(100 * (size - payload) / size, 2) if size else None,
        "verify_gb_per_min": round(gb / (statistics.median(verify_s) / 60), 2),
        "sha256_only_gb_per_min": round(gb / (statistics.median(hash_s) / 60), 2),
    }
    print(json.dumps(results, indent=1))
    (RESULTS_DIR / ("recording-quick.json" if args.quick else "recording.json")).write_text(json.dumps(results, indent=1) + "\n")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cameras", type=int)
    parser.add_argument("--window", type=float)
    parser.add_argument("--rounds", type=int, default=1, help="ABBA repeated this often")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    args.cameras = args.cameras or (2 if args.quick else 4)
    args.window = args.window or (15.0 if args.quick else 45.0)
    return run_bench("bench/recording.py", run, args, failed=lambda results: False)


if __name__ == "__main__":
    sys.exit(main())
