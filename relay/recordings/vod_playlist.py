"""A range of a recording as an HLS VOD playlist (RFC 8216bis: EXT-X-PLAYLIST-TYPE:VOD, ENDLIST).

Every segment file is a whole fMP4 (its own init segment, then its fragments), so the playlist
points into the files with byte ranges: EXT-X-MAP for the init, EXT-X-BYTERANGE for the rest.
Each segment carries its EXT-X-PROGRAM-DATE-TIME (the clock time it was received), which is how
the station page seeks by clock time; a gap in the recording is an EXT-X-DISCONTINUITY.

For a listener who may not hear the camera (`video_only`), a segment with sound is named by its
two halves without the sound instead (`?part=init`, `?part=media`: the segment route takes the
sound track out of them), since byte ranges into the file would include it.
"""

from __future__ import annotations

import math

from outputs.recording.chain import iso
from relay.recordings.recording_index import Span

JOIN_TOLERANCE_S = 0.5  # segments closer than this play as one timeline


def vod_playlist(spans: list[Span], segment_url, video_only: bool = False) -> str:
    segments = [s for s in spans if s.kind == "segment"]
    target = max((math.ceil(s.end - s.start) for s in segments), default=1)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-PLAYLIST-TYPE:VOD", f"#EXT-X-TARGETDURATION:{max(1, target)}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-INDEPENDENT-SEGMENTS"]
    previous_end = None
    for segment in segments:
        fields = segment.entry.fields
        init, size = fields["init_bytes"], fields["bytes"]
        url = segment_url(segment.file)
        if previous_end is not None and abs(segment.start - previous_end) > JOIN_TOLERANCE_S:
            lines.append("#EXT-X-DISCONTINUITY")
        timing = [f"#EXT-X-PROGRAM-DATE-TIME:{iso(segment.start)}", f"#EXTINF:{segment.end - segment.start:.3f},"]
        if video_only and fields.get("audio"):
            lines += [f'#EXT-X-MAP:URI="{url}?part=init"', *timing, f"{url}?part=media"]
        else:
            lines += [f'#EXT-X-MAP:URI="{url}",BYTERANGE="{init}@0"', *timing, f"#EXT-X-BYTERANGE:{size - init}@{init}", url]
        previous_end = segment.end
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
