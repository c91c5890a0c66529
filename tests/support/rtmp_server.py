"""Debian's nginx with libnginx-mod-rtmp as the RTMP server a restream pushes to (the part of
YouTube Live or a KPU server in the tests): one `live` application on a free loopback port, run
as this user from a prefix in the test's tmp_path. It can be killed (-9) and started again on
the same port, as a server that restarts."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from .nginx_front import run_nginx, stop_nginx
from .system_deps import require_binary

RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
RTMP_MODULE_PACKAGE = "libnginx-mod-rtmp"


def require_rtmp_module() -> str:
    if not os.path.exists(RTMP_MODULE):
        pytest.fail(f"{RTMP_MODULE} is missing: install the Debian package {RTMP_MODULE_PACKAGE} "
                    f"(scripts/test.sh installs it)", pytrace=False)
    return RTMP_MODULE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RtmpServer:
    def __init__(self, prefix: Path, application: str = "live"):
        self.binary = require_binary("nginx")
        module = require_rtmp_module()
        self.prefix = prefix
        self.port = free_port()
        self.application = application
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(f"""
load_module {module};
{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log info;
events {{ worker_connections 256; }}
rtmp {{
    server {{
        listen 127.0.0.1:{self.port};
        application {application} {{
            live on;
            record off;
            wait_key on;  # a player starts at a keyframe
        }}
        application closed {{  # refuses every publisher, as a platform refuses a wrong key
            live on;
            deny publish all;
        }}
    }}
}}
""")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The destination a camera is given: rtmp://127.0.0.1:port/live (the key goes apart)."""
        return f"rtmp://127.0.0.1:{self.port}/{self.application}"

    def start(self, timeout: float = 10.0) -> RtmpServer:
        # Its own process group: kill() takes the worker down with the master, as a crash would.
        self.process = run_nginx(self.binary, self.prefix, self.port, timeout, start_new_session=True)
        return self

    def kill(self) -> None:
        """kill -9 of the master and its worker."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self.process = None

    def pause(self, paused: bool = True) -> None:
        """SIGSTOP (or SIGCONT): the server keeps its sockets but answers nothing, as a stuck one."""
        os.killpg(self.process.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def stop(self) -> None:
        stop_nginx(self.process)
        self.process = None
