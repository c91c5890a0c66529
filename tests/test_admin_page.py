"""The admin page (/admin) in Debian's Chromium against a real node (ingest + relay) and a real
RTSP camera: sign-in (admin, operator, wrong token), adding a camera through the form (field
errors in Bahasa Indonesia, then the public API and the station page), editing with the password
masked and kept, "Tes koneksi", CSV import with a bad line, disable/enable, delete with a
confirmation, filters and cursor paging, the audit log; no response the page loads contains the
camera password."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser import PageErrors, ResponseRecorder, chromium, text_of, wait_for_frames
from tests.support.rtsp_camera import Mount, RtspCameraServer

pytestmark = [
    pytest.mark.timeout(150),
]
SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 800}
PASSWORD = "Admin-cam-pw-6620"
OPERATOR = "operator-token-admin-page-4410"
KELURAHAN = "31.71.01.1001"  # Gambir, Gambir, Jakarta Pusat


@pytest.fixture(scope="module")
def rtsp_camera(tmp_path_factory):
    """/cam (1 s GOP), /auth (digest, PASSWORD), /bframes (H.264 with B-frames)."""
    server = RtspCameraServer([
        Mount(path="/cam", gop_seconds=1, **SMALL),
        Mount(path="/auth", gop_seconds=1, auth=("digest",), user="op", password=PASSWORD, **SMALL),
        Mount(path="/bframes", gop_seconds=1, bframes=2, **SMALL),
    ], log_dir=tmp_path_factory.mktemp("rtsp-camera")).start()
    yield server
    server.stop()


@pytest.fixture
def node(make_relay_node):
    return make_relay_node(operator_token=OPERATOR)


@pytest.fixture
async def browser():
    async with chromium() as context:
        yield context


def auth_url(camera: RtspCameraServer) -> str:
    return camera.url("/auth", "op", PASSWORD)


async def open_admin(browser, node):
    page = await browser.new_page()
    errors = PageErrors(page)
    recorder = ResponseRecorder(page)
    await page.goto(node.url + "/admin")
    await page.get_by_test_id("sign-in-view").wait_for(state="visible")
    return page, errors, recorder


async def sign_in(page, token: str, view: str = "admin-view") -> None:
    await page.get_by_test_id("token").fill(token)
    await page.get_by_test_id("sign-in-submit").click()
    await page.get_by_test_id(view).wait_for(state="visible", timeout=10000)


def unexpected(errors: PageErrors) -> list[str]:
    """Page errors other than the browser's own note of a 4xx the test provoked on purpose."""
    return [item for item in errors.items if not item.startswith("console: Failed to load resource: the server responded with a status of 4")]


async def row(page, camera_id: str):
    locator = page.locator(f'[data-testid="camera-row"][data-id="{camera_id}"]')
    await locator.wait_for(timeout=10000)
    return locator


async def test_admin_signs_in_and_adds_an_rtsp_camera_through_the_form(node, rtsp_camera, browser):
    page, errors, recorder = await open_admin(browser, node)
    await sign_in(page, node.admin_token)
    assert "admin" in await text_of(page, "who")
    assert await page.get_by_test_id("sign-in-view").is_hidden()

    await page.get_by_test_id("add-camera").click()
    dialog = page.get_by_test_id("camera-dialog")
    await dialog.wait_for(state="visible")
    # Saved half-filled first: the API's field errors appear next to their fields, in Bahasa Indonesia.
    await page.get_by_test_id("input-tps").fill("7")
    await page.get_by_test_id("camera-save").click()
    region_error = page.get_by_test_id("error-region")
    await region_error.wait_for(state="visible")
    assert (await region_error.inner_text()).startswith("Wajib diisi: kode wilayah Kemendagri")
    source_error = page.get_by_test_id("error-source")
    assert await source_error.is_visible() and (await source_error.inner_text()).startswith("Wajib diisi: rtsp://")
    assert await page.get_by_test_id("error-tps").is_hidden()  # the TPS number was fine
    await page.get_by_test_id("input-source").fill("ftp://camera.example/stream")
    await page.get_by_test_id("input-kota").select_option("31.71")
    await page.get_by_test_id("input-kecamatan").select_option("31.71.01")
    await page.get_by_test_id("input-kelurahan").select_option(KELURAHAN)
    await page.get_by_test_id("camera-save").click()
    await page.wait_for_function("document.querySelector('[data-testid=error-source]').textContent.includes('tidak didukung')")
    assert await region_error.is_hidden()

    await page.get_by_test_id("input-source").fill(auth_url(rtsp_camera))
    await page.get_by_test_id("input-name").fill("TPS 007 Gambir Uji")
    assert await page.get_by_test_id("input-public").is_checked()
    await page.get_by_test_id("camera-save").click()
    await dialog.wait_for(state="hidden")
    camera_id = "3171011001007"  # the default id: kelurahan code without dots + TPS number
    added = await row(page, camera_id)
    assert "TPS 007 Gambir Uji" in await added.inner_text()
    assert "op:***@" in await added.get_by_test_id("row-source").inner_text()
    assert "ditambahkan" in await text_of(page, "list-message")

    # Public: in the public API, and its station page plays.
    status, public = node.request("GET", "/api/cameras")
    assert status == 200 and [c["id"] for c in public["cameras"]] == [camera_id], public
    await asyncio.to_thread(node.wait_state, camera_id, "online")
    async with chromium() as public:  # a member of the public: another browser, no session
        station = await public.new_page()
        recorder_station = ResponseRecorder(station)
        await station.goto(f"{node.url}/kamera/{camera_id}")
        await wait_for_frames(station, 10)
        assert await text_of(station, "name") == "TPS 007 Gambir Uji"
        await recorder_station.settle(station)

    await recorder.settle(page)
    loaded = {r.url.removeprefix(node.url).split("?")[0] for r in recorder.responses}
    assert {"/admin", "/api/session", "/api/admin/cameras", "/viewer/js/admin.js"} <= loaded, loaded
    assert recorder.containing(PASSWORD) == [] and recorder_station.containing(PASSWORD) == []
    assert PASSWORD not in await page.content()
    assert unexpected(errors) == []


async def test_edit_shows_the_password_masked_keeps_it_and_tests_the_connection(node, rtsp_camera, browser):
    node.add_camera("secret", auth_url(rtsp_camera), name="Kamera Rahasia", tps=9)
    await asyncio.to_thread(node.wait_state, "secret", "online")
    page, errors, recorder = await open_admin(browser, node)
    await sign_in(page, node.admin_token)
    await (await row(page, "secret")).get_by_test_id("edit").click()
    await page.get_by_test_id("camera-dialog").wait_for(state="visible")
    source = await page.get_by_test_id("input-source").input_value()
    assert source == rtsp_camera.url("/auth").replace("rtsp://", "rtsp://op:***@"), source
    assert await page.get_by_test_id("source-mask-hint").is_visible()
    assert await page.get_by_test_id("input-id").evaluate("input => input.readOnly")

    # Tes koneksi with the masked password: the server uses the stored one.
    await page.get_by_test_id("probe").click()
    result = page.get_by_test_id("probe-result")
    await page.locator('[data-testid="probe-result"][data-state="ok"]').wait_for(timeout=15000)
    assert await text_of(page, "probe-codec") == "H.264"
    assert await text_of(page, "probe-size") == "640×360"
    assert await text_of(page, "probe-fps") in ("25 fps", "25,0 fps")
    assert "passthrough" in await text_of(page, "probe-mode")
    assert await page.get_by_test_id("probe-mode").get_attribute("data-mode") == "passthrough"
    assert PASSWORD not in await result.inner_text()

    await page.get_by_test_id("input-name").fill("Kamera Rahasia Baru")
    await page.get_by_test_id("camera-save").click()
    await page.get_by_test_id("camera-dialog").wait_for(state="hidden")
    edited = await row(page, "secret")
    await page.wait_for_function("document.querySelector('[data-id=secret]').textContent.includes('Kamera Rahasia Baru')")
    assert "op:***@" in await edited.get_by_test_id("row-source").inner_text()
    # The stored password was kept: the camera comes back online with the saved source.
    status, stored = node.request("GET", "/api/admin/cameras/secret", token=node.admin_token)
    assert stored["name"] == "Kamera Rahasia Baru" and stored["source"] == source
    await asyncio.to_thread(node.wait_state, "secret", "online")

    await recorder.settle(page)
    assert recorder.containing(PASSWORD) == []
    assert any(r.url.endswith("/api/admin/probe") and r.status == 200 for r in recorder.responses)
    assert unexpected(errors) == []


async def test_connection_test_reports_transcode_and_failures(node, rtsp_camera, browser):
    page, errors, _ = await open_admin(browser, node)
    await sign_in(page, node.admin_token)
    await page.get_by_test_id("add-camera").click()
    source = page.get_by_test_id("input-source")
    probe_button = page.get_by_test_id("probe")
    state = '[data-testid="probe-result"][data-state="{}"]'

    await source.fill(rtsp_camera.url("/cam"))
    await probe_button.click()
    await page.locator(state.format("ok")).wait_for(timeout=15000)
    assert await text_of(page, "probe-codec") == "H.264" and "passthrough" in await text_of(page, "probe-mode")

    await source.fill(rtsp_camera.url("/bframes"))
    await probe_button.click()
    await page.locator(state.format("running")).wait_for(timeout=5000)
    await page.locator(state.format("ok")).wait_for(timeout=15000)
    mode = await text_of(page, "probe-mode")
    assert "Ditranskode" in mode and "B-frame" in mode, mode

    await source.fill(rtsp_camera.url("/auth", "op", "salah-sekali"))
    await probe_button.click()
    await page.locator(state.format("failed")).wait_for(timeout=15000)
    assert await page.get_by_test_id("probe-reason").get_attribute("data-reason") == "auth_failed"
    assert "kata sandi" in await text_of(page, "probe-reason")

    await source.fill("demo")
    assert await probe_button.is_disabled()  # only RTSP sources can be tested
    assert unexpected(errors) == []


async def test_csv_import_names_the_bad_line_then_stores_the_fixed_file(node, browser, tmp_path):
    page, errors, recorder = await open_admin(browser, node)
    await sign_in(page, node.admin_token)
    await page.get_by_test_id("tab-import").click()
    header = "kind,region,tps,name,source,public"
    good = [f"tps,{KELURAHAN},{n},TPS {n:03d} Impor,rtsp://op:{PASSWORD}@10.9.0.{n}/live,true" for n in (21, 22, 23)]
    bad = "tps,31.99.99.9999,24,TPS Salah,rtsp://10.9.0.24/live,true"
    csv_file = tmp_path / "kamera.csv"
    csv_file.write_text("\n".join([header, good[0], bad, good[1], good[2]]) + "\n")

    # Watch the form's phases: uploading (with a value), then saving (indeterminate), then done.
    await page.evaluate("""() => {
        const form = document.querySelector('[data-testid=import-form]');
        const bar = document.querySelector('[data-testid=import-progress]');
        window.__phases = [];
        new MutationObserver(() => window.__phases.push(form.dataset.phase + ':' + (bar.hasAttribute('value') ? 'value' : 'indeterminate')))
            .observe(form, {attributes: true, attributeFilter: ['data-phase']});
    }""")
    await page.get_by_test_id("import-file").set_input_files(str(csv_file))
    await page.get_by_test_id("import-submit").click()
    await page.locator('[data-testid="import-result"][data-outcome="refused"]').wait_for(timeout=15000)
    line_errors = page.get_by_test_id("import-error")
    assert await line_errors.count() == 1
    only = line_errors.first
    assert await only.get_attribute("data-line") == "3" and await only.get_attribute("data-field") == "region"
    text = await only.inner_text()
    assert text.startswith("Baris 3") and "Wilayah" in text and "31.99.99.9999" in text and "tidak dikenal" in text, text
    assert "tidak ada yang disimpan" in await text_of(page, "import-summary")
    status, listing = node.request("GET", "/api/admin/cameras", token=node.admin_token)
    assert listing["total"] == 0

    csv_file.write_text("\n".join([header, *good]) + "\n")
    await page.get_by_test_id("import-file").set_input_files(str(csv_file))
    await page.get_by_test_id("import-submit").click()
    await page.locator('[data-testid="import-result"][data-outcome="ok"]').wait_for(timeout=15000)
    assert "3 kamera baru" in await text_of(page, "import-summary")
    phases = await page.evaluate("window.__phases")
    assert "uploading:value" in phases and "saving:indeterminate" in phases and phases[-1].startswith("done"), phases
    assert phases.index("saving:indeterminate") > phases.index("uploading:value"), phases
    status, listing = node.request("GET", "/api/admin/cameras", token=node.admin_token)
    assert listing["total"] == 3

    await page.get_by_test_id("tab-cameras").click()
    await row(page, "3171011001021")
    await recorder.settle(page)
    assert recorder.containing(PASSWORD) == []
    assert unexpected(errors) == []


async def test_filters_paging_disable_delete_and_audit_log(node, browser):
    rows = ["id,kind,region,tps,source,public,enabled"]
    rows += [f"cam-{n:03d},tps,{KELURAHAN},{n},demo,true,true" for n in range(1, 56)]
    rows += ["rekap-x,recap,31.71.01,,demo,false,true", "lain-1,tps,31.72.01.1001,1,demo,true,false"]
    status, body = node.request("POST", "/api/admin/cameras/import", "\n".join(rows).encode(), node.admin_token, "text/csv")
    assert status == 200 and body["created"] == 57, body

    page, errors, _ = await open_admin(browser, node)
    await sign_in(page, node.admin_token)
    info = page.get_by_test_id("page-info")
    await page.wait_for_function("document.querySelector('[data-testid=page-info]').textContent.includes('dari 57')")
    assert await info.inner_text() == "1–50 dari 57 kamera"
    assert await page.get_by_test_id("camera-row").count() == 50
    await page.get_by_test_id("page-next").click()
    await page.wait_for_function("document.querySelector('[data-testid=page-info]').textContent.startsWith('51–57')")
    assert await page.get_by_test_id("camera-row").count() == 7 and await page.get_by_test_id("page-next").is_disabled()
    await page.get_by_test_id("page-prev").click()
    await page.wait_for_function("document.querySelector('[data-testid=page-info]').textContent.startsWith('1–50')")

    async def shows(ids: list[str], expected_info: str) -> None:
        """Wait until the list shows exactly these rows (a stale page must not pass), then check the count line."""
        try:
            await page.wait_for_function(
                "ids => JSON.stringify([...document.querySelectorAll('[data-testid=camera-row]')].map(r => r.dataset.id)) === JSON.stringify(ids)",
                arg=ids, timeout=10000)
        except Exception:
            shown = await page.eval_on_selector_all('[data-testid="camera-row"]', "rows => rows.map(r => r.dataset.id)")
            raise AssertionError(f"the list shows {shown}, not {ids}") from None
        assert await info.inner_text() == expected_info

    await page.get_by_test_id("filter-kind").select_option("recap")
    await shows(["rekap-x"], "1–1 dari 1 kamera")
    await page.get_by_test_id("filter-kind").select_option("")
    await page.get_by_test_id("filter-enabled").select_option("false")
    await shows(["lain-1"], "1–1 dari 1 kamera")
    await page.get_by_test_id("filter-enabled").select_option("")
    await shows([f"cam-{n:03d}" for n in range(1, 51)], "1–50 dari 57 kamera")
    await page.get_by_test_id("filter-kota").select_option("31.72")
    await shows(["lain-1"], "1–1 dari 1 kamera")
    await page.get_by_test_id("filter-kota").select_option("31.71")
    await page.get_by_test_id("filter-kecamatan").select_option("31.71.01")
    await page.get_by_test_id("filter-kelurahan").select_option(KELURAHAN)
    await page.get_by_test_id("filter-q").fill("cam-05")
    await shows([f"cam-{n:03d}" for n in range(50, 56)], "1–6 dari 6 kamera")

    # Disable, enable.
    target = await row(page, "cam-052")
    await target.get_by_test_id("toggle-enabled").click()
    await page.locator('[data-id="cam-052"][data-enabled="false"]').wait_for()
    assert node.request("GET", "/api/admin/cameras/cam-052", token=node.admin_token)[1]["enabled"] is False
    assert await page.locator('[data-id="cam-052"]').get_by_test_id("toggle-enabled").inner_text() == "Aktifkan"
    await page.locator('[data-id="cam-052"]').get_by_test_id("toggle-enabled").click()
    await page.locator('[data-id="cam-052"][data-enabled="true"]').wait_for()
    assert node.request("GET", "/api/admin/cameras/cam-052", token=node.admin_token)[1]["enabled"] is True

    # Delete asks first; "Batal" keeps the camera.
    await page.locator('[data-id="cam-053"]').get_by_test_id("delete").click()
    await page.get_by_test_id("confirm-dialog").wait_for(state="visible")
    assert "cam-053" in await text_of(page, "confirm-text")
    await page.get_by_test_id("confirm-cancel").click()
    await page.get_by_test_id("confirm-dialog").wait_for(state="hidden")
    assert node.request("GET", "/api/admin/cameras/cam-053", token=node.admin_token)[0] == 200
    await page.locator('[data-id="cam-053"]').get_by_test_id("delete").click()
    await page.get_by_test_id("confirm-delete").click()
    await shows(["cam-050", "cam-051", "cam-052", "cam-054", "cam-055"], "1–5 dari 5 kamera")
    assert node.request("GET", "/api/admin/cameras/cam-053", token=node.admin_token)[0] == 404
    assert "dihapus" in await text_of(page, "list-message")

    # The audit log, newest first.
    await page.get_by_test_id("tab-audit").click()
    audit_rows = page.get_by_test_id("audit-row")
    await audit_rows.first.wait_for()
    actions = await page.eval_on_selector_all('[data-testid="audit-row"]', "rows => rows.map(r => [r.dataset.action, r.dataset.camera])")
    # (the admin's sign-in is audited too: issue 15, finding 12)
    # Before the admin signed in, the import wrote its summary and one entry per camera it created
    # (issue 15, finding 7); the first page (50 entries) ends with 45 of those 57.
    assert actions[:5] == [["delete", "cam-053"], ["update", "cam-052"], ["update", "cam-052"], ["sign_in", ""], ["import", ""]], actions
    assert len(actions) == 50 and all(action == "create" for action, _ in actions[5:]), actions
    assert "Hapus" in await audit_rows.first.inner_text()
    assert "Masuk" in await audit_rows.nth(3).inner_text() and "57 baris" in await audit_rows.nth(4).inner_text()
    assert "impor CSV" in await audit_rows.nth(5).inner_text()
    assert "Aktif: true → false" in await audit_rows.nth(2).inner_text()
    assert unexpected(errors) == []


async def test_wrong_token_and_operator_token_get_no_admin_functions(node, browser):
    page, errors, recorder = await open_admin(browser, node)
    await page.get_by_test_id("token").fill("bukan-token-yang-benar")
    await page.get_by_test_id("sign-in-submit").click()
    message = page.get_by_test_id("sign-in-error")
    await message.wait_for(state="visible")
    assert "Token tidak dikenal" in await message.inner_text()
    assert await page.get_by_test_id("admin-view").is_hidden()

    await sign_in(page, OPERATOR, view="no-access-view")
    assert "operator" in await text_of(page, "no-access-message") and "admin" in await text_of(page, "no-access-message")
    assert await page.get_by_test_id("admin-view").is_hidden()
    await page.reload()  # the cookie session stays an operator one
    await page.get_by_test_id("no-access-view").wait_for(state="visible")
    await recorder.settle(page)
    assert not [r.url for r in recorder.responses if "/api/admin/" in r.url]

    await page.get_by_test_id("no-access-sign-out").click()
    await page.get_by_test_id("sign-in-view").wait_for(state="visible")
    await sign_in(page, node.admin_token)
    await page.get_by_test_id("sign-out").click()
    await page.get_by_test_id("sign-in-view").wait_for(state="visible")
    await page.reload()
    await page.get_by_test_id("sign-in-view").wait_for(state="visible")  # signed out for real
    assert unexpected(errors) == []


async def test_whip_camera_shows_how_to_push_and_a_key_that_works_once_shown(node, browser):
    from tests.support.whip_publisher import WhipPublisher

    node.add_camera("hp-tps", "whip", tps=12)
    node.add_camera("plain", "demo", tps=13)
    page, errors, recorder = await open_admin(browser, node)
    await sign_in(page, node.admin_token)
    await (await row(page, "plain")).get_by_test_id("edit").click()
    await page.get_by_test_id("camera-dialog").wait_for(state="visible")
    assert await page.get_by_test_id("push-panel").is_hidden()  # only WHIP cameras take a push key
    await page.get_by_test_id("camera-cancel").click()

    await (await row(page, "hp-tps")).get_by_test_id("edit").click()
    await page.get_by_test_id("push-panel").wait_for(state="visible")
    assert await text_of(page, "push-url") == f"{node.url}/whip/hp-tps"
    assert await page.get_by_test_id("push-page").get_attribute("href") == "/kirim/hp-tps"
    await page.get_by_test_id("push-key-create").click()
    await page.get_by_test_id("push-key-result").wait_for(state="visible")
    first = await page.get_by_test_id("push-key").input_value()
    await page.get_by_test_id("push-key-create").click()  # rotate
    await page.wait_for_function(f"document.querySelector('[data-testid=push-key]').value !== {first!r}")
    key = await page.get_by_test_id("push-key").input_value()
    assert key.startswith("pk_") and key != first

    publisher = await WhipPublisher(node.url, "hp-tps", key).start()
    try:
        await asyncio.to_thread(node.wait_state, "hp-tps", "online")
    finally:
        await publisher.stop()
    status, audit = node.request("GET", "/api/admin/audit", token=node.admin_token)
    assert [e["action"] for e in audit["entries"] if e["camera"] == "hp-tps"].count("rotate_push_key") == 2
    await recorder.settle(page)
    assert unexpected(errors) == []
