"""Opus packets of any size are timed as they are (issue 20): ingest encodes 60 ms packets, a
WHIP or WHEP sender chooses its own (Chromium: 20 ms), and one camera may change from one to the
other (a WHIP phone that reconnects as an RTSP camera's Opus starts). The TOC byte (RFC 6716
3.1) says how long a packet is; the fMP4 segmenter (LL-HLS parts, recordings) gives every
sample its real duration, the last one of a part included. Real libx264 and libopus packets;
FFmpeg reads the segments back."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest

from pantau.bus.stream_bus import CLOCK_RATE, MediaPacket, TimedPacket
from pantau.media.audio_config import opus_packet_samples
from pantau.media.fmp4_segmenter import Fmp4Segmenter

FPS = 25
RATE = 48_000


def opus_packets(frame_ms: str, seconds: float, application: str = "lowdelay") -> list[bytes]:
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format, encoder.bit_rate = RATE, "mono", "flt", 32_000
    encoder.time_base = Fraction(1, RATE)
    encoder.options = {"application": application, "frame_duration": frame_ms}
    encoder.open()
    size = encoder.frame_size
    out = []
    for index in range(int(seconds * RATE / size)):
        t = (np.arange(size) + index * size) / RATE
        frame = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="flt",
                                           layout="mono")
        frame.sample_rate, frame.pts = RATE, index * size
        out += [bytes(packet) for packet in encoder.encode(frame)]
    return out


@pytest.mark.parametrize("frame_ms", ["2.5", "5", "10", "20", "40", "60", "120"])
@pytest.mark.parametrize("application", ["lowdelay", "voip", "audio"])
def test_the_toc_byte_gives_what_libopus_encoded(frame_ms, application):
    samples = round(float(frame_ms) * RATE / 1000)
    packets = opus_packets(frame_ms, 0.5, application)
    assert packets and {opus_packet_samples(p) for p in packets} == {samples}


def test_a_broken_packet_has_no_duration():
    assert opus_packet_samples(b"") == 0
    assert opus_packet_samples(bytes((0x03,))) == 0  # code 3 without its frame count


def picture_packets(seconds: float) -> list[TimedPacket]:
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 64, 64, "yuv420p"
    encoder.time_base, encoder.framerate = Fraction(1, FPS), FPS
    encoder.options = {"tune": "zerolatency", "preset": "ultrafast", "x264-params": "keyint=25:repeat-headers=1:bframes=0"}
    out = []
    for index in range(int(seconds * FPS)):
        frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), index % 255, np.uint8), format="rgb24")
        frame.pts = index
        for packet in encoder.encode(frame):
            dts = packet.dts * CLOCK_RATE // FPS
            out.append(TimedPacket(MediaPacket(bytes(packet), dts, dts, Fraction(1, CLOCK_RATE), packet.is_keyframe, 1, dts / CLOCK_RATE),
                                   dts, dts))
    return out


def sound_packets(sizes_ms: list[str], seconds_each: float) -> list[TimedPacket]:
    """Opus in runs of each frame size, one after the other on one clock."""
    out, samples = [], 0
    for frame_ms in sizes_ms:
        for data in opus_packets(frame_ms, seconds_each):
            dts = samples * CLOCK_RATE // RATE
            out.append(TimedPacket(MediaPacket(data, dts, dts, Fraction(1, CLOCK_RATE), False, 1, dts / CLOCK_RATE, "opus"),
                                   dts, dts))
            samples += opus_packet_samples(data)
    return out


def test_mixed_opus_packet_sizes_keep_their_own_durations_in_the_segments():
    video = picture_packets(4.0)
    sound = sound_packets(["60", "20", "60", "40"], 0.9)
    segmenter = Fmp4Segmenter(0.2, 1.0, audio=True)
    chunks = []
    for timed in sorted(video + sound, key=lambda p: (p.dts, p.packet.track != "video")):
        chunks += segmenter.feed(timed)
    chunks += segmenter.finish()
    assert chunks and chunks[0].audio == "opus"
    stream_bytes = chunks[0].init + b"".join(chunk.data for chunk in chunks)  # one init: one segment list
    assert len({chunk.init for chunk in chunks}) == 1

    with av.open(io.BytesIO(stream_bytes)) as container:
        audio = container.streams.audio[0]
        read = [(p.pts, p.duration, bytes(p)) for p in container.demux(audio) if p.size]
    sent = [(timed.dts * RATE // CLOCK_RATE, opus_packet_samples(timed.packet.data), timed.packet.data) for timed in sound]
    assert len(read) == len(sent)
    for got, expected in zip(read, sent):
        assert got == expected  # time, duration (the last of each part too) and bytes
    for (pts, duration, _), (next_pts, _, _) in zip(read, read[1:]):
        assert pts + duration == next_pts  # no gap, no overlap where the sizes change
