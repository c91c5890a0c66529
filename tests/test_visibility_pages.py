"""Visibility windows in the pages (Chromium against a real node whose clock the test moves):
the finder and the station page say "Tayang publik mulai 13.00 WIB" and show nothing of the
picture outside the window, start playing by themselves when it opens and stop when it closes;
the admin form edits a camera's windows."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser import PageErrors, ResponseRecorder, chromium, text_of, video_frames, wait_for_frames
from tests.support.node_clock import set_clock
from tests.support.rtsp_camera import Mount, RtspCameraServer

pytestmark = pytest.mark.timeout(150)
KELURAHAN = "31.71.01.1001"


@pytest.fixture
def node(make_relay_node, tmp_path):
    camera = RtspCameraServer([Mount(path="/cam", gop_seconds=1, width=320, height=180, fps=25, bitrate_kbps=300)],
                              log_dir=tmp_path / "cam").start()
    clock_file = tmp_path / "clock"
    set_clock(clock_file, "2026-02-14T10:00")  # voting
    node = make_relay_node(test_clock_file=str(clock_file), visibility__default_windows='["2026-02-14T13:00+07:00/"]')
    node.clock_file = clock_file
    node.add_camera("tps-sejam", camera.url("/cam"), tps=3, public_windows=["2026-02-14T13:00/2026-02-14T14:00"])
    node.add_camera("tps-selalu", camera.url("/cam"), tps=2, public_windows=["always"])
    for camera_id in ("tps-sejam", "tps-selalu"):
        node.wait_state(camera_id, "online")
    yield node
    camera.stop()


def tile(page, camera_id: str):
    return page.locator(f'[data-testid="camera-tile"][data-id="{camera_id}"]')


async def test_finder_and_station_page_follow_the_window_without_a_reload(node):
    async with chromium() as browser:
        finder = await browser.new_page()
        finder_errors = PageErrors(finder)
        recorder = ResponseRecorder(finder)
        await finder.goto(f"{node.url}/?wilayah={KELURAHAN}")
        await tile(finder, "tps-selalu").wait_for()
        hidden = tile(finder, "tps-sejam")
        assert await hidden.get_attribute("data-state") == "scheduled"
        label = (await hidden.locator('[data-testid="tile-schedule"]').inner_text()).strip()
        assert label.startswith("Tayang publik mulai") and label.endswith("13.00 WIB"), label
        assert await hidden.locator("img").get_attribute("src") is None
        await recorder.settle(finder)
        assert [r.url for r in recorder.responses if "/tps-sejam/" in r.url] == []  # its picture is never asked for
        assert [r.url for r in recorder.responses if "/tps-selalu/tile.jpg" in r.url]  # ...while the other's is

        station = await browser.new_page()
        station_errors = PageErrors(station)
        await station.goto(f"{node.url}/kamera/tps-sejam")
        overlay = station.get_by_test_id("overlay")
        await station.wait_for_function("document.querySelector('[data-testid=overlay]').dataset.kind === 'scheduled'", timeout=10000)
        assert "Tayang publik mulai" in await text_of(station, "overlay") and "13.00 WIB" in await text_of(station, "overlay")
        assert await station.eval_on_selector("[data-testid=video]", "v => !v.getAttribute('poster')")
        await asyncio.sleep(1.0)
        assert await video_frames(station) == 0

        # 13:00: both pages come alive by themselves.
        set_clock(node.clock_file, "2026-02-14T13:00:01")
        await finder.wait_for_function(
            "document.querySelector('[data-testid=camera-tile][data-id=\"tps-sejam\"]').dataset.state === 'online'", timeout=15000)
        await finder.wait_for_function(
            "!!document.querySelector('[data-testid=camera-tile][data-id=\"tps-sejam\"] img').getAttribute('src')", timeout=15000)
        await wait_for_frames(station, 25, timeout=25)
        assert await overlay.is_hidden()

        # 14:00: the window closes; the picture goes and the page says so (no window opens again).
        set_clock(node.clock_file, "2026-02-14T14:00:01")
        await station.wait_for_function("document.querySelector('[data-testid=overlay]').dataset.kind === 'scheduled'", timeout=15000)
        assert await text_of(station, "status") == "Tidak tayang untuk publik saat ini"
        await finder.wait_for_function(
            "document.querySelector('[data-testid=camera-tile][data-id=\"tps-sejam\"]').dataset.state === 'scheduled'", timeout=15000)
        stopped = await video_frames(station)
        await asyncio.sleep(1.5)
        assert await video_frames(station) <= stopped + 2
        assert await station.evaluate("window.__pantau.pc === null")

        # Only uncaught errors count: Chromium logs the refused (403) event stream of a hidden camera.
        assert [e for e in finder_errors.items + station_errors.items if e.startswith("pageerror")] == []


async def test_the_admin_form_edits_a_cameras_windows(node):
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{node.url}/admin")
        await page.get_by_test_id("token").fill(node.admin_token)
        await page.get_by_test_id("sign-in-submit").click()
        await page.locator('[data-testid="camera-row"][data-id="tps-selalu"] [data-testid="edit"]').click(timeout=10000)
        dialog = page.get_by_test_id("camera-dialog")
        await dialog.wait_for(state="visible")
        assert await page.get_by_test_id("input-window-mode").input_value() == "always"
        assert await page.get_by_test_id("input-window-daily").is_hidden()
        await page.get_by_test_id("input-window-mode").select_option("custom")
        await page.get_by_test_id("input-window-daily").fill("24:00-13:00")
        await page.get_by_test_id("input-window-dated").fill("2026-02-14T13:00/2026-02-15T06:00")
        await page.get_by_test_id("camera-save").click()
        error = page.get_by_test_id("error-public-windows")
        await error.wait_for()
        assert "mulai harus sebelum selesai" in await error.inner_text()
        await page.get_by_test_id("input-window-daily").fill("13:00-24:00")
        await page.get_by_test_id("camera-save").click()
        await dialog.wait_for(state="hidden")
        _, camera = node.request("GET", "/api/admin/cameras/tps-selalu", token=node.admin_token)
        assert camera["public_windows"] == ["daily 13:00-24:00", "2026-02-14T13:00+07:00/2026-02-15T06:00+07:00"]
