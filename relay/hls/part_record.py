"""One packaged part as the packager hands it on: its bytes and every fact a playlist needs.

Everything a relay serves (playlists, parts, segments, init segments) is computed from these
records alone, in order, so relays that apply the same records serve the same names and the
same bytes (see relay/hls/redis_part_log.py for how a site shares them). The fields encode to
a Redis stream entry and back unchanged (durations as fixed-point text).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PartRecord:
    number: int  # global part number: the part's URL, part-{number}.m4s
    msn: int  # media sequence number of its segment: seg-{msn}.m4s
    index: int  # its place in the segment (0: the segment starts here)
    duration: float
    independent: bool
    discontinuity_sequence: int  # of its segment (EXT-X-DISCONTINUITY-SEQUENCE counting)
    discontinuity: bool  # its segment follows a discontinuity
    program_date_time: float  # of its segment's first frame (seconds since 1970)
    init_id: str  # init-{init_id}.mp4
    data: bytes
    init: bytes = b""  # the init segment's bytes, carried by a segment's first part

    def encode(self) -> dict[str, bytes | str]:
        fields: dict[str, bytes | str] = {
            "n": str(self.number), "m": str(self.msn), "i": str(self.index), "d": f"{self.duration:.6f}",
            "k": "1" if self.independent else "0", "s": str(self.discontinuity_sequence),
            "c": "1" if self.discontinuity else "0", "t": f"{self.program_date_time:.3f}", "h": self.init_id, "v": self.data}
        if self.init:
            fields["init"] = self.init
        return fields

    @classmethod
    def decode(cls, fields: dict[bytes, bytes]) -> PartRecord:
        return cls(int(fields[b"n"]), int(fields[b"m"]), int(fields[b"i"]), float(fields[b"d"]), fields[b"k"] == b"1",
                   int(fields[b"s"]), fields[b"c"] == b"1", float(fields[b"t"]), fields[b"h"].decode(), fields[b"v"],
                   fields.get(b"init", b""))


def init_id(init: bytes) -> str:
    """Names an init segment by its content: the same parameter sets give the same URL."""
    return hashlib.sha256(init).hexdigest()[:16]
