"""Bitstream normalisation and picture-health measures, on real encoder output and images."""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from ingest.h264 import NAL_IDR, NAL_PPS, NAL_SPS, AnnexBNormalizer, nal_type, nal_units, parameter_sets_from_extradata
from ingest.picture.picture_health import HealthThresholds, PictureHealth
from ingest.transcoder import H264Transcoder, TranscodeSettings, output_size


def encode_h264(frames: int = 30, global_header: bool = False, width: int = 320, height: int = 240):
    """Real libx264 output; with global_header the SPS/PPS live only in extradata (avcC-less
    Annex-B extradata), as with cameras that send them only in the SDP."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "g": "10", "bf": "0"}
    if global_header:
        encoder.flags |= av.codec.context.Flags.global_header
    packets = []
    for n in range(frames):
        image = np.full((height, width, 3), 60, np.uint8)
        cv2.circle(image, (10 + n * 5, height // 2), 20, (0, 200, 255), -1)
        frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
        frame.pts = n
        packets += [bytes(p) for p in encoder.encode(frame)]
    packets += [bytes(p) for p in encoder.encode(None)]
    return packets, encoder.extradata


def test_parameter_sets_put_in_front_of_every_keyframe():
    packets, extradata = encode_h264(global_header=True)
    assert {nal_type(u) for u in nal_units(packets[0])} & {NAL_SPS, NAL_PPS} == set()  # only in extradata
    assert [nal_type(u) for u in parameter_sets_from_extradata(extradata)] == [NAL_SPS, NAL_PPS]
    normalizer = AnnexBNormalizer(extradata)
    decoder = av.CodecContext.create("h264", "r")  # no extradata: needs in-band SPS/PPS
    decoded = 0
    for data in packets:
        out, keyframe = normalizer.normalize(data)
        types = [nal_type(u) for u in nal_units(out)]
        assert keyframe == (NAL_IDR in types)
        if keyframe:
            assert types[:2] == [NAL_SPS, NAL_PPS]
        assert out.startswith(b"\x00\x00\x00\x01")
        decoded += len(decoder.decode(av.Packet(out)))
    assert decoded >= len(packets) - 1


def test_length_prefixed_units_become_annexb():
    packets, extradata = encode_h264(frames=3)
    units = nal_units(packets[0])
    avcc = b"".join(len(u).to_bytes(4, "big") + u for u in units)
    out, keyframe = AnnexBNormalizer().normalize(avcc)
    assert keyframe and nal_units(out) == units


def test_transcoder_outputs_baseline_without_b_frames():
    source = av.CodecContext.create("libx264", "w")
    source.width, source.height, source.pix_fmt, source.time_base = 640, 360, "yuv420p", Fraction(1, 25)
    source.options = {"preset": "ultrafast", "bf": "2", "g": "50"}
    decoder = av.CodecContext.create("h264", "r")
    transcoder = H264Transcoder(decoder, TranscodeSettings(max_width=320, max_height=320, max_fps=10, keyframe_s=1.0))
    outputs = []
    for n in range(75):
        frame = av.VideoFrame.from_ndarray(np.full((360, 640, 3), n * 3 % 255, np.uint8), format="bgr24").reformat(format="yuv420p")
        frame.pts = n
        for packet in source.encode(frame):
            packet.time_base = Fraction(1, 25)
            outputs += transcoder.transcode(packet)
    assert transcoder.output_size == (320, 180)
    pts = [o.pts for o in outputs]
    assert pts == sorted(pts) and min(b - a for a, b in zip(pts, pts[1:])) >= 9000  # capped at 10 fps
    keyframes = [o.pts for o in outputs if o.keyframe]
    assert len(keyframes) >= 2 and all(b - a <= 90_000 + 9000 for a, b in zip(keyframes, keyframes[1:]))
    check = av.CodecContext.create("h264", "r")
    for o in outputs:
        for frame in check.decode(av.Packet(o.data)):
            assert av.video.frame.PictureType(frame.pict_type).name in ("I", "P")
    assert check.profile in ("Constrained Baseline", "Baseline")


@pytest.mark.parametrize("size, limit, expected", [((1920, 1080), (1280, 720), (1280, 720)), ((640, 480), (1280, 720), (640, 480)),
                                                    ((1080, 1920), (1280, 720), (404, 720))])
def test_output_size_keeps_aspect_and_even_dimensions(size, limit, expected):
    assert output_size(*size, *limit) == expected


def scene(seconds: int, moving: bool = True) -> np.ndarray:
    image = np.full((720, 1280, 3), (70, 110, 150), np.uint8)
    cv2.rectangle(image, (100, 100), (600, 500), (200, 200, 200), -1)
    if moving:
        cv2.putText(image, f"12:00:{seconds:02d}", (900, 650), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
    return image


def judged(health: PictureHealth, image: np.ndarray) -> str | None:
    """The picture after `image` on the keyframes a judgement needs (sustain: 2 in a row)."""
    return [health.observe(image) for _ in range(health.limits.sustain)][-1]


def test_black_and_covered_lens():
    health = PictureHealth()
    assert judged(health, np.zeros((720, 1280, 3), np.uint8)) == "black"
    covered = np.random.default_rng(1).normal(12, 3, (720, 1280, 3)).clip(0, 255).astype(np.uint8)
    assert judged(PictureHealth(), covered) == "black"
    flat_grey = np.full((720, 1280, 3), 128, np.uint8)
    assert judged(PictureHealth(), flat_grey) == "black"
    assert PictureHealth().observe(scene(0)) == "ok"
    dark_room = (scene(0) * 0.25).astype(np.uint8)  # dim but with detail: not covered
    assert PictureHealth().observe(dark_room) == "ok"


def test_frozen_after_two_identical_keyframes_but_not_with_a_ticking_clock():
    frozen = PictureHealth()
    assert [frozen.observe(scene(5)) for _ in range(3)] == ["ok", "frozen", "frozen"]
    assert [frozen.observe(scene(s)) for s in (6, 7)] == ["frozen", "ok"]  # moving again, on two keyframes
    ticking = PictureHealth(HealthThresholds())
    assert all(ticking.observe(scene(s)) == "ok" for s in range(60))
