"""LL-HLS players for bench/hls.py and bench/soak.py, in a process of their own (the load must
not share the measured processes' CPU accounting): each one behaves like hls.js in low-latency
mode, a blocking playlist reload for the next part and the preload hint at the same time, from
the live edge on; like a player, it rides out errors (a camera away, a restarted relay) by
asking for the playlist again. Counts only what completes inside the measured window and prints
one JSON line, with each player's longest wait between two parts.

    python bench/hls_players.py BASE_URL[,BASE_URL...] PLAYERS WINDOW_START WINDOW_END   (times: time.time())

Several base URLs (one per camera): the players are dealt out over them in turn.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sys
import time
from collections import Counter
from datetime import datetime

import aiohttp

URI = re.compile(r'URI="([^"]+)"')


class Stats:
    def __init__(self, start: float, end: float):
        self.start, self.end = start, end
        self.statuses: Counter[str] = Counter()
        self.cache: Counter[str] = Counter()
        self.parts = 0
        self.bytes = 0
        self.latencies: list[float] = []  # part's last frame received by ingest -> part here
        self.kept_up: list[int] = []  # parts each player got in the window
        self.longest_gaps: list[float] = []  # each player's longest wait between two parts in the window
        self.failures: Counter[str] = Counter()  # what made players start over (errors, playlists without a hint)

    def inside(self, t: float) -> bool:
        return self.start <= t <= self.end


def part_ends(text: str) -> dict[str, float]:
    """Part URI -> when ingest received the end of it (PROGRAM-DATE-TIME + part durations)."""
    ends, at = {}, None
    for line in text.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            at = datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00")).timestamp()
        elif line.startswith("#EXT-X-PART:") and at is not None:
            at += float(re.search(r"DURATION=([\d.]+)", line).group(1))
            ends[URI.search(line).group(1)] = at
    return ends


def next_request(text: str) -> tuple[str, str]:
    """(blocking query for the part after the last listed, preload hint URI)."""
    msn, parts = None, 0
    for line in text.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line.split(":")[1])
        elif line.startswith("#EXT-X-PART:"):
            parts += 1
        elif line and not line.startswith("#"):
            msn, parts = msn + 1, 0
    hint = URI.search(text[text.index("#EXT-X-PRELOAD-HINT"):]).group(1)
    return f"index.m3u8?_HLS_msn={msn}&_HLS_part={parts}", hint


async def get(session: aiohttp.ClientSession, url: str, stats: Stats) -> tuple[int, bytes]:
    async with session.get(url) as response:
        body = await response.read()
        if stats.inside(time.time()):
            stats.statuses[str(response.status)] += 1
            stats.cache[response.headers.get("X-Cache-Status", "-")] += 1
        return response.status, body


async def live_playlist(session: aiohttp.ClientSession, base: str, stats: Stats) -> str:
    """The playlist as a player starting (or starting over) gets it: asked again each second until there."""
    while time.time() < stats.end:
        try:
            status, body = await get(session, f"{base}/index.m3u8", stats)
            if status == 200 and b"#EXT-X-PRELOAD-HINT" in body:
                return body.decode()
        except (aiohttp.ClientError, TimeoutError) as exc:
            stats.failures[type(exc).__name__] += 1
        await asyncio.sleep(1)
    return ""


async def player(session: aiohttp.ClientSession, base: str, stats: Stats) -> None:
    await asyncio.sleep(random.uniform(0, 1.0))  # players arrive over a second
    got, longest, last_part = 0, 0.0, None
    text = await live_playlist(session, base, stats)
    ends = part_ends(text)
    while time.time() < stats.end:
        try:
            query, hint = next_request(text)
            (status, body), (part_status, data) = await asyncio.gather(get(session, f"{base}/{query}", stats),
                                                                       get(session, f"{base}/{hint}", stats))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            stats.failures[type(exc).__name__] += 1
            status, part_status = None, None
        now = time.time()
        if part_status == 200 and stats.inside(now):
            got += 1
            stats.parts += 1
            stats.bytes += len(data)
            if hint in ends and len(stats.latencies) < 20000:
                stats.latencies.append(now - ends[hint])
            if last_part is not None:
                longest = max(longest, now - last_part)
            last_part = now
        if status == 200 and b"#EXT-X-PRELOAD-HINT" in body:
            text = body.decode()
        else:  # a camera away (503), an error, a new timeline: start over from the live edge
            await asyncio.sleep(0.5)
            text = await live_playlist(session, base, stats)
        ends.update(part_ends(text))
    if last_part is not None and stats.inside(last_part):
        longest = max(longest, min(time.time(), stats.end) - last_part)
    stats.kept_up.append(got)
    stats.longest_gaps.append(round(longest, 2))


async def main() -> None:
    bases, players, start, end = sys.argv[1].split(","), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    stats = Stats(start, end)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        results = await asyncio.gather(*(player(session, bases[n % len(bases)], stats) for n in range(players)), return_exceptions=True)
    errors = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
    print(json.dumps({"statuses": stats.statuses, "cache": stats.cache, "parts": stats.parts, "bytes": stats.bytes,
                      "latencies": stats.latencies, "kept_up": stats.kept_up, "longest_gaps": stats.longest_gaps,
                      "failures": stats.failures, "errors": errors}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
