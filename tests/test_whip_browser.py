"""WHIP from real browsers: Chromium's fake camera pushed through a WHIP client that is not ours
(the npm package whip-whep, its WHIPClient with default settings), and through Pantau's own
push page /kirim; other Chromium pages play the camera through the relay, over WHEP and over LL-HLS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.browser import FAKE_CAMERA, PageErrors, ResponseRecorder, chromium, wait_for_frames, wait_for_more_frames

pytestmark = [
    pytest.mark.timeout(150),
]
WHIP_JS = Path(__file__).parent / "js" / "node_modules" / "whip-whep" / "whip.js"

# A page that only does what the whip-whep README says: camera -> sendonly transceivers -> publish.
PUSH_PAGE = """<!doctype html><meta charset="utf-8"><title>whip-whep push</title>
<video id="preview" muted autoplay playsinline></video>
<script type="module">
import { WHIPClient } from "/__test__/whip.js";
window.pushed = (async () => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: false, video: {width: 640, height: 360}});
  document.getElementById("preview").srcObject = stream;
  const pc = new RTCPeerConnection({bundlePolicy: "max-bundle"});
  for (const track of stream.getTracks()) pc.addTransceiver(track, {direction: "sendonly"});
  const whip = new WHIPClient();
  window.whip = whip;
  await whip.publish(pc, location.origin + "/whip/" + new URLSearchParams(location.search).get("camera"),
                     new URLSearchParams(location.search).get("key"));
  window.pc = pc;
  return "published";
})().catch((error) => "failed: " + error.message);
</script>"""


@pytest.fixture
def node(make_relay_node):
    node = make_relay_node()
    node.add_camera("hp", "whip", tps=9, name="TPS 009 Gambir (HP)")
    return node


def push_key(node, camera_id: str) -> str:
    status, body = node.request("POST", f"/api/admin/cameras/{camera_id}/push-key", token=node.admin_token)
    assert status == 201, body
    return body["push_key"]


async def serve_test_assets(context, base_url: str) -> None:
    """The whip-whep module and the push page, served from the node's origin by the browser itself."""
    if not WHIP_JS.exists():
        pytest.fail(f"{WHIP_JS} is missing: scripts/test.sh installs it (npm ci --prefix tests/js)")
    await context.route(f"{base_url}/__test__/whip.js", lambda route: route.fulfill(
        body=WHIP_JS.read_text(), content_type="text/javascript"))
    await context.route(f"{base_url}/__test__/push.html*", lambda route: route.fulfill(body=PUSH_PAGE, content_type="text/html"))


async def played_as_the_public_plays_it(browser, node) -> None:
    """WHIP in, LL-HLS out (the public's default player): the page plays HLS and never fell
    back to WHEP. Chromium's sender cuts keyframes seconds apart, so segments are long."""
    page = await browser.new_page()
    errors = PageErrors(page)
    await page.goto(f"{node.url}/kamera/hp")
    await wait_for_frames(page, 20, timeout=40)
    assert await page.evaluate("window.__pantau.mode") == "hls"
    await wait_for_more_frames(page, 20)
    # A 503 is the origin's "not there yet" while the first (long) segment is made: not an error.
    assert [e for e in errors.items if "status of 503" not in e] == []
    await page.close()


async def test_chromium_pushes_with_whip_whep_and_another_page_plays_it(node):
    key = push_key(node, "hp")
    async with chromium(args=FAKE_CAMERA) as browser:
        await serve_test_assets(browser, node.url)
        pusher = await browser.new_page()
        await pusher.goto(f"{node.url}/__test__/push.html?camera=hp&key={key}")
        assert await pusher.evaluate("window.pushed") == "published"
        status = await asyncio.to_thread(node.wait_state, "hp", "online", 20)
        assert status["mode"] in ("passthrough", "transcode"), status
        print(f"\nwhip-whep from Chromium: {status['codec']} -> {status['mode']}")

        viewer = await browser.new_page()
        errors = PageErrors(viewer)
        await viewer.goto(f"{node.url}/kamera/hp?player=webrtc")  # WHIP in, WHEP out
        await wait_for_frames(viewer, 20)
        await wait_for_more_frames(viewer, 20)
        assert errors.items == []
        await played_as_the_public_plays_it(browser, node)

        await pusher.evaluate("window.whip.stop()")
        await asyncio.to_thread(node.wait_state, "hp", "waiting", 15)


async def test_push_page_sends_the_phone_camera(node):
    key = push_key(node, "hp")
    async with chromium(viewport={"width": 375, "height": 740}, args=FAKE_CAMERA) as browser:
        page = await browser.new_page()
        errors = PageErrors(page)
        recorder = ResponseRecorder(page)
        await page.goto(f"{node.url}/kirim/hp")
        # The page shows the code at once and the camera's public name once the listing answered.
        await page.wait_for_function("document.querySelector('[data-testid=camera]').textContent.includes('TPS 009 Gambir (HP)')",
                                     timeout=10000)

        await page.fill("[data-testid=key]", "pk_wrong")
        await page.click("[data-testid=start]")
        await page.get_by_test_id("message").wait_for()
        assert "Kunci kirim salah" in await page.get_by_test_id("message").inner_text()

        await page.fill("[data-testid=key]", key)
        await page.click("[data-testid=start]")
        await page.wait_for_selector("[data-testid=state][data-state=connected]", timeout=15000)
        assert key not in page.url
        await page.wait_for_function("document.querySelector('[data-testid=codec]').textContent !== '–'", timeout=10000)
        codec = await page.get_by_test_id("codec").inner_text()
        size = await page.get_by_test_id("size").inner_text()
        assert codec in ("H264", "VP8") and "×" in size, (codec, size)
        await asyncio.to_thread(node.wait_state, "hp", "online", 20)
        # The phone's microphone too (Chromium's fake one): its Opus reaches the audio pipeline.
        for _ in range(75):
            sound = node.request("GET", "/api/admin/cameras/hp", token=node.admin_token)[1]["status"]
            if sound.get("audio_codec") == "opus" and sound.get("audio_level_db") is not None:
                break
            await asyncio.sleep(0.2)
        assert sound.get("audio_codec") == "opus" and sound["audio_level_db"] is not None, sound

        viewer = await browser.new_page()
        await viewer.goto(f"{node.url}/kamera/hp?player=webrtc")  # WHIP in, WHEP out
        await wait_for_frames(viewer, 20)
        await played_as_the_public_plays_it(browser, node)

        # A second phone with the key is refused while the first one sends.
        second = await browser.new_page()
        await second.goto(f"{node.url}/kirim/hp")
        await second.fill("[data-testid=key]", key)
        await second.click("[data-testid=start]")
        await second.get_by_test_id("message").wait_for()
        assert "perangkat lain" in await second.get_by_test_id("message").inner_text()

        await page.click("[data-testid=stop]")
        await asyncio.to_thread(node.wait_state, "hp", "waiting", 15)
        await recorder.settle(page)
        assert recorder.containing(key) == []  # the key went in a header only, never in a URL or a body back
        assert not [e for e in errors.items if "401" not in e], errors.items

        # A public camera that takes no push (pulled over RTSP) says so before any key is typed. (An
        # unknown code cannot be told from a non-public camera before a key is typed: the page asks
        # for the key first; tests/test_security_visibility.py.)
        node.add_camera("pulled", "rtsp://127.0.0.1:9/x", tps=10)
        for camera_id in ("pulled",):
            other = await browser.new_page()
            await other.goto(f"{node.url}/kirim/{camera_id}")
            await other.get_by_test_id("message").wait_for()
            assert "tidak terdaftar untuk kiriman" in await other.get_by_test_id("message").inner_text()
            assert await other.locator("[data-testid=form]").is_hidden()
