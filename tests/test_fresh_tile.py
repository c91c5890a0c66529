"""'Ambil gambar baru' (issue 17): `GET /api/admin/cameras/{id}/fresh-tile.jpg` answers with a
tile captured after the request. A masked camera is transcoded, and the transcoder makes a
keyframe when asked, so the fresh tile comes at once, not at the camera's (10 s GOP) or the
transcoder's (2 s) next own keyframe; a passthrough RTSP camera cannot be asked, so past
`wait` the latest tile comes marked as older. Real node, a GStreamer camera with a 10 s GOP."""

from __future__ import annotations

import time
from datetime import datetime

import cv2
import numpy as np
import pytest

from tests.support.hls_client import get
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.test_masks_ingest import CORNER, masked_black

pytestmark = pytest.mark.timeout(120)
LONG_GOP = {"width": 640, "height": 360, "fps": 15, "bitrate_kbps": 800, "gop_seconds": 10, "overlay": "none"}
OPERATOR = "operator-token-fresh-tile-1357"


@pytest.fixture
def camera(tmp_path):
    server = RtspCameraServer([Mount(path="/bars", pattern="smpte", **LONG_GOP)], log_dir=tmp_path / "cam").start()
    yield server
    server.stop()


def fresh_tile(node, camera_id: str, wait: float, token: str | None = None) -> tuple[int, dict, bytes, float]:
    asked_at = time.time()
    status, headers, body = get(f"{node.url}/api/admin/cameras/{camera_id}/fresh-tile.jpg?wait={wait:g}",
                                headers={"Authorization": f"Bearer {token or node.admin_token}"}, timeout=30)
    return status, headers, body, asked_at


def captured_at(headers: dict) -> float:
    return datetime.fromisoformat(headers["X-Tile-Captured-At"].replace("Z", "+00:00")).timestamp()


def wait_for_a_new_tile(node, camera_id: str, timeout: float = 20) -> None:
    """Returns just after the camera's ordinary tile changed (a keyframe came a moment ago)."""
    deadline = time.monotonic() + timeout
    first = None
    while time.monotonic() < deadline:
        status, headers, _ = get(f"{node.url}/api/cameras/{camera_id}/tile.jpg")
        if status == 200 and headers["ETag"].startswith(f'"{camera_id}-'):
            if first is None:
                first = headers["ETag"]
            elif headers["ETag"] != first:
                return
        time.sleep(0.05)
    raise AssertionError(f"the tile of {camera_id} never changed")


async def test_a_masked_camera_with_a_long_gop_gives_a_tile_taken_after_the_request(make_relay_node, camera):
    node = make_relay_node(operator_token=OPERATOR)  # the transcoder's own keyframes: every 2 s
    node.add_camera("masked", camera.url("/bars"), masks=[CORNER])
    assert node.wait_state("masked", "online")["mode"] == "transcode"
    for _ in range(3):
        wait_for_a_new_tile(node, "masked")  # the transcoder's next own keyframe is ~2 s away
        status, headers, body, asked_at = fresh_tile(node, "masked", wait=1)
        assert status == 200 and headers["Content-Type"] == "image/jpeg" and headers["Cache-Control"] == "no-store"
        assert headers["X-Tile-Fresh"] == "true"
        assert captured_at(headers) >= asked_at - 0.01  # (ms rounding of the header)
        picture = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert masked_black(picture, 0.75, 0.0, 1.0, 0.3)  # made after masking, as every tile

    assert fresh_tile(node, "masked", wait=1, token=OPERATOR)[0] == 403
    status, _, _ = get(f"{node.url}/api/admin/cameras/masked/fresh-tile.jpg")
    assert status == 401
    assert fresh_tile(node, "masked", wait=99)[0] == 400
    assert fresh_tile(node, "nobody", wait=1)[0] == 404


async def test_a_passthrough_camera_cannot_be_asked_and_the_older_tile_says_so(make_relay_node, camera):
    node = make_relay_node()
    node.add_camera("plain", camera.url("/bars"))
    assert node.wait_state("plain", "online")["mode"] == "passthrough"
    status, headers, _, asked_at = fresh_tile(node, "plain", wait=15)  # the camera's next own keyframe
    assert status == 200 and headers["X-Tile-Fresh"] == "true"
    status, headers, body, asked_at = fresh_tile(node, "plain", wait=1)  # ...and the one after is ~10 s away
    assert status == 200 and body and headers["X-Tile-Fresh"] == "false"
    assert captured_at(headers) < asked_at


async def test_a_camera_pulled_over_whep_passes_the_request_on_to_its_server(make_relay_node, camera):
    """The pulled camera's pipeline asks the WHEP server for a keyframe (a picture-loss request);
    the server, another Pantau whose camera is masked (transcoded), makes one at once."""
    upstream = make_relay_node()
    upstream.add_camera("masked", camera.url("/bars"), masks=[CORNER])
    assert upstream.wait_state("masked", "online")["mode"] == "transcode"
    node = make_relay_node()
    node.add_camera("pulled", f"whep+{upstream.url}/whep/masked", tps=2)
    assert node.wait_state("pulled", "online", 30)["mode"] == "passthrough"
    fresh = 0
    for _ in range(3):
        wait_for_a_new_tile(node, "pulled")  # the upstream transcoder's next own keyframe is ~2 s away
        status, headers, _, asked_at = fresh_tile(node, "pulled", wait=1)
        assert status == 200
        fresh += headers["X-Tile-Fresh"] == "true" and captured_at(headers) >= asked_at - 0.01
    assert fresh >= 2, f"{fresh} of 3 tiles were taken after the request"
