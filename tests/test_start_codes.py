"""Finding the NAL units of an Annex-B picture (pantau/media/start_codes.py), in C (the compiled
extension setup.py builds) and in Python (the `re` scan used without it): the same bounds on real
libx264 pictures (one slice and four), on hand-made edge cases and on random bytes; the fMP4
segmenter writes the same bytes with either, and FFmpeg decodes every picture of them."""

from __future__ import annotations

import io
import random
from fractions import Fraction

import av
import numpy as np
import pytest

from pantau.bus.stream_bus import CLOCK_RATE, MediaPacket, TimedPacket
from pantau.media import fmp4_segmenter, start_codes
from pantau.media.fmp4_segmenter import Fmp4Segmenter

FPS = 25


def x264_pictures(count: int, slices: int) -> list[bytes]:
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.time_base, encoder.framerate = Fraction(1, FPS), FPS
    encoder.options = {"tune": "zerolatency", "preset": "ultrafast",
                       "x264-params": f"keyint=25:repeat-headers=1:bframes=0:threads=1:slices={slices}"}
    rng = np.random.default_rng(slices)
    out = []
    for index in range(count):
        frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), format="rgb24")
        frame.pts = index
        out += [bytes(packet) for packet in encoder.encode(frame)]
    return out + [bytes(packet) for packet in encoder.encode(None)]


@pytest.fixture(scope="module")
def native():
    if start_codes.native_unit_bounds is None:
        pytest.fail("pantau.media._start_codes is not built: install a C compiler (Debian: build-essential python3-dev) "
                    "and run `.venv/bin/pip install -e .`")
    return start_codes.native_unit_bounds


EDGES = [
    b"", b"\x00", b"\x00\x00\x01", b"\x00\x00\x00\x01", b"\x00\x00\x01\x65", b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x68",
    b"\x09\x10\x00\x00\x01\x41\x00\x00", b"\x00\x00\x01\x41\x00\x00\x00\x00\x00\x00\x01\x41\x02\x00\x00\x01",
    b"\x00\x00\x01\x00\x00\x01\x00\x00\x01", b"\x00\x00\x01\x41\x00\x00\x03\x01\x00\x00\x01\x42",
    b"\x41\x42\x43", b"\x01\x01\x00\x01\x00\x00\x01\x07\x00\x00",
]


def test_the_c_and_python_scans_find_the_same_units(native):
    pictures = x264_pictures(30, 1) + x264_pictures(30, 4)
    assert any(len(start_codes.python_unit_bounds(p)) >= 2 * 7 for p in pictures)  # a keyframe of 4 slices, SPS, PPS, SEI
    many = b"".join(b"\x00\x00\x01\x09\xf0" for _ in range(100))  # more units than the first room for them
    rng = random.Random(7)
    noise = [bytes(rng.choice((0, 0, 0, 1, 3, 0x41, 0xFF)) for _ in range(rng.randrange(60))) for _ in range(5000)]
    for data in pictures + EDGES + [many] + noise:
        assert native(data) == start_codes.python_unit_bounds(data), data[:40]
    assert native(b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x68") == [4, 6, 10, 11]
    assert len(native(many)) == 200


def segments(pictures: list[bytes]) -> list[bytes]:
    segmenter = Fmp4Segmenter(0.2, 1.0)
    chunks = []
    for index, data in enumerate(pictures):
        dts = index * CLOCK_RATE // FPS
        packet = MediaPacket(data, dts, dts, Fraction(1, CLOCK_RATE), data.find(b"\x00\x00\x01\x65") >= 0, 1, dts / CLOCK_RATE)
        chunks += segmenter.feed(TimedPacket(packet, dts, dts))
    chunks += segmenter.finish()
    return [chunk.init + chunk.data if chunk.new_segment else chunk.data for chunk in chunks]


@pytest.mark.parametrize("slices", [1, 4])
def test_the_segmenter_writes_the_same_bytes_with_either_scan_and_ffmpeg_decodes_them(native, monkeypatch, slices):
    pictures = x264_pictures(60, slices)
    monkeypatch.setattr(fmp4_segmenter, "unit_bounds", native)
    with_c = segments(pictures)
    monkeypatch.setattr(fmp4_segmenter, "unit_bounds", start_codes.python_unit_bounds)
    assert segments(pictures) == with_c
    with av.open(io.BytesIO(b"".join(with_c)), format="mp4") as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == len(pictures)
