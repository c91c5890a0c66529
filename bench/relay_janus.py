"""Janus 1.1.2 (Debian's `janus`) with its streaming plugin pulling the bench's RTSP camera: the
C server the relay benchmark (`bench/relay.py`) measures Pantau's WebRTC fan-out against.

The configurations live beside the checkout, in `../shared/bench/janus/conf` (Janus's
defaults: one event-loop thread per viewer) and `conf_el2` (`event_loops = 2`, the tuned one);
they are used from there: copied to the bench's work directory with the camera URL, the HTTP
port, an RTP port range of its own (two Janus servers run side by side). Janus's libnice never offers a
loopback candidate, so Janus offers the machine's own address (the kernel delivers such
traffic through its loopback path, as for 127.0.0.1) and its viewers offer theirs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from camera_set import REPO
from processes import BenchError, stop_process

JANUS_CONFIGS = REPO.parent / "shared" / "bench" / "janus"
JANUS_BINARY = "janus"


class ServerProcess:
    """A server the bench started as a child process (Janus here, stock aiortc in relay.py)."""

    process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout_s=10.0)


class JanusServer(ServerProcess):
    """One Janus process; `base_url` is its HTTP API (`/janus`), mountpoint 1 the camera."""

    camera = "1"  # the streaming plugin's mountpoint id

    def __init__(self, name: str, config: str, rtsp_url: str, workdir: Path, http_port: int, rtp_ports: tuple[int, int]):
        self.name = name
        self.directory = workdir / name.replace(" ", "-").replace(",", "").replace("=", "")
        self.rtsp_url = rtsp_url
        self.http_port = http_port
        self.rtp_ports = rtp_ports
        self.source = JANUS_CONFIGS / config
        self.process: subprocess.Popen | None = None
        self.base_url = f"http://127.0.0.1:{http_port}/janus"

    def _configure(self) -> None:
        if not self.source.is_dir():
            raise BenchError(f"no Janus configuration at {self.source} (../shared/bench/janus/ beside the checkout)")
        shutil.copytree(self.source, self.directory)
        main = self.directory / "janus.jcfg"
        text = main.read_text()
        text = re.sub(r'configs_folder = "[^"]*"', f'configs_folder = "{self.directory}"', text)
        text = re.sub(r'rtp_port_range = "[^"]*"', f'rtp_port_range = "{self.rtp_ports[0]}-{self.rtp_ports[1]}"', text)
        main.write_text(text)
        streaming = self.directory / "janus.plugin.streaming.jcfg"
        streaming.write_text(re.sub(r'url = "rtsp://[^"]*"', f'url = "{self.rtsp_url}"', streaming.read_text()))
        http = self.directory / "janus.transport.http.jcfg"
        http.write_text(re.sub(r"\bport = \d+", f"port = {self.http_port}", http.read_text()))

    def start(self, timeout_s: float = 40.0) -> JanusServer:
        if shutil.which(JANUS_BINARY) is None:
            raise BenchError("janus is not installed (apt-get install janus: Debian 12 has 1.1.2)")
        self._configure()
        log = self.directory / "janus.log"
        self.process = subprocess.Popen([JANUS_BINARY, "-F", str(self.directory), "-C", str(self.directory / "janus.jcfg"),
                                         "-L", str(log), "-N", "-o"], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            # Up once the HTTP API answers and the mountpoint has the camera's video (a viewer
            # that asks before gets an SDP without media).
            if log.exists() and "New video stream" in log.read_text(errors="replace") and self._api_answers():
                return self
            time.sleep(0.2)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise BenchError(f"{self.name} did not start:\n{tail}")

    def _api_answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/info", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    async def sessions(self, http) -> dict:
        return {}  # (Janus's admin API is off in these configurations)

    async def latency(self, http) -> dict | None:
        return None
