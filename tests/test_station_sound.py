"""The station page's sound (issue 20 part 4): off by default, "Nyalakan suara" turns it on where
the public may hear the camera (its HLS carries the sound), "Tanpa suara" where it may not.
Chromium against a real node with a GStreamer camera sending a 440 Hz AAC sine."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser import PageErrors, chromium, wait_for_frames

pytestmark = pytest.mark.timeout(120)



async def test_sound_is_off_until_asked_and_only_where_the_public_may_hear_it(make_relay_node, sound_cameras):
    node = make_relay_node()
    node.add_camera("loud", sound_cameras.url("/snd"), tps=1, audio_public=True)
    node.add_camera("quiet", sound_cameras.url("/snd"), tps=2)
    for camera_id in ("loud", "quiet"):
        await asyncio.to_thread(node.wait_state, camera_id, "online")
    async with chromium() as browser:
        page = await browser.new_page()
        errors = PageErrors(page)
        await page.goto(f"{node.url}/kamera/loud")
        await wait_for_frames(page, 20, timeout=30)
        assert await page.evaluate("window.__pantau.mode") == "hls"
        mute = page.get_by_test_id("mute")
        await page.wait_for_function("document.querySelector('[data-testid=mute]').dataset.sound === 'yes'", timeout=10000)
        assert await page.evaluate("document.querySelector('video').muted") is True  # off by default
        assert "Nyalakan suara" in await mute.inner_text()
        await mute.click()
        assert await page.evaluate("document.querySelector('video').muted") is False
        assert "Matikan suara" in await mute.inner_text()
        # The sound really plays: Chromium counts the audio bytes it decodes.
        await page.wait_for_function("document.querySelector('video').webkitAudioDecodedByteCount > 0", timeout=15000)
        assert [e for e in errors.items if "status of 503" not in e] == []

        other = await browser.new_page()
        await other.goto(f"{node.url}/kamera/quiet")
        await wait_for_frames(other, 20, timeout=30)
        quiet = other.get_by_test_id("mute")
        assert await quiet.is_disabled() and await quiet.inner_text() == "Tanpa suara"
        await asyncio.sleep(2)
        assert await other.evaluate("document.querySelector('video').webkitAudioDecodedByteCount") == 0
