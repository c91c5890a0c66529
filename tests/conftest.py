"""Shared fixtures: real Redis servers (Debian's redis-server on a free loopback port, and the
product's own embedded Redis), registries on both, and a running `pantau serve` process."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from pantau.cameras.regions import dki_regions
from pantau.cameras.registry import Registry
from pantau.runtime.embedded_redis import EmbeddedRedis
from tests.support.system_deps import require_binary

pytest_plugins = ["tests.support.sound_cameras"]  # `sound_cameras`: GStreamer cameras with sound

PANTAU = str(Path(sys.executable).with_name("pantau"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A Debian redis-server on 127.0.0.1 with the append-only file on (or, `persistent=False`,
    nothing on disk: a stream bus), restartable on the same port."""

    def __init__(self, directory: Path, persistent: bool = True):
        self.directory = directory
        self.persistent = persistent
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [require_binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "everysec", "--save", "", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=1).ping():
                    return
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=10)

    def restart(self, kill: bool = False) -> None:
        self.stop(kill)
        self.start()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    directory = tmp_path / "site-redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    yield server
    server.stop(kill=True)


@pytest.fixture(params=["site-redis", "embedded"])
async def registry_redis(request, tmp_path: Path) -> AsyncIterator[aioredis.Redis]:
    """A Redis client on each backend the product supports; the same tests run on both."""
    if request.param == "site-redis":
        server = request.getfixturevalue("redis_server")
        url = server.url
        embedded = None
    else:
        embedded = EmbeddedRedis(tmp_path / "data")
        url = embedded.start()
    client = aioredis.from_url(url, decode_responses=True)
    yield client
    await client.aclose()
    if embedded:
        embedded.stop()


@pytest.fixture
async def registry(registry_redis: aioredis.Redis) -> Registry:
    return Registry(registry_redis, dki_regions())


class NodeProcess:
    """`pantau serve` in a subprocess; every line it prints is kept for secret scans."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, command: str = "serve"):
        self.args = args
        self.env = env
        self.log_path = log_path
        self.command = command  # serve | ingest | relay
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 30) -> NodeProcess:
        """Start (or start again after a stop); returns once this start printed its URL."""
        starts_before = len(self._urls())
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([PANTAU, self.command, "--port", "0", *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            urls = self._urls()
            if len(urls) > starts_before:
                self.url = urls[-1]
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"pantau {self.command} exited {self.process.returncode}:\n{self.output()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"pantau {self.command} did not start:\n{self.output()[-3000:]}")

    def _urls(self) -> list[str]:
        return re.findall(r"Pantau(?: \w+)? is running at (http://\S+?)/ ", self.output())

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode if self.process else None


@pytest.fixture
def node_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}
    env["PANTAU_ADMIN_TOKEN"] = "adm-" + secrets.token_urlsafe(16)
    env["HOME"] = str(tmp_path / "home")
    return env


@pytest.fixture
def start_node(tmp_path: Path, node_env: dict[str, str]):
    nodes: list[NodeProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, command: str = "serve") -> NodeProcess:
        node = NodeProcess(list(args), env or node_env, tmp_path / f"node-{len(nodes)}.log", command)
        nodes.append(node)
        return node.start()

    yield start
    for node in nodes:
        try:
            node.stop(signal.SIGKILL)
        except Exception:
            pass
    # Embedded Redis servers left by killed nodes in this test's data dirs.
    for pid_file in tmp_path.rglob("redis/server.json"):
        try:
            os.kill(json.loads(pid_file.read_text())["pid"], signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass


class RelayNode:
    """A running `pantau serve` (ingest + relay) reachable over HTTP, with admin helpers."""

    def __init__(self, node: NodeProcess, admin_token: str):
        self.node = node
        self.url = node.url
        self.admin_token = admin_token

    def request(self, method: str, path: str, body: dict | bytes | None = None, token: str | None = None,
                content_type: str = "application/json") -> tuple[int, dict | str]:
        import urllib.error
        import urllib.request

        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw, status, kind = response.read(), response.status, response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            raw, status, kind = exc.read(), exc.code, exc.headers.get_content_type()
        return status, json.loads(raw) if kind == "application/json" and raw else raw.decode(errors="replace")

    def add_camera(self, camera_id: str, source: str, **fields) -> dict:
        body = {"id": camera_id, "kind": "tps", "region": "31.71.01.1001", "tps": fields.pop("tps", len(camera_id) % 900 + 1),
                "source": source, **fields}
        status, data = self.request("POST", "/api/admin/cameras", body, self.admin_token)
        assert status == 201, data
        return data

    def status(self, camera_id: str) -> dict:
        status, data = self.request("GET", f"/api/admin/cameras/{camera_id}", token=self.admin_token)
        assert status == 200, data
        return data["status"]

    def wait_state(self, camera_id: str, state: str, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.status(camera_id)
            if current["state"] == state:
                return current
            time.sleep(0.1)
        raise AssertionError(f"{camera_id} never became {state}: {current}")


@pytest.fixture
def make_relay_node(start_node, tmp_path: Path, node_env: dict[str, str]):
    """Start a node for relay tests: loopback ICE on, fast reconnects, no demo set."""

    def make(**settings: str) -> RelayNode:
        env = {**node_env, "PANTAU_RELAY__ICE__INCLUDE_LOOPBACK": "true", "PANTAU_INGEST__BACKOFF_INITIAL_S": "0.3",
               "PANTAU_INGEST__BACKOFF_CAP_S": "1.0"}
        env.update({f"PANTAU_{k.upper()}": v for k, v in settings.items()})
        node = start_node("--no-demo", "--data-dir", str(tmp_path / f"relay-{secrets.token_hex(3)}"), env=env)
        return RelayNode(node, node_env["PANTAU_ADMIN_TOKEN"])

    return make


@pytest.fixture
def relay_node(make_relay_node) -> RelayNode:
    return make_relay_node()
