"""What a takeover leaves in the surviving ingest worker's memory (issue 13, the soak's RSS miss).

    flock /tmp/pantau-bench.lock .venv/bin/python bench/takeover_memory.py --cycles 3 --out bench/results/takeover-memory.json

The soak saw ingest B's RSS step up at each takeover of ingest A's 22 cameras and only half of
it come back after the hand-back (161 -> 172 -> 178 -> 179 MB). This reproduces that alone: a
site of registry Redis, bus Redis, two `pantau ingest` workers and the soak's 40 cameras (five
GStreamer camera processes), no relay and no viewers. After a settling minute, each cycle
SIGKILLs worker A (B takes its cameras over), waits, restarts A (B hands them back), waits. At
each step B's memory is read from /proc (RSS, [heap], anonymous mappings by size, threads) and,
through gdb, from inside (`malloc_trim(0)` given back, CPython's arenas and allocated blocks, live
objects by type, Python threads), so a growth can be placed: Python objects, CPython arenas,
glibc's heap, or native mappings (decoders, thread stacks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psutil
import redis.asyncio as aioredis
from bus_support import IngestNode, start_bus_redis
from camera_set import REPO
from processes import BenchError, RedisServer, node_env
from soak import camera_layout, cameras_csv

sys.path.insert(0, str(REPO))
from pantau.runtime.leases import lease_key, worker_of  # noqa: E402
from tests.support.rtsp_camera import RtspCameraServer  # noqa: E402

MB = 2**20
# Run inside the worker through gdb (GIL taken): what Python holds, written as one JSON line.
_INSIDE = r"""
import gc as _gc, json as _json, os as _os, sys as _sys, threading as _th, collections as _co
_gc.collect()
_r, _w = _os.pipe()
_saved = _os.dup(2); _os.dup2(_w, 2)
try:
    _sys._debugmallocstats()
finally:
    _os.dup2(_saved, 2); _os.close(_saved); _os.close(_w)
_text = _os.read(_r, 1 << 20).decode(errors="replace"); _os.close(_r)
_arena = [l for l in _text.splitlines() if l.startswith("# arenas allocated current") or "unused pools *" in l or l.startswith("# bytes in allocated blocks")]
_types = _co.Counter(type(o).__name__ for o in _gc.get_objects())
with open(%r, "a") as _f:
    _f.write(_json.dumps({"blocks": _sys.getallocatedblocks(), "objects": sum(_types.values()),
                          "python_threads": [t.name for t in _th.enumerate()], "arenas": _arena,
                          "types": dict(_types.most_common(40))}) + "\n")
"""


def mappings(pid: int) -> dict:
    """RSS by kind of mapping: [heap] (glibc's main arena), [stack], anonymous mappings by size
    (8 MB ones are thread stacks; 64 MB-aligned pieces glibc's other arenas; 1 MB CPython arenas;
    the rest large mallocs and native buffers), and files."""
    kinds: Counter[str] = Counter()
    current, size_kb = "file", 0
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                name = parts[5] if len(parts) > 5 else ""
                start, end = (int(x, 16) for x in parts[0].split("-"))
                size_kb = (end - start) // 1024
                if name == "[heap]":
                    current = "heap"
                elif name == "[stack]":
                    current = "main stack"
                elif name:
                    current = "file"
                elif size_kb in (8192, 8188):
                    current = "anon 8 MB (thread stacks)"
                elif size_kb >= 16384:
                    current = "anon >= 16 MB (glibc arenas)"
                else:
                    current = "anon < 16 MB"
            elif parts[0] == "Rss:":
                kinds[current] += int(parts[1])
    return {k: round(v / 1024, 1) for k, v in sorted(kinds.items())}


def gdb_python(pid: int, code: str) -> bool:
    gdb = shutil.which("gdb")
    if gdb is None:
        return False
    commands = ["set $g = (int) PyGILState_Ensure()", f"call (int) PyRun_SimpleString({json.dumps(code)})",
                "call (void) PyGILState_Release($g)"]
    args = [gdb, "-p", str(pid), "-batch", "-nx"] + [x for c in commands for x in ("-ex", c)]
    try:
        subprocess.run(args, capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return False
    return True


def malloc_info(pid: int, path: Path) -> dict:
    """glibc's own account (malloc_info through gdb): per arena the bytes it has from the system
    and the bytes free inside it (fast bins, the rest), and the large blocks mmapped apart."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return {}
    commands = [f'set $f = (void *) fopen("{path}", "w")', "call (int) malloc_info(0, $f)", "call (int) fclose($f)"]
    subprocess.run([gdb, "-p", str(pid), "-batch", "-nx"] + [x for c in commands for x in ("-ex", c)], capture_output=True, timeout=60, check=False)
    try:
        xml = path.read_text()
    except OSError:
        return {}
    arenas = []
    for heap in re.findall(r'<heap nr="\d+">(.*?)</heap>', xml, re.S):
        free = sum(int(size) for kind, size in re.findall(r'<total type="(fast|rest)" count="\d+" size="(\d+)"/>', heap) for _ in [kind])
        system = re.search(r'<system type="current" size="(\d+)"/>', heap)
        arenas.append({"system_mb": round(int(system.group(1)) / MB, 1) if system else None, "free_inside_mb": round(free / MB, 1)})
    tail = xml.rsplit("</heap>", 1)[-1]
    mmap = re.search(r'<total type="mmap" count="(\d+)" size="(\d+)"/>', tail)
    return {"arenas": arenas, "mmapped_blocks": int(mmap.group(1)) if mmap else None,
            "mmapped_mb": round(int(mmap.group(2)) / MB, 1) if mmap else None}


def malloc_trim(pid: int) -> None:
    gdb = shutil.which("gdb")
    if gdb:
        subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "call (int) malloc_trim(0)"], capture_output=True, timeout=60, check=False)


def look(pid: int, inside_file: Path, label: str, deep: bool) -> dict:
    process = psutil.Process(pid)
    sample = {"label": label, "at": datetime.now(UTC).strftime("%H:%M:%S"), "rss_mb": round(process.memory_info().rss / MB, 1),
              "threads": process.num_threads(), "fds": process.num_fds(), "load1": round(os.getloadavg()[0], 1), "maps": mappings(pid)}
    if deep:
        sample["malloc_info"] = malloc_info(pid, inside_file.with_name("malloc_info.xml"))
        malloc_trim(pid)
        time.sleep(0.5)
        sample["rss_after_trim_mb"] = round(process.memory_info().rss / MB, 1)
        sample["maps_after_trim"] = mappings(pid)
        before = inside_file.read_text().count("\n") if inside_file.exists() else 0
        if gdb_python(pid, _INSIDE % str(inside_file)):
            lines = inside_file.read_text().splitlines() if inside_file.exists() else []
            if len(lines) > before:
                sample["inside"] = json.loads(lines[-1])
    return sample


class Site:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.token = "adm-takeover-memory-0123456789"
        self.registry = RedisServer(workdir / "registry")
        self.bus = None
        self.mounts, self.specs = camera_layout()
        self.servers = [RtspCameraServer(mounts, log_dir=workdir / f"camera-{n}") for n, mounts in enumerate(self.mounts)]
        self.workers: dict[str, IngestNode] = {}

    def args(self, name: str) -> list[str]:
        return ["--redis-url", self.registry.url, "--bus-redis-url", self.bus.url, "--node-id", name]

    def start(self) -> None:
        self.registry.start()
        self.bus = start_bus_redis(self.workdir / "bus")
        for server in self.servers:
            server.start(20)
        urls = {spec.id: self.servers[spec.server].url(spec.mount) for spec in self.specs}
        path = self.workdir / "cameras.csv"
        path.write_bytes(cameras_csv(self.specs, urls, 0))
        done = subprocess.run([sys.executable, "-m", "pantau.cli", "cameras", "import", str(path), "--mode", "upsert",
                               "--redis-url", self.registry.url], cwd=REPO, env=node_env(self.token), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise BenchError(f"pantau cameras import answered {done.returncode}: {done.stderr[-500:]}")
        for name in ("ingest-a", "ingest-b"):
            self.workers[name] = IngestNode(self.workdir / name, self.token, self.args(name))
            self.workers[name].start()

    async def held_by(self) -> Counter:
        client = aioredis.from_url(self.bus.url, decode_responses=True)
        try:
            values = await client.mget([lease_key(s.id) for s in self.specs])
        finally:
            await client.aclose()
        return Counter(worker_of(v) or "none" for v in values)

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        for server in self.servers:
            server.stop()
        for redis_server in (self.bus, self.registry):
            if redis_server is not None:
                redis_server.stop()


async def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="pantau-takeover-"))
    site = Site(workdir)
    inside = workdir / "inside.jsonl"
    samples: list[dict] = []
    try:
        await asyncio.to_thread(site.start)
        b = site.workers["ingest-b"]

        async def step(label: str, deep: bool = True) -> None:
            sample = await asyncio.to_thread(look, b.process.pid, inside, label, deep)
            sample["leases"] = dict(await site.held_by())
            samples.append(sample)
            print(json.dumps({k: v for k, v in sample.items() if k not in ("inside",)}), flush=True)

        await asyncio.sleep(args.settle_s)
        await step("settled")
        for cycle in range(1, args.cycles + 1):
            a = site.workers["ingest-a"]
            a.process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(a.process.wait, 10)
            await asyncio.sleep(args.wait_s)
            await step(f"cycle {cycle}: B holds A's cameras")
            await asyncio.to_thread(a.start)
            await asyncio.sleep(args.wait_s)
            await step(f"cycle {cycle}: handed back")
    finally:
        await asyncio.to_thread(site.stop)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")
    return {"started": datetime.now(UTC).isoformat(timespec="seconds"), "cycles": args.cycles, "wait_s": args.wait_s, "samples": samples}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--wait-s", type=float, default=45, help="after each kill and each restart")
    parser.add_argument("--settle-s", type=float, default=60)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
