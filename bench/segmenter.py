"""Benchmark of the fMP4 segmenter (one mux, two outputs: LL-HLS parts and recorded segments):
its CPU per packet against PyAV's mp4 muxer packaging the same packets the same way.

    .venv/bin/python bench/segmenter.py            # 60 s of 720p25 2 Mbit/s video, 5 rounds ABBA (~1 min)
    .venv/bin/python bench/segmenter.py --quick    # 20 s, 2 rounds: a smoke test

The packets are made once, in process: libx264 (zerolatency, no B-frames, 2 s GOP, CBR 2 Mbit/s,
SPS/PPS before every keyframe, Annex-B as the bus carries them) over a moving noisy picture,
and an AAC 440 Hz sine with its ADTS headers, as a camera with sound sends. Then, alternating
A B B A, each side packages all of them into fragments: A is Pantau's segmenter
(pantau/media/fmp4_segmenter.py, boxes written by hand), B is PyAV's mp4 muxer with the flags
the segmenter used before (`empty_moov+default_base_moof+frag_discont+...`, one muxer per
segment, `frag_duration` for parts) over the same packets, the baseline. Two shapes: recording
(one fragment per 10 s segment) and LL-HLS (0.2 s parts in 1 s segments), each with and without
sound. Reported: µs of CPU (process time) per video packet, median of the rounds, and the
ratio; CPU-s per camera-minute at 25 fps. Then the start-code scan alone (pantau/media/start_codes.py):
the compiled extension against the `re` scan used without it. Exit code non-zero only when
something broke.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from camera_set import REPO
from runner import run_bench

sys.path.insert(0, str(REPO))
from ingest.h264 import NAL_PPS, NAL_SPS, join_annexb, nal_type, split_annexb  # noqa: E402
from pantau.bus.stream_bus import CLOCK_RATE, VIDEO, MediaPacket, TimedPacket  # noqa: E402
from pantau.media.audio_config import adts_header, split_adts  # noqa: E402
from pantau.media.fmp4_segmenter import Fmp4Segmenter  # noqa: E402
from pantau.media.start_codes import native_unit_bounds, python_unit_bounds  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "segmenter.json"
CLOCK = Fraction(1, CLOCK_RATE)
FPS = 25
SHAPES = {"recording": (600.0, 10.0), "ll-hls": (0.2, 1.0)}  # part target, segment target (s)
MOVFLAGS = "empty_moov+default_base_moof+frag_discont+negative_cts_offsets+skip_trailer"


def camera_packets(seconds: float, sound: bool) -> list[TimedPacket]:
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 1280, 720, "yuv420p"
    encoder.time_base, encoder.framerate, encoder.bit_rate = Fraction(1, FPS), FPS, 2_000_000
    encoder.options = {"tune": "zerolatency", "preset": "ultrafast",
                       "x264-params": "keyint=50:min-keyint=50:repeat-headers=1:bframes=0:vbv-maxrate=2000:vbv-bufsize=2000"}
    rng = np.random.default_rng(1)
    background = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    packets = []
    for index in range(int(seconds * FPS)):
        picture = np.roll(background, index * 4, axis=1)
        picture[200:400, 300:600] = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = index
        for packet in encoder.encode(frame):
            dts = packet.dts * CLOCK_RATE // FPS
            packets.append(TimedPacket(MediaPacket(bytes(packet), dts, dts, CLOCK, packet.is_keyframe, 1, dts / CLOCK_RATE),
                                       dts, dts))
    if sound:
        packets = sorted(packets + sine_packets(seconds), key=lambda p: p.dts)
    return packets


def sine_packets(seconds: float, rate: int = 48_000) -> list[TimedPacket]:
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate, encoder.layout, encoder.format = rate, "mono", "fltp"
    encoder.open()
    packets, t = [], np.arange(1024) / rate
    for index in range(int(seconds * rate / 1024)):
        samples = (0.3 * np.sin(2 * np.pi * 440 * (t + index * 1024 / rate))).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, index * 1024
        for packet in encoder.encode(frame):
            dts = index * 1024 * CLOCK_RATE // rate
            data = adts_header(bytes(encoder.extradata), packet.size) + bytes(packet)
            packets.append(TimedPacket(MediaPacket(data, dts, dts, CLOCK, False, 1, dts / CLOCK_RATE, "aac"), dts, dts))
    return packets


def pantau_side(packets: list[TimedPacket], part_s: float, segment_s: float, sound: bool) -> int:
    segmenter = Fmp4Segmenter(part_s, segment_s, audio=sound)
    size = 0
    for timed in packets:
        size += sum(len(c.data) for c in segmenter.feed(timed))
    return size + sum(len(c.data) for c in segmenter.finish())


def pyav_side(packets: list[TimedPacket], part_s: float, segment_s: float, sound: bool) -> int:
    """PyAV's mp4 muxer the way the segmenter used it: a muxer per segment into memory."""
    size, out, segment_start, buffer = 0, None, 0, io.BytesIO()
    for timed in packets:
        packet = timed.packet
        if packet.track == VIDEO and packet.keyframe and (out is None or timed.dts - segment_start >= segment_s * CLOCK_RATE):
            if out is not None:
                out.close()
                size += buffer.tell()
            buffer, segment_start = io.BytesIO(), timed.dts
            out = av.open(buffer, mode="w", format="mp4", options={
                "movflags": MOVFLAGS, "frag_duration": str(round(part_s * 1e6)), "video_track_timescale": str(CLOCK_RATE)})
            video = out.add_stream("h264")
            video.width, video.height, video.time_base = 1280, 720, CLOCK
            video.codec_context.extradata = join_annexb([u for u in split_annexb(packet.data) if nal_type(u) in (NAL_SPS, NAL_PPS)])
            audio = None
            if sound:
                config, _, rate = split_adts(next(p for p in packets if p.packet.track == "aac").packet.data)
                audio = out.add_stream("aac", rate=rate)
                audio.codec_context.extradata, audio.layout, audio.time_base = config, "mono", Fraction(1, rate)
        if out is None:
            continue
        if packet.track == VIDEO:
            muxed = av.Packet(packet.data)
            muxed.stream, muxed.is_keyframe = video, packet.keyframe
        else:
            muxed = av.Packet(split_adts(packet.data)[1])
            muxed.stream, muxed.duration = audio, 1920
        muxed.dts = muxed.pts = timed.dts
        muxed.time_base = CLOCK
        out.mux(muxed)
    out.close()
    return size + buffer.tell()


def cpu_us_per_picture(side, packets: list[TimedPacket], shape: tuple[float, float], sound: bool) -> float:
    pictures = sum(1 for p in packets if p.packet.track == VIDEO)
    started = time.process_time()
    side(packets, *shape, sound)
    return (time.process_time() - started) / pictures * 1e6


def start_code_scans(packets: list[TimedPacket], rounds: int) -> dict:
    """µs of CPU per picture finding its NAL units (pantau/media/start_codes.py): the compiled
    extension against the `re` scan used without it, A B B A, medians."""
    if native_unit_bounds is None:
        return {"c": None, "note": "pantau.media._start_codes is not built"}
    pictures = [timed.packet.data for timed in packets]
    sides: dict[str, list[float]] = {"c": [], "re": []}
    for _ in range(rounds):
        for side in ("c", "re", "re", "c"):
            scan = native_unit_bounds if side == "c" else python_unit_bounds
            started = time.process_time()
            for _ in range(10):
                for data in pictures:
                    scan(data)
            sides[side].append((time.process_time() - started) / (10 * len(pictures)) * 1e6)
    c, python = statistics.median(sides["c"]), statistics.median(sides["re"])
    return {"c_us_per_picture": round(c, 2), "re_us_per_picture": round(python, 2), "c_over_re": round(c / python, 2),
            "picture_bytes_mean": round(statistics.mean(map(len, pictures)))}


async def run(args: argparse.Namespace) -> dict:
    results = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "seconds": args.seconds, "rounds": args.rounds}
    for sound in (False, True):
        packets = camera_packets(args.seconds, sound)
        for name, shape in SHAPES.items():
            sides: dict[str, list[float]] = {"pantau": [], "pyav": []}
            for _ in range(args.rounds):
                for side in ("pantau", "pyav", "pyav", "pantau"):
                    sides[side].append(cpu_us_per_picture(pantau_side if side == "pantau" else pyav_side, packets, shape, sound))
                await asyncio.sleep(0)
            pantau, pyav = statistics.median(sides["pantau"]), statistics.median(sides["pyav"])
            key = f"{name}{' + aac' if sound else ''}"
            results[key] = {"pantau_us_per_picture": round(pantau, 1), "pyav_us_per_picture": round(pyav, 1),
                            "pantau_over_pyav": round(pantau / pyav, 2),
                            "pantau_cpu_s_per_camera_minute": round(pantau * FPS * 60 / 1e6, 4),
                            "pyav_cpu_s_per_camera_minute": round(pyav * FPS * 60 / 1e6, 4)}
            print(key, results[key], flush=True)
    results["start codes"] = start_code_scans(camera_packets(args.seconds, False), args.rounds)
    print("start codes", results["start codes"], flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    args.seconds, args.rounds = (20.0, 2) if args.quick else (60.0, 5)
    return run_bench("bench/segmenter.py", run, args, failed=lambda results: False)


if __name__ == "__main__":
    sys.exit(main())
