"""A camera whose timestamps jump (issue 13): some RTSP servers restart a stream's timestamps
while the connection stays up. The pipeline must go on at once on a new epoch, which a
subscription rebases onto its continuous clock, instead of dropping every packet until the DTS
passes the old maximum (a freeze as long as the jump, the camera still `online`). Small
reorders are still dropped. Real libx264 packets, the real pipeline, bus and transcoder."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import av

from ingest.camera_pipeline import CameraPipeline, StreamInfo
from ingest.transcoder import TranscodeSettings
from pantau.bus.memory_bus import InProcessBus
from tests.test_h264_and_health import encode_h264

TB = Fraction(1, 90_000)
STEP = 3600  # 25 fps


class Status:
    def __init__(self) -> None:
        self.fields: dict = {}

    def report(self, camera_id: str, **fields) -> None:
        self.fields.update(fields)

    def current(self, camera_id: str) -> dict:
        return dict(self.fields)


class Analyzer:
    def reset(self) -> None: ...

    def submit(self, packet) -> None: ...


def make_pipeline(bus: InProcessBus, force_transcode: bool = False) -> CameraPipeline:
    pipeline = CameraPipeline("cam", bus, Status(), Analyzer(), TranscodeSettings(), force_transcode)
    decoder = av.CodecContext.create("h264", "r")
    pipeline.start_session(StreamInfo("h264", 320, 240, TB, None, decoder))
    return pipeline


def packet(data: bytes, dts: int) -> av.Packet:
    p = av.Packet(data)
    p.pts = p.dts = dts
    p.time_base = TB
    return p


def feed(pipeline: CameraPipeline, frames: list[bytes], dts_list: list[int], start: float) -> None:
    for n, (data, dts) in enumerate(zip(frames, dts_list)):
        pipeline.feed(packet(data, dts), start + n * 0.04)  # arriving in real time


async def drain(subscription, count: int) -> list:
    """`count` packets, each within a second (a dropped packet fails here, not by hanging)."""
    return [await asyncio.wait_for(subscription.get(), 1.0) for _ in range(count)]


async def two_timelines(second_start: int, resumes_after_s: float, force_transcode: bool = False, frames: int = 30) -> list:
    """`frames` packets from DTS 10 s on, then `frames` more from `second_start`, the first of
    them `resumes_after_s` after the last; what a subscriber got."""
    encoded, _ = encode_h264(2 * frames)
    bus = InProcessBus()
    subscription = bus.subscribe("cam")
    pipeline = make_pipeline(bus, force_transcode)
    start = time.time()
    feed(pipeline, encoded[:frames], [900_000 + n * STEP for n in range(frames)], start)
    feed(pipeline, encoded[frames:], [second_start + n * STEP for n in range(frames)], start + (frames - 1) * 0.04 + resumes_after_s)
    return await drain(subscription, 2 * frames if not force_transcode else subscription.pending())


async def test_a_backward_jump_goes_on_at_once_on_a_new_epoch():
    out = await two_timelines(0, 0.04)  # the server restarted its clock: back 10 s
    assert len(out) == 60  # every packet: nothing was dropped
    assert len({p.packet.epoch for p in out}) == 2
    assert {b.dts - a.dts for a, b in zip(out, out[1:])} == {STEP}  # one continuous clock for the viewer


async def test_a_forward_jump_ahead_of_the_wall_clock_is_a_new_timeline_too():
    out = await two_timelines(3600 * 90_000, 0.04)  # an hour ahead
    assert len({p.packet.epoch for p in out}) == 2
    assert {b.dts - a.dts for a, b in zip(out, out[1:])} == {STEP}


async def test_a_pause_in_real_time_and_small_reorders_are_not_a_new_timeline():
    # Three seconds without packets, then the timestamps say so too: the same timeline.
    out = await two_timelines(900_000 + 105 * STEP, 3.04)
    assert len({p.packet.epoch for p in out}) == 1
    frames, _ = encode_h264(12)
    bus = InProcessBus()
    subscription = bus.subscribe("cam")
    pipeline = make_pipeline(bus)
    start = time.time()
    feed(pipeline, frames[:10], [n * STEP for n in range(10)], start)
    pipeline.feed(packet(frames[10], 8 * STEP), start + 0.4)  # a reorder: dropped
    pipeline.feed(packet(frames[11], 10 * STEP), start + 0.44)
    out = await drain(subscription, 11)
    assert [p.packet.dts for p in out] == [n * STEP for n in range(11)]
    assert subscription.pending() == 0


async def test_a_transcoded_camera_goes_on_after_a_backward_jump():
    out = await two_timelines(0, 0.04, force_transcode=True)
    after = [p for p in out if p.packet.dts < 900_000]
    assert len(after) >= 25, "the transcoder dropped the frames after the jump"
    assert after[0].packet.keyframe  # a fresh encoder starts the new timeline with a keyframe
    assert all(b.dts > a.dts for a, b in zip(out, out[1:]))
