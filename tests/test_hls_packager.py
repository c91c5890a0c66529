"""The LL-HLS packager (relay/hls/packager.py) on the in-process bus with real libx264 pictures:
packets queued together are muxed in one hop to a muxer thread (a hop per packet cost more than
muxing it), the parts keep consecutive numbers, and a picture the segmenter refuses starts it
again at the next keyframe with the next segment marked as a discontinuity."""

from __future__ import annotations

import asyncio
from fractions import Fraction

from pantau.bus.memory_bus import InProcessBus
from pantau.bus.stream_bus import CLOCK_RATE, MediaPacket
from pantau.runtime.config import HlsSettings
from relay.hls.packager import Numbering, Packager
from relay.hls.part_record import PartRecord
from tests.test_start_codes import x264_pictures

FPS = 25


def without_parameter_sets(picture: bytes) -> bytes:
    """The keyframe's IDR slice alone: a keyframe the segmenter cannot open a segment with."""
    return picture[picture.index(b"\x00\x00\x01\x65"):]


async def test_queued_packets_are_muxed_in_one_hop_and_a_refused_keyframe_starts_again(monkeypatch):
    pictures = x264_pictures(100, 1)[:100]  # keyframes at 0, 25, 50, 75
    pictures[50] = without_parameter_sets(pictures[50])
    bus = InProcessBus()
    records: list[PartRecord] = []
    restarted = asyncio.Event()

    async def sink(record: PartRecord) -> bool:
        records.append(record)
        if record.discontinuity and len(records) > 1:
            restarted.set()
        return True

    hops = []
    package = Packager._package
    monkeypatch.setattr(Packager, "_package", lambda self, batch, sound: hops.append(len(batch)) or package(self, batch, sound))
    settings = HlsSettings()
    packager = Packager(bus, "cam", settings, Numbering.after(None, settings, now=1_000_000.0), sink)
    task = asyncio.create_task(packager.run())
    try:
        await asyncio.sleep(0.2)  # subscribed
        for index, data in enumerate(pictures):  # all queued before the packager wakes
            dts = index * CLOCK_RATE // FPS
            bus.publish("cam", MediaPacket(data, dts, dts, Fraction(1, CLOCK_RATE), index % 25 == 0, 1, 1_000_000.0 + index / FPS))
        await asyncio.wait_for(restarted.wait(), 10)
    finally:
        task.cancel()
    assert hops[0] == 100 and len(hops) == 1, hops
    assert [r.number for r in records] == list(range(records[0].number, records[0].number + len(records)))
    first, after = records[0], next(r for r in records[1:] if r.discontinuity)
    assert sum(r.duration for r in records if r.msn == first.msn) == 1.0  # pictures 0-24, then 25-44 in parts: ...
    assert round(sum(r.duration for r in records if r.msn == first.msn + 1), 6) == 0.8
    assert after.msn == first.msn + 2 and after.index == 0  # ... the part 45-49 closed by the refused 50 is lost, 75 starts again
    assert after.discontinuity_sequence == first.discontinuity_sequence + 1 and after.independent and after.init
