"""Privacy masks burned in at ingest (issue 17 part 2), seen from the outside of a real node:
a GStreamer camera with a known picture (SMPTE bars; 8 px checkers for blur), the same mount
added twice, once plain and once masked, and what a WHEP viewer decodes, the keyframe tile
and an HLS segment decoded with PyAV compared per region against the plain camera. A mask
change reaches a live WHEP viewer within one GOP, in the same session."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time

import av
import cv2
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from tests.support.hls_client import get, playlist
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.support.whep_client import WhepViewer

pytestmark = pytest.mark.timeout(150)
SMALL = {"width": 640, "height": 360, "fps": 15, "bitrate_kbps": 1200, "gop_seconds": 1, "overlay": "none"}
CORNER = {"kind": "fill", "points": [[0.75, 0.0], [1.0, 0.0], [1.0, 0.3], [0.75, 0.3]]}  # over the blue bar
LEFT_BOTTOM = {"kind": "fill", "points": [[0.0, 0.7], [0.25, 0.7], [0.25, 1.0], [0.0, 1.0]]}
LEFT_HALF_BLUR = {"kind": "blur", "points": [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]}


def region(picture: np.ndarray, x0: float, y0: float, x1: float, y1: float, inset: int = 6) -> np.ndarray:
    """A region of a grey picture in relative coordinates, a few pixels inside its edges (the
    encoder blurs a mask's border over a block)."""
    h, w = picture.shape[:2]
    return picture[int(y0 * h) + inset:int(y1 * h) - inset, int(x0 * w) + inset:int(x1 * w) - inset].astype(np.int16)


def masked_black(picture: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> bool:
    return float(region(picture, x0, y0, x1, y1).mean()) < 30


def same_as(picture: np.ndarray, plain: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> float:
    """Mean absolute difference of a region against the plain camera's (0: identical)."""
    return float(np.abs(region(picture, x0, y0, x1, y1) - region(plain, x0, y0, x1, y1)).mean())


class PictureViewer(WhepViewer):
    """A WHEP viewer that keeps the latest decoded picture (grey) and when it came."""

    latest: np.ndarray | None = None

    async def _read(self, track) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.frames.append(time.monotonic())
                self.latest = frame.to_ndarray(format="gray")
                self.sizes.append((frame.width, frame.height))
                if not self._first.done():
                    self._first.set_result(self.frames[-1])

    async def picture_where(self, condition, timeout: float) -> float:
        """Seconds until a picture met `condition` (AssertionError after `timeout`)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.latest is not None and condition(self.latest):
                return time.monotonic() - start
            await asyncio.sleep(0.05)
        raise AssertionError(f"no picture met the condition within {timeout} s")


@pytest.fixture
def camera(tmp_path):
    server = RtspCameraServer([Mount(path="/bars", pattern="smpte", **SMALL),
                               Mount(path="/checkers", pattern="checkers-8", **SMALL)], log_dir=tmp_path / "cam").start()
    yield server
    server.stop()


@pytest.fixture
def node(make_relay_node):
    return make_relay_node(hls__linger_s="10")


async def pictures(node, camera_id: str, count: int = 10) -> tuple[PictureViewer, np.ndarray]:
    viewer = await PictureViewer(node.url, camera_id, node.admin_token).start()
    await viewer.wait_frames(count, timeout=30)
    return viewer, viewer.latest


def tile(node, camera_id: str) -> np.ndarray:
    status, headers, body = get(f"{node.url}/api/cameras/{camera_id}/tile.jpg",
                                headers={"Authorization": f"Bearer {node.admin_token}"})
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    return cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_GRAYSCALE)


def hls_picture(node, camera_id: str) -> np.ndarray:
    """The last frame of the newest complete HLS segment, decoded with PyAV."""
    base = f"{node.url}/hls/{camera_id}"
    deadline = time.monotonic() + 30
    while True:
        status, _, parsed = playlist(base)
        if status == 200 and parsed.segments:
            break
        assert time.monotonic() < deadline, f"no HLS segment for {camera_id} ({status})"
        time.sleep(0.5)
    _, _, init = get(f"{base}/{parsed.maps[-1]}")
    status, _, data = get(f"{base}/{parsed.segments[-1]}")
    assert status == 200
    with av.open(io.BytesIO(init + data)) as segment:
        frames = [frame.to_ndarray(format="gray") for frame in segment.decode(video=0)]
    assert frames
    return frames[-1]


async def test_a_fill_mask_is_in_every_output_and_nothing_else_changes(node, camera):
    node.add_camera("plain", camera.url("/bars"), tps=1)
    node.add_camera("masked", camera.url("/bars"), tps=2, masks=[CORNER])
    node.wait_state("plain", "online")
    assert node.wait_state("masked", "online")["mode"] == "transcode"
    plain_viewer, plain = await pictures(node, "plain")
    masked_viewer, masked = await pictures(node, "masked")
    try:
        assert float(region(plain, 0.75, 0.0, 1.0, 0.3).mean()) > 30  # the blue bar, unmasked
        for name, picture, reference in (("whep", masked, plain), ("tile", tile(node, "masked"), tile(node, "plain")),
                                         ("hls", hls_picture(node, "masked"), hls_picture(node, "plain"))):
            assert masked_black(picture, 0.75, 0.0, 1.0, 0.3), name
            # The other bars, the lower blocks: as the plain camera has them (encoding noise only).
            assert same_as(picture, reference, 0.0, 0.0, 0.7, 0.6) < 6, name
            assert same_as(picture, reference, 0.0, 0.75, 0.7, 1.0) < 6, name  # (right of it: noise)
    finally:
        await plain_viewer.close()
        await masked_viewer.close()


async def test_a_blur_mask_leaves_no_fine_detail(node, camera):
    node.add_camera("plain", camera.url("/checkers"), tps=1)
    node.add_camera("blurred", camera.url("/checkers"), tps=2, masks=[LEFT_HALF_BLUR])
    plain_viewer, plain = await pictures(node, "plain")
    blurred_viewer, blurred = await pictures(node, "blurred")
    try:
        def detail(picture, x0, x1):  # high-frequency energy: the Laplacian's spread
            return float(cv2.Laplacian(region(picture, x0, 0.0, x1, 1.0, inset=40).astype(np.uint8), cv2.CV_32F).std())

        assert detail(plain, 0.0, 0.5) > 50  # 8 px checkers: all edges
        assert detail(blurred, 0.0, 0.5) < 0.05 * detail(plain, 0.0, 0.5)
        assert detail(blurred, 0.5, 1.0) > 0.8 * detail(plain, 0.5, 1.0)
    finally:
        await plain_viewer.close()
        await blurred_viewer.close()


async def test_a_mask_change_reaches_a_live_viewer_within_a_gop_without_a_new_session(node, camera):
    node.add_camera("cam", camera.url("/bars"))
    assert node.wait_state("cam", "online")["mode"] == "passthrough"
    viewer, first = await pictures(node, "cam")
    try:
        assert not masked_black(first, 0.75, 0.0, 1.0, 0.3)
        # A first mask: passthrough -> masked transcode at the camera's next keyframe (1 s GOP).
        status, _ = node.request("PATCH", "/api/admin/cameras/cam", {"masks": [CORNER]}, node.admin_token)
        assert status == 200
        took = await viewer.picture_where(lambda p: masked_black(p, 0.75, 0.0, 1.0, 0.3), timeout=10)
        assert took < 0.5 + 1.0 + 2.0, took  # registry poll + the source's GOP + slack on a shared machine
        # Another mask: painted from the next frame, made a keyframe.
        status, _ = node.request("PATCH", "/api/admin/cameras/cam", {"masks": [LEFT_BOTTOM]}, node.admin_token)
        assert status == 200
        took = await viewer.picture_where(
            lambda p: masked_black(p, 0.0, 0.7, 0.25, 1.0) and not masked_black(p, 0.75, 0.0, 1.0, 0.3), timeout=10)
        assert took < 0.5 + 2.0 + 2.0, took  # registry poll + at most one transcoder GOP + slack
        # No masks: back to passthrough, and the picture is whole again.
        status, _ = node.request("PATCH", "/api/admin/cameras/cam", {"masks": []}, node.admin_token)
        assert status == 200
        await viewer.picture_where(lambda p: not masked_black(p, 0.0, 0.7, 0.25, 1.0), timeout=10)
        assert node.status("cam")["mode"] == "passthrough"
        frames = len(viewer.frames)
        await viewer.wait_frames(frames + 10, timeout=10)  # the same session goes on
        assert viewer.pc.connectionState == "connected"
    finally:
        await viewer.close()


async def test_masked_cameras_may_be_sent_smaller(make_relay_node, camera):
    node = make_relay_node(ingest__transcode__masked_max_width="320", ingest__transcode__masked_max_height="240")
    node.add_camera("plain", camera.url("/bars"), tps=1)
    node.add_camera("masked", camera.url("/bars"), tps=2, masks=[CORNER])
    viewer, picture = await pictures(node, "masked")
    try:
        assert picture.shape == (180, 320) and viewer.sizes[-1] == (320, 180)
        assert masked_black(picture, 0.75, 0.0, 1.0, 0.3)
        assert (node.status("masked")["width"], node.status("masked")["height"]) == (320, 180)
        assert node.wait_state("plain", "online")["width"] == 640
    finally:
        await viewer.close()


async def test_picture_health_judges_the_masked_picture_and_a_covered_lens_is_still_black(make_relay_node, tmp_path):
    """Tiles and picture health see only the masked picture; a fill mask is video black, so a
    camera whose lens is covered still reads `black`, and a masked picture reads `ok`."""
    scene = RtspCameraServer([Mount(path="/scene", tamperable=True, width=480, height=270, fps=10, bitrate_kbps=400,
                                    gop_seconds=2)], log_dir=tmp_path / "scene").start()
    try:
        node = make_relay_node()
        node.add_camera("masked", scene.url("/scene"), masks=[CORNER, LEFT_HALF_BLUR])
        deadline = time.monotonic() + 30
        while (status := node.status("masked"))["picture"] != "ok":
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.2)
        status, body = node.request("POST", "/api/admin/cameras/masked/reference", token=node.admin_token)
        assert status == 201, body
        await asyncio.sleep(4.5)  # two keyframes judged against the masked reference
        assert node.status("masked")["picture"] == "ok"
        await asyncio.to_thread(scene.tamper, "/scene", "cover")
        deadline = time.monotonic() + 15
        while (status := node.status("masked"))["picture"] != "black":
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.2)
    finally:
        scene.stop()


async def test_a_masked_demo_camera_is_masked_too(node):
    """Demo cameras bring no decoder (their loops are encoded in-process): the pipeline makes one."""
    node.add_camera("demo-masked", "demo", masks=[{"kind": "fill", "points": [[0, 0], [1, 0], [1, 0.5], [0, 0.5]]}])
    assert node.wait_state("demo-masked", "online")["mode"] == "transcode"
    deadline = time.monotonic() + 20
    while True:
        picture = tile(node, "demo-masked")
        if masked_black(picture, 0.0, 0.0, 1.0, 0.5):
            break
        assert time.monotonic() < deadline, "the demo camera's tile never showed the mask"
        await asyncio.sleep(0.5)
    assert float(region(picture, 0.0, 0.55, 1.0, 1.0).std()) > 5  # the rest still shows the demo picture


async def test_masks_on_a_whip_push_switch_paths_at_a_keyframe_the_publisher_is_asked_for(node):
    """A WHIP publisher sends keyframes only when asked: adding the first mask and removing the
    last ask it for one, so the switch between passthrough and the masked transcode is prompt."""
    from tests.support.whip_publisher import WhipPublisher

    node.add_camera("push", "whip")
    status, body = node.request("POST", "/api/admin/cameras/push/push-key", token=node.admin_token)
    assert status == 201, body
    publisher = await WhipPublisher(node.url, "push", body["push_key"], codec="H264").start()
    try:
        assert (await asyncio.to_thread(node.wait_state, "push", "online"))["mode"] == "passthrough"
        top_left = {"kind": "fill", "points": [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]}
        assert node.request("PATCH", "/api/admin/cameras/push", {"masks": [top_left]}, node.admin_token)[0] == 200
        started = time.monotonic()
        while not masked_black(tile(node, "push"), 0.0, 0.0, 0.5, 0.5):
            assert time.monotonic() - started < 6, "the push was not masked within 6 s"
            await asyncio.sleep(0.2)
        assert node.status("push")["mode"] == "transcode"
        assert node.request("PATCH", "/api/admin/cameras/push", {"masks": []}, node.admin_token)[0] == 200
        started = time.monotonic()
        while node.status("push")["mode"] != "passthrough":
            assert time.monotonic() - started < 6, "the push did not go back to passthrough within 6 s"
            await asyncio.sleep(0.2)
    finally:
        await publisher.stop()
