"""What a camera's sound costs ingest (issue 20): the audio path of `ingest/audio_pipeline.py`
on one minute of a camera's AAC, beside `ffmpeg -c:a libopus` doing the same encode.

    .venv/bin/python bench/audio_cost.py            # 60 s of sound, 5 rounds of each side (~2 min)
    .venv/bin/python bench/audio_cost.py --quick    # 10 s of sound, 2 rounds: a smoke test
    .venv/bin/python bench/audio_cost.py --frame-ms 20,40,60  # Pantau listened to at each packet size too

The sound: a minute of 48 kHz mono AAC (64 kbit/s, as the test cameras send it) made once with
PyAV from a 440 Hz sine under noise, kept as ADTS in memory and in a file. Each round, in
alternating order (ABBA: the machine is shared and drifts):
- Pantau, listened to: `AudioPipeline.feed` over every packet (AAC passed through with its ADTS
  header, the decode for the level meter, the cut into 48 kHz mono frames and the one Opus
  encode: libopus through ctypes, ingest/opus_encoder.py), publishing on an in-process bus
  where one reader takes the Opus; CPU time of this process (`time.process_time`). With
  `--frame-ms`, one such side per Opus packet size (the pipeline's own is 60 ms).
- Pantau, nobody listening: the same with no Opus reader (the encode is skipped: what most
  cameras cost most of the time).
- Pantau without Opus (the level meter and the pass-through only: what an Opus camera costs).
- libopus alone: the same encoder (ingest/opus_encoder.py) in a bare loop over the decoded
  sound, cut beforehand: what the encode would cost without anything around it.
- ffmpeg: `ffmpeg -i sound.aac -c:a libopus -b:a 32k` with Pantau's encoder options
  (`OPUS_OPTIONS`: `-application lowdelay -frame_duration 60 -compression_level 0 -cutoff 8000`)
  `-f null -`, its user + system CPU (the same decode and encode, plus its process start).
Figures: CPU-s per camera-minute (median of the rounds) and Pantau / ffmpeg. The goal: the
Opus encode at most 0.1 CPU-s per camera-minute. Results: bench/results/audio-cost.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import ingest.audio_pipeline as audio_pipeline  # noqa: E402
from ingest.audio_pipeline import OPUS_OPTIONS, AudioPipeline  # noqa: E402
from pantau.bus.memory_bus import InProcessBus  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
FFMPEG = "/usr/bin/ffmpeg"
GOAL_CPU_S_PER_CAMERA_MINUTE = 0.1
RATE = 48_000


class _Status:
    """The status reporter's one method, without Redis."""

    def report(self, camera_id: str, **fields) -> None:
        pass


def camera_sound(seconds: int) -> bytes:
    """`seconds` of 48 kHz mono AAC as ADTS: a 440 Hz sine under a little noise (a room)."""
    out = io.BytesIO()
    with av.open(out, "w", format="adts") as container:
        stream = container.add_stream("aac", rate=RATE, layout="mono")
        stream.bit_rate = 64_000
        rng = np.random.default_rng(1)
        for n in range(seconds * RATE // 1024):
            t = (np.arange(1024) + n * 1024) / RATE
            samples = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.02 * rng.standard_normal(1024)
            frame = av.AudioFrame.from_ndarray(samples.astype(np.float32).reshape(1, -1), format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = RATE, n * 1024, Fraction(1, RATE)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def pantau_cpu_s(path: Path, opus: bool, listened: bool = True, frame_ms: int | None = None) -> float:
    own_frame = audio_pipeline.OPUS_FRAME
    audio_pipeline.OPUS_FRAME = 48 * frame_ms if frame_ms else own_frame  # read by each new encoder
    try:
        return _pantau_cpu_s(path, opus, listened)
    finally:
        audio_pipeline.OPUS_FRAME = own_frame


def _pantau_cpu_s(path: Path, opus: bool, listened: bool) -> float:
    async def run() -> float:  # a bus subscription belongs to an event loop
        bus = InProcessBus()
        listener = bus.subscribe("bench", tracks=("opus",)) if listened else None
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            packets = [p for p in container.demux(stream) if p.size]
            pipeline = AudioPipeline("bench", bus, _Status(), lambda: 1)
            pipeline.start_session(stream)
            if not opus:
                pipeline._encoder = None  # the level meter and the pass-through only
            start = time.process_time()
            for packet in packets:
                pipeline.feed(packet, 0.0)
            spent = time.process_time() - start
            pipeline.end_session()
        if listener is not None:
            listener.close()
        return spent

    return asyncio.run(run())


def libopus_alone_cpu_s(path: Path) -> float:
    with av.open(str(path)) as container:
        sound = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]).astype(np.float32)
    encoder = AudioPipeline._new_opus_encoder()
    size = encoder.frame_samples
    frames = [np.ascontiguousarray(sound[start:start + size]) for start in range(0, len(sound) - size + 1, size)]
    start = time.process_time()
    for frame in frames:
        encoder.encode(frame)
    spent = time.process_time() - start
    encoder.close()
    return spent


def ffmpeg_cpu_s(path: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    options = [item for key, value in OPUS_OPTIONS.items() for item in (f"-{key}", value)]
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-i", str(path), "-c:a", "libopus", "-b:a", "32k",
                    *options, "-f", "null", "-"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _load(averages: tuple[float, float, float]) -> str:
    return "/".join(f"{value:.2f}" for value in averages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--frame-ms", default="", help="Opus packet sizes to measure Pantau at too, e.g. 20,40,60")
    args = parser.parse_args()
    seconds = args.seconds or (10 if args.quick else 60)
    rounds = args.rounds or (2 if args.quick else 5)
    per_minute = 60 / seconds
    sides = {"pantau": lambda p: pantau_cpu_s(p, True), "pantau, nobody listening": lambda p: pantau_cpu_s(p, True, False),
             "pantau, no opus": lambda p: pantau_cpu_s(p, False), "libopus alone": libopus_alone_cpu_s,
             "ffmpeg": ffmpeg_cpu_s}
    for frame_ms in [int(ms) for ms in args.frame_ms.split(",") if ms]:
        sides[f"pantau, {frame_ms} ms packets"] = lambda p, ms=frame_ms: pantau_cpu_s(p, True, frame_ms=ms)
    samples: dict[str, list[float]] = {name: [] for name in sides}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sound.aac"
        path.write_bytes(camera_sound(seconds))
        order = list(sides)
        for round_ in range(rounds):
            for name in order if round_ % 2 == 0 else order[::-1]:  # ABBA
                samples[name].append(sides[name](path) * per_minute)
    median = {name: statistics.median(values) for name, values in samples.items()}
    encode = median["pantau"] - median["pantau, no opus"]
    lines = [
        "# Audio cost benchmark", "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. {seconds} s of 48 kHz mono AAC (64 kbit/s), {rounds} rounds per side, "
        f"alternating; CPU-s per camera-minute, median. Load average (1, 5, 15 min) before {_load(load_before)}, "
        f"after {_load(os.getloadavg())}.", "",
        "| side | CPU-s / camera-minute | rounds |", "|---|---:|---|",
        *[f"| {name} | {median[name]:.4f} | {', '.join(f'{v:.4f}' for v in samples[name])} |" for name in sides], "",
        f"Pantau / ffmpeg: {median['pantau'] / median['ffmpeg']:.2f}x. The Opus encode alone (with - without): "
        f"{encode:.4f} CPU-s per camera-minute, goal <= {GOAL_CPU_S_PER_CAMERA_MINUTE}: "
        f"{'PASS' if encode <= GOAL_CPU_S_PER_CAMERA_MINUTE else 'MISS'} while someone listens; "
        f"{median['pantau, nobody listening'] - median['pantau, no opus']:.4f} while nobody does; "
        f"libopus alone {median['libopus alone']:.4f}.",
        *[f"The encode with {name.split(', ')[1]}: {median[name] - median['pantau, no opus']:.4f}."
          for name in sides if name.endswith(" ms packets")],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / ("audio-cost-quick.md" if args.quick else "audio-cost.md")).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
