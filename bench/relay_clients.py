"""The viewers of the relay benchmark's fan-out windows (`bench/relay.py`): the shared Janus
fan-out client (`../shared/bench/janus/fanout_bench.py`, run through `relay_support.py
fanout-client` for loopback ICE), the same aiortc viewers for every server: Janus through its
HTTP API, Pantau and stock aiortc through WHEP.

A window's viewers are spread over a few client processes (a Python process cannot receive
100 viewers' packets). Each negotiates its viewers, prints one line when they are connected,
keeps receiving for its `--warmup` + `--secs`, then prints its JSON figures (frames per viewer,
RTP packets) and ends every session (WHEP DELETE, Janus destroy). The server's CPU and memory
are measured by the bench itself over its own window, which starts once every client process
is connected and lies inside every client's receiving time.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from processes import BenchError

SUPPORT = Path(__file__).resolve().with_name("relay_support.py")
VIEWERS_PER_PROCESS = 10
LIGHT_VIEWERS_PER_PROCESS = 25  # light viewers (relay_light_viewer.py) cost a few µs a packet
LIGHT_PREFIX = "@light "
CONNECT_TIMEOUT_S = 120.0


@dataclass
class ClientFigures:
    """What the client processes of one window reported."""

    viewers: int
    connected: int = 0
    fps: list[float] = field(default_factory=list)  # per client process: its slowest viewer
    fps_avg: list[float] = field(default_factory=list)
    packets_per_viewer_s: list[float] = field(default_factory=list)
    codecs: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    light: dict = field(default_factory=dict)  # light viewers: packets, gaps, SRTP checks summed over processes
    samples: list[dict] = field(default_factory=list)  # light viewers: each process's sampled decode

    @property
    def fps_min(self) -> float:
        return min(self.fps, default=math.nan)


class FanoutClients:
    """`viewers` viewers of one server in ceil(viewers / VIEWERS_PER_PROCESS) client processes."""

    def __init__(self, server, viewers: int, hold_s: float, workdir: Path, light: bool = False, nice: int = 0):
        self.server = server
        self.light = light
        # (their processes' niceness: the machine's receivers yield to the server under test,
        # which in production has no viewers on its cores; the same for every server)
        self.nice = nice
        self.per_process = LIGHT_VIEWERS_PER_PROCESS if light else VIEWERS_PER_PROCESS
        self.viewers = viewers
        self.hold_s = hold_s  # receiving time after all are connected (the bench's window inside it)
        self.workdir = workdir
        self.processes: list[asyncio.subprocess.Process] = []
        self.figures = ClientFigures(viewers)

    def _arguments(self, peers: int, index: int) -> list[str]:
        target = ["--machine-address", "--target", "janus", "--janus", self.server.base_url, "--mountpoint", self.server.camera] \
            if self.server.name.startswith("Janus") else \
            ["--target", "whep", "--whep", f"{self.server.base_url}/whep/{self.server.camera}"]
        return [*(["nice", "-n", str(self.nice)] if self.nice else []), sys.executable, str(SUPPORT), "fanout-client", *(["--light"] if self.light else []), *target, "--server-pid", str(self.server.pid),
                "--peers", str(peers), "--warmup", "0", "--secs", f"{self.hold_s:g}", "--label", f"{self.server.name}-{index}"]

    async def connect(self) -> None:
        """Start the client processes; returns when every one has its viewers connected."""
        count = math.ceil(self.viewers / self.per_process)
        shares = [self.viewers // count + (1 if i < self.viewers % count else 0) for i in range(count)]
        for index, peers in enumerate(shares):
            err = open(self._stderr(index), "wb")
            self.processes.append(await asyncio.create_subprocess_exec(
                *self._arguments(peers, index), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=err))
            err.close()
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await asyncio.gather(*(self._negotiated(p) for p in self.processes))

    async def _negotiated(self, process: asyncio.subprocess.Process) -> None:
        while line := await process.stdout.readline():
            if b"peers negotiated" in line:
                return
        index = self.processes.index(process)
        tail = self._stderr(index).read_text(errors="replace").strip().splitlines()[-1:]
        raise BenchError(f"a fan-out client ended before its viewers connected (exit {await process.wait()}): {tail}")

    def _stderr(self, index: int) -> Path:
        return self.workdir / f"clients-{self.server.name.replace(' ', '-')}-{self.viewers}-{index}.err"

    async def finish(self) -> ClientFigures:
        """Wait for every client's figures (they end their sessions themselves)."""
        async with asyncio.timeout(self.hold_s + 90):
            outputs = await asyncio.gather(*(p.stdout.read() for p in self.processes))
            await asyncio.gather(*(p.wait() for p in self.processes))
        for process, output in zip(self.processes, outputs):
            lines = [line for line in output.decode(errors="replace").splitlines() if line.startswith("{")]
            for line in output.decode(errors="replace").splitlines():
                if line.startswith(LIGHT_PREFIX):
                    light = json.loads(line[len(LIGHT_PREFIX):])
                    self.figures.samples.append(light.pop("sample"))
                    for key, value in light.items():
                        self.figures.light[key] = self.figures.light.get(key, 0) + value
            if process.returncode != 0 or not lines:
                self.figures.errors.append(f"client exit {process.returncode}")
                continue
            report = json.loads(lines[-1])
            self.figures.connected += report["connected"]
            self.figures.fps.append(report["fps_min"])
            self.figures.fps_avg.append(report["fps_avg"])
            self.figures.packets_per_viewer_s.append(report["per_peer_rtp_pps"])
            self.figures.codecs.add(report["codec"])
        return self.figures

    async def kill(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
