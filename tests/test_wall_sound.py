"""The wall's large view can unmute one camera at a time (issue 20 part 4): off until asked,
muted again when the large view plays another camera. Chromium against a real node with a
GStreamer recap camera sending a 440 Hz AAC sine, opened by an operator (who always hears)."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser import PageErrors, chromium

pytestmark = pytest.mark.timeout(120)



async def test_the_large_view_unmutes_one_camera_at_a_time(make_relay_node, sound_cameras):
    node = make_relay_node()
    node.add_camera("rekap-gambir", sound_cameras.url("/snd"), kind="recap", region="31.71.01", tps=None, audio_public=True)
    node.add_camera("rekap-sawah-besar", sound_cameras.url("/mute"), kind="recap", region="31.71.02", tps=None)
    for camera_id in ("rekap-gambir", "rekap-sawah-besar"):
        await asyncio.to_thread(node.wait_state, camera_id, "online")
    async with chromium() as browser:
        page = await browser.new_page()
        errors = PageErrors(page)
        await page.goto(f"{node.url}/wall?buka=31.71.01")
        sound = page.get_by_test_id("focus-sound")
        await sound.wait_for(state="visible", timeout=20000)
        assert await page.evaluate("document.querySelector('[data-testid=focus-video]').muted") is True
        assert await sound.inner_text() == "Nyalakan suara"
        await sound.click()
        assert await sound.inner_text() == "Matikan suara"
        # Sound flows: the WebRTC audio track is not muted by its source (RTP arrives).
        await page.wait_for_function("(() => { const s = document.querySelector('[data-testid=focus-video]').srcObject;"
                                     " const [a] = s ? s.getAudioTracks() : []; return !!a && a.readyState === 'live' && !a.muted; })()",
                                     timeout=15000)
        await page.keyboard.press("ArrowRight")  # the next kecamatan: a camera without sound
        await page.wait_for_function("document.querySelector('[data-testid=focus]').dataset.code === '31.71.02'", timeout=10000)
        assert await page.evaluate("document.querySelector('[data-testid=focus-video]').muted") is True
        await page.wait_for_function("document.querySelector('[data-testid=focus-sound]').hidden", timeout=10000)
        assert errors.items == []
