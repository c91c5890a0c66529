"""Opus goes onto the bus with the picture of its instant (ingest/audio_pipeline.py): a camera's
sound reaches ingest before its picture (the video encoder's delay), and WebRTC viewers line the
tracks up by when they are sent, so the sound waits for its video; never longer than
HOLD_MAX_S, and not at all when there is no picture of its epoch to wait for. Real AAC from
PyAV's encoder, the real Opus encode, an in-process bus."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np

from ingest.audio_pipeline import AudioPipeline
from pantau.bus.memory_bus import InProcessBus

RATE = 48_000
EPOCH = 7


class NoStatus:
    def report(self, camera_id: str, **fields) -> None:
        pass


def aac_packets(seconds: float) -> tuple[list[av.Packet], av.audio.stream.AudioStream, av.container.InputContainer]:
    """A 440 Hz sine as 48 kHz mono AAC (ADTS), demuxed again: packets as a camera's arrive."""
    out = io.BytesIO()
    with av.open(out, "w", format="adts") as container:
        stream = container.add_stream("aac", rate=RATE, layout="mono")
        samples = (0.4 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, 0, Fraction(1, RATE)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    container = av.open(io.BytesIO(out.getvalue()))
    stream = container.streams.audio[0]
    return [p for p in container.demux(stream) if p.size], stream, container


async def published_opus_s(subscription) -> list[float]:
    out = []
    while subscription.pending():
        timed = await subscription.get()
        out.append(float(timed.packet.pts * timed.packet.time_base))
    return out


async def test_opus_waits_for_the_picture_of_its_instant_and_no_longer():
    bus = InProcessBus()
    subscription = bus.subscribe("cam", tracks=("opus",))
    picture: list[tuple[int, float] | None] = [None]
    pipeline = AudioPipeline("cam", bus, NoStatus(), lambda: EPOCH, lambda: picture[0])
    packets, stream, container = aac_packets(2.0)
    with container:
        pipeline.start_session(stream)
        lag_s = 0.2  # the picture of each instant is published 200 ms after its sound arrived
        for packet in packets[:47]:  # ~1 s
            picture[0] = (EPOCH, float(packet.pts * packet.time_base) - lag_s)
            pipeline.feed(packet)
        out = await published_opus_s(subscription)
        assert out, "no Opus at all"
        step = 0.04  # the pipeline's frame interval before it has seen the picture's own
        assert max(out) <= picture[0][1] + step, (max(out), picture[0])  # nothing ahead of its picture
        assert max(out) >= picture[0][1] - 0.1, (max(out), picture[0])  # and nothing held behind it

        picture[0] = (EPOCH - 1, 0.0)  # the picture's clock changed (a new epoch): nothing to wait for
        for packet in packets[47:60]:
            pipeline.feed(packet)
        assert max(await published_opus_s(subscription)) >= float(packets[59].pts * packets[59].time_base) - 0.1
        pipeline.end_session()
