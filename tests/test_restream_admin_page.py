"""The restream on the admin page, in Chromium against a real node, RTSP camera and nginx-rtmp:
the list says the restream is live, the form shows the destination and the key as `***`, saving
an edit keeps the key (the restream stays live), clearing the URL stops it, and no response the
page loads carries the key."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.browser import chromium
from tests.support.rtmp_server import RtmpServer
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.test_admin_page import open_admin, row, sign_in, unexpected

pytestmark = [pytest.mark.timeout(150)]
KEY = "fb-live-9c2e-77aa-secret-key"


@pytest.fixture
def camera(tmp_path):
    server = RtspCameraServer([Mount(path="/cam", gop_seconds=1, width=320, height=240, fps=25, bitrate_kbps=400)],
                              log_dir=tmp_path / "cam").start()
    yield server
    server.stop()


@pytest.fixture
def rtmp(tmp_path):
    server = RtmpServer(tmp_path / "rtmp").start()
    yield server
    server.stop()


def wait_restream(node, camera_id: str, state: str | None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while (node.status(camera_id).get("restream") or {}).get("state") != state:
        assert time.monotonic() < deadline, f"restream never {state}: {node.status(camera_id)}"
        time.sleep(0.2)


async def test_the_admin_page_shows_keeps_and_stops_a_restream(make_relay_node, camera, rtmp):
    node = make_relay_node()
    node.add_camera("cam", camera.url("/cam"), name="Rekap Gambir", restream_url=rtmp.url, restream_key=KEY)
    await asyncio.to_thread(wait_restream, node, "cam", "live")
    async with chromium() as browser:
        page, errors, recorder = await open_admin(browser, node)
        await sign_in(page, node.admin_token)
        listed = await row(page, "cam")
        line = listed.get_by_test_id("restream")
        assert await line.get_attribute("data-state") == "live"
        assert "Siaran ulang: tayang" in await line.inner_text()

        await listed.get_by_test_id("edit").click()
        await page.get_by_test_id("camera-dialog").wait_for(state="visible")
        assert await page.get_by_test_id("input-restream-url").input_value() == rtmp.url
        assert await page.get_by_test_id("input-restream-key").input_value() == "***"
        await page.get_by_test_id("input-name").fill("Rekap Gambir Baru")
        await page.get_by_test_id("camera-save").click()
        await page.get_by_test_id("camera-dialog").wait_for(state="hidden")
        _, stored = node.request("GET", "/api/admin/cameras/cam", token=node.admin_token)
        assert stored["name"] == "Rekap Gambir Baru" and stored["restream_key"] == "***"
        assert stored["status"]["restream"]["state"] == "live"  # the key was kept: nothing restarted it elsewhere

        # Another server with the masked key: refused, named on the key's field.
        await (await row(page, "cam")).get_by_test_id("edit").click()
        await page.get_by_test_id("camera-dialog").wait_for(state="visible")
        await page.get_by_test_id("input-restream-url").fill("rtmp://10.20.30.40/live")
        await page.get_by_test_id("camera-save").click()
        await page.get_by_test_id("error-restream-key").wait_for(state="visible")
        assert "ketik ulang kunci streaming" in await page.get_by_test_id("error-restream-key").inner_text()

        # An empty URL stops the restream.
        await page.get_by_test_id("input-restream-url").fill("")
        await page.get_by_test_id("input-restream-key").fill("")
        await page.get_by_test_id("camera-save").click()
        await page.get_by_test_id("camera-dialog").wait_for(state="hidden")
        await asyncio.to_thread(wait_restream, node, "cam", None)
        _, stored = node.request("GET", "/api/admin/cameras/cam", token=node.admin_token)
        assert stored["restream_url"] is None and stored["restream_key"] is None

        await recorder.settle(page)
        assert recorder.containing(KEY) == []
        assert unexpected(errors) == []
