"""Issue 15, findings 11 and 15, against real nodes.

11. Hidden cameras could be confirmed: `GET /whip/{id}` answered `{id, enabled}` for a non-public
    WHIP camera (and a POST answered 401 where an unknown id got 404); `/healthz` reported the
    camera count and revision; the public `registry` event and `/api/wall` revision moved, and
    public `kecamatan` events were sent, when hidden cameras changed. The push page /kirim must
    still work for a non-public WHIP camera (Chromium).
15. Two enabled recap cameras in one kecamatan: the wall silently showed the lowest id. At most
    one *enabled* recap camera per kecamatan now, for create, PUT, PATCH and CSV import.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pantau.cameras import recap_rule
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import validate_camera
from pantau.cameras.demo_set import seed_demo_once
from pantau.cameras.registry import RegistryError
from tests.browser import FAKE_CAMERA, PageErrors, ResponseRecorder, chromium
from tests.support.sse import sse_messages

pytestmark = pytest.mark.timeout(150)
OPERATOR = "op-visibility-token-0123456789"
ADMIN = Actor("test-admin", "127.0.0.1")


def push_key(node, camera_id: str) -> str:
    status, body = node.request("POST", f"/api/admin/cameras/{camera_id}/push-key", token=node.admin_token)
    assert status == 201, body
    return body["push_key"]


async def answer(http: aiohttp.ClientSession, method: str, url: str, camera_id: str, token: str | None = None):
    """(status, body with the id written as ID, the header names that are not per-response)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if method == "POST":
        headers["Content-Type"] = "application/sdp"
        data = b"v=0\r\n"
    async with http.request(method, f"{url}/whip/{camera_id}", headers=headers, data=data) as response:
        body = (await response.text()).replace(camera_id, "ID")
        names = sorted(h.lower() for h in response.headers if h.lower() not in ("date", "content-length"))
        return response.status, body, names


# ---- finding 11: GET (and POST) /whip/{id} ----------------------------------------------------

async def test_whip_answers_for_a_hidden_camera_exactly_as_for_an_unknown_one_without_its_key(make_relay_node):
    node = make_relay_node(operator_token=OPERATOR)
    node.add_camera("hp-umum", "whip", tps=1)
    node.add_camera("hp-rahasia", "whip", tps=2, public=False)
    node.add_camera("rtsp-rahasia", "rtsp://127.0.0.1:9/x", tps=3, public=False)
    key, other_key = push_key(node, "hp-rahasia"), push_key(node, "hp-umum")
    async with aiohttp.ClientSession() as http:
        for method in ("GET", "POST"):
            unknown = await answer(http, method, node.url, "hp-tidakada")
            assert unknown[0] == 404, unknown
            for camera_id, token in [("hp-rahasia", None), ("hp-rahasia", "pk_wrong"), ("hp-rahasia", other_key),
                                     ("hp-rahasia", node.admin_token if method == "POST" else None),
                                     ("rtsp-rahasia", None), ("rtsp-rahasia", node.admin_token), ("hp-tidakada", key)]:
                assert await answer(http, method, node.url, camera_id, token) == unknown, (method, camera_id, token)

        # The camera's own push key, or an operator or admin token, shows it.
        for token in (key, OPERATOR, node.admin_token):
            async with http.get(f"{node.url}/whip/hp-rahasia", headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status == 200 and await response.json() == {"id": "hp-rahasia", "enabled": True}
        # A public WHIP camera is public: described to anyone; a wrong key on a POST is still a 401.
        async with http.get(f"{node.url}/whip/hp-umum") as response:
            assert response.status == 200 and await response.json() == {"id": "hp-umum", "enabled": True}
        status, _, names = await answer(http, "POST", node.url, "hp-umum", "pk_wrong")
        assert status == 401 and "www-authenticate" in names


# ---- finding 11: /healthz ---------------------------------------------------------------------

async def test_healthz_says_only_ok_and_operators_get_the_counts_in_metrics(make_relay_node):
    node = make_relay_node(operator_token=OPERATOR)
    assert node.request("GET", "/healthz") == (200, {"ok": True, "registry": "ok"})
    node.add_camera("rahasia", "demo", tps=1, public=False)
    assert node.request("GET", "/healthz") == (200, {"ok": True, "registry": "ok"})
    assert node.request("GET", "/api/metrics")[0] == 401
    status, metrics = node.request("GET", "/api/metrics", token=OPERATOR)
    assert status == 200 and metrics["registry"]["cameras"] == 1 and metrics["registry"]["revision"] >= 1, metrics


async def test_ingest_healthz_says_only_ok(registry):
    from ingest import http_app

    app = web.Application()
    app[http_app.REGISTRY] = registry
    app.router.add_get("/healthz", http_app.healthz)
    async with TestClient(TestServer(app)) as client:
        async with client.get("/healthz") as response:
            assert response.status == 200 and await response.json() == {"ok": True, "registry": "ok"}


# ---- finding 11: the public registry event, kecamatan counts and the wall revision ---------------

class EventLog:
    """Every event of one /api/events stream, as it arrives."""

    def __init__(self, http: aiohttp.ClientSession, url: str, headers: dict | None = None):
        self.events: list[tuple[str | None, dict]] = []
        self._task = asyncio.get_running_loop().create_task(self._read(http, url, headers or {}))

    async def _read(self, http, url, headers):
        async with http.get(url, headers=headers) as response:
            assert response.status == 200
            async for event in sse_messages(response):
                self.events.append(event)

    async def wait_for(self, match, timeout: float = 20.0) -> int:
        """Index of the first event matching `match(event, data)`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, (event, data) in enumerate(self.events):
                if match(event, data):
                    return index
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.05)
        raise AssertionError(f"no such event within {timeout} s: {self.events}")

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def kecamatan_of(wall: dict, code: str) -> dict:
    return next(k for kota in wall["kota"] for k in kota["kecamatan"] if k["code"] == code)


async def test_hidden_camera_changes_move_nothing_the_public_sees(make_relay_node):
    node = make_relay_node(operator_token=OPERATOR)
    node.add_camera("rekap-gambir", "demo", kind="recap", region="31.71.01", tps=None, name="Rekap Gambir")
    node.add_camera("tps-umum", "demo", region="31.71.01.1001", tps=1)
    for camera_id in ("rekap-gambir", "tps-umum"):
        await asyncio.to_thread(node.wait_state, camera_id, "online")
    public_ids = {"rekap-gambir", "tps-umum"}
    _, wall_before = node.request("GET", "/api/wall")
    async with aiohttp.ClientSession() as http:
        public = EventLog(http, f"{node.url}/api/events?counts=1")
        staff = EventLog(http, f"{node.url}/api/events?counts=1", {"Authorization": f"Bearer {OPERATOR}"})
        try:
            await asyncio.sleep(0.5)  # both streams are open
            # Hidden cameras: a TPS that comes online and is deleted, a recap added, renamed, disabled.
            node.add_camera("tps-rahasia", "demo", region="31.71.01.1002", tps=2, public=False)
            node.add_camera("rekap-rahasia", "demo", kind="recap", region="31.71.02", tps=None, public=False)
            await asyncio.to_thread(node.wait_state, "tps-rahasia", "online")
            await staff.wait_for(lambda e, d: e == "kecamatan" and d["code"] == "31.71.01" and d["tps"]["online"] == 2)
            for patch in ({"name": "Rekap Rahasia"}, {"enabled": False}):
                assert node.request("PATCH", "/api/admin/cameras/rekap-rahasia", patch, node.admin_token)[0] == 200
            assert node.request("DELETE", "/api/admin/cameras/tps-rahasia", token=node.admin_token)[0] == 204
            _, staff_wall = node.request("GET", "/api/wall", token=OPERATOR)
            revision = staff_wall["revision"]  # the registry's, for operators
            await staff.wait_for(lambda e, d: e == "registry" and d["revision"] == revision)
            await staff.wait_for(lambda e, d: e == "kecamatan" and d["code"] == "31.71.01" and d["tps"]["total"] == 1)
            _, wall_after = node.request("GET", "/api/wall")
            assert wall_after["revision"] == wall_before["revision"]
            assert [(k["code"], k["recap"] and k["recap"]["id"], k["tps"]) for kota in wall_after["kota"] for k in kota["kecamatan"]] \
                == [(k["code"], k["recap"] and k["recap"]["id"], k["tps"]) for kota in wall_before["kota"] for k in kota["kecamatan"]]

            # A public camera's change still makes the public wall reload.
            assert node.request("PATCH", "/api/admin/cameras/rekap-gambir", {"name": "Rekap Kec. Gambir"}, node.admin_token)[0] == 200
            index = await public.wait_for(lambda e, d: e == "registry")
            _, wall_now = node.request("GET", "/api/wall")
            assert public.events[index][1]["revision"] == wall_now["revision"] != wall_before["revision"]
            assert kecamatan_of(wall_now, "31.71.01")["recap"]["name"] == "Rekap Kec. Gambir"
            # Before it, the public stream carried only the public cameras' own status and viewers.
            heard = [(e, d.get("id")) for e, d in public.events[:index]]
            assert all(e in ("status", "viewers") and i in public_ids for e, i in heard), heard
            assert not any("rahasia" in str(d) for _, d in public.events)
        finally:
            await public.close()
            await staff.close()


# ---- finding 15: one enabled recap camera per kecamatan --------------------------------------------

def recap(camera_id: str, region: str = "31.71.01", **fields) -> dict:
    return {"id": camera_id, "kind": "recap", "region": region, "source": "demo", **fields}


def newest_audit(node) -> tuple[str, str]:
    _, audit = node.request("GET", "/api/admin/audit?limit=1", token=node.admin_token)
    return audit["entries"][0]["action"], audit["entries"][0]["camera"]


def import_csv(node, rows: list[str], mode: str = "create"):
    body = "\n".join(["id,kind,region,tps,source,public,enabled", *rows]).encode()
    return node.request("POST", f"/api/admin/cameras/import?mode={mode}", body, node.admin_token, "text/csv")


async def test_at_most_one_enabled_recap_camera_per_kecamatan(relay_node):
    node = relay_node
    admin = node.admin_token

    def wall_recap(code: str = "31.71.01") -> str | None:
        _, wall = node.request("GET", "/api/wall", token=admin)
        found = kecamatan_of(wall, code)["recap"]
        return found and found["id"]

    assert node.request("POST", "/api/admin/cameras", recap("rekap-b"), admin)[0] == 201
    # The reproduction: a hidden second recap camera (lower id) took the wall's place for operators.
    status, body = node.request("POST", "/api/admin/cameras", recap("rekap-a", public=False), admin)
    assert status == 409, body
    assert "31.71.01" in body["message"] and "Gambir" in body["message"] and "'rekap-b'" in body["message"], body
    assert node.request("GET", "/api/admin/cameras/rekap-a", token=admin)[0] == 404
    assert newest_audit(node) == ("create", "rekap-b")

    # Disabled, it may be registered (a standby); enabling it while rekap-b holds the kecamatan may not.
    assert node.request("POST", "/api/admin/cameras", recap("rekap-a", public=False, enabled=False), admin)[0] == 201
    for method, change in (("PATCH", {"enabled": True}), ("PUT", recap("rekap-a", public=False, enabled=True))):
        status, body = node.request(method, "/api/admin/cameras/rekap-a", change, admin)
        assert status == 409 and "'rekap-b'" in body["message"], (method, body)
    _, stored = node.request("GET", "/api/admin/cameras/rekap-a", token=admin)
    assert stored["enabled"] is False and newest_audit(node) == ("create", "rekap-a")
    # Moving another kecamatan's recap camera here is refused too; editing the holder is not.
    assert node.request("POST", "/api/admin/cameras", recap("rekap-c", "31.71.02"), admin)[0] == 201
    status, body = node.request("PATCH", "/api/admin/cameras/rekap-c", {"region": "31.71.01"}, admin)
    assert status == 409 and "'rekap-b'" in body["message"], body
    assert node.request("PATCH", "/api/admin/cameras/rekap-b", {"name": "Rekap Gambir"}, admin)[0] == 200
    # The wall shows the enabled one, not the lowest id.
    assert wall_recap() == "rekap-b"

    # Switching: disable one, then enable the other.
    assert node.request("PATCH", "/api/admin/cameras/rekap-b", {"enabled": False}, admin)[0] == 200
    assert node.request("PATCH", "/api/admin/cameras/rekap-a", {"enabled": True}, admin)[0] == 200
    assert wall_recap() == "rekap-a"

    # CSV import: refused whole, naming the line, the kecamatan and the camera that holds it.
    _, before = node.request("GET", "/api/admin/cameras", token=admin)
    status, body = import_csv(node, ["tps-1,tps,31.71.01.1001,1,demo,true,true", "rekap-d,recap,31.71.01,,demo,true,true"])
    assert status == 422 and [(e["line"], e["field"]) for e in body["errors"]] == [(3, "enabled")], body
    assert "31.71.01" in body["errors"][0]["reason"] and "'rekap-a'" in body["errors"][0]["reason"], body
    status, body = import_csv(node, ["rekap-e,recap,31.71.03,,demo,true,true", "rekap-f,recap,31.71.03,,demo,true,true"])
    assert status == 422 and [e["line"] for e in body["errors"]] == [3] and "'rekap-e'" in body["errors"][0]["reason"], body
    _, after = node.request("GET", "/api/admin/cameras", token=admin)
    assert after["total"] == before["total"] and newest_audit(node) == ("update", "rekap-a")
    # An upsert may switch in one file: the disabled one enabled, the enabled one disabled.
    status, body = import_csv(node, ["rekap-a,recap,31.71.01,,demo,false,false", "rekap-b,recap,31.71.01,,demo,true,true"], "upsert")
    assert status == 200 and body["updated"] == 2, body
    assert wall_recap() == "rekap-b"


async def test_registry_keeps_one_enabled_recap_per_kecamatan_and_demo_seed_respects_it(registry, monkeypatch):
    regions = registry.regions
    await registry.create(validate_camera(recap("rekap-gambir-lain"), regions), ADMIN)
    # The demo set leaves a kecamatan that already has its recap camera alone.
    assert await seed_demo_once(registry) == 175
    table = await registry.sync()
    assert "rekap-317101" not in table.cameras and "rekap-317102" in table.cameras
    with pytest.raises(RegistryError) as refused:
        await registry.create(validate_camera(recap("rekap-x", "31.71.02"), regions), ADMIN)
    assert refused.value.status == 409 and "'rekap-317102'" in str(refused.value)

    # A registry that already holds two (written before this rule): both stay editable; a third
    # is refused, naming the lowest id.
    monkeypatch.setattr(recap_rule, "conflicts", lambda *args, **kwargs: [])
    await registry.create(validate_camera(recap("rekap-dua", "31.71.03"), regions), ADMIN)
    monkeypatch.undo()
    first = table.cameras["rekap-317103"]
    await registry.replace(validate_camera(recap(first.id, "31.71.03", name="Rekap Satu"), regions, stored=first), ADMIN, expected=first)
    with pytest.raises(RegistryError, match="'rekap-317103'"):
        await registry.create(validate_camera(recap("rekap-tiga", "31.71.03"), regions), ADMIN)


# ---- finding 11: the push page for a non-public WHIP camera (Chromium) ---------------------------

async def test_push_page_works_for_a_hidden_camera_once_the_key_is_typed(make_relay_node):
    node = make_relay_node()
    node.add_camera("hp-rahasia", "whip", tps=9, public=False)
    node.add_camera("pulled", "rtsp://127.0.0.1:9/x", tps=10)
    key = push_key(node, "hp-rahasia")
    async with chromium(viewport={"width": 375, "height": 740}, args=FAKE_CAMERA) as browser:
        # A public camera that takes no push: said at once, no form (as before).
        page = await browser.new_page()
        await page.goto(f"{node.url}/kirim/pulled")
        await page.get_by_test_id("message").wait_for()
        assert "tidak terdaftar untuk kiriman" in await page.get_by_test_id("message").inner_text()
        assert await page.locator("[data-testid=form]").is_hidden()

        # Unknown to the public: the key is asked for; with a key that is not the camera's, the
        # page says the camera takes no push with it, and a corrected key can still be tried.
        for camera_id in ("hp-tidakada", "hp-rahasia"):
            page = await browser.new_page()
            await page.goto(f"{node.url}/kirim/{camera_id}")
            await page.get_by_test_id("message").wait_for()
            assert "kunci kirim" in (await page.get_by_test_id("message").inner_text()).lower()
            assert await page.locator("[data-testid=form]").is_visible()
            await page.fill("[data-testid=key]", "pk_salah")
            await page.click("[data-testid=start]")
            await page.wait_for_function(
                "document.querySelector('[data-testid=message]').textContent.includes('tidak terdaftar untuk kiriman')", timeout=10000)
            assert await page.locator("[data-testid=form]").is_visible()
            assert await page.get_by_test_id("state").get_attribute("data-state") == "stopped"

        errors = PageErrors(page)
        recorder = ResponseRecorder(page)
        await page.fill("[data-testid=key]", key)
        await page.click("[data-testid=start]")
        await page.wait_for_selector("[data-testid=state][data-state=connected]", timeout=15000)
        await asyncio.to_thread(node.wait_state, "hp-rahasia", "online", 20)
        await page.click("[data-testid=stop]")
        await asyncio.to_thread(node.wait_state, "hp-rahasia", "waiting", 15)
        await recorder.settle(page)
        assert recorder.containing(key) == [] and key not in page.url
        assert not [e for e in errors.items if "404" not in e], errors.items
