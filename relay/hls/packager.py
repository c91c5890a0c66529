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

from pantau.bus.stream_bus import AUDIO_TRACKS, VIDEO, StreamBus
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

    async def run(self) -> None:
        segmenter = Fmp4Segmenter(self.settings.part_target_s, self.settings.segment_target_s)
        with self.bus.subscribe(self.camera_id, tracks=(VIDEO, *AUDIO_TRACKS)) as subscription:
            while True:
                timed = await subscription.get()
                if timed.packet.keyframe:
                    segmenter.audio = self.audio_allowed()
                elif not segmenter.wants(timed):
                    continue
                try:
                    # Muxing is blocking C (~0.1-0.3 ms a packet at 720p): in a thread, one packet at a time.
                    chunks = await asyncio.get_running_loop().run_in_executor(MUXERS, segmenter.feed, timed)
                except (ValueError, OSError) as exc:  # a packet the muxer refuses: start again at a keyframe
                    log.warning("HLS packaging of %s: %s; restarting at the next keyframe", self.camera_id, exc)
                    segmenter = Fmp4Segmenter(self.settings.part_target_s, self.settings.segment_target_s)
                    self.numbering.continues = True
                    continue
                for chunk in chunks:
                    record = self._number(chunk)
                    if not await self.sink(record):
                        return
                    self.last = record

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
