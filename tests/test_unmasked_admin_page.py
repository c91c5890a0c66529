"""The admin page's side of issue 17's last two pieces, in Debian's Chromium against a real node
and a GStreamer camera showing SMPTE bars with a fill mask over the blue bar: the officials'
exception is a checkbox with a warning, saved with the form (and kept by later saves); while it
is on, "Lihat tanpa masker" plays the unmasked picture (the blue bar) for the admin; and
"Ambil gambar baru" loads a tile taken after the click."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser import PageErrors, chromium, text_of
from tests.test_masks_admin_page import MEAN_OF, camera, open_masks  # noqa: F401 (camera: a fixture)
from tests.test_masks_ingest import CORNER

pytestmark = pytest.mark.timeout(180)
BLUE_BAR = (0.8, 0.05, 0.95, 0.25)  # inside the masked corner


async def test_the_exception_is_set_on_the_form_and_an_admin_watches_unmasked(make_relay_node, camera):  # noqa: F811
    node = make_relay_node()
    node.add_camera("tps-petugas", camera.url("/bars"), tps=9, masks=[CORNER])
    await asyncio.to_thread(node.wait_state, "tps-petugas", "online")
    async with chromium() as browser:
        page = await browser.new_page()
        errors = PageErrors(page)
        await open_masks(page, node, "tps-petugas")
        assert await page.get_by_test_id("masks-unmasked-view").is_hidden()  # off by default
        assert "log audit" in await text_of(page, "unmasked-warning")

        # "Ambil gambar baru": a tile taken after the click (the masked camera makes a keyframe at once).
        await page.get_by_test_id("masks-fresh").click()
        await page.wait_for_function("document.querySelector('[data-testid=masks-tile-age]').dataset.fresh === 'true'")
        assert (await text_of(page, "masks-tile-age")).startswith("Gambar baru, diambil pukul")
        await page.wait_for_function("document.querySelector('[data-testid=masks-tile]').src.startsWith('blob:')"
                                     " && document.querySelector('[data-testid=masks-tile]').naturalWidth === 480")
        assert await page.evaluate(MEAN_OF, ["[data-testid=masks-tile]", *BLUE_BAR]) < 30  # masked, as every tile

        await page.get_by_test_id("input-unmasked").check()
        await page.get_by_test_id("camera-save").click()
        await page.get_by_test_id("camera-dialog").wait_for(state="hidden")
        assert node.request("GET", "/api/admin/cameras/tps-petugas", token=node.admin_token)[1]["unmasked_for_officials"] is True

        await page.locator('[data-testid="camera-row"][data-id="tps-petugas"]').get_by_test_id("edit").click()  # signed in
        await page.get_by_test_id("masks-panel").wait_for(state="visible")
        assert await page.get_by_test_id("input-unmasked").is_checked()
        await page.get_by_test_id("masks-unmasked-view").click()
        await page.wait_for_function("(() => { const v = document.querySelector('[data-testid=masks-unmasked-video]');"
                                     " return v.videoWidth > 0 && v.currentTime > 0.5; })()", timeout=30000)
        await page.wait_for_function(f"({MEAN_OF})(['[data-testid=masks-unmasked-video]', {', '.join(map(str, BLUE_BAR))}]) > 30",
                                     timeout=10000)
        await page.get_by_test_id("masks-unmasked-close").click()
        assert await page.get_by_test_id("masks-unmasked").is_hidden()
        # A later save (a rename) keeps the exception; the watch was audited.
        await page.get_by_test_id("camera-save").click()
        await page.get_by_test_id("camera-dialog").wait_for(state="hidden")
        assert node.request("GET", "/api/admin/cameras/tps-petugas", token=node.admin_token)[1]["unmasked_for_officials"] is True
        entries = node.request("GET", "/api/admin/audit?limit=50", token=node.admin_token)[1]["entries"]
        assert [e["camera"] for e in entries if e["action"] == "watch_unmasked"] == ["tps-petugas"]
        assert not [item for item in errors.items if item.startswith("pageerror")], errors.items
