"""The station page (/kamera/{id}, /tps/{id}) in Debian's Chromium against a real node (ingest +
relay) and a real RTSP camera: live video, a fast and live start on a 4 s GOP, offline and back
in the same <video>, a phone screen, no camera password in anything the page loads, and the
viewer cap's reason on screen. These are WebRTC (WHEP) tests: their node prefers WebRTC for the
public (relay.public_player=webrtc); the HLS default is tests/test_station_hls.py."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.browser import (
    PHONE,
    PageErrors,
    ResponseRecorder,
    chromium,
    horizontal_overflow,
    inbound_video_stats,
    mean_jitter_buffer_delay,
    text_of,
    video_frames,
    wait_for_frames,
    wait_for_more_frames,
)
from tests.support.rtsp_camera import Mount, RtspCameraServer

pytestmark = [
    pytest.mark.timeout(120),
]
SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 800}
PASSWORD = "Station-pw-7781"


def _fixture_or_skip(request: pytest.FixtureRequest, name: str):
    """The lead's node fixtures (tests/conftest.py); skip cleanly while they are not wired."""
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pytest.skip(f"the {name!r} fixture (a running node with ingest + relay) is not defined yet")


@pytest.fixture
def make_node(request):
    make = _fixture_or_skip(request, "make_relay_node")
    return lambda **settings: make(**({"relay__public_player": "webrtc"} | settings))


@pytest.fixture
def node(make_node):
    return make_node()


@pytest.fixture
def rtsp_camera(tmp_path):
    """One RTSP camera process: /cam (1 s GOP), /gop4 (4 s GOP), /auth (digest, PASSWORD)."""
    server = RtspCameraServer([
        Mount(path="/cam", gop_seconds=1, **SMALL),
        Mount(path="/gop4", gop_seconds=4, **SMALL),
        Mount(path="/auth", gop_seconds=1, auth=("digest",), user="op", password=PASSWORD, **SMALL),
    ], log_dir=tmp_path / "rtsp-camera").start()
    yield server
    server.stop()


@pytest.fixture
async def browser():
    async with chromium() as context:
        yield context


async def wait_online(node, camera_id: str) -> None:
    await asyncio.to_thread(node.wait_state, camera_id, "online")


async def open_station(browser, node, camera_id: str, path: str = "/kamera/", query: str = ""):
    page = await browser.new_page()
    errors = PageErrors(page)
    await page.goto(f"{node.url}{path}{camera_id}{query}")
    return page, errors


async def test_station_page_plays_live_video(node, rtsp_camera, browser):
    node.add_camera("live", rtsp_camera.url("/cam"), name="TPS 005 Gambir", tps=5)
    await wait_online(node, "live")
    page, errors = await open_station(browser, node, "live")
    await wait_for_frames(page, 25)
    before = await video_frames(page)
    await asyncio.sleep(1.0)
    assert await video_frames(page) >= before + 15  # 25 fps camera: frames keep coming
    stats = await inbound_video_stats(page)
    assert stats and stats["framesDecoded"] > 25 and (stats["frameWidth"], stats["frameHeight"]) == (640, 360)

    status = page.get_by_test_id("status")
    assert await status.get_attribute("data-state") == "online"
    assert await text_of(page, "status") == "Langsung"
    assert await text_of(page, "name") == "TPS 005 Gambir"
    path = await text_of(page, "path")
    for part in ("Jakarta Pusat", "Gambir", "TPS 5"):
        assert part in path, path
    await page.wait_for_function("document.querySelector('[data-testid=viewers]').textContent === '1 penonton'", timeout=5000)
    assert await page.get_by_test_id("overlay").is_hidden()
    assert await page.get_by_test_id("message").is_hidden()
    assert await page.eval_on_selector("[data-testid=video]", "v => v.muted && v.autoplay && v.playsInline && !v.paused")
    assert await page.get_by_test_id("share-url").input_value() == f"{node.url}/kamera/live"
    assert errors.items == []


async def test_gop_4s_camera_shows_a_picture_at_once_and_stays_live(node, rtsp_camera, browser):
    node.add_camera("gop4", rtsp_camera.url("/gop4"))
    await wait_online(node, "gop4")
    await asyncio.sleep(1.5)  # join in the middle of a 4 s GOP
    page, _ = await open_station(browser, node, "gop4")
    await page.wait_for_function("window.__pantau && window.__pantau.firstFrameAt != null", timeout=10000)
    timing = await page.evaluate("({track: window.__pantau.trackAt, frame: window.__pantau.firstFrameAt})")
    assert (timing["frame"] - timing["track"]) / 1000 < 0.5, timing
    await asyncio.sleep(5.0)
    stats = await inbound_video_stats(page)
    assert stats and stats["jitterBufferEmittedCount"] > 100, stats
    # The cached GOP was retimed to catch up, so frames did not sit a GOP behind live.
    assert mean_jitter_buffer_delay(stats) <= 0.3, stats


async def test_camera_stop_shows_offline_and_restart_resumes_in_the_same_video(node, tmp_path, browser):
    camera = RtspCameraServer([Mount(path="/cam", gop_seconds=1, **SMALL)], log_dir=tmp_path / "reboot-camera").start()
    try:
        node.add_camera("reboot", camera.url("/cam"))
        await wait_online(node, "reboot")
        page, errors = await open_station(browser, node, "reboot")
        await wait_for_frames(page, 25)
        await page.eval_on_selector("[data-testid=video]", "v => { v.__sameElement = true; }")

        await asyncio.to_thread(camera.kill)
        status = page.locator("[data-testid=status][data-state=offline]")
        await status.wait_for(timeout=20000)  # pushed by SSE
        assert (await text_of(page, "status")).startswith("Terputus")
        overlay = page.get_by_test_id("overlay")
        assert await overlay.is_visible() and "Terputus" in await overlay.inner_text()

        await asyncio.to_thread(camera.start)
        await page.locator("[data-testid=status][data-state=online]").wait_for(timeout=20000)
        await wait_for_more_frames(page, 25, timeout=20)
        assert await page.eval_on_selector_all("video", "vs => vs.length === 1 && vs[0].__sameElement === true")
        await page.get_by_test_id("overlay").wait_for(state="hidden", timeout=5000)
        assert errors.items == []
    finally:
        camera.stop()


async def test_station_page_works_on_a_phone(node, rtsp_camera, tmp_path):
    node.add_camera("phone", rtsp_camera.url("/cam"), name="TPS 012 Kelurahan Dengan Nama Yang Sangat Panjang Sekali", tps=12)
    await wait_online(node, "phone")
    async with chromium(viewport=PHONE, is_mobile=True, has_touch=True) as browser:
        page, errors = await open_station(browser, node, "phone")
        await wait_for_more_frames(page, 25)
        box = await page.get_by_test_id("video").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5 and box["height"] > 150, box
        assert box["y"] + box["height"] <= PHONE["height"], box  # the video is on the first screen
        assert await horizontal_overflow(page) <= 0
        for testid in ("status", "viewers", "name", "path", "fullscreen"):
            assert await page.get_by_test_id(testid).is_visible(), testid
        await page.screenshot(path=str(tmp_path / "station-phone.png"), full_page=True)

        await page.goto(f"{node.url}/kamera/phone?embed=1")  # the iframe variant on a small screen
        await wait_for_more_frames(page, 10)
        assert await horizontal_overflow(page) <= 0
        assert await page.locator(".site-header").is_hidden() and await page.get_by_test_id("path").is_hidden()
        assert errors.items == []


async def test_no_response_the_page_loads_contains_the_camera_password(node, rtsp_camera, browser):
    node.add_camera("secret", rtsp_camera.url("/auth", "op", PASSWORD), tps=9)
    await wait_online(node, "secret")
    page = await browser.new_page()
    recorder = ResponseRecorder(page)
    await recorder.install_sse_hook()
    for path in ("/kamera/secret", "/tps/secret", "/kamera/secret?embed=1"):
        await page.goto(node.url + path)
        await wait_for_frames(page, 10)
        await page.wait_for_function("document.querySelector('[data-testid=viewers]').textContent.endsWith('penonton')")
        await recorder.settle(page)
        assert PASSWORD not in await page.content()
    loaded = {r.url.removeprefix(node.url).split("?")[0] for r in recorder.responses if r.body}
    assert {"/kamera/secret", "/api/cameras/secret", "/whep/secret", "/viewer/js/station.js"} <= loaded, loaded
    assert recorder.sse_messages, "no SSE message was recorded"
    assert recorder.containing(PASSWORD) == []


async def test_over_the_viewer_cap_the_page_shows_the_reason(make_node, rtsp_camera, browser):
    node = make_node(relay__max_viewers_per_camera="1")
    node.add_camera("capped", rtsp_camera.url("/cam"))
    await wait_online(node, "capped")
    first, _ = await open_station(browser, node, "capped")
    await wait_for_frames(first, 10)

    second, _ = await open_station(browser, node, "capped")
    message = second.get_by_test_id("message")
    await message.wait_for(state="visible", timeout=10000)
    text = await message.inner_text()
    assert "maksimum" in text, text  # the server's own reason, in Bahasa Indonesia
    assert "HLS" in text  # and the page falls back to HLS (tests/test_station_hls.py)
    assert await second.evaluate("window.__pantau.pc") is None  # no WebRTC session over the cap
    assert await video_frames(first) > 10  # the first viewer is untouched


# Records the configuration of every RTCPeerConnection the page creates.
_RECORD_PC_CONFIG = """
(() => {
  const Original = window.RTCPeerConnection;
  window.__pcConfigs = [];
  window.RTCPeerConnection = class extends Original {
    constructor(config) { super(config); window.__pcConfigs.push(JSON.parse(JSON.stringify(config || {}))); }
  };
})();
"""


async def test_the_page_uses_the_sites_ice_servers_for_browsers(make_node, rtsp_camera, browser):
    """relay.ice.browser_servers reach the page's RTCPeerConnection (a TURN account for viewers on
    networks that block UDP); by default a page gets none, and plays either way."""
    turn = {"urls": ["turn:127.0.0.1:9?transport=udp"], "username": "publik", "credential": "untuk-semua"}
    node = make_node(relay__ice__browser_servers=json.dumps([turn]))
    status, body = node.request("GET", "/api/ice-servers")
    assert status == 200 and body == {"iceServers": [turn]}
    node.add_camera("turn", rtsp_camera.url("/cam"))
    await wait_online(node, "turn")
    page = await browser.new_page()
    await page.add_init_script(_RECORD_PC_CONFIG)
    await page.goto(f"{node.url}/kamera/turn")
    await wait_for_frames(page, 10)  # the TURN server is unreachable: host candidates still work
    configs = await page.evaluate("window.__pcConfigs")
    assert configs and configs[0]["iceServers"] == [turn], configs


async def test_without_browser_ice_servers_the_page_gets_none(node):
    status, body = node.request("GET", "/api/ice-servers")
    assert status == 200 and body == {"iceServers": []}


async def test_an_unknown_camera_says_so(node, browser):
    page, _ = await open_station(browser, node, "tidak-ada")
    await page.get_by_test_id("overlay").wait_for()
    await page.wait_for_function("document.title === 'Kamera tidak ditemukan — Pantau'", timeout=5000)
    assert await text_of(page, "name") == "Kamera tidak ditemukan"
    assert "tidak-ada" in await page.get_by_test_id("overlay").inner_text()
    assert await page.get_by_test_id("status").is_hidden()
