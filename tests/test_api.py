"""The HTTP API on both registry backends: public/admin split, errors, secrets, import, audit."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pantau.access.redaction import RedactingFilter
from pantau.access.tokens import TokenStore
from pantau.bus.memory_bus import InProcessBus
from pantau.cameras.camera import FIELDS
from pantau.runtime.config import load_settings
from relay.app import create_app
from relay.context import REGISTRY

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
OPERATOR_TOKEN = "operator-token-for-tests-987654"
PASSWORDS = ["Pw-one-8472", "Pw-two-1934", "tok-whep-5521", "Pw-import-7777", "QueryPw-9911", "PathPw-4410"]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


class RecordingClient:
    """Every response body the tests receive is kept, to scan for secrets at the end."""

    def __init__(self, client: TestClient):
        self.client = client
        self.bodies: list[str] = []

    async def call(self, method: str, path: str, expect: int | None = None, **kwargs):
        async with self.client.request(method, path, **kwargs) as response:
            text = await response.text()
            self.bodies.append(text + json.dumps(dict(response.headers)))
            if expect is not None:
                assert response.status == expect, (method, path, response.status, text)
            if response.content_type == "application/json":
                return response, json.loads(text)
            return response, text


@pytest.fixture
async def api(registry, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    settings = load_settings(data_dir=tmp_path, http={"max_body_mb": 2})
    tokens = TokenStore(registry.redis, {"admin": ADMIN_TOKEN, "operator": OPERATOR_TOKEN})
    client = TestClient(TestServer(create_app(settings, registry, tokens, InProcessBus())))
    await client.start_server()
    recorder = RecordingClient(client)
    yield recorder
    await client.close()
    # What the node's log handler would write (pantau.access.redaction.RedactingFilter) for every record
    # of the test (caplog.text at teardown would hold only the teardown's records).
    redacting = RedactingFilter()
    lines = []
    for record in caplog.get_records("setup") + caplog.get_records("call"):
        redacting.filter(record)
        lines.append(record.getMessage())
    assert lines, "no log record was captured: the scan below would prove nothing"
    everything = "\n".join(recorder.bodies + lines)
    for secret in PASSWORDS + [ADMIN_TOKEN, OPERATOR_TOKEN]:
        assert secret not in everything, f"a secret leaked: {secret[:4]}…"


def camera(number: int, **extra):
    return {"kind": "tps", "region": "31.71.01.1001", "tps": number, "source": f"rtsp://admin:{PASSWORDS[0]}@10.0.0.{number}:554/s", **extra}


async def test_regions_tree_and_counts(api):
    _, tree = await api.call("GET", "/api/regions", 200)
    assert tree["totals"] == {"kota": 6, "kecamatan": 44, "kelurahan": 267}
    codes = [kel["code"] for kota in tree["kota"] for kec in kota["kecamatan"] for kel in kec["kelurahan"]]
    assert len(codes) == 267 and len({kec["code"] for kota in tree["kota"] for kec in kota["kecamatan"]}) == 44
    await api.call("POST", "/api/admin/cameras", 201, json=camera(1), headers=ADMIN)
    await api.call("POST", "/api/admin/cameras", 201, json=camera(2, public=False), headers=ADMIN)
    _, tree = await api.call("GET", "/api/regions", 200)
    gambir = next(k for k in tree["kota"][1]["kecamatan"] if k["code"] == "31.71.01")
    assert (tree["cameras"], gambir["cameras"], gambir["kelurahan"][0]["tps"]) == (1, 1, 1)
    _, tree = await api.call("GET", "/api/regions", 200, headers=OPERATOR)
    assert tree["cameras"] == 2
    _, found = await api.call("GET", "/api/regions/search?q=Pal%20Merah&level=kecamatan", 200)
    assert [r["code"] for r in found["regions"]] == ["31.73.07"]
    _, found = await api.call("GET", "/api/regions/search?q=petojo", 200)  # part of a name
    assert [r["name"] for r in found["regions"]] == ["Petojo Selatan", "Petojo Utara"]
    _, found = await api.call("GET", "/api/regions/search?q=gambir", 200)  # exact matches first
    assert [r["code"] for r in found["regions"]][:2] == ["31.71.01", "31.71.01.1001"]


async def test_public_never_sees_sources_or_private_cameras(api):
    await api.call("POST", "/api/admin/cameras", 201, json=camera(1), headers=ADMIN)
    await api.call("POST", "/api/admin/cameras", 201, json=camera(2, public=False, source=f"rtsp://u:{PASSWORDS[1]}@h/x"), headers=ADMIN)
    _, listing = await api.call("GET", "/api/cameras?kelurahan=31.71.01.1001", 200)
    assert [c["id"] for c in listing["cameras"]] == ["3171011001001"] and listing["total"] == 1
    assert "source" not in listing["cameras"][0] and "source_token" not in listing["cameras"][0]
    assert listing["cameras"][0]["location"]["kecamatan"]["name"] == "Gambir"
    await api.call("GET", "/api/cameras/3171011001002", 404)
    await api.call("GET", "/api/cameras/3171011001001", 200)
    # The operator sees every camera, still without sources.
    _, listing = await api.call("GET", "/api/cameras", 200, headers=OPERATOR)
    assert listing["total"] == 2 and all("source" not in c for c in listing["cameras"])


async def test_listing_filters_and_pages(api):
    for n in range(1, 6):
        await api.call("POST", "/api/admin/cameras", 201, json=camera(n), headers=ADMIN)
    await api.call("POST", "/api/admin/cameras", 201, json={"kind": "recap", "region": "31.71.01", "source": "demo"}, headers=ADMIN)
    ids, cursor = [], None
    while True:
        _, page = await api.call("GET", "/api/cameras", 200, params={"kecamatan": "31.71.01", "limit": 2, **({"cursor": cursor} if cursor else {})})
        ids += [c["id"] for c in page["cameras"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(ids) == 6 == len(set(ids))
    _, page = await api.call("GET", "/api/cameras?kind=recap", 200)
    assert [c["id"] for c in page["cameras"]] == ["rekap-317101"]
    _, page = await api.call("GET", "/api/cameras?q=tps%20004", 200)
    assert [c["tps"] for c in page["cameras"]] == [4]
    for bad in ("limit=0", "limit=5001", "limit=x", "kecamatan=31.71", "kota=31.72&kecamatan=31.71.01", "kind=pos", "cursor=%%%", "kelurahan=bogus"):
        _, error = await api.call("GET", f"/api/cameras?{bad}", 400)
        assert error["errors"][0]["field"] and error["message"]


async def test_a_listing_shows_an_edit_at_once(api):
    """The listing reuses each camera's encoded text (relay/api/listing_json.py): never a stale one."""
    await api.call("POST", "/api/admin/cameras", 201, json=camera(1), headers=ADMIN)
    await api.call("POST", "/api/admin/cameras", 201, json=camera(2), headers=ADMIN)
    _, before = await api.call("GET", "/api/cameras?kelurahan=31.71.01.1001", 200)
    await api.call("PATCH", "/api/admin/cameras/3171011001001", 200, json={"name": "Aula RW 03", "tags": ["baru"]}, headers=ADMIN)
    await api.call("DELETE", "/api/admin/cameras/3171011001002", 204, headers=ADMIN)
    _, after = await api.call("GET", "/api/cameras?kelurahan=31.71.01.1001", 200)
    assert [c["name"] for c in before["cameras"]] == ["TPS 001 Gambir", "TPS 002 Gambir"]
    assert [(c["name"], c["tags"]) for c in after["cameras"]] == [("Aula RW 03", ["baru"])] and after["total"] == 1


async def test_admin_needs_the_admin_token(api):
    for headers, status in (({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Basic abc"}, 401), (OPERATOR, 403)):
        for method, path in (("GET", "/api/admin/cameras"), ("POST", "/api/admin/cameras"), ("GET", "/api/admin/audit"),
                             ("POST", "/api/admin/cameras/import"), ("DELETE", "/api/admin/cameras/x"), ("GET", "/api/admin/cameras.csv")):
            response, body = await api.call(method, path, status, headers=headers, json={})
            assert body["error"] in ("unauthorized", "forbidden")
    _, body = await api.call("GET", "/api/cameras", 401, headers={"Authorization": "Bearer wrong"})


async def test_crud_with_masked_secrets(api):
    response, created = await api.call("POST", "/api/admin/cameras", 201, json=camera(1, tags=["pintu"]), headers=ADMIN)
    assert response.headers["Location"] == "/api/admin/cameras/3171011001001"
    assert created["source"] == "rtsp://admin:***@10.0.0.1:554/s" and created["status"]["state"] == "connecting"
    path = "/api/admin/cameras/3171011001001"
    _, patched = await api.call("PATCH", path, 200, json={"name": "TPS 1 Gambir (aula)", "source": "rtsp://admin:***@10.0.0.1/main"}, headers=ADMIN)
    assert patched["name"] == "TPS 1 Gambir (aula)" and patched["source"] == "rtsp://admin:***@10.0.0.1/main"
    stored = await api.client.app[REGISTRY].get("3171011001001")
    assert stored.source == f"rtsp://admin:{PASSWORDS[0]}@10.0.0.1/main"  # the mask kept the password (same host and port)
    _, replaced = await api.call("PUT", path, 200, json={"kind": "tps", "region": "31.71.01.1001", "tps": 1, "source": "rtsp://10.0.0.99/main", "enabled": False}, headers=ADMIN)
    assert replaced["source"] == "rtsp://10.0.0.99/main" and replaced["name"] == "TPS 001 Gambir" and replaced["status"]["state"] == "disabled"
    _, whep = await api.call("POST", "/api/admin/cameras", 201, json=camera(2, source="whep+https://m.example/whep/x", source_token=PASSWORDS[2]), headers=ADMIN)
    assert whep["source_token"] == "***"
    _, listing = await api.call("GET", "/api/admin/cameras?source_type=whep", 200, headers=ADMIN)
    assert [c["id"] for c in listing["cameras"]] == ["3171011001002"]
    await api.call("DELETE", path, 204, headers=ADMIN)
    await api.call("DELETE", path, 404, headers=ADMIN)
    await api.call("GET", path, 404, headers=ADMIN)


async def test_passwords_given_as_url_parameters_are_secrets_too(api):
    """Some cameras take ?user=…&password=… or /user=…&password=…&channel=1.sdp: masked in every
    view (admin JSON, export, audit), kept when the mask is sent back, scrubbed from logs."""
    query = f"rtsp://10.0.0.7:554/live?user=op&password={PASSWORDS[4]}"
    path_style = f"rtsp://10.0.0.8:554/user=admin&password={PASSWORDS[5]}&channel=1&stream=0.sdp"
    _, created = await api.call("POST", "/api/admin/cameras", 201, json=camera(7, source=query), headers=ADMIN)
    assert created["source"] == "rtsp://10.0.0.7:554/live?user=op&password=***"
    _, created = await api.call("POST", "/api/admin/cameras", 201, json=camera(8, source=path_style), headers=ADMIN)
    assert created["source"] == "rtsp://10.0.0.8:554/user=admin&password=***&channel=1&stream=0.sdp"
    path = "/api/admin/cameras/3171011001007"
    _, patched = await api.call("PATCH", path, 200, json={"source": "rtsp://10.0.0.7/live?user=op&password=***"}, headers=ADMIN)
    assert patched["source"].endswith("password=***")
    stored = await api.client.app[REGISTRY].get("3171011001007")
    assert stored.source == f"rtsp://10.0.0.7/live?user=op&password={PASSWORDS[4]}"  # the mask kept it
    _, refused = await api.call("POST", "/api/admin/cameras", 422, json=camera(9, source="rtsp://10.0.0.9/x?password=***"), headers=ADMIN)
    assert refused["errors"][0]["field"] == "source"
    await api.call("GET", "/api/admin/cameras.csv", 200, headers=ADMIN)
    await api.call("GET", "/api/admin/audit", 200, headers=ADMIN)
    logging.getLogger("test").warning("open failed for %s and %s", query, path_style)  # scrubbed like PyAV's errors


async def test_bad_requests_are_clear_4xx(api):
    await api.call("POST", "/api/admin/cameras", 201, json=camera(1), headers=ADMIN)
    cases = [
        ("POST", "/api/admin/cameras", {"data": "{not json", "headers": {**ADMIN, "Content-Type": "application/json"}}, 400, "body"),
        ("POST", "/api/admin/cameras", {"data": "x", "headers": {**ADMIN, "Content-Type": "text/plain"}}, 415, None),
        ("POST", "/api/admin/cameras", {"json": [1, 2], "headers": ADMIN}, 422, "body"),
        ("POST", "/api/admin/cameras", {"json": camera(1), "headers": ADMIN}, 409, None),
        ("POST", "/api/admin/cameras", {"json": camera(3, region="31.71.01"), "headers": ADMIN}, 422, "region"),
        ("POST", "/api/admin/cameras", {"json": camera(3, source="rtsp://"), "headers": ADMIN}, 422, "source"),
        ("POST", "/api/admin/cameras", {"json": camera(3, id="a/b"), "headers": ADMIN}, 422, "id"),
        ("PATCH", "/api/admin/cameras/3171011001001", {"json": {"id": "renamed"}, "headers": ADMIN}, 422, "id"),
        ("PATCH", "/api/admin/cameras/3171011001001", {"json": {"tps": -1}, "headers": ADMIN}, 422, "tps"),
        ("PATCH", "/api/admin/cameras/nope", {"json": {}, "headers": ADMIN}, 404, None),
        ("GET", "/api/admin/audit?before=xyz", {"headers": ADMIN}, 400, "before"),
        ("GET", "/api/admin/audit?before=0-0", {"headers": ADMIN}, 400, "before"),
        ("GET", "/api/cameras?kelurahan=31.71.01", {}, 400, "kelurahan"),
        ("GET", "/api/admin/audit?before=99999999999999999999999-0", {"headers": ADMIN}, 400, "before"),
        ("POST", "/api/admin/cameras/import?mode=merge", {"data": "", "headers": ADMIN}, 400, "mode"),
        ("POST", "/api/admin/cameras", {"data": "x" * (3 * 1024 * 1024), "headers": {**ADMIN, "Content-Type": "application/json"}}, 413, None),
    ]
    for method, path, kwargs, status, field in cases:
        _, body = await api.call(method, path, status, **kwargs)
        assert body["message"], (method, path)
        if field:
            assert body["errors"][0]["field"] == field, (path, body)
    _, stored = await api.call("GET", "/api/admin/cameras/3171011001001", 200, headers=ADMIN)
    assert stored["tps"] == 1  # nothing already stored was lost


async def test_import_and_export(api):
    header = "id,kind,region,tps,name,source,transport,source_token,public,enabled,tags"
    rows = [header] + [f",tps,31.71.01.1002,{n},,rtsp://u:{PASSWORDS[3]}@10.2.0.{n % 250}/s,tcp,,true,1,a;b" for n in range(1, 400)]
    bad = rows.copy()
    bad[300] = bad[300].replace("31.71.01.1002", "31.71.01")  # line 301: a kecamatan code on a TPS
    _, refused = await api.call("POST", "/api/admin/cameras/import", 422, data="\n".join(bad), headers={**ADMIN, "Content-Type": "text/csv"})
    assert [(e["line"], e["field"]) for e in refused["errors"]] == [(301, "region")] and refused["error_count"] == 1
    _, listing = await api.call("GET", "/api/admin/cameras", 200, headers=ADMIN)
    assert listing["total"] == 0
    _, result = await api.call("POST", "/api/admin/cameras/import", 200, data="\n".join(rows), headers={**ADMIN, "Content-Type": "text/csv"})
    assert result == {"created": 399, "updated": 0, "total": 399}
    _, csv_text = await api.call("GET", "/api/admin/cameras.csv?kelurahan=31.71.01.1002", 200, headers=ADMIN)
    lines = csv_text.strip().split("\n")
    assert lines[0].split(",") == list(FIELDS) and len(lines) == 400 and "u:***@" in lines[1]
    # The export re-imports with upsert and keeps the stored passwords.
    _, result = await api.call("POST", "/api/admin/cameras/import?mode=upsert", 200, data=csv_text, headers={**ADMIN, "Content-Type": "text/csv"})
    assert result["updated"] == 399
    stored = await api.client.app[REGISTRY].get("3171011002001")
    assert PASSWORDS[3] in stored.source


async def test_audit_log_names_who_and_what_without_secrets(api):
    await api.call("POST", "/api/admin/cameras", 201, json=camera(1), headers=ADMIN)
    await api.call("PATCH", "/api/admin/cameras/3171011001001", 200, json={"source": f"rtsp://admin:{PASSWORDS[1]}@10.0.0.1:554/s"}, headers=ADMIN)
    # Saving without a change (the mask sent back, the same name) writes nothing to the audit log.
    await api.call("PATCH", "/api/admin/cameras/3171011001001", 200, json={"source": "rtsp://admin:***@10.0.0.1:554/s", "name": "TPS 001 Gambir"}, headers=ADMIN)
    await api.call("DELETE", "/api/admin/cameras/3171011001001", 204, headers=ADMIN)
    _, audit = await api.call("GET", "/api/admin/audit?limit=2", 200, headers=ADMIN)
    assert [e["action"] for e in audit["entries"]] == ["delete", "update"]
    update = audit["entries"][1]
    assert update["actor"] == "env:admin" and update["client"] == "127.0.0.1" and update["camera"] == "3171011001001"
    assert update["details"]["changes"]["source"] == ["password changed", "password changed"]
    _, older = await api.call("GET", f"/api/admin/audit?before={audit['next_cursor']}", 200, headers=ADMIN)
    assert [e["action"] for e in older["entries"]] == ["create"]


async def test_openapi_documents_every_route(api):
    _, document = await api.call("GET", "/api/openapi.json", 200)
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    for resource in api.client.app.router.resources():
        path = resource.canonical
        if not path.startswith(("/api", "/whep")) and path != "/healthz":
            continue
        for route in resource:
            if route.method != "HEAD":
                assert (path, route.method) in documented, (path, route.method)


async def test_healthz(api):
    _, body = await api.call("GET", "/healthz", 200)
    assert body["ok"] is True


async def test_a_browser_gets_a_page_for_an_unknown_address_and_an_api_client_gets_json(api):
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    response, page = await api.call("GET", "/pemilu/tidak-ada", 404, headers=browser)
    assert response.content_type == "text/html" and "Halaman tidak ditemukan" in page and 'href="/"' in page
    _, body = await api.call("GET", "/pemilu/tidak-ada", 404)
    assert body["error"] == "not_found"
    _, body = await api.call("GET", "/api/tidak-ada", 404, headers=browser)  # the API always answers JSON
    assert body["error"] == "not_found"
