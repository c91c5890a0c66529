"""The processes a benchmark run starts: a Debian redis-server, `pantau serve` nodes, and RTSP
clients (ffmpeg, bare PyAV demux).

Everything listens on 127.0.0.1 only. Stopping is synchronous and bounded so it can run in
`finally` blocks even while the run is being cancelled by its deadline.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
from camera_set import REPO

REDIS_SERVER = "/usr/bin/redis-server"
FFMPEG = "/usr/bin/ffmpeg"
_BANNER = re.compile(r"Pantau(?: \w+)? is running at (http://\S+?)/\s")
STOP_TIMEOUT_S = 20.0


class BenchError(RuntimeError):
    """Something broke (as opposed to a target being missed)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> tuple[int | None, float]:
    """SIGTERM, wait, SIGKILL if needed; returns (exit code, seconds the clean stop took).
    The exit code is None when the process had to be killed."""
    if process.poll() is not None:
        return process.returncode, 0.0
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout_s)
        return code, time.monotonic() - started
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        return None, time.monotonic() - started


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class RedisServer:
    """Debian's redis-server as a site would run it: append-only, fsync every second, no RDB."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 15.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "redis-server.log", "wb") as log:
            self.process = subprocess.Popen(
                [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--protected-mode", "yes",
                 "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--dir", str(self.directory),
                 "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"redis-server exited with code {self.process.returncode}; see {self.directory}/redis-server.log")
            try:
                if redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping():
                    return
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.05)
        raise BenchError(f"redis-server on port {self.port} did not answer within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


def node_env(admin_token: str) -> dict[str, str]:
    """The caller's environment minus any PANTAU_* settings (so a developer's shell cannot
    change what is measured), plus the admin token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}
    env["PANTAU_ADMIN_TOKEN"] = admin_token
    # Bench this checkout, whatever the venv has installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


class PantauNode:
    """`pantau serve --no-demo --port 0` (with `demo=True`: seeding the demo set, the default a
    site gets) in its own working directory; stdout/stderr go to files (a pipe nobody drains
    would eventually block the node's logging). `role="relay"` (or `"ingest"`) starts a site's
    `pantau relay` instead (extra_args then carry --redis-url and the rest)."""

    def __init__(self, workdir: Path, admin_token: str, extra_args: list[str], demo: bool = False, role: str = "serve"):
        self.role = role
        self.workdir = workdir
        self.admin_token = admin_token
        self.extra_args = extra_args
        self.demo = demo
        self.process: subprocess.Popen | None = None
        self.base_url = ""
        self.stdout_path = workdir / "node.out"
        self.stderr_path = workdir / "node.err"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    def start(self, timeout_s: float = 60.0) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pantau.cli", self.role, *([] if self.demo or self.role != "serve" else ["--no-demo"]),
                   "--host", "127.0.0.1", "--port", "0", "--data-dir", str(self.data_dir), *self.extra_args]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(command, cwd=REPO, env=node_env(self.admin_token),
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            match = _BANNER.search(self.stdout_path.read_text(errors="replace"))
            if match:
                self.base_url = match.group(1)
                return self.base_url
            if self.process.poll() is not None:
                raise BenchError(f"pantau {self.role} exited with code {self.process.returncode}:\n{self.log_tail()}")
            time.sleep(0.05)
        raise BenchError(f"pantau {self.role} printed no 'Pantau is running at' line within {timeout_s:.0f} s:\n{self.log_tail()}")

    def embedded_redis(self) -> tuple[int, str]:
        """(pid, unix socket) of the node's private Redis, from the state file it writes."""
        state = json.loads((self.data_dir / "redis" / "server.json").read_text())
        return int(state["pid"]), state["socket"]

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float | None:
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except (OSError, AttributeError):
            return None
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        return int(match.group(1)) / 1024 if match else None

    def stop(self) -> tuple[int | None, float]:
        return stop_process(self.process) if self.process is not None else (None, 0.0)

    def log_tail(self, lines: int = 20) -> str:
        text = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def kill_leftover(pid: int) -> bool:
    """Kill a process the node should have stopped (its embedded Redis); True if one was left."""
    if not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGKILL)
    return True


class StreamClient:
    """A process reading RTSP that writes its progress (`frame=N` lines) to a file every 2 s,
    so the bench can check frames really flow: a stalled client costs no CPU and would
    flatter the baseline."""

    label = "client"

    def __init__(self, url: str, workdir: Path, name: str, command: list[str]):
        self.url = url
        self.progress_path = workdir / f"{name}.progress"
        self.stderr_path = workdir / f"{name}.err"
        self.command = command
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)

    @property
    def pid(self) -> int:
        return self.process.pid

    def frames(self) -> int:
        """Frames written so far (the last progress report; 0 before the first)."""
        try:
            counts = re.findall(r"^frame=(\d+)$", self.progress_path.read_text(errors="replace"), re.M)
        except OSError:
            return 0
        return int(counts[-1]) if counts else 0

    def check_running(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            error = self.stderr_path.read_text(errors="replace").strip()[-500:]
            raise BenchError(f"{self.label} on {self.url} exited with code {self.process.returncode}: {error}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout_s=5.0)


class FfmpegClient(StreamClient):
    """`ffmpeg -rtsp_transport tcp -i URL <output args> -f null -`: one RTSP client, the baseline
    a benchmark compares the node with."""

    label = "ffmpeg"

    def __init__(self, url: str, workdir: Path, name: str, output_args: list[str], input_args: list[str] | None = None):
        super().__init__(url, workdir, name, [
            FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-stats_period", "2", "-progress",
            str(workdir / f"{name}.progress"), *(input_args or []), "-rtsp_transport", "tcp", "-i", url, *output_args,
            "-f", "null", "-"])


class PyavDemuxClient(StreamClient):
    """bench/pyav_demux.py: `cameras` threads of bare PyAV demux in one process (the floor of a
    PyAV ingest); its progress counts the packets of all of them."""

    label = "PyAV demux"

    def __init__(self, url: str, workdir: Path, name: str, cameras: int):
        script = Path(__file__).resolve().parent / "pyav_demux.py"
        super().__init__(url, workdir, name, [sys.executable, str(script), url, str(cameras), str(workdir / f"{name}.progress")])
