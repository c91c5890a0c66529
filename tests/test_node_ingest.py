"""The node as a process with ingest running: demo cameras come alive, and SIGTERM with many
cameras (some unreachable, some hanging) exits cleanly and quickly."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time

import pytest

from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.test_node_process import http

pytestmark = pytest.mark.timeout(120)


def states(node, token: str | None = None) -> dict[str, str]:
    path = "/api/admin/cameras?limit=5000" if token else "/api/cameras?limit=5000"
    return {c["id"]: c["status"]["state"] for c in http("GET", node.url + path, token)[1]["cameras"]}


def test_all_demo_cameras_are_online_within_10_s(start_node, tmp_path):
    started = time.monotonic()
    node = start_node("--data-dir", str(tmp_path / "d"))
    while time.monotonic() - started < 10:
        current = states(node)
        if len(current) == 176 and set(current.values()) == {"online"}:
            break
        time.sleep(0.25)
    assert len(current) == 176 and set(current.values()) == {"online"}, current
    cameras = http("GET", node.url + "/api/cameras?kecamatan=31.71.01")[1]["cameras"]
    recap = next(c for c in cameras if c["kind"] == "recap")
    status = recap["status"]
    assert (status["codec"], status["mode"], status["width"], status["height"]) == ("h264", "passthrough", 480, 270)
    assert status["last_keyframe_at"] and status["picture"] == "ok"
    node.stop()
    assert node.process.returncode == 0


class SilentServer:
    """Accepts TCP connections and never answers: a camera that hangs mid-handshake."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        for conn in self.held:
            conn.close()
        self.sock.close()


def test_sigterm_with_40_cameras_exits_within_5_s(start_node, tmp_path, node_env):
    camera = RtspCameraServer([Mount(path="/cam", width=640, height=360, gop_seconds=1)], log_dir=tmp_path / "cam").start()
    silent = SilentServer()
    token = node_env["PANTAU_ADMIN_TOKEN"]
    try:
        node = start_node("--no-demo", "--data-dir", str(tmp_path / "d"))
        sources = [camera.url("/cam")] * 30 + [f"rtsp://u:pw@127.0.0.1:{silent.port}/hang"] * 5 + ["rtsp://u:pw@127.0.0.1:1/closed"] * 5
        rows = "kind,region,tps,source\n" + "".join(f"tps,31.71.01.1001,{n + 1},{source}\n" for n, source in enumerate(sources))
        status, body = http("POST", node.url + "/api/admin/cameras/import", token, rows.encode(), "text/csv")
        assert status == 200 and body["created"] == 40
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            current = states(node, token)
            if sum(s == "online" for s in current.values()) == 30 and len(silent.held) >= 5:
                break
            time.sleep(0.25)
        assert sum(s == "online" for s in current.values()) == 30, json.dumps(current)
        started = time.monotonic()
        node.process.send_signal(signal.SIGTERM)
        code = node.process.wait(timeout=10)
        assert code == 0 and time.monotonic() - started < 5, (code, time.monotonic() - started, node.output()[-2000:])
        assert "Traceback" not in node.output()
    finally:
        silent.close()
        camera.stop()
