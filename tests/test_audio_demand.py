"""Opus is made only while someone takes it (issue 20: the encode is most of what sound costs,
and most cameras have nobody listening most of the time). Real AAC from PyAV's encoder, the
real decode and Opus encode, the in-process bus and its subscriptions."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np

from ingest.audio_pipeline import OPUS_FRAME, AudioPipeline
from pantau.bus.memory_bus import InProcessBus
from pantau.media.audio_config import opus_packet_samples

RATE = 48_000


class NoStatus:
    """The status reporter's one method, without Redis (as bench/audio_cost.py)."""

    def report(self, camera_id: str, **fields) -> None:
        pass


def aac_camera(seconds: float):
    """A 440 Hz sine as 48 kHz mono AAC (ADTS), opened again: its stream and its packets."""
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
    return container, stream, [p for p in container.demux(stream) if p.size]


async def drained(subscription) -> list:
    out = []
    while subscription.pending():
        out.append((await subscription.get()).packet)
    return out


async def test_opus_is_made_only_while_someone_takes_it():
    bus = InProcessBus()
    pipeline = AudioPipeline("cam", bus, NoStatus(), lambda: 1)
    container, stream, packets = aac_camera(3.0)
    with container:
        pipeline.start_session(stream)
        hls = bus.subscribe("cam", tracks=("aac",))  # an AAC reader does not ask for Opus
        for packet in packets[:47]:  # ~1 s
            pipeline.feed(packet)
        assert pipeline.opus_made == 0
        hls.close()

        listener = bus.subscribe("cam", tracks=("opus",))
        for packet in packets[47:94]:
            pipeline.feed(packet)
        heard = await drained(listener)
        assert len(heard) >= 15, len(heard)  # ~1 s of 60 ms packets
        assert {opus_packet_samples(p.data) for p in heard} == {OPUS_FRAME}
        starts_s = float(heard[0].pts * heard[0].time_base)
        assert abs(starts_s - float(packets[47].pts * packets[47].time_base)) < 0.05  # on the camera's clock
        assert pipeline.opus_made == len(heard)

        listener.close()
        for packet in packets[94:]:
            pipeline.feed(packet)
        assert pipeline.opus_made == len(heard)  # the last listener gone: no more encoding
        pipeline.end_session()
