"""The admin page keeps and sets a camera's `record` flag (issue 18): the edit form sends the
whole camera (PUT), so without the checkbox saving any edit would turn recording off. Chromium
against a real node; the camera needs no video for this."""

from __future__ import annotations

import pytest

from tests.browser import chromium
from tests.test_admin_page import open_admin, row, sign_in, unexpected

pytestmark = pytest.mark.timeout(90)


async def test_an_edit_keeps_recording_on_and_the_checkbox_turns_it_off(relay_node):
    node = relay_node
    node.add_camera("rec", "rtsp://127.0.0.1:9/none", name="Rekap Gambir", record=True)
    async with chromium() as browser:
        page, errors, _ = await open_admin(browser, node)
        await sign_in(page, node.admin_token)

        async def save_edit(change) -> dict:
            await (await row(page, "rec")).get_by_test_id("edit").click()
            await page.get_by_test_id("camera-dialog").wait_for(state="visible")
            await change()
            await page.get_by_test_id("camera-save").click()
            await page.get_by_test_id("camera-dialog").wait_for(state="hidden")
            status, camera = node.request("GET", "/api/admin/cameras/rec", token=node.admin_token)
            assert status == 200, camera
            return camera

        async def rename():
            assert await page.get_by_test_id("input-record").is_checked()
            await page.get_by_test_id("input-name").fill("Rekap Gambir Baru")

        camera = await save_edit(rename)
        assert camera["name"] == "Rekap Gambir Baru" and camera["record"] is True
        camera = await save_edit(lambda: page.get_by_test_id("input-record").uncheck())
        assert camera["record"] is False
        assert unexpected(errors) == []
