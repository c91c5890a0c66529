"""The admin page shows each camera's sound (issue 20 part 4): codec and level, so an admin sees
a dead microphone. Chromium against a real node with GStreamer cameras, one with a 440 Hz AAC
sine and one without sound."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser import PageErrors, chromium

pytestmark = pytest.mark.timeout(90)



async def test_the_camera_list_shows_sound_and_its_level(make_relay_node, sound_cameras):
    node = make_relay_node()
    node.add_camera("with-sound", sound_cameras.url("/snd"), tps=1)
    node.add_camera("without", sound_cameras.url("/mute"), tps=2)
    for camera_id in ("with-sound", "without"):
        await asyncio.to_thread(node.wait_state, camera_id, "online")
    deadline = asyncio.get_running_loop().time() + 15
    while node.status("with-sound").get("audio_level_db") is None:
        assert asyncio.get_running_loop().time() < deadline, node.status("with-sound")
        await asyncio.sleep(0.2)
    async with chromium() as browser:
        page = await browser.new_page()
        errors = PageErrors(page)
        await page.goto(node.url + "/admin")
        await page.get_by_test_id("token").fill(node.admin_token)
        await page.get_by_test_id("sign-in-submit").click()
        loud = page.locator('[data-testid="camera-row"][data-id="with-sound"] [data-testid="sound"]')
        await loud.wait_for(timeout=10000)
        assert await loud.get_attribute("data-state") == "ok"
        assert -13 < float(await loud.get_attribute("data-level")) < -5
        text = await loud.inner_text()
        assert "Suara AAC" in text and " dB" in text, text
        assert await loud.locator("meter").count() == 1
        none = page.locator('[data-testid="camera-row"][data-id="without"] [data-testid="sound"]')
        assert await none.inner_text() == "Tanpa suara"
        assert errors.items == []


async def test_the_camera_form_keeps_and_sets_who_may_hear(make_relay_node, sound_cameras):
    """The form's PUT replaces the camera whole: it must send audio_public as stored (an edit of
    anything else kept it off before), and the checkbox turns it on."""
    node = make_relay_node()
    node.add_camera("loud", sound_cameras.url("/snd"), tps=1, audio_public=True)
    node.add_camera("quiet", sound_cameras.url("/mute"), tps=2)
    async with chromium() as browser:
        page = await browser.new_page()
        errors = PageErrors(page)
        await page.goto(node.url + "/admin")
        await page.get_by_test_id("token").fill(node.admin_token)
        await page.get_by_test_id("sign-in-submit").click()
        for camera_id, tick in (("loud", False), ("quiet", True)):
            row = page.locator(f'[data-testid="camera-row"][data-id="{camera_id}"]')
            await row.wait_for(timeout=10000)
            await row.get_by_test_id("edit").click()
            checkbox = page.get_by_test_id("input-audio-public")
            await checkbox.wait_for(state="visible")
            assert await checkbox.is_checked() is (camera_id == "loud")
            await page.get_by_test_id("input-name").fill(f"TPS {camera_id}")
            if tick:
                await checkbox.check()
            await page.get_by_test_id("camera-save").click()
            await page.wait_for_function(f"document.querySelector('[data-testid=camera-row][data-id={camera_id}]')"
                                         f"?.textContent.includes('TPS {camera_id}')", timeout=10000)
        assert node.request("GET", "/api/admin/cameras/loud", token=node.admin_token)[1]["audio_public"] is True
        assert node.request("GET", "/api/admin/cameras/quiet", token=node.admin_token)[1]["audio_public"] is True
        assert errors.items == []
