"""Packages one camera: reads it from the stream bus, cuts fMP4 parts, numbers them and hands
each `PartRecord` to a sink (this relay's window when embedded; the site's Redis part log on a
site, where one elected relay packages each camera).

Numbers never repeat for a camera, so a URL always names the same bytes (caches keep them as
immutable): a run continues after the last record it knows of, and never starts below the
wall clock counted in segment targets (segments) and half part targets (parts); segments are
never shorter than the target and parts average above half theirs, so a later run starts past
every number an earlier one used even when nothing of it is left. Every run marks its
first segment as a discontinuity (shown only after earlier segments); the discontinuity
sequence continues the last record's, or starts at the wall clock in seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pantau.bus.stream_bus import AUDIO_TRACKS, VIDEO, StreamBus, TimedPacket
from pantau.media.fmp4_segmenter import Chunk, Fmp4Segmenter
from pantau.runtime.config import HlsSettings
from relay.hls.part_record import PartRecord, init_id

log = logging.getLogger(__name__)

# Threads of their own: a busy default executor (an import, a probe) must not stall live parts.
# Four are plenty: 100 packaged 720p25 cameras need about half of one.
MUXERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hls-mux")

Sink = Callable[[PartRecord], Awaitable[bool]]  # False: stop (no longer this relay's to package)


@dataclass
class Numbering:
    next_msn: int
    next_part: int
    discontinuity_sequence: int
    continues: bool  # the first segment follows earlier ones: a discontinuity

    @classmethod
    def after(cls, last: PartRecord | None, settings: HlsSettings, now: float | None = None) -> Numbering:
        now = time.time() if now is None else now
        msn = int(now / settings.segment_target_s)
        part = int(now / (settings.part_target_s / 2))
        if last is None:
            # Nothing left to continue (a first run, or the log expired or its Redis restarted while
            # a relay may still show older segments): a discontinuity, counted from the clock too.
            return cls(msn, part, int(now), True)
        return cls(max(msn, last.msn + 1), max(part, last.number + 1), last.discontinuity_sequence, True)


class Packager:
    def __init__(self, bus: StreamBus, camera_id: str, settings: HlsSettings, numbering: Numbering, sink: Sink,
                 audio_allowed: Callable[[], bool] = lambda: False):
        self.audio_allowed = audio_allowed  # asked at every keyframe: a change applies at the next segment
        self.bus = bus
        self.camera_id = camera_id
        self.settings = settings
        self.numbering = numbering
        self.sink = sink
        self.last: PartRecord | None = None
        self._msn = numbering.next_msn - 1
        self._index = 0
        self._init_id = ""
        self._segmenter = self._new_segmenter()  # fed only in a muxer thread, one batch at a time

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        with self.bus.subscribe(self.camera_id, tracks=(VIDEO, *AUDIO_TRACKS)) as subscription:
            while True:
                # The next packet and every one queued behind it, muxed in one hop to a thread (a hop
                # and the loop's wake-up cost more than muxing a picture): one packet at a time when
                # the loop keeps up, more when it is busy.
                batch = await subscription.get_batch()
                sound = [self.audio_allowed() if timed.packet.keyframe else None for timed in batch]  # on the loop
                for chunk in await loop.run_in_executor(MUXERS, self._package, batch, sound):
                    if chunk is None:  # the segmenter started again: what follows is a discontinuity
                        self.numbering.continues = True
                        continue
                    record = self._number(chunk)
                    if not await self.sink(record):
                        return
                    self.last = record

    def _new_segmenter(self) -> Fmp4Segmenter:
        return Fmp4Segmenter(self.settings.part_target_s, self.settings.segment_target_s)

    def _package(self, batch: list[TimedPacket], sound: list[bool | None]) -> list[Chunk | None]:
        """In a muxer thread: the batch's chunks in order, None where the segmenter refused a packet
        and started again at the next keyframe. `sound`: per keyframe, whether its segment may
        carry the sound (a change applies at the next segment)."""
        chunks: list[Chunk | None] = []
        for timed, allowed in zip(batch, sound, strict=True):
            if allowed is not None:
                self._segmenter.audio = allowed
            elif not self._segmenter.wants(timed):
                continue
            try:
                chunks += self._segmenter.feed(timed)
            except (ValueError, OSError) as exc:  # a packet the muxer refuses: start again at a keyframe
                log.warning("HLS packaging of %s: %s; restarting at the next keyframe", self.camera_id, exc)
                self._segmenter = self._new_segmenter()
                chunks.append(None)
        return chunks

    def _number(self, chunk: Chunk) -> PartRecord:
        numbering = self.numbering
        init = b""
        if chunk.new_segment:
            self._msn += 1
            self._index = 0
            if chunk.discontinuity or numbering.continues:
                numbering.discontinuity_sequence += 1
            init = chunk.init
            self._init_id = init_id(init)
        record = PartRecord(numbering.next_part, self._msn, self._index, round(chunk.duration, 6), chunk.independent,
                            numbering.discontinuity_sequence, chunk.new_segment and (chunk.discontinuity or numbering.continues),
                            round(chunk.program_date_time, 3), self._init_id, chunk.data, init)
        if chunk.new_segment:
            numbering.continues = False
        numbering.next_part += 1
        self._index += 1
        return record
