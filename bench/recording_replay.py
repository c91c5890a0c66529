"""Benchmark of the recorder alone (issue 18), in one process, where little else moves the figure:
what recording costs per camera-minute, split by thread and into user and kernel time.

    .venv/bin/python bench/recording_replay.py              # 4 cameras, ABBA twice, 60 s windows (~9 min)
    .venv/bin/python bench/recording_replay.py --quick      # 2 cameras, ABBA once, 20 s windows
    .venv/bin/python bench/recording_replay.py --tight-loop # Recorder.tick alone, no real time (~1 min)

bench/recording.py measures recording beside a whole node's ingest (RTSP, demux, health, HTTP),
whose own CPU moves more from window to window than recording costs. Here the packets are
made once (bench/segmenter.py's libx264 720p25 2 Mbit/s, 2 s GOP, Annex-B as the bus carries
them) and a thread publishes them onto the in-process bus in real time for N cameras, as ingest
would; windows alternate A (recording off) and B (on: `Recorders.follow`, the node's own code,
writing to a temp directory on this machine's disk with its fsyncs) as A B B A. Reported, as the
median B minus the median A over N cameras: the process's user and system CPU, and the CPU of the
event loop's thread, the publisher's (the bus handing packets to one more subscriber) and the
recordings' writer threads. Then the CPU of a retention check on a chain of a day of segments
(`--retention-segments`), against reading the whole chain as every check did before the cursor
(outputs/recording/chain_cursor.py). Exit code non-zero only when something broke.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from camera_set import REPO
from runner import run_bench
from segmenter import camera_packets

sys.path.insert(0, str(REPO))
from outputs.recording import writer_threads  # noqa: E402
from outputs.recording.chain import CHAIN_FILE, GENESIS, CameraChain, hash_of, iso, line_of, read_entries  # noqa: E402
from outputs.recording.recorder import Recorder  # noqa: E402
from outputs.recording.recorders import Recorders  # noqa: E402
from outputs.recording.retention import present_segments  # noqa: E402
from outputs.recording.segment_files import remove_unrecorded  # noqa: E402
from outputs.recording.site_key import SiteKey  # noqa: E402
from pantau.bus.memory_bus import InProcessBus  # noqa: E402
from pantau.bus.stream_bus import CLOCK_RATE, MediaPacket  # noqa: E402
from pantau.runtime.config import RecordingSettings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "recording_replay.json"
FPS = 25
GOAL_CPU_S = 0.05
DEFAULTS = {"cameras": 4, "window": 60.0, "rounds": 2}
QUICK = {"cameras": 2, "window": 20.0, "rounds": 1}


def publish(bus: InProcessBus, cameras: list[str], packets: list[MediaPacket], stop: threading.Event) -> None:
    """Every camera gets the next picture every 1/FPS s; the clip repeats with time moving on."""
    clip = len(packets) * CLOCK_RATE // FPS
    started, index = time.monotonic(), 0
    while not stop.is_set():
        packet = packets[index % len(packets)]
        shift, now = index // len(packets) * clip, time.time()
        for camera_id in cameras:
            bus.publish(camera_id, MediaPacket(packet.data, packet.pts + shift, packet.dts + shift, packet.time_base,
                                               packet.keyframe, 1, now))
        index += 1
        time.sleep(max(0.0, started + index / FPS - time.monotonic()))


def thread_cpu_s(publisher: threading.Thread) -> dict[str, float]:
    def of(thread: threading.Thread | None) -> float:
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident)) if thread and thread.ident else 0.0
    return {"event loop": time.thread_time(), "publisher": of(publisher),
            "writer threads": sum(of(writer._thread) for writer in writer_threads._THREADS)}


def process_cpu_s() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"user": usage.ru_utime, "kernel": usage.ru_stime}


async def run(args: argparse.Namespace) -> dict:
    packets = [timed.packet for timed in camera_packets(20.0, False)]
    work = Path(tempfile.mkdtemp(prefix="bench-recording-replay-"))
    bus = InProcessBus()
    cameras = [f"cam{index}" for index in range(args.cameras)]
    stop = threading.Event()
    publisher = threading.Thread(target=publish, args=(bus, cameras, packets, stop), name="publisher", daemon=True)
    publisher.start()
    recorders = Recorders(bus, RecordingSettings(), work / "recordings", SiteKey.load_or_create(work / "key.pem"), None)
    # A: recording off; one B side per writer-thread tick length, in the order A B.. ..B A per round.
    sides = ["A", *(f"B {tick:g} s" for tick in args.ticks)]
    windows: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    load = [round(x, 2) for x in os.getloadavg()]
    try:
        await asyncio.sleep(2)
        for side in (sides + sides[::-1]) * args.rounds:
            recorders.follow(cameras if side != "A" else [])
            if side != "A":
                for writer in writer_threads._THREADS:
                    writer.tick_s = args.ticks[sides.index(side) - 1]
            await asyncio.sleep(2)  # recorders started (or stopped) and past their first GOP
            before, threads_before, started = process_cpu_s(), thread_cpu_s(publisher), time.monotonic()
            await asyncio.sleep(args.window)
            after, threads_after, minutes = process_cpu_s(), thread_cpu_s(publisher), (time.monotonic() - started) / 60
            window = {key: (after[key] - before[key]) / minutes for key in after}
            window |= {key: (threads_after[key] - threads_before[key]) / minutes for key in threads_after}
            windows[side].append(window)
            print(f"  {side}: " + ", ".join(f"{key} {value:.3f}" for key, value in window.items()) + " CPU-s/min", flush=True)
        load += [round(x, 2) for x in os.getloadavg()]
    finally:
        recorders.follow([])
        await recorders.stop()
        stop.set()
        shutil.rmtree(work, ignore_errors=True)

    def added(key: str, side: str) -> float:
        return (statistics.median(w[key] for w in windows[side]) - statistics.median(w[key] for w in windows["A"])) / args.cameras

    per_tick = {side: {"recording_cpu_s_per_camera_minute": round(added("user", side) + added("kernel", side), 4),
                       "per_camera_minute": {key: round(added(key, side), 4) for key in windows["A"][0]}}
                for side in sides[1:]}
    retention = await retention_checks(args.retention_segments)
    print("retention:", retention, flush=True)
    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cameras": args.cameras, "window_s": args.window,
        "rounds": args.rounds, "writer_tick_s": args.ticks[0], **per_tick[sides[1]], "goal_cpu_s": GOAL_CPU_S,
        **({"other_ticks": {side: per_tick[side] for side in sides[2:]}} if len(sides) > 2 else {}),
        "process_cpu_s_per_min_recording_off": round(statistics.median(w["user"] + w["kernel"] for w in windows["A"]), 3),
        "load_average_1_5_15_before_after": load, "retention_check": retention,
    }
    print(json.dumps(results, indent=1))
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    return results


def chain_of(root: Path, camera_id: str, count: int) -> None:
    """A chain of `count` 10 s segments ending now, with empty files (retention's reading is measured)."""
    (root / camera_id / "segments" / "x").mkdir(parents=True)
    previous, lines, first = GENESIS, [], time.time() - 10 * count
    for seq in range(count):
        line = line_of({"bytes": 2_500_000, "camera": camera_id, "end": iso(first + 10 * seq + 10), "file": f"segments/x/{seq}.mp4",
                        "init_bytes": 800, "kind": "segment", "prev": previous, "seq": seq, "sha256": "0" * 64,
                        "start": iso(first + 10 * seq)})
        previous = hash_of(line)
        lines.append(line)
        (root / camera_id / "segments" / "x" / f"{seq}.mp4").touch()
    (root / camera_id / CHAIN_FILE).write_bytes(b"\n".join(lines) + b"\n")


async def retention_checks(segments: int) -> dict:
    """CPU of a retention check of one camera whose chain holds `segments` (8,640: one day), nothing
    yet to delete: the first check (the cursor reads the chain once, the leftovers' clean-up walks
    the files), the next ones, and the baseline of the same run: what every check did before the
    cursor (that walk, which reads the chain, and reading and parsing the whole chain again)."""
    work = Path(tempfile.mkdtemp(prefix="bench-retention-"))
    try:
        chain_of(work / "recordings", "cam", segments)
        recorders = Recorders(InProcessBus(), RecordingSettings(budget_gb=0), work / "recordings",
                              SiteKey.load_or_create(work / "key.pem"), None)
        recorders.follow(["cam"])
        checks = []
        for _ in range(5):
            started = time.process_time()
            await recorders.enforce_retention()
            checks.append(time.process_time() - started)
        await recorders.stop()
        whole = []
        for _ in range(3):
            started = time.process_time()
            remove_unrecorded(CameraChain(work / "recordings", "cam"))
            present_segments("cam", read_entries(work / "recordings" / "cam" / CHAIN_FILE))
            whole.append(time.process_time() - started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"segments_in_chain": segments, "first_check_cpu_s": round(checks[0], 4),
            "next_checks_cpu_s_median": round(statistics.median(checks[1:]), 5),
            "before_the_cursor_cpu_s_median": round(statistics.median(whole), 4)}


async def tight_loop(args: argparse.Namespace) -> dict:
    """CPU of the recorder's own work per picture without real time: one camera's `Recorder.tick`
    on batches of 12 pictures (0.5 s) queued as fast as it takes them, into a temp directory with
    every fsync (the thread's CPU time of the ticks only). Against the replay's writer threads it
    says how much real time (caches gone cold between ticks, other threads) adds."""
    packets = [timed.packet for timed in camera_packets(20.0, False)]
    work = Path(tempfile.mkdtemp(prefix="bench-recording-tight-"))
    bus = InProcessBus()
    recorder = Recorder(bus, "cam", CameraChain(work, "cam"), SiteKey.load_or_create(work / "key.pem"), RecordingSettings())
    clip, started, spent = len(packets) * CLOCK_RATE // FPS, time.time(), []
    try:
        with bus.subscribe("cam", tracks=("video", "aac")) as subscription:
            recorder._subscription = subscription
            for index in range(args.tight_pictures + 12):
                packet = packets[index % len(packets)]
                shift = index // len(packets) * clip
                bus.publish("cam", MediaPacket(packet.data, packet.pts + shift, packet.dts + shift, packet.time_base,
                                               packet.keyframe, 1, started + index / FPS))
                if index % 12 == 11:
                    if index == 11:  # the first segment waits up to 1 s of wall time for sound (none here)
                        recorder.tick()
                        await asyncio.sleep(1.1)
                        continue
                    before = time.thread_time()
                    recorder.tick()
                    spent.append(time.thread_time() - before)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "pictures": 12 * len(spent),
               "segments": recorder.segments_written, "tick_us_per_picture": round(sum(spent) / (12 * len(spent)) * 1e6, 1),
               "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(results, indent=1))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    for name, kind in (("cameras", int), ("window", float), ("rounds", int)):
        parser.add_argument(f"--{name}", type=kind, help=f"default {DEFAULTS[name]} (--quick: {QUICK[name]})")
    parser.add_argument("--ticks", type=lambda text: [float(t) for t in text.split(",")], default=[writer_threads.TICK_S],
                        help="writer-thread tick lengths to compare, e.g. 0.5,1 (default the product's "
                             f"{writer_threads.TICK_S:g} s): one B side each, A B1 B2 B2 B1 A per round")
    parser.add_argument("--retention-segments", type=int, default=8640, help="the chain of the retention check (8,640: a day)")
    parser.add_argument("--tight-loop", action="store_true", help="only Recorder.tick in a tight loop (µs per picture)")
    parser.add_argument("--tight-pictures", type=int, default=15000)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    for name, default in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    return run_bench("bench/recording_replay.py", tight_loop if args.tight_loop else run, args, failed=lambda results: False)


if __name__ == "__main__":
    sys.exit(main())
