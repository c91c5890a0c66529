"""The station page plays LL-HLS for the public (issue 14 part 3), in Debian's Chromium against a
real node and a GStreamer RTSP camera: hls.js served by the node itself (the pinned version),
the "Langsung" button to WHEP, the fall back to HLS when the camera's WHEP cap is full and to
WHEP when HLS fails on the way, WHEP for signed-in operators, WHEP (and the reason) when the node has no hls.js, and the "Tautan HLS"."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import urllib.request

import pytest

from pantau.runtime.paths import VIEWER_DIR
from tests.browser import PageErrors, ResponseRecorder, chromium, text_of, video_frames, wait_for_frames
from tests.support.rtsp_camera import Mount, RtspCameraServer

pytestmark = [pytest.mark.timeout(120)]
SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 800}
VENDOR = VIEWER_DIR / "vendor"
HLS_LINE = re.compile(r"^Siaran HLS · \d+,\d detik di belakang siaran langsung$")


def pinned_hls_js() -> str:
    return json.loads((VENDOR / "package.json").read_text())["dependencies"]["hls.js"]


@pytest.fixture
def rtsp_camera(tmp_path):
    server = RtspCameraServer([Mount(path="/cam", gop_seconds=1, **SMALL)], log_dir=tmp_path / "rtsp-camera").start()
    yield server
    server.stop()


@pytest.fixture
async def browser():
    async with chromium() as context:
        yield context


async def add_online(node, camera_id: str, source: str) -> None:
    node.add_camera(camera_id, source)
    await asyncio.to_thread(node.wait_state, camera_id, "online")


async def open_station(browser, node, camera_id: str, query: str = ""):
    page = await browser.new_page()
    errors = PageErrors(page)
    recorder = ResponseRecorder(page)
    await page.goto(f"{node.url}/kamera/{camera_id}{query}")
    return page, errors, recorder


async def wait_mode(page, mode: str, timeout: float = 20.0) -> None:
    await page.locator(f"[data-testid=mode][data-mode={mode}]").wait_for(timeout=timeout * 1000)


async def current_time_grows(page) -> tuple[float, float]:
    before = await page.eval_on_selector("video", "v => v.currentTime")
    await asyncio.sleep(2.0)
    after = await page.eval_on_selector("video", "v => v.currentTime")
    return before, after


def test_the_node_serves_the_pinned_hls_js(relay_node):
    """package.json pins one version, the lock file holds it, and it is what the node serves."""
    pinned = pinned_hls_js()
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), pinned  # exact, no range
    lock = json.loads((VENDOR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/hls.js"]["version"] == pinned
    status, body = relay_node.request("GET", "/api/player")
    assert status == 200 and body["public_player"] == "hls" and body["hls_js_missing"] is None, body
    assert body["hls_js"]["version"] == pinned, body
    with urllib.request.urlopen(relay_node.url + body["hls_js"]["url"], timeout=10) as response:
        script = response.read().decode()
    assert f'"{pinned}"' in script  # hls.js carries its version (Hls.version) in the bundle
    assert len(script) > 100_000


async def test_the_public_station_page_plays_ll_hls_through_hls_js(relay_node, rtsp_camera, browser):
    node = relay_node
    await add_online(node, "hls", rtsp_camera.url("/cam"))
    page, errors, recorder = await open_station(browser, node, "hls")
    await wait_mode(page, "hls")
    await wait_for_frames(page, 25, timeout=20)
    frames = await video_frames(page)
    before, after = await current_time_grows(page)
    assert after >= before + 1.5, (before, after)  # video.currentTime grows with the live stream
    assert await video_frames(page) >= frames + 30  # and frames advance
    assert await page.evaluate("window.Hls && window.Hls.version") == pinned_hls_js()
    assert await page.evaluate("window.__pantau.mode") == "hls"
    await page.wait_for_function("window.__pantau.latencyS() != null", timeout=10000)
    samples = []
    for _ in range(10):
        samples.append(await page.evaluate("window.__pantau.latencyS()"))
        await asyncio.sleep(0.5)
    samples.sort()
    print(f"\nstation page, hls.js {pinned_hls_js()}, straight from the node: behind live p50 {samples[5]:.2f} s, "
          f"max {samples[-1]:.2f} s")
    assert 0 < samples[5] < 6, samples
    await page.wait_for_function("/detik di belakang/.test(document.querySelector('[data-testid=mode]').textContent)")
    assert HLS_LINE.match(await text_of(page, "mode")), await text_of(page, "mode")
    assert await page.get_by_test_id("go-live").is_visible()
    assert await page.get_by_test_id("hls-url").input_value() == f"{node.url}/hls/hls/index.m3u8"
    loaded = {r.url.removeprefix(node.url).split("?")[0] for r in recorder.responses}
    assert "/hls/hls/index.m3u8" in loaded and not any(u.startswith("/whep/") for u in loaded), loaded
    assert not any(r.url.startswith("http") and not r.url.startswith(node.url) for r in recorder.responses)  # no CDN

    # "Langsung": WebRTC, sub-second, in the same <video>
    await page.get_by_test_id("go-live").click()
    await wait_mode(page, "webrtc")
    assert await text_of(page, "mode") == "Langsung (WebRTC)"
    assert await page.get_by_test_id("go-live").is_hidden()
    frames = await video_frames(page)
    await asyncio.sleep(1.0)
    assert await video_frames(page) >= frames + 15
    assert await page.evaluate("window.__pantau.pc && window.__pantau.pc.connectionState") == "connected"
    assert errors.items == []


async def test_a_full_whep_cap_falls_back_to_hls_by_itself(make_relay_node, rtsp_camera, browser):
    """A site that prefers WebRTC: the viewer over the camera's WHEP cap still gets a picture."""
    node = make_relay_node(relay__max_viewers_per_camera="1", relay__public_player="webrtc")
    await add_online(node, "capped", rtsp_camera.url("/cam"))
    first, _, _ = await open_station(browser, node, "capped")
    await wait_mode(first, "webrtc")
    await wait_for_frames(first, 10)

    second, errors, _ = await open_station(browser, node, "capped")
    await wait_mode(second, "hls", timeout=30)
    assert "maksimum" in await text_of(second, "message")  # the server's reason, then HLS
    await wait_for_frames(second, 25, timeout=20)
    before, after = await current_time_grows(second)
    assert after >= before + 1.5, (before, after)
    # "Langsung" while the cap is still full: 503, and back to HLS by itself
    await second.get_by_test_id("go-live").click()
    await second.wait_for_function("window.__pantau.mode === 'hls' && !!window.__pantau.session", timeout=15000)
    await wait_mode(second, "hls", timeout=20)
    frames = await video_frames(second)
    await asyncio.sleep(1.5)
    assert await video_frames(second) > frames
    assert await first.evaluate("window.__pantau.mode") == "webrtc"  # the first viewer is untouched


async def test_hls_failing_on_the_way_falls_back_to_whep(relay_node, rtsp_camera, browser):
    """A broken cache or proxy in front of /hls/ (here: every HLS request answered 502 by the
    browser's network layer) while the camera is online: the page plays WHEP instead, says so,
    and a WHEP viewer is counted; it does not bounce back to the broken HLS."""
    node = relay_node
    await add_online(node, "via-proxy", rtsp_camera.url("/cam"))
    page = await browser.new_page()
    hls_requests = []

    async def broken_proxy(route):
        hls_requests.append(route.request.url)
        await route.fulfill(status=502, body="Bad Gateway")

    await page.route(f"{node.url}/hls/**", broken_proxy)
    await page.goto(f"{node.url}/kamera/via-proxy")
    await wait_mode(page, "webrtc", timeout=30)
    assert hls_requests, "the page tried HLS first"
    assert "beralih ke WebRTC" in await text_of(page, "message")
    await wait_for_frames(page, 20)
    tried = len(hls_requests)
    await asyncio.sleep(3)
    assert await page.evaluate("window.__pantau.mode") == "webrtc"
    assert len(hls_requests) == tried  # the HLS session is gone, not retrying behind WHEP


async def test_a_signed_in_operator_keeps_whep(relay_node, rtsp_camera, browser):
    node = relay_node
    await add_online(node, "op", rtsp_camera.url("/cam"))
    page = await browser.new_page()
    await page.goto(f"{node.url}/kamera/op?player=none")
    await page.evaluate("""async (token) => {
        const r = await fetch('/api/session', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                               body: JSON.stringify({token})});
        if (!r.ok) throw new Error('sign-in ' + r.status);
        localStorage.setItem('pantau-signed-in', '1');
    }""", node.admin_token)
    await page.goto(f"{node.url}/kamera/op")
    await wait_mode(page, "webrtc")
    await wait_for_frames(page, 10)
    assert await page.get_by_test_id("go-live").is_hidden()
    assert "HLS" not in await text_of(page, "mode")


async def test_without_hls_js_the_page_plays_whep_and_says_why(make_relay_node, rtsp_camera, browser, tmp_path):
    viewer = tmp_path / "viewer"
    shutil.copytree(VIEWER_DIR, viewer, ignore=shutil.ignore_patterns("vendor"))
    node = make_relay_node(viewer_dir=str(viewer))
    status, body = node.request("GET", "/api/player")
    assert status == 200 and body["hls_js"] is None and "npm ci" in body["hls_js_missing"], body
    await add_online(node, "nohls", rtsp_camera.url("/cam"))
    page, errors, _ = await open_station(browser, node, "nohls")
    await wait_mode(page, "webrtc")
    await wait_for_frames(page, 10)
    text = await text_of(page, "mode")
    assert text.startswith("Langsung (WebRTC) · HLS tidak tersedia: hls.js belum terpasang"), text
    assert await page.get_by_test_id("go-live").is_hidden()
    assert errors.items == []

