"""'Tetapkan tampilan acuan' on the admin page (/admin), in Debian's Chromium against a real node
and a real RTSP camera: the edit form shows the camera's current tile, sets the reference from
it (when and by whom, the stored picture beside the current one), clears it, says in Bahasa
Indonesia why a camera without a picture cannot get one, and the audit log names both."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser import PageErrors, chromium, text_of
from tests.support.rtsp_camera import Mount, RtspCameraServer

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
def camera(tmp_path):
    server = RtspCameraServer([Mount(path="/cam", width=640, height=360, fps=10, bitrate_kbps=400, gop_seconds=1)],
                              log_dir=tmp_path / "camera").start()
    yield server
    server.stop()


async def open_editor(page, camera_id: str) -> None:
    row = page.locator(f'[data-testid="camera-row"][data-id="{camera_id}"]')
    await row.wait_for(timeout=10000)
    await row.get_by_test_id("edit").click()
    await page.get_by_test_id("reference-panel").wait_for(state="visible")


async def test_the_reference_is_set_from_the_current_tile_and_cleared_on_the_admin_page(make_relay_node, camera):
    node = make_relay_node()
    node.add_camera("tps-acuan", camera.url("/cam"), tps=4)
    node.add_camera("tps-mati", camera.url("/cam"), tps=5, enabled=False)
    await asyncio.to_thread(node.wait_state, "tps-acuan", "online")
    async with chromium() as browser:
        page = await browser.new_page()
        errors = PageErrors(page)
        await page.goto(node.url + "/admin")
        await page.get_by_test_id("token").fill(node.admin_token)
        await page.get_by_test_id("sign-in-submit").click()
        await page.get_by_test_id("admin-view").wait_for(state="visible")

        await open_editor(page, "tps-acuan")
        await page.wait_for_function("document.querySelector('[data-testid=reference-info]').textContent.startsWith('Belum ada')")
        assert await page.get_by_test_id("reference-stored-figure").is_hidden()
        assert await page.get_by_test_id("reference-clear").is_hidden()
        await page.wait_for_function("document.querySelector('[data-testid=reference-current]').naturalWidth === 480")

        await page.get_by_test_id("reference-set").click()
        await page.wait_for_function("document.querySelector('[data-testid=reference-panel]').dataset.reference === 'set'")
        info = await text_of(page, "reference-info")
        assert info.startswith("Acuan ditetapkan ") and info.endswith(" WIB oleh env:admin."), info
        await page.wait_for_function("document.querySelector('[data-testid=reference-stored]').naturalWidth === 160")
        assert await page.get_by_test_id("reference-clear").is_visible()
        status, body = node.request("GET", "/api/admin/cameras/tps-acuan/reference", token=node.admin_token)
        assert status == 200 and body["reference"]["set_by"] == "env:admin"
        await asyncio.to_thread(wait_reference, node, "tps-acuan", True)

        # Opened again later, the form shows the stored reference; "Hapus acuan" clears it.
        await page.get_by_test_id("camera-cancel").click()
        await open_editor(page, "tps-acuan")
        await page.wait_for_function("document.querySelector('[data-testid=reference-panel]').dataset.reference === 'set'")
        await page.get_by_test_id("reference-clear").click()
        await page.wait_for_function("document.querySelector('[data-testid=reference-panel]').dataset.reference === 'none'")
        assert node.request("GET", "/api/admin/cameras/tps-acuan/reference", token=node.admin_token)[1]["reference"] is None
        await asyncio.to_thread(wait_reference, node, "tps-acuan", False)

        # A disabled camera has no picture to take: the reason, in Bahasa Indonesia.
        await page.get_by_test_id("camera-cancel").click()
        await open_editor(page, "tps-mati")
        await page.get_by_test_id("reference-set").click()
        await page.get_by_test_id("reference-error").wait_for(state="visible")
        assert await text_of(page, "reference-error") == "Kamera sedang nonaktif: tidak ada gambar untuk dijadikan acuan."
        await page.get_by_test_id("camera-cancel").click()

        await page.get_by_test_id("tab-audit").click()
        await page.get_by_test_id("audit-row").first.wait_for()
        rows = await page.eval_on_selector_all('[data-testid="audit-row"]', "rows => rows.map(r => r.textContent)")
        assert any("Tampilan acuan dihapus" in r and "tps-acuan" in r for r in rows), rows
        assert any("Tampilan acuan ditetapkan" in r and "dari gambar" in r for r in rows), rows
        assert [e for e in errors.items if "status of 409" not in e] == []


def wait_reference(node, camera_id: str, has: bool, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while node.status(camera_id).get("reference") is not has:
        assert time.monotonic() < deadline, node.status(camera_id)
        time.sleep(0.1)
