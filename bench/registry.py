"""Benchmark of the camera registry at election scale (30,766 TPS cameras, Pemilu 2024 DKI).

    .venv/bin/python bench/registry.py            # full size, both backends
    .venv/bin/python bench/registry.py --quick    # 2,000 cameras, a smoke test of the benchmark itself

For each backend (the embedded private Redis, and a Debian redis-server as a site runs it) a
fresh `pantau serve` node (ingest off) gets the whole CSV through the admin import, then
answers public reads, the largest kecamatan's listing among them. The machine is shared and
noisy, so every figure comes with a baseline measured in the same invocation on the same
node: /healthz for request latency, a bare Redis pipeline write for the import. Targets are reported PASS/MISS; the exit code is non-zero only when something
broke or answered wrongly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil
import redis.asyncio as aioredis
from camera_set import PEMILU_2024_TPS, CameraSet, build_camera_set
from measure import Latency, Reply, cpu_seconds, raw_write_seconds, timed_get
from processes import BenchError, PantauNode, RedisServer, kill_leftover
from runner import run_bench

RESULTS_DIR = Path(__file__).resolve().parent / "results"
QUICK_CAMERAS = 2_000
IMPORT_TARGET_S = 10.0
LATENCY_TARGET_P99_MS = 50.0
LISTING_LIMIT = 1000  # the API's default page size, sent explicitly
SECRET_MARKER = b"benchpw-"  # every generated password contains it; no public body may
BACKENDS = ("embedded", "redis")


@dataclass
class BackendResult:
    backend: str
    cameras: int
    import_s: float = math.nan
    raw_write_s: float = math.nan
    healthz_empty: Latency = field(default_factory=Latency)
    healthz: Latency = field(default_factory=Latency)
    regions: Latency = field(default_factory=Latency)
    listing: Latency = field(default_factory=Latency)
    largest: Latency = field(default_factory=Latency)  # the largest kecamatan's listing, every round
    healthz_during_import: Latency = field(default_factory=Latency)
    cold_healthz_ms: float = math.nan  # the first read after the import reloads the mirror
    cold_regions_ms: float = math.nan
    cold_listing_ms: float = math.nan
    # The node's CPU per round of reads (healthz, regions, listing, largest): unlike latency,
    # barely moved by what else runs on the machine.
    cpu_ms_per_round: float = math.nan
    rss_mb: float | None = None
    stop_s: float = math.nan
    problems: list[str] = field(default_factory=list)  # wrong answers: make the run fail
    notes: list[str] = field(default_factory=list)  # worth knowing, not failures
    error: str | None = None  # the backend could not be measured at all

    @property
    def import_ratio(self) -> float:
        return self.import_s / self.raw_write_s

    def latency_ratio(self, latency: Latency) -> float:
        return latency.p(99) / self.healthz.p(99)


# -- checks: the figures mean nothing if the answers are wrong ---------------------------------

def check_import(reply: Reply, cams: CameraSet) -> None:
    if reply.status != 200:
        raise BenchError(f"import answered {reply.status}: {reply.body[:1000].decode(errors='replace')}")
    result = json.loads(reply.body)
    if result.get("created") != cams.total or result.get("updated") != 0:
        raise BenchError(f"import should have created {cams.total} cameras, got {result}")


def check_healthz(reply: Reply, cams: CameraSet) -> list[str]:
    body = json.loads(reply.body)
    if body.get("ok") is not True:
        return [f"/healthz is not ok after the import: {body}"]
    # Older nodes also count the cameras here (the public /healthz may keep that to itself).
    cameras = body.get("cameras", cams.total)
    return [] if cameras == cams.total else [f"/healthz reports {cameras} cameras after the import, expected {cams.total}"]


def check_regions(reply: Reply, cams: CameraSet) -> list[str]:
    tree = json.loads(reply.body)
    problems = []
    if SECRET_MARKER in reply.body:
        problems.append("/api/regions body contains a camera password")
    if tree.get("cameras") != cams.public_total:
        problems.append(f"/api/regions counts {tree.get('cameras')} public cameras at the root, expected {cams.public_total}")
    if tree.get("totals", {}).get("kelurahan") != cams.kelurahan_count:
        problems.append(f"/api/regions totals {tree.get('totals')} do not list {cams.kelurahan_count} kelurahan")
    counted = {kec["code"]: kec["cameras"] for kota in tree.get("kota", []) for kec in kota["kecamatan"]}
    wrong = [code for code in cams.kecamatan_codes if counted.get(code) != cams.public_by_kecamatan[code]]
    if wrong:
        problems.append(f"/api/regions miscounts {len(wrong)} kecamatan, e.g. {wrong[0]}: {counted.get(wrong[0])} "
                        f"instead of {cams.public_by_kecamatan[wrong[0]]}")
    return problems


def check_listing(reply: Reply, kecamatan: str, cams: CameraSet) -> list[str]:
    where = f"/api/cameras?kecamatan={kecamatan}"
    page = json.loads(reply.body)
    expected = cams.public_by_kecamatan[kecamatan]
    cameras = page.get("cameras", [])
    problems = []
    if SECRET_MARKER in reply.body:
        problems.append(f"{where} body contains a camera password")
    if page.get("total") != expected:
        problems.append(f"{where} total is {page.get('total')}, expected {expected} public cameras")
    if len(cameras) != min(expected, LISTING_LIMIT):
        problems.append(f"{where} returned {len(cameras)} cameras, expected {min(expected, LISTING_LIMIT)}")
    if any(not c.get("public") or c.get("location", {}).get("kecamatan", {}).get("code") != kecamatan for c in cameras):
        problems.append(f"{where} returned a camera that is not public or not in that kecamatan")
    return problems


# -- one backend ------------------------------------------------------------------------------

def node_config() -> str:
    """The node's YAML. Ingest off: this bench measures the registry and the API; with ingest
    on, `pantau serve` would start 30k RTSP sources towards the bench's made-up 10.x addresses
    (where those connect, that load alone swamps every figure; ingest has bench/ingest.py).
    And, where this checkout limits requests per address, room for the bench's one client:
    ~60 requests/s from 127.0.0.1 is far past an anonymous visitor's share."""
    from pantau.runtime.config import Settings

    config = "ingest:\n  enabled: false\n"
    if "limits" in Settings.model_fields:
        config += "limits:\n  api:\n    per_s: 100000\n    burst: 100000\n"
    return config


async def get_ok(http: aiohttp.ClientSession, url: str, params: dict | None = None) -> Reply:
    reply = await timed_get(http, url, params)
    if reply.status != 200:
        raise BenchError(f"GET {url} {params or ''} answered {reply.status}: {reply.body[:300].decode(errors='replace')}")
    return reply


def listing_params(kecamatan: str) -> dict[str, str]:
    return {"kecamatan": kecamatan, "limit": str(LISTING_LIMIT)}


async def post_import(http: aiohttp.ClientSession, base: str, token: str, cams: CameraSet) -> Reply:
    headers = {"Content-Type": "text/csv", "Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    async with http.post(f"{base}/api/admin/cameras/import", data=cams.csv_bytes, headers=headers,
                         timeout=aiohttp.ClientTimeout(total=180)) as response:
        body = await response.read()
    return Reply(response.status, body, (time.perf_counter() - started) * 1000)


async def probe_healthz(base: str, latency: Latency, stop: asyncio.Event) -> None:
    """/healthz on a second connection until `stop`: how long other callers wait while the
    node imports (work done on the event loop stalls every request)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        while not stop.is_set():
            latency.samples.append((await get_ok(http, f"{base}/healthz")).ms)
            await asyncio.sleep(0.01)


async def measure_import(http: aiohttp.ClientSession, base: str, token: str, cams: CameraSet, result: BackendResult) -> None:
    stop = asyncio.Event()
    probe = asyncio.create_task(probe_healthz(base, result.healthz_during_import, stop))
    try:
        reply = await post_import(http, base, token, cams)
    finally:
        stop.set()
        await probe
    result.import_s = reply.ms / 1000
    check_import(reply, cams)


async def measure_raw_write(redis_client: aioredis.Redis, cams: CameraSet, result: BackendResult) -> None:
    """The raw-write baseline, on the node's own Redis; also checks that its payload is what
    the registry stored, so the import ratio compares like with like."""
    sample = list(cams.stored)[:: max(1, cams.total // 5)]
    stored = await redis_client.hmget("{pantau}:cameras", sample)
    if any(json.loads(s or "null") != json.loads(cams.stored[i]) for i, s in zip(sample, stored)):
        result.notes.append("the raw-write payload differs from what the registry stored; the import ratio is approximate")
    result.raw_write_s = await raw_write_seconds(redis_client, cams.stored)


async def measure_cold_and_check(http: aiohttp.ClientSession, base: str, cams: CameraSet, result: BackendResult) -> None:
    """The first reads after the import (they rebuild the caches), then one listing of every
    kecamatan checked for correctness; none of these count in the percentiles."""
    reply = await get_ok(http, f"{base}/healthz")
    result.cold_healthz_ms = reply.ms
    result.problems += check_healthz(reply, cams)
    reply = await get_ok(http, f"{base}/api/regions")
    result.cold_regions_ms = reply.ms
    result.problems += check_regions(reply, cams)
    for index, kecamatan in enumerate(cams.kecamatan_codes):
        reply = await get_ok(http, f"{base}/api/cameras", listing_params(kecamatan))
        if index == 0:
            result.cold_listing_ms = reply.ms
        result.problems += check_listing(reply, kecamatan, cams)


async def measure_reads(http: aiohttp.ClientSession, base: str, cams: CameraSet, requests: int, result: BackendResult) -> None:
    """Sequential requests on one keep-alive connection, interleaved (healthz, regions,
    listing, the largest kecamatan's listing) so that a noisy moment hits the baseline and
    the listings alike."""
    for i in range(requests):
        kecamatan = cams.kecamatan_codes[i % len(cams.kecamatan_codes)]
        for latency, path, params in (
            (result.healthz, "/healthz", None),
            (result.regions, "/api/regions", None),
            (result.listing, "/api/cameras", listing_params(kecamatan)),
            (result.largest, "/api/cameras", listing_params(cams.largest_kecamatan)),
        ):
            reply = await get_ok(http, f"{base}{path}", params)
            latency.samples.append(reply.ms)
            latency.bytes = max(latency.bytes, len(reply.body))


async def measure_node(node: PantauNode, redis_client: aioredis.Redis, cams: CameraSet, requests: int, result: BackendResult) -> None:
    base = node.base_url
    # limit=1: every request reuses the same keep-alive connection, like one busy viewer.
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        # /healthz before the import: the per-request cost with an empty registry.
        for _ in range(min(requests, 100)):
            result.healthz_empty.samples.append((await get_ok(http, f"{base}/healthz")).ms)
        await measure_import(http, base, node.admin_token, cams, result)
        print(f"  import of {cams.total} cameras: {result.import_s:.2f} s", flush=True)
        await measure_raw_write(redis_client, cams, result)
        await measure_cold_and_check(http, base, cams, result)
        process = psutil.Process(node.pid)
        cpu_before = cpu_seconds(process)
        await measure_reads(http, base, cams, requests, result)
        result.cpu_ms_per_round = (cpu_seconds(process) - cpu_before) * 1000 / requests
    result.rss_mb = node.rss_mb()


async def bench_backend(backend: str, cams: CameraSet, requests: int, workdir: Path, log_level: str | None) -> BackendResult:
    result = BackendResult(backend, cams.total)
    token = secrets.token_urlsafe(24)
    redis_server = RedisServer(workdir / "redis") if backend == "redis" else None
    node: PantauNode | None = None
    embedded_pid: int | None = None
    redis_client: aioredis.Redis | None = None
    try:
        config = workdir / "node.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(node_config(), encoding="utf-8")
        extra_args = ["--config", str(config), *(["--log-level", log_level] if log_level else [])]
        if redis_server is not None:
            redis_server.start()
            extra_args += ["--redis-url", redis_server.url]
        node = PantauNode(workdir / "node", token, extra_args)
        node.start()
        print(f"  node up at {node.base_url}", flush=True)
        if redis_server is not None:
            redis_client = aioredis.from_url(redis_server.url, decode_responses=True)
        else:
            embedded_pid, socket_path = node.embedded_redis()
            redis_client = aioredis.Redis(unix_socket_path=socket_path, decode_responses=True)
        await measure_node(node, redis_client, cams, requests, result)
    finally:
        if redis_client is not None:
            await redis_client.aclose()
        if node is not None:
            code, result.stop_s = node.stop()
            if code != 0:
                result.problems.append(f"pantau serve exit code after SIGTERM: {code} (None = had to be killed)\n{node.log_tail()}")
        if embedded_pid is not None and kill_leftover(embedded_pid):
            result.problems.append(f"the embedded redis-server (pid {embedded_pid}) was still running after the node stopped")
        if redis_server is not None:
            redis_server.stop()
    return result


# -- report -----------------------------------------------------------------------------------

def _ms(value: float) -> str:
    return f"{value:.1f}"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def summary_table(results: list[BackendResult]) -> list[str]:
    lines = [
        "| backend | cameras | import s | import / raw write | regions p50 ms | regions p99 ms | cameras?kecamatan p50 ms "
        "| cameras?kecamatan p99 ms | healthz p99 ms | regions p99 / healthz p99 | cameras p99 / healthz p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r.error:
            lines.append(f"| {r.backend} | {r.cameras} | failed: {r.error.splitlines()[0]} |" + " |" * 8)
            continue
        lines.append(
            f"| {r.backend} | {r.cameras} | {r.import_s:.2f} | {r.import_ratio:.1f}x | {_ms(r.regions.p(50))} | {_ms(r.regions.p(99))} "
            f"| {_ms(r.listing.p(50))} | {_ms(r.listing.p(99))} | {_ms(r.healthz.p(99))} "
            f"| {r.latency_ratio(r.regions):.1f}x | {r.latency_ratio(r.listing):.1f}x |"
        )
    return lines


def detail_table(results: list[BackendResult]) -> list[str]:
    lines = [
        "| backend | raw write ms | healthz p50 empty / loaded ms | healthz max during import ms | regions p95 ms | cameras p95 ms "
        "| first healthz / regions / listing after import ms | regions body KB | listing body KB | node RSS MB | node stop s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r.error:
            continue
        rss = f"{r.rss_mb:.0f}" if r.rss_mb is not None else "?"
        lines.append(
            f"| {r.backend} | {r.raw_write_s * 1000:.0f} | {_ms(r.healthz_empty.p(50))} / {_ms(r.healthz.p(50))} "
            f"| {_ms(r.healthz_during_import.p(100))} | {_ms(r.regions.p(95))} | {_ms(r.listing.p(95))} "
            f"| {_ms(r.cold_healthz_ms)} / {_ms(r.cold_regions_ms)} / {_ms(r.cold_listing_ms)} "
            f"| {r.regions.bytes / 1024:.0f} | {r.listing.bytes / 1024:.0f} | {rss} | {r.stop_s:.2f} |"
        )
    return lines


def largest_table(results: list[BackendResult], cams: CameraSet) -> list[str]:
    """The biggest public listing, every round, beside how many requests of each endpoint took
    longer than the target: slow /healthz too means the machine (or the loop) stalled for
    everyone, slow listings alone mean the listing's own work."""
    code = cams.largest_kecamatan
    public = cams.public_by_kecamatan[code]
    lines = [
        f"Largest kecamatan: {code}, {cams.by_kecamatan[code]} cameras ({public} public; a page returns "
        f"{min(public, LISTING_LIMIT)}).",
        "",
        f"| backend | p50 ms | p95 ms | p99 ms | max ms | body KB | requests over {LATENCY_TARGET_P99_MS:.0f} ms: "
        "healthz / regions / listing / largest | listing max ms | healthz max ms | node CPU ms per round |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r.error:
            continue
        slow = " / ".join(str(sum(ms > LATENCY_TARGET_P99_MS for ms in lat.samples))
                          for lat in (r.healthz, r.regions, r.listing, r.largest))
        lines.append(
            f"| {r.backend} | {_ms(r.largest.p(50))} | {_ms(r.largest.p(95))} | {_ms(r.largest.p(99))} | {_ms(r.largest.p(100))} "
            f"| {r.largest.bytes / 1024:.0f} | {slow} | {_ms(r.listing.p(100))} | {_ms(r.healthz.p(100))} | {_ms(r.cpu_ms_per_round)} |"
        )
    return lines


def target_lines(results: list[BackendResult]) -> list[str]:
    lines = []
    for r in results:
        if r.error:
            lines.append(f"- {r.backend}: not measured ({r.error.splitlines()[0]})")
            continue
        lines += [
            f"- {r.backend}: import {r.import_s:.2f} s <= {IMPORT_TARGET_S:.0f} s: **{_verdict(r.import_s <= IMPORT_TARGET_S)}**",
            f"- {r.backend}: /api/regions p99 {_ms(r.regions.p(99))} ms <= {LATENCY_TARGET_P99_MS:.0f} ms: "
            f"**{_verdict(r.regions.p(99) <= LATENCY_TARGET_P99_MS)}**",
            f"- {r.backend}: /api/cameras?kecamatan p99 {_ms(r.listing.p(99))} ms <= {LATENCY_TARGET_P99_MS:.0f} ms: "
            f"**{_verdict(r.listing.p(99) <= LATENCY_TARGET_P99_MS)}**",
            f"- {r.backend}: largest kecamatan p99 {_ms(r.largest.p(99))} ms <= {LATENCY_TARGET_P99_MS:.0f} ms: "
            f"**{_verdict(r.largest.p(99) <= LATENCY_TARGET_P99_MS)}**",
        ]
    return lines


def report(results: list[BackendResult], cams: CameraSet, requests: int, log_level: str | None) -> str:
    header = [
        "# Registry benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()}); "
        f"{cams.total} TPS cameras ({cams.public_total} public) over {cams.kelurahan_count} kelurahan; "
        f"{requests} sequential requests per endpoint on one keep-alive connection, interleaved with /healthz; "
        f"node log level {log_level or 'default'}; ingest off.",
        "",
    ]
    body = [*summary_table(results), "", *largest_table(results, cams), "", "Targets:", "", *target_lines(results),
            "", "Details:", "", *detail_table(results)]
    findings = [f"- {r.backend}: {text}" for r in results for text in r.problems + r.notes]
    if findings:
        body += ["", "Problems and notes:", "", *findings]
    return "\n".join(header + body) + "\n"


# -- main -------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> list[BackendResult]:
    cams = build_camera_set(args.cameras)
    print(f"camera set: {cams.total} cameras ({cams.public_total} public), CSV {len(cams.csv_bytes) / 1e6:.1f} MB", flush=True)
    results = []
    for backend in args.backends:
        print(f"{backend}:", flush=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"pantau-bench-{backend}-"))
        try:
            results.append(await bench_backend(backend, cams, args.requests, workdir, args.node_log_level))
        except (BenchError, aiohttp.ClientError, OSError, ValueError) as exc:
            print(f"  FAILED: {exc}", file=sys.stderr, flush=True)
            results.append(BackendResult(backend, cams.total, error=str(exc) or type(exc).__name__))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    text = report(results, cams, args.requests, args.node_log_level)
    print("\n" + text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"written to {args.output}")
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CAMERAS} cameras and fewer requests (smoke test)")
    parser.add_argument("--cameras", type=int, help=f"number of TPS cameras (default {PEMILU_2024_TPS}; --quick: {QUICK_CAMERAS})")
    parser.add_argument("--requests", type=int, help="timed requests per endpoint (default 300; --quick: 50)")
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    parser.add_argument("--node-log-level", help="the node's --log-level (default: its own, INFO, which logs every request)")
    parser.add_argument("--timeout", type=float, default=300.0, help="stop everything after this many seconds (default 300)")
    parser.add_argument("--output", type=Path, help="Markdown report (default bench/results/registry.md, or registry-quick.md)")
    args = parser.parse_args(argv)
    args.cameras = args.cameras or (QUICK_CAMERAS if args.quick else PEMILU_2024_TPS)
    args.requests = args.requests or (50 if args.quick else 300)
    args.backends = BACKENDS if args.backend == "both" else (args.backend,)
    args.output = args.output or RESULTS_DIR / ("registry-quick.md" if args.quick else "registry.md")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench("registry bench", run, args, lambda results: any(r.error or r.problems for r in results))


if __name__ == "__main__":
    sys.exit(main())
