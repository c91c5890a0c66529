"""What parsing Redis replies costs a node, with redis-py's pure-Python parser and with hiredis.

    .venv/bin/python bench/redis_parser.py            # ~1 minute

Two replies a node parses all day: the statuses of the largest kecamatan's listing (HMGET of
1,308 fields, ~150 bytes each: issue 13's listing tail) and the stream bus's media entries
(XRANGE of 500 entries of 8 fields with ~10 KB of video each, what a relay's reader gets per
camera). One Debian redis-server, one event loop, both parsers on the same connection kind;
rounds alternate ABBA and the median of each is reported, since this machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
from processes import RedisServer
from redis._parsers import _AsyncHiredisParser, _AsyncRESP2Parser

STATUSES = 1308  # the largest kecamatan (31.73.04) at 30,766 cameras
ENTRIES = 500
PARSERS = {"python": _AsyncRESP2Parser, "hiredis": _AsyncHiredisParser}


async def fill(client: aioredis.Redis) -> None:
    status = json.dumps({"state": "online", "reason": None, "since": "2026-12-07T09:00:00Z", "codec": "h264", "width": 1280,
                         "height": 720, "fps": 25, "kbps": 2000, "audio_codec": "aac", "audio_level_db": -23.5})
    await client.hset("bench:status", mapping={f"31.73.04.{n:05d}": status for n in range(STATUSES)})
    async with client.pipeline(transaction=False) as pipe:
        for n in range(ENTRIES):
            pipe.xadd("bench:media", {"v": bytes(10_000), "p": n * 3600, "d": n * 3600, "tb": "1/90000", "k": "1" if n % 100 == 0 else "0",
                                      "e": 1, "t": time.time(), "a": ""})
        await pipe.execute()


async def one_round(url: str, parser: str, repeats: int) -> dict[str, float]:
    statuses = aioredis.from_url(url, decode_responses=True, parser_class=PARSERS[parser])
    media = aioredis.from_url(url, parser_class=PARSERS[parser])  # the bus reads bytes
    fields = [f"31.73.04.{n:05d}" for n in range(STATUSES)]
    try:
        await statuses.ping(), await media.ping()
        times = {}
        for name, call in (("hmget_1308_ms", lambda: statuses.hmget("bench:status", fields)),
                           ("xrange_500_ms", lambda: media.xrange("bench:media"))):
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                await call()
                samples.append(time.perf_counter() - started)
            times[name] = statistics.median(samples) * 1000
        return times
    finally:
        await statuses.aclose(), await media.aclose()


async def run(rounds: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="pantau-redis-parser-") as workdir:
        server = RedisServer(Path(workdir))
        server.start()
        try:
            client = aioredis.from_url(server.url)
            await fill(client)
            await client.aclose()
            results: dict[str, list[dict[str, float]]] = {name: [] for name in PARSERS}
            for n in range(rounds):
                order = ("python", "hiredis") if n % 4 in (0, 3) else ("hiredis", "python")  # ABBA
                for parser in order:
                    results[parser].append(await one_round(server.url, parser, repeats))
        finally:
            server.stop()
    summary = {}
    for metric in ("hmget_1308_ms", "xrange_500_ms"):
        medians = {parser: statistics.median(r[metric] for r in runs) for parser, runs in results.items()}
        summary[metric] = medians | {"hiredis_vs_python": medians["hiredis"] / medians["python"]}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="ABBA rounds (default 8)")
    parser.add_argument("--repeats", type=int, default=30, help="calls per metric per round (median taken)")
    args = parser.parse_args(argv)
    summary = asyncio.run(run(args.rounds, args.repeats))
    for metric, values in summary.items():
        print(f"{metric}: python {values['python']:.2f} ms, hiredis {values['hiredis']:.2f} ms, "
              f"ratio {values['hiredis_vs_python']:.2f}x (median of {args.rounds} ABBA rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
