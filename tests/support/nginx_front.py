"""Debian's nginx in front of test relays, with the project's own site config
(configs/nginx-site.conf): the same locations and cache directives, only the upstream
addresses, the listen address and the file paths changed, run as this user from a prefix in
the test's tmp_path."""

from __future__ import annotations

import os
import pwd
import re
import socket
import subprocess
import time
from pathlib import Path

from .system_deps import require_binary

SITE_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "nginx-site.conf"


def site_config(relays: list[str], ingest: str, port: int, cache_dir: Path) -> str:
    """configs/nginx-site.conf with test addresses: `relays`/`ingest` as host:port."""
    text = SITE_CONFIG.read_text()
    text, count = re.subn(r"server relay:8080;", " ".join(f"server {r};" for r in relays), text)
    assert count == 1, "configs/nginx-site.conf: the relay upstream changed shape"
    text, count = re.subn(r"server ingest:8081;", f"server {ingest};", text)
    assert count == 1
    text, count = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", text)
    assert count == 1
    text, count = re.subn(r"/var/cache/nginx/pantau-hls", str(cache_dir), text)
    assert count == 1
    return text


class NginxFront:
    def __init__(self, prefix: Path, relays: list[str], ingest: str):
        self.prefix = prefix
        self.binary = require_binary("nginx")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        for name in ("logs", "temp", "cache"):
            (prefix / name).mkdir(parents=True, exist_ok=True)
        (prefix / "site.conf").write_text(site_config(relays, ingest, self.port, prefix / "cache"))
        temp = prefix / "temp"
        # Run as root (CI containers), nginx's workers would become `nobody` and could not write the
        # cache in tmp_path: they stay this user.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {prefix}/site.conf;
}}
""")
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> NginxFront:
        self.process = run_nginx(self.binary, self.prefix, self.port, timeout)
        return self

    def stop(self) -> None:
        stop_nginx(self.process)


def run_nginx(binary: str, prefix: Path, port: int, timeout: float, **popen: object) -> subprocess.Popen:
    """nginx with `prefix`/nginx.conf (checked first), once it accepts connections on `port`."""
    args = [binary, "-p", str(prefix), "-e", str(prefix / "logs/error.log"), "-c", str(prefix / "nginx.conf")]
    check = subprocess.run([*args, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(args, stderr=subprocess.PIPE, **popen)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            assert process.poll() is None, process.stderr.read().decode()
            time.sleep(0.05)
    process.kill()
    raise AssertionError("nginx did not start")


def stop_nginx(process: subprocess.Popen | None) -> None:
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
