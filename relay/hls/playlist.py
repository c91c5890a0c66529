"""A camera's live window: the last segments and parts (from `PartRecord`s, in order), the
media playlist they make (RFC 8216bis with the LL-HLS tags), and waiting for what a blocking
request asks for.

The playlist is a function of the records only (no clock, no local counters): two relays that
applied the same records render the same text. It is also a standard HLS playlist: a player
without LL-HLS support ignores EXT-X-PART/-PRELOAD-HINT and plays the whole segments.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from relay.hls.part_record import PartRecord

PARTS_FOR_TARGETS = 3  # parts are listed for the segments in the last 3 target durations (RFC 8216bis 4.4.4.9)


@dataclass
class Segment:
    msn: int
    discontinuity_sequence: int
    discontinuity: bool
    program_date_time: float
    init_id: str
    parts: list[PartRecord] = field(default_factory=list)
    complete: bool = False

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.parts)


class LiveWindow:
    def __init__(self, segments_kept: int, part_target_s: float, segment_target_s: float):
        self.segments_kept = segments_kept
        self.part_target_s = part_target_s
        self.segment_target_s = segment_target_s
        self.segments: list[Segment] = []
        self.inits: dict[str, bytes] = {}
        self.parts: dict[int, PartRecord] = {}
        self._changed = asyncio.Event()
        self._last_number = -1

    # ---- records in ---------------------------------------------------------------------------
    def apply(self, record: PartRecord) -> None:
        if record.number <= self._last_number:
            return  # already here (a follower that read the stream again)
        current = self.segments[-1] if self.segments else None
        if record.index == 0:
            if current is not None:
                current.complete = True
            if record.init:
                self.inits[record.init_id] = record.init
            self.segments.append(Segment(record.msn, record.discontinuity_sequence, record.discontinuity,
                                         record.program_date_time, record.init_id))
        elif current is None or current.msn != record.msn or len(current.parts) != record.index:
            return  # joined part-way through a segment: wait for the next one to start
        self.segments[-1].parts.append(record)
        self.parts[record.number] = record
        self._last_number = record.number
        self._trim()
        self._changed.set()
        self._changed = asyncio.Event()

    def _trim(self) -> None:
        complete = [s for s in self.segments if s.complete]
        for old in complete[: max(0, len(complete) - self.segments_kept)]:
            self.segments.remove(old)
            for part in old.parts:
                self.parts.pop(part.number, None)
        used = {s.init_id for s in self.segments}
        for name in [n for n in self.inits if n not in used]:
            del self.inits[name]

    def clear(self) -> None:
        self.segments.clear()
        self.parts.clear()
        self.inits.clear()

    # ---- what exists --------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """A playlist can be served: at least one complete segment (standard players need one)."""
        return any(s.complete for s in self.segments)

    def next_part_number(self) -> int | None:
        last = self.segments[-1].parts[-1] if self.segments and self.segments[-1].parts else None
        return last.number + 1 if last else None

    def has_part(self, msn: int, index: int | None) -> bool:
        """The playlist holds segment `msn` (with `index` None: complete), or its part `index`, or later."""
        if not self.segments:
            return False
        last = self.segments[-1]
        if msn < last.msn:
            return True
        if msn > last.msn:
            return False
        return last.complete if index is None else len(last.parts) > index

    def segment(self, msn: int) -> Segment | None:
        return next((s for s in self.segments if s.msn == msn), None)

    def segment_bytes(self, msn: int) -> bytes | None:
        segment = self.segment(msn)
        return b"".join(p.data for p in segment.parts) if segment is not None and segment.complete else None

    def last_msn(self) -> int | None:
        return self.segments[-1].msn if self.segments else None

    async def wait_change(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    # ---- the playlist -------------------------------------------------------------------------
    def target_duration(self) -> int:
        longest = max((s.duration for s in self.segments if s.complete), default=0.0)
        # RFC 8216bis 4.4.3.1: every EXTINF, rounded to the nearest integer, <= the target duration.
        return max(1, math.ceil(self.segment_target_s), int(longest + 0.5))

    def render(self) -> str:
        segments = [s for s in self.segments if s.parts]
        target = self.target_duration()
        part_target = self.part_target_s
        lines = ["#EXTM3U", "#EXT-X-VERSION:9", f"#EXT-X-TARGETDURATION:{target}",
                 f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={3 * part_target:.3f},HOLD-BACK={3 * target:.3f}",
                 f"#EXT-X-PART-INF:PART-TARGET={part_target:.3f}",
                 f"#EXT-X-MEDIA-SEQUENCE:{segments[0].msn if segments else 0}",
                 f"#EXT-X-DISCONTINUITY-SEQUENCE:{segments[0].discontinuity_sequence if segments else 0}",
                 "#EXT-X-INDEPENDENT-SEGMENTS"]
        # Parts are listed for the segments that end within the last 3 target durations.
        listed_from = len(segments)
        remaining = PARTS_FOR_TARGETS * target
        for position in range(len(segments) - 1, -1, -1):
            listed_from = position
            remaining -= segments[position].duration
            if remaining <= 0:
                break
        init_id = None
        for position, segment in enumerate(segments):
            if segment.discontinuity and position > 0:
                lines.append("#EXT-X-DISCONTINUITY")
            if segment.init_id != init_id:
                init_id = segment.init_id
                lines.append(f'#EXT-X-MAP:URI="init-{init_id}.mp4"')
            lines.append("#EXT-X-PROGRAM-DATE-TIME:" + _iso(segment.program_date_time))
            if position >= listed_from:
                for part in segment.parts:
                    independent = ",INDEPENDENT=YES" if part.independent else ""
                    lines.append(f'#EXT-X-PART:DURATION={part.duration:.3f},URI="part-{part.number}.m4s"{independent}')
            if segment.complete:
                lines.append(f"#EXTINF:{segment.duration:.3f},")
                lines.append(f"seg-{segment.msn}.m4s")
        if segments:
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-{self.next_part_number()}.m4s"')
        return "\n".join(lines) + "\n"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
