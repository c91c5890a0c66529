"""Drive the RTSP test camera (`rtsp_camera_server.py`) from the venv's tests.

The server needs GStreamer's `gi` bindings, which only Debian's /usr/bin/python3 has, so it runs as a
child process; this module itself imports nothing beyond the standard library.

    camera = RtspCameraServer([Mount(path="/cam", gop_seconds=2), Mount(path="/sec", auth=("digest",))])
    camera.start()
    camera.url("/cam")                                  # rtsp://127.0.0.1:PORT/cam
    camera.url("/sec", user="camera", password="secret")
    camera.restart()                                    # same port: a camera that rebooted
    camera.tamper("/scene", "turn")                     # a tamperable mount: turned (see TAMPER_ACTIONS)
    camera.stop()
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO
from urllib.parse import quote

from .rtsp_camera_server import TAMPER_ACTIONS, Mount, default_mounts
from .system_deps import missing_binary

__all__ = ["DEBIAN_PYTHON", "TAMPER_ACTIONS", "Mount", "RtspCameraError", "RtspCameraServer", "SERVER_SCRIPT", "default_mounts"]

DEBIAN_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_camera_server.py")


class RtspCameraError(RuntimeError):
    """The camera process did not start (the message carries its stderr)."""


class RtspCameraServer:
    """One RTSP camera process on 127.0.0.1 serving `mounts`; restartable on the same port.

    `port=0` lets the first start pick a free port; later starts reuse it. The server's stdout events
    give `connections` (RTSP connections accepted, over all starts) and `open_connections` (open on
    the current process), e.g. for "the relay holds exactly one camera connection". Its stderr is kept
    in memory (`stderr()`) and, with `log_dir`, also written to `log_dir/start-N.log`.
    """

    def __init__(self, mounts: Iterable[Mount] | None = None, port: int = 0, log_dir: Path | str | None = None):
        self.mounts = list(default_mounts() if mounts is None else mounts)
        self.port = port
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.process: subprocess.Popen[str] | None = None
        self._starts = 0
        self._lock = threading.Lock()
        self._events: list[str] = []
        self._events_at_start = 0  # index in _events where the current process's events begin
        self._stderr: list[str] = []  # all starts, in order
        self._ready = threading.Event()  # set on READY, or on stdout EOF (then _listening stays False)
        self._listening = False
        self._threads: list[threading.Thread] = []

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> RtspCameraServer:
        """Spawn the server, return once it listens (printed READY); else RtspCameraError with its stderr."""
        if self.running:
            raise RtspCameraError("RTSP camera already running")
        if message := missing_binary(DEBIAN_PYTHON):
            raise RtspCameraError(message)
        self._starts += 1
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}  # no venv paths
        args = [DEBIAN_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port), "--parent-pid", str(os.getpid()),
                "--config", json.dumps({"mounts": [m.to_json() for m in self.mounts]})]
        self._ready.clear()
        self._listening = False
        process = self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # stdin: tamper()
        # Threads drain both pipes for the whole life of the process, so a full pipe can never block
        # the server; stdout carries READY then the client events.
        log_file = (self.log_dir / f"start-{self._starts}.log") if self.log_dir else None
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(process,), daemon=True, name="rtsp-camera-stdout"),
            threading.Thread(target=self._read_stderr, args=(process.stderr, log_file), daemon=True, name="rtsp-camera-stderr"),
        ]
        for thread in self._threads:
            thread.start()
        ready = self._ready.wait(timeout)
        if not (ready and self._listening):
            if ready:  # stdout closed without READY: the process is exiting; let it, to report its code
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            exited = process.poll() is not None
            self.stop(timeout=2)
            what = f"exited with code {process.returncode}" if exited else f"was not ready within {timeout} s"
            raise RtspCameraError(f"RTSP camera {what}; stderr:\n{self.stderr(last_start_only=True)[-4000:]}")
        return self

    def stop(self, timeout: float = 5.0, kill: bool = False) -> int | None:
        """SIGTERM (SIGKILL with kill=True: a crashed camera), SIGKILL after `timeout`; returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for thread in self._threads:
            thread.join(timeout=2)
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        return process.returncode

    def tamper(self, path: str, action: str, timeout: float = 5.0) -> float:
        """Do `action` (TAMPER_ACTIONS; "none" undoes) to the tamperable mount at `path`; returns
        time.monotonic() once the camera process has applied it."""
        if action not in TAMPER_ACTIONS or not self.mount(path).tamperable:
            raise ValueError(f"{path} is not a tamperable mount, or {action!r} is not one of {TAMPER_ACTIONS}")
        process = self.process
        if process is None or process.stdin is None or not self.running:
            raise RtspCameraError("the RTSP camera is not running")
        answer = f"TAMPERED {path} {action}"
        seen = self.events.count(answer)
        process.stdin.write(f"TAMPER {path} {action}\n")
        process.stdin.flush()
        self.wait_until(lambda camera: camera.events.count(answer) > seen, timeout)
        return time.monotonic()

    def kill(self) -> int | None:
        """Abrupt death (SIGKILL): no RTSP teardown; clients' reads end as they would on a power cut."""
        return self.stop(kill=True)

    def restart(self, down_for: float = 0.0, kill: bool = False, timeout: float = 10.0) -> RtspCameraServer:
        """Stop (or kill), stay down `down_for` seconds, start again on the same port."""
        self.stop(kill=kill)
        if down_for:
            time.sleep(down_for)
        return self.start(timeout=timeout)

    def __enter__(self) -> RtspCameraServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ---- addresses -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def url(self, mount: str | Mount = "/h264", user: str | None = None, password: str | None = None) -> str:
        """rtsp://[user[:password]@]127.0.0.1:PORT/mount, with the credentials percent-encoded."""
        if not self.port:
            raise RtspCameraError("RTSP camera has no port yet; start() it first")
        path = mount.path if isinstance(mount, Mount) else mount
        if not path.startswith("/"):
            path = "/" + path
        userinfo = ""
        if user is not None:
            userinfo = quote(user, safe="")
            if password is not None:
                userinfo += ":" + quote(password, safe="")
            userinfo += "@"
        return f"rtsp://{userinfo}127.0.0.1:{self.port}{path}"

    def mount(self, path: str) -> Mount:
        return next(m for m in self.mounts if m.path == path)

    # ---- observation -----------------------------------------------------------------------

    def stderr(self, last_start_only: bool = False) -> str:
        with self._lock:
            lines = list(self._stderr)
        if last_start_only:
            marks = [i for i, line in enumerate(lines) if line.startswith("--- start ")]
            lines = lines[marks[-1]:] if marks else lines
        return "\n".join(lines)

    @property
    def events(self) -> list[str]:
        with self._lock:
            return list(self._events)

    @property
    def connections(self) -> int:
        return sum(e.startswith("CLIENT-CONNECTED") for e in self.events)

    @property
    def open_connections(self) -> int:
        """Open connections of the current process (a stopped camera has none)."""
        if not self.running:
            return 0
        with self._lock:
            events = self._events[self._events_at_start:]
        return sum(e.startswith("CLIENT-CONNECTED") for e in events) - sum(e.startswith("CLIENT-CLOSED") for e in events)

    def wait_until(self, condition: Callable[[RtspCameraServer], bool], timeout: float = 10.0) -> None:
        """Poll `condition(self)`, e.g. `lambda cam: cam.open_connections == 1` (events arrive asynchronously)."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise TimeoutError(f"RTSP camera condition not met within {timeout} s; events: {self.events[-20:]}")
            time.sleep(0.02)

    def _read_stdout(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.strip()
            if line.startswith("READY "):
                self.port = int(line.rsplit(":", 1)[1])
                with self._lock:
                    self._events_at_start = len(self._events)
                self._listening = True
                self._ready.set()
            elif line:
                with self._lock:
                    self._events.append(line)
        self._ready.set()  # EOF: the process is gone; start() then reports its stderr

    def _read_stderr(self, stream: IO[str], log_file: Path | None) -> None:
        with self._lock:
            self._stderr.append(f"--- start {self._starts}")
        if log_file:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        log = log_file.open("w") if log_file else None
        try:
            for line in stream:
                with self._lock:
                    self._stderr.append(line.rstrip("\n"))
                if log:
                    log.write(line)
                    log.flush()
        finally:
            if log:
                log.close()
