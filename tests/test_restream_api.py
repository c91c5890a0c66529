"""Restream through the admin API of a running node: the stream key is write-only (no response,
CSV export, audit entry, event or line of the node's log carries it), `***` keeps it, a bad
destination gets a 422 naming its field, and the status says the restream is live."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.rtmp_server import RtmpServer
from tests.support.rtsp_camera import Mount, RtspCameraServer

KEY = "yt-live-4f7c-91ab-zz20-secret"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def camera(tmp_path):
    server = RtspCameraServer([Mount(path="/cam", gop_seconds=1, width=320, height=240, fps=25, bitrate_kbps=400)],
                              log_dir=tmp_path / "cam")
    server.start()
    yield server
    server.stop()


def restream_status(node, camera_id: str, state: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        restream = node.status(camera_id).get("restream") or {}
        if restream.get("state") == state:
            return restream
        time.sleep(0.2)
    raise AssertionError(f"restream never {state}: {node.status(camera_id)}")


def test_the_stream_key_is_write_only_and_the_restream_goes_live(make_relay_node, camera, tmp_path):
    rtmp = RtmpServer(tmp_path / "rtmp").start()
    node = make_relay_node()
    seen: list[str] = []

    def call(method: str, path: str, body=None, token: str | None = node.admin_token):
        status, data = node.request(method, path, body, token)
        seen.append(data if isinstance(data, str) else json.dumps(data))
        return status, data

    try:
        created = node.add_camera("cam", camera.url("/cam"), restream_url=rtmp.url, restream_key=KEY)
        seen.append(json.dumps(created))
        assert created["restream_key"] == "***" and created["restream_url"] == rtmp.url
        assert restream_status(node, "cam", "live")["reason"] is None

        status, body = call("PATCH", "/api/admin/cameras/cam", {"name": "Renamed", "restream_key": "***"})
        assert status == 200 and body["restream_key"] == "***"
        status, body = call("PATCH", "/api/admin/cameras/cam", {"restream_url": "rtmp://10.20.30.40/live"})
        assert status == 422 and "restream_key" in json.dumps(body)  # the key does not follow to another host
        status, body = call("PATCH", "/api/admin/cameras/cam", {"restream_url": "rtmp://169.254.169.254/live"})
        assert status == 422 and "restream_url" in json.dumps(body)
        status, body = call("PATCH", "/api/admin/cameras/cam", {"restream_url": "https://youtube.com/live", "restream_key": KEY})
        assert status == 422 and "restream_url" in json.dumps(body)

        status, body = call("GET", "/api/admin/cameras/cam")
        assert body["status"]["restream"]["state"] == "live"  # the renaming kept the key: still streaming
        call("GET", "/api/admin/cameras?limit=100")
        call("GET", "/api/admin/cameras.csv")
        status, body = call("GET", "/api/admin/audit")
        assert status == 200 and "restream_url" in json.dumps(body)
        status, body = call("GET", "/api/cameras/cam", token=None)
        assert status == 200 and "restream" not in json.dumps(body)  # the public sees nothing of it
        call("GET", "/api/cameras?limit=100", token=None)
    finally:
        node.node.stop()
        rtmp.stop()
    everything = "\n".join(seen)
    assert KEY not in everything, "the stream key reached an API response"
    assert KEY not in node.node.output(), "the stream key reached the node's log"
    assert "restreaming to " + rtmp.url in node.node.output()
