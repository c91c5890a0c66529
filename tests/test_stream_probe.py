"""The connection test (pantau/media/stream_probe.py and POST /api/admin/probe) against real RTSP cameras
(GStreamer's RTSP server from Debian): passthrough H.264, B-frames and H.265 -> transcode, a wrong
password, a closed port; the endpoint's input checks, roles and secrets."""

from __future__ import annotations

import asyncio
import socket

import pytest

from pantau.media.rtsp_open import RtspSettings
from pantau.media.stream_probe import probe, probe_blocking
from tests.support.rtsp_camera import Mount, RtspCameraServer

pytestmark = pytest.mark.timeout(120)
SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 800}
PASSWORD = "Pr0be-pass-5521"
WRONG = "Wr0ng-probe-7730"
OPERATOR = "operator-token-probe-31337"


@pytest.fixture(scope="module")
def camera():
    server = RtspCameraServer([
        Mount(path="/h264", gop_seconds=1, **SMALL),
        Mount(path="/bframes", bframes=2, gop_seconds=1, **SMALL),
        Mount(path="/hevc", codec="h265", gop_seconds=1, **SMALL),
        Mount(path="/auth", gop_seconds=1, auth=("digest",), user="op", password=PASSWORD, **SMALL),
    ])
    server.start()
    yield server
    server.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the with block ends: nothing listens there


def test_h264_without_bframes_passes_through(camera):
    result = probe_blocking(camera.url("/h264"))
    assert result["ok"] and result["reason"] is None, result
    assert (result["codec"], result["width"], result["height"]) == ("h264", 640, 360), result
    assert result["fps"] == pytest.approx(25, abs=1), result
    assert result["bframes"] is False and result["mode"] == "passthrough" and result["transcode_because"] == [], result
    assert result["keyframes"] >= 1 and result["packets"] >= 10, result
    assert result["elapsed_s"] < 6, result


def test_bframes_are_seen_in_the_packets_and_mean_transcode(camera):
    result = probe_blocking(camera.url("/bframes"))
    assert result["ok"] and result["codec"] == "h264", result
    assert result["bframes"] is True and result["mode"] == "transcode" and result["transcode_because"] == ["bframes"], result


def test_h265_is_transcoded(camera):
    result = probe_blocking(camera.url("/hevc"))
    assert result["ok"] and result["codec"] == "hevc" and result["mode"] == "transcode", result
    assert "codec" in result["transcode_because"], result


def test_force_transcode_tag_is_reported(camera):
    result = probe_blocking(camera.url("/h264"), force_transcode=True)
    assert result["mode"] == "transcode" and result["transcode_because"] == ["force_transcode"], result


def test_right_password_opens_and_wrong_password_is_auth_failed(camera):
    assert probe_blocking(camera.url("/auth", "op", PASSWORD))["mode"] == "passthrough"
    result = probe_blocking(camera.url("/auth", "op", WRONG))
    assert not result["ok"] and result["reason"] == "auth_failed" and result["codec"] is None, result
    assert WRONG not in repr(result) and "127.0.0.1" not in repr(result)


def test_closed_port_is_unreachable_and_quick():
    result = probe_blocking(f"rtsp://op:{PASSWORD}@127.0.0.1:{closed_port()}/cam", settings=RtspSettings(2.0, 2.0))
    assert result == {**result, "ok": False, "reason": "unreachable", "mode": None}, result
    assert result["elapsed_s"] < 2.5 and PASSWORD not in repr(result)


def test_silent_server_is_no_data_within_the_timeouts():
    """A TCP server that accepts and never answers: the open timeout must fire."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        result = probe_blocking(f"rtsp://127.0.0.1:{server.getsockname()[1]}/cam", settings=RtspSettings(1.0, 1.0))
    finally:
        server.close()
    assert not result["ok"] and result["reason"] in ("no_data", "unreachable"), result
    assert result["elapsed_s"] < 4, result


async def test_probe_runs_off_the_event_loop(camera):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        result = await probe(camera.url("/h264"))
    finally:
        task.cancel()
    assert result["ok"] and result["elapsed_s"] > 0.5
    assert ticks >= result["elapsed_s"] / 0.05 * 0.5, (ticks, result)  # the loop kept turning while PyAV read


# ---- POST /api/admin/probe through a real node ------------------------------------------------

def _probe(node, body, token=None):
    return node.request("POST", "/api/admin/probe", body, token if token is not None else node.admin_token)


def test_endpoint_probes_a_url_and_a_stored_camera_without_returning_the_password(relay_node, camera):
    status, result = _probe(relay_node, {"source": camera.url("/auth", "op", PASSWORD), "transport": "tcp"})
    assert status == 200 and result["ok"] and result["mode"] == "passthrough" and result["codec"] == "h264", result
    assert result["width"] == 640 and result["transport"] == "tcp" and result["camera_id"] is None

    relay_node.add_camera("probed", camera.url("/auth", "op", PASSWORD), enabled=False)
    status, result = _probe(relay_node, {"camera_id": "probed"})
    assert status == 200 and result["ok"] and result["camera_id"] == "probed", result
    # The masked form the edit form shows, with camera_id: the stored password is used.
    status, result = _probe(relay_node, {"camera_id": "probed", "source": camera.url("/auth").replace("rtsp://", "rtsp://op:***@")})
    assert status == 200 and result["ok"], result
    status, result = _probe(relay_node, {"source": camera.url("/auth", "op", WRONG)})
    assert status == 200 and not result["ok"] and result["reason"] == "auth_failed", result

    status, result = _probe(relay_node, {"source": f"rtsp://op:{PASSWORD}@127.0.0.1:{closed_port()}/x"})
    assert status == 200 and result["reason"] == "unreachable", result
    output = relay_node.node.output()
    assert PASSWORD not in output and WRONG not in output


@pytest.mark.parametrize(("body", "field"), [
    ({}, "source"),
    ({"source": "demo"}, "source"),
    ({"source": "http://example.com/x"}, "source"),
    ({"source": "rtsp:///nohost"}, "source"),
    ({"source": "rtsp://127.0.0.1:99999/x"}, "source"),
    ({"source": "rtsp://op:***@127.0.0.1/x"}, "source"),
    ({"source": "rtsp://127.0.0.1/x", "transport": "sctp"}, "transport"),
    ({"camera_id": "no such id!"}, "camera_id"),
    ({"source": "rtsp://127.0.0.1/x", "extra": 1}, "body"),
])
def test_endpoint_refuses_bad_input_with_the_field(relay_node, body, field):
    status, result = _probe(relay_node, body)
    assert status == 400, result
    assert result["error"] == "bad_request" and result["errors"][0]["field"] == field, result


def test_endpoint_is_admin_only(make_relay_node):
    node = make_relay_node(operator_token=OPERATOR)
    body = {"source": f"rtsp://127.0.0.1:{closed_port()}/x"}
    status, result = _probe(node, body, token="")
    assert status == 401, result
    status, result = _probe(node, body, token=OPERATOR)
    assert status == 403 and "operator" in result["message"], result
    status, result = _probe(node, {"camera_id": "missing"})
    assert status == 404, result
    status, result = _probe(node, body)
    assert status == 200 and result["reason"] == "unreachable", result
