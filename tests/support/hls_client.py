"""A small LL-HLS client for tests: fetch a media playlist (blocking or not), parse what it
says (segments, parts, preload hint, discontinuities) and fetch its media."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field


@dataclass
class Playlist:
    text: str
    media_sequence: int = 0
    discontinuity_sequence: int = 0
    segments: list[str] = field(default_factory=list)  # seg URIs, in order
    parts: list[tuple[str, bool]] = field(default_factory=list)  # (URI, independent)
    maps: list[str] = field(default_factory=list)
    discontinuities: int = 0
    preload_hint: str | None = None
    last_msn: int = 0  # of the segment the last part belongs to (complete or not)
    parts_of_last: int = 0  # parts listed for that segment

    @classmethod
    def parse(cls, text: str) -> Playlist:
        playlist = cls(text)
        msn = None
        parts_since_segment = 0
        for line in text.splitlines():
            if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
                playlist.media_sequence = msn = int(line.split(":")[1])
            elif line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
                playlist.discontinuity_sequence = int(line.split(":")[1])
            elif line == "#EXT-X-DISCONTINUITY":
                playlist.discontinuities += 1
            elif line.startswith("#EXT-X-MAP:"):
                playlist.maps.append(re.search(r'URI="([^"]+)"', line).group(1))
            elif line.startswith("#EXT-X-PART:"):
                playlist.parts.append((re.search(r'URI="([^"]+)"', line).group(1), "INDEPENDENT=YES" in line))
                parts_since_segment += 1
            elif line.startswith("#EXT-X-PRELOAD-HINT:"):
                playlist.preload_hint = re.search(r'URI="([^"]+)"', line).group(1)
            elif line and not line.startswith("#"):
                playlist.segments.append(line)
                msn += 1
                parts_since_segment = 0
        playlist.last_msn = msn
        playlist.parts_of_last = parts_since_segment
        return playlist


def get(url: str, timeout: float = 15.0, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def playlist(base: str, msn: int | None = None, part: int | None = None, timeout: float = 15.0) -> tuple[int, dict[str, str], Playlist | None]:
    query = "" if msn is None else f"?_HLS_msn={msn}" + ("" if part is None else f"&_HLS_part={part}")
    status, headers, body = get(f"{base}/index.m3u8{query}", timeout)
    return status, headers, Playlist.parse(body.decode()) if status == 200 else None
