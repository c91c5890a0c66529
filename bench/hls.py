"""Benchmark of LL-HLS for the public: origin cost against the number of players behind nginx.

    .venv/bin/python bench/hls.py            # 10, 100 and 1,000 players, 20 s windows (~4 min)
    .venv/bin/python bench/hls.py --quick    # 10 and 100 players, 8 s windows: a smoke test
    .venv/bin/python bench/hls.py --levels 10,300,1000

One GStreamer RTSP test camera (720p, 25 fps, 2 Mbit/s H.264, 1 s GOP) ingested by a Pantau
node (`pantau serve`), Debian's nginx in front with the project's own config
(configs/nginx-site.conf through tests/support/nginx_front.py: only addresses and paths
changed), and bounded LL-HLS players (bench/hls_players.py, in processes of their own: a
blocking playlist reload plus the preload-hint part every part, like hls.js) at each level.
Per level, in the same run: origin (the node) requests/s and CPU, nginx CPU per player, the
cache hit ratio seen by the players (X-Cache-Status), whether the players kept up with live
(parts per player-second against 1/part target), and the latency from ingest receiving a
part's last frame to the part reaching a player (p50/p99; client and node share the clock).
A window with the camera ingested and nobody watching comes first: packaging costs nothing
until someone asks. The machine has 2 shared cores, so the players' own CPU limits the top
levels; the report says how many kept up. Then, with no other player, how far behind live
hls.js plays in Debian's Chromium on the station page (the hls.js the node serves, `now −
playingDate` every 0.5 s), straight from the node and through nginx (`--no-browser` skips it).
Exit code non-zero only when something broke.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil
from camera_set import REPO
from measure import measure_window, percentile
from processes import BenchError, PantauNode, stop_process
from runner import run_bench

sys.path.insert(0, str(REPO))
from tests.browser import chromium  # noqa: E402
from tests.support.nginx_front import NginxFront  # noqa: E402
from tests.support.rtsp_camera import Mount, RtspCameraServer  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PLAYERS = Path(__file__).resolve().with_name("hls_players.py")
STREAM = {"width": 1280, "height": 720, "fps": 25, "bitrate_kbps": 2000}
MOUNT = Mount(path="/hls", gop_seconds=1, **STREAM)
CAMERA = "bench-hls"
PLAYERS_PER_PROCESS = 250
PART_TARGET_S = 0.2  # the node's default hls.part_target_s
WEBRTC_REFERENCE = "0.27-0.39 CPU-s per viewer-minute (bench/relay.py, README 'Benchmarks')"


@dataclass
class Level:
    players: int
    seconds: float
    origin_requests: int = 0
    origin_cpu_s: float = 0.0
    nginx_cpu_s: float = 0.0
    players_cpu_s: float = 0.0
    machine_busy_pct: float = 0.0
    parts: int = 0
    statuses: Counter = field(default_factory=Counter)
    cache: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    kept_up: list[int] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)

    @property
    def hit_ratio(self) -> float:
        total = sum(self.cache.values())
        return sum(self.cache[s] for s in ("HIT", "STALE", "UPDATING")) / total if total else math.nan

    @property
    def keeping_up(self) -> float:
        """Share of players that got at least 90 % of the parts live made during the window."""
        expected = self.seconds / PART_TARGET_S
        return sum(1 for got in self.kept_up if got >= 0.9 * expected) / self.players if self.players else math.nan


async def origin_hls_requests(http: aiohttp.ClientSession, node_url: str, token: str) -> int:
    async with http.get(f"{node_url}/metrics", headers={"Authorization": f"Bearer {token}"}) as response:
        text = await response.text()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("pantau_http_requests_total{") and 'route="/hls/' in line)


async def admin(http: aiohttp.ClientSession, node: PantauNode, method: str, path: str, body: dict | None = None) -> dict:
    async with http.request(method, node.base_url + path, json=body, headers={"Authorization": f"Bearer {node.admin_token}"}) as response:
        if response.status >= 400:
            raise BenchError(f"{method} {path}: {response.status} {await response.text()}")
        return await response.json()


async def wait_until(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise BenchError(f"{what} within {timeout_s:.0f} s")


async def measure_level(http: aiohttp.ClientSession, node: PantauNode, base: str, groups: dict, players: int,
                        seconds: float, warmup_s: float) -> Level:
    start = time.time() + warmup_s
    end = start + seconds
    hosts = []
    for index in range(math.ceil(players / PLAYERS_PER_PROCESS)):
        count = min(PLAYERS_PER_PROCESS, players - index * PLAYERS_PER_PROCESS)
        hosts.append(subprocess.Popen([sys.executable, str(PLAYERS), base, str(count), str(start), str(end)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    level = Level(players, seconds)
    try:
        await asyncio.sleep(max(0.0, start - time.time()))
        before = await origin_hls_requests(http, node.base_url, node.admin_token)
        window = await measure_window({**groups, "players": [psutil.Process(h.pid) for h in hosts]}, seconds)
        level.players_cpu_s = window.usage["players"].cpu_s
        level.origin_requests = await origin_hls_requests(http, node.base_url, node.admin_token) - before
        level.seconds = window.seconds
        level.origin_cpu_s, level.nginx_cpu_s = window.usage["origin"].cpu_s, window.usage["nginx"].cpu_s
        level.machine_busy_pct = window.machine_busy_pct
        for host in hosts:
            out, err = await asyncio.to_thread(host.communicate, timeout=60)
            if host.returncode != 0 or not out.strip():
                raise BenchError(f"players exited with {host.returncode}: {err[-2000:]}")
            result = json.loads(out.strip().splitlines()[-1])
            level.parts += result["parts"]
            level.statuses.update(result["statuses"])
            level.cache.update(result["cache"])
            level.latencies += result["latencies"]
            level.kept_up += result["kept_up"]
            level.errors.update(result["errors"])
    finally:
        for host in hosts:
            if host.poll() is None:
                stop_process(host)
    return level


async def behind_live(url: str, seconds: float, warmup_s: float) -> list[float]:
    """Seconds behind live of the station page's hls.js player (window.__pantau.latencyS()), every 0.5 s."""
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(url)
        await page.wait_for_function("window.__pantau && window.__pantau.mode === 'hls' && window.__pantau.latencyS() != null",
                                     timeout=30000)
        await asyncio.sleep(warmup_s)
        samples = []
        for _ in range(int(seconds / 0.5)):
            value = await page.evaluate("window.__pantau.latencyS()")
            if value is not None:
                samples.append(value)
            await asyncio.sleep(0.5)
        return samples


def behind_live_lines(behind: dict[str, list[float]]) -> list[str]:
    lines = ["", "hls.js in Chromium on the station page, alone (goal p50 <= 2.0 s with 200 ms parts):", "",
             "| from | samples | behind live p50 / p90 / max (s) |", "|---|---|---|"]
    for where, samples in behind.items():
        values = sorted(samples)
        lines.append(f"| {where} | {len(values)} | " + (f"{percentile(values, 50):.2f} / {percentile(values, 90):.2f} / {values[-1]:.2f} |"
                                                        if values else "– |"))
    return lines


def report(levels: list[Level], idle: Level | None, error: str | None, behind: dict[str, list[float]] | None = None) -> str:
    lines = [f"# bench/hls.py — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
             "One 720p25 2 Mbit/s camera (GOP 1 s) on a Pantau node; Debian nginx with configs/nginx-site.conf in front; "
             "LL-HLS players (blocking reload + preload-hint part, like hls.js). Shared 2-core machine: players, nginx, node and "
             "the camera's encoder compete for it (see the machine column).", "",
             "| players | kept up | origin req/s | origin CPU (% core) | nginx CPU (% core) | nginx CPU-ms per player-s "
             "| cache hit | part latency p50 / p99 (s) | statuses | players' CPU (% core) | machine busy |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    if idle is not None:
        lines.append(f"| 0 (ingest only) | – | {idle.origin_requests / idle.seconds:.1f} | {100 * idle.origin_cpu_s / idle.seconds:.1f} "
                     f"| {100 * idle.nginx_cpu_s / idle.seconds:.1f} | – | – | – | – | – | {idle.machine_busy_pct:.0f} % |")
    for lv in levels:
        lat = sorted(lv.latencies)
        latency = f"{percentile(lat, 50):.2f} / {percentile(lat, 99):.2f}" if lat else "–"
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(lv.statuses.items()))
        lines.append(f"| {lv.players} | {100 * lv.keeping_up:.0f} % | {lv.origin_requests / lv.seconds:.1f} "
                     f"| {100 * lv.origin_cpu_s / lv.seconds:.1f} | {100 * lv.nginx_cpu_s / lv.seconds:.1f} "
                     f"| {1000 * lv.nginx_cpu_s / lv.seconds / lv.players:.2f} | {100 * lv.hit_ratio:.2f} % | {latency} "
                     f"| {statuses} | {100 * lv.players_cpu_s / lv.seconds:.0f} | {lv.machine_busy_pct:.0f} % |")
    if len(levels) >= 2 and levels[0].origin_cpu_s:
        ratio = (levels[-1].origin_cpu_s / levels[-1].seconds) / (levels[0].origin_cpu_s / levels[0].seconds)
        lines += ["", f"Origin CPU at {levels[-1].players} players / at {levels[0].players}: {ratio:.2f}x "
                      f"({'PASS' if ratio <= 1.2 else 'MISS'}, goal <= 1.2x). Cache hit ratio at {levels[-1].players}: "
                      f"{100 * levels[-1].hit_ratio:.2f} % ({'PASS' if levels[-1].hit_ratio >= 0.99 else 'MISS'}, goal >= 99 %)."]
    lines += ["", "Kept up: players that got at least 90 % of the parts live made in the window. When the players' own CPU nears "
              "what the shared machine has left, the load generator, not the origin or nginx, is what falls behind "
              "(fewer requests per player, latency growing): read those levels for the origin's flatness and the hit ratio only.",
              f"Beside it, WebRTC: {WEBRTC_REFERENCE}, one aiortc peer connection per viewer at the relay.",
              "Part latency: from ingest receiving a part's last frame (PROGRAM-DATE-TIME + part durations) to the part's bytes at "
              "the player; nginx's cache lock adds up to 0.5 s for players that waited on it (it looks every 0.5 s)."]
    if behind:
        lines += behind_live_lines(behind)
    errors = Counter()
    for lv in levels:
        errors.update(lv.errors)
    if error or errors:
        lines += ["", "Problems:", ""] + ([f"- the run stopped early: {error}"] if error else []) + [f"- player errors: {dict(errors)}"] * bool(errors)
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace) -> tuple[list[Level], str | None]:
    workdir = Path(tempfile.mkdtemp(prefix="pantau-bench-hls-"))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    camera = node = front = None
    levels: list[Level] = []
    idle = None
    error = None
    behind: dict[str, list[float]] = {}
    try:
        camera = RtspCameraServer([MOUNT], log_dir=workdir / "camera").start()
        node = PantauNode(workdir / "node", "adm-" + secrets.token_urlsafe(12), [])
        node.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            await admin(http, node, "POST", "/api/admin/cameras", {"id": CAMERA, "kind": "tps", "region": "31.71.01.1001", "tps": 1,
                                                                   "source": camera.url(MOUNT.path), "public": True,
                                                                   "public_windows": ["always"]})

            async def online() -> bool:
                return (await admin(http, node, "GET", f"/api/admin/cameras/{CAMERA}"))["status"]["state"] == "online"
            await wait_until(online, 30, "the camera never came online")
            address = re.sub(r"^http://", "", node.base_url)
            front = NginxFront(workdir / "nginx", [address], address).start()
            nginx = psutil.Process(front.process.pid)
            await asyncio.sleep(1.0)
            # Not the cache loader: it exits a minute after the start (nothing to load here).
            workers = [p for p in nginx.children() if "cache loader" not in " ".join(p.cmdline())]
            groups = {"origin": [psutil.Process(node.pid)], "nginx": [nginx, *workers]}
            print("idle window (camera ingested, nobody watching)", flush=True)
            window = await measure_window(groups, args.window)
            idle = Level(0, window.seconds, origin_cpu_s=window.usage["origin"].cpu_s, nginx_cpu_s=window.usage["nginx"].cpu_s,
                         machine_busy_pct=window.machine_busy_pct)
            base = f"{front.url}/hls/{CAMERA}"

            async def playing() -> bool:
                async with http.get(f"{base}/index.m3u8") as response:
                    return response.status == 200
            await wait_until(playing, 30, "no HLS playlist")
            if args.browser:
                for where, url in (("the node", node.base_url), ("nginx", front.url)):
                    print(f"Chromium on the station page, from {where}", flush=True)
                    behind[where] = await behind_live(f"{url}/kamera/{CAMERA}", args.window, args.warmup)
            for players in args.levels:
                print(f"{players} players", flush=True)
                levels.append(await measure_level(http, node, base, groups, players, args.window, args.warmup))
    except (BenchError, aiohttp.ClientError, OSError, TimeoutError, psutil.Error) as exc:
        error = f"{type(exc).__name__}: {exc}"
        print(f"FAILED: {error}", file=sys.stderr, flush=True)
    finally:
        if front is not None:
            front.stop()
        if node is not None:
            node.stop()
        if camera is not None:
            camera.stop()
        if args.keep:
            print(f"logs kept in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        text = report(levels, idle, error, behind)
        print("\n" + text)
        args.output.write_text(text, encoding="utf-8")
        print(f"written to {args.output}")
    return levels, error


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 and 100 players, 8 s windows (smoke test)")
    parser.add_argument("--levels", help="players per level, comma-separated (default 10,100,1000)")
    parser.add_argument("--timeout", type=float, default=900.0, help="stop everything after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (node, camera, nginx logs)")
    parser.add_argument("--no-browser", dest="browser", action="store_false",
                        help="skip the station page in Chromium (how far behind live hls.js plays)")
    parser.add_argument("--output", type=Path, help="Markdown report (default bench/results/hls.md, or hls-quick.md)")
    args = parser.parse_args(argv)
    args.levels = [int(x) for x in args.levels.split(",")] if args.levels else ([10, 100] if args.quick else [10, 100, 1000])
    args.window = 8.0 if args.quick else 20.0
    args.warmup = 3.0 if args.quick else 5.0
    args.output = args.output or RESULTS_DIR / ("hls-quick.md" if args.quick else "hls.md")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench("hls bench", run, args, lambda outcome: outcome[1] is not None)


if __name__ == "__main__":
    sys.exit(main())
