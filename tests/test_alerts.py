"""Alerts as records (issue 16, parts 2 and 3): the store's scripts on both Redis backends, then
real parts: GStreamer cameras made black, flapping, killed and restarted under `pantau serve`
processes, a site Redis restarted, the public kept out, and the wall in Chromium."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.error
import urllib.request

import aiohttp
import pytest

from pantau.cameras import registry_keys as keys
from pantau.cameras.audit_log import Actor
from pantau.cameras.audit_log import read as read_audit
from pantau.cameras.camera import validate_camera
from pantau.cameras.regions import dki_regions
from pantau.monitoring.alerts import AlertAlreadyAcknowledged, AlertLimits, AlertStore
from pantau.runtime.clock import iso_utc
from tests.conftest import RelayNode
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.support.sse import sse_messages

pytestmark = pytest.mark.timeout(240)

OPERATOR = "operator-token-alerts-5150"
SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 600, "gop_seconds": 1}
NOW = "2024-02-14T09:00:00.000Z"


def tps_camera(camera_id: str, region: str = "31.71.01.1001", tps: int = 1, **extra):
    return validate_camera({"id": camera_id, "kind": "tps", "region": region, "tps": tps, "source": "demo", **extra}, dki_regions())


# ---- the store (both registry backends) ---------------------------------------------------


async def test_one_current_alert_per_camera_and_kind_whoever_raises_it(registry):
    store, other_worker = AlertStore(registry.redis), AlertStore(registry.redis)
    camera = tps_camera("cam-a")
    # Two workers raising at once (an owner change mid-alert): one record.
    results = await asyncio.gather(*(s.raise_alert(camera, "black", NOW, NOW, evidence=b"\xff\xd8jpeg")
                                     for s in [store, other_worker] * 10))
    changes = sorted(change for change, _ in results)
    assert changes == ["opened"] + ["unchanged"] * 19
    alert_id = {alert["id"] for _, alert in results}
    assert len(alert_id) == 1
    alert_id = alert_id.pop()
    assert await store.evidence(alert_id) == b"\xff\xd8jpeg"

    # Another kind is another alert; the same kind ends once, reopens (a flap) as the same alert.
    change, offline = await store.raise_alert(camera, "offline", NOW, NOW)
    assert change == "opened" and offline["id"] != alert_id and offline["evidence"] is False
    assert (await store.end_alert("cam-a", "black", "2024-02-14T09:01:00.000Z"))[0] == "ended"
    assert (await store.end_alert("cam-a", "black", "2024-02-14T09:02:00.000Z"))[0] == "unchanged"
    change, again = await store.raise_alert(camera, "black", "2024-02-14T09:03:00.000Z", NOW)
    assert (change, again["id"], again["repeats"], again["ended"], again["started"]) == ("reopened", alert_id, 1, None, NOW)
    assert await store.active_slots() == {("cam-a", "black"), ("cam-a", "offline")}

    # Acknowledged while active: off the open list, still current until it ends; audited in the script.
    acked = await store.acknowledge(alert_id, Actor("ops-jakpus", "10.1.2.3"), "Petugas TPS diminta membuka lensa")
    assert acked["acknowledged_by"] == "ops-jakpus" and acked["note"] == "Petugas TPS diminta membuka lensa"
    with pytest.raises(AlertAlreadyAcknowledged):
        await store.acknowledge(alert_id, Actor("ops-2"), "lagi")
    entries, _ = await read_audit(registry.redis, limit=5)
    assert [(e["action"], e["actor"], e["client"], e["camera"]) for e in entries] == [("alert_ack", "ops-jakpus", "10.1.2.3", "cam-a")]
    assert entries[0]["details"] == {"alert": alert_id, "kind": "black", "started": NOW, "note": "Petugas TPS diminta membuka lensa"}
    opened, _ = await store.page(open_only=True)
    assert [a["id"] for a in opened] == [offline["id"]]
    assert (await store.raise_alert(camera, "black", NOW, NOW))[0] == "unchanged"  # still the acknowledged one
    # Ended and acknowledged: finished; the next black is a new alert, the old stays in the history.
    assert (await store.end_alert("cam-a", "black", NOW))[0] == "ended"
    change, new = await store.raise_alert(camera, "black", NOW, NOW)
    assert change == "opened" and new["id"] != alert_id
    history, _ = await store.page(camera="cam-a")
    assert [a["id"] for a in history] == [new["id"], offline["id"], alert_id]
    assert history[2]["acknowledged_by"] == "ops-jakpus" and history[2]["ended"] is not None


async def test_history_and_evidence_are_bounded(registry):
    tile = b"\xff\xd8" + b"x" * 998  # 1000 bytes
    store = AlertStore(registry.redis, AlertLimits(history_max=10, evidence_bytes=3500))
    ids = []
    for n in range(25):
        change, alert = await store.raise_alert(tps_camera(f"cam-{n}", tps=n + 1), "frozen", NOW, NOW, evidence=tile)
        assert change == "opened"
        ids.append(alert["id"])
        if n < 20:  # finished ones may leave the history; the 5 newest stay current
            await store.end_alert(f"cam-{n}", "frozen", NOW)
            await store.acknowledge(alert["id"], Actor("ops"), "cek")
    redis = registry.redis
    assert await redis.xlen(keys.ALERTS) == 10
    assert await redis.hlen(keys.ALERT_RECORDS) == 10
    assert await redis.hlen(keys.ALERT_EVIDENCE) == 3 and int(await redis.get(keys.ALERT_EVIDENCE_BYTES)) == 3000
    assert [await store.evidence(i) is not None for i in ids[-4:]] == [False, True, True, True]
    history, cursor = await store.page(limit=4)
    assert [a["id"] for a in history] == ids[:-5:-1] and [a["evidence"] for a in history] == [True, True, True, False]
    rest, cursor = await store.page(limit=100, before=cursor)
    assert [a["id"] for a in rest] == ids[-5:-11:-1] and cursor is None
    # Region and kind filters.
    assert len((await store.page(region="31.71.01", kind="frozen"))[0]) == 10
    assert (await store.page(region="31.72", kind="frozen"))[0] == [] and (await store.page(kind="black"))[0] == []


# ---- the watcher's rules (a clock it is given, real Redis) ----------------------------------


class TileBus:
    """The one thing the watcher asks the bus: a camera's latest tile."""

    def __init__(self):
        self.tiles = {}

    async def tile(self, camera_id):
        return self.tiles.get(camera_id)


async def test_the_owner_judges_statuses_by_its_rules(registry):
    from ingest.alert_watcher import AlertWatcher
    from pantau.bus.stream_bus import Tile
    from pantau.runtime.config import AlertSettings

    admin = Actor("test")
    hidden_until_window = tps_camera("cam-w", public_windows=["2099-01-01T00:00/"])
    await registry.create(hidden_until_window, admin)
    statuses: dict[str, dict] = {"cam-w": {}}

    async def duty():
        table = await registry.sync()
        return {cid: (table.cameras[cid], status) for cid, status in statuses.items() if cid in table.cameras}

    settings = AlertSettings(tamper_after_s=1, clear_after_s=10, offline_after_s=30)
    bus = TileBus()
    bus.tiles["cam-w"] = Tile(b"\xff\xd8last-picture", 1_700_000_000.0, 480, 270)
    store = AlertStore(registry.redis)
    owner = AlertWatcher(registry, store, bus, settings, duty)

    async def alerts():
        return (await store.page(camera="cam-w"))[0]

    t = 1000.0
    statuses["cam-w"] = {"state": "connecting"}
    await owner.step(t)
    await owner.step(t + 100)  # still starting up: no outage clock
    statuses["cam-w"] = {"state": "offline", "reason": "unreachable"}
    await owner.step(t + 100)
    statuses["cam-w"] = {"state": "connecting"}  # a retry does not restart the clock
    await owner.step(t + 115)
    statuses["cam-w"] = {"state": "offline", "reason": "unreachable"}
    await owner.step(t + 200)
    assert await alerts() == []  # public, but outside its window (it opens in 2099)

    camera = await registry.require("cam-w")
    await registry.replace(validate_camera({**camera.to_stored(), "public_windows": ["always"]}, dki_regions()), admin, expected=camera)
    await owner.step(t + 201)  # its window opens: only time inside it counts
    await owner.step(t + 230)
    assert await alerts() == []
    await owner.step(t + 231.5)
    [alert] = await alerts()
    assert (alert["kind"], alert["evidence"], alert["evidence_at"]) == ("offline", True, "2023-11-14T22:13:20.000Z")
    assert await store.evidence(alert["id"]) == b"\xff\xd8last-picture"

    # The camera comes back under another owner (a lease moved): the new one ends what the old raised.
    new_owner = AlertWatcher(registry, store, bus, settings, duty)
    statuses["cam-w"] = {"state": "online", "picture": "ok"}
    await new_owner.step(t + 240)
    [alert] = await alerts()
    assert alert["ended"] is not None and alert["acknowledged_at"] is None

    # A picture signal no one here knows by name is an alert of that kind, ended after clear_after_s.
    statuses["cam-w"] = {"state": "online", "picture": "moved"}
    await new_owner.step(t + 250)
    await new_owner.step(t + 250.5)
    assert [a["kind"] for a in await alerts()] == ["offline"]
    await new_owner.step(t + 251.2)
    moved = (await alerts())[0]
    assert (moved["kind"], moved["ended"]) == ("moved", None)
    statuses["cam-w"] = {"state": "offline", "reason": "no_data", "picture": None}
    await new_owner.step(t + 255)  # unknown picture while offline: the signal is not over
    statuses["cam-w"] = {"state": "online", "picture": "ok"}
    await new_owner.step(t + 260)
    await new_owner.step(t + 269)
    assert (await alerts())[0]["ended"] is None
    await new_owner.step(t + 270.5)
    assert (await alerts())[0]["ended"] is not None

    # Deleted while its alert lasts: whoever refreshes next ends it.
    statuses["cam-w"] = {"state": "online", "picture": "black"}
    await new_owner.step(t + 280)
    await new_owner.step(t + 281.5)
    assert [(a["kind"], a["ended"]) for a in await alerts()][0] == ("black", None)
    await registry.delete("cam-w", admin)
    await AlertWatcher(registry, store, bus, settings, duty).step(t + 282)
    assert (await alerts())[0]["kind"] == "black" and (await alerts())[0]["ended"] is not None


# ---- real nodes, real cameras -------------------------------------------------------------

FAST = {"alerts__tamper_after_s": "1", "alerts__clear_after_s": "1.5", "alerts__offline_after_s": "60"}


@pytest.fixture
def scenes(tmp_path):
    """One camera process with a moving scene and a covered lens (black), 1 s GOP."""
    server = RtspCameraServer([Mount(path="/scene", **SMALL), Mount(path="/black", pattern="black", overlay="none", **SMALL)],
                              log_dir=tmp_path / "camera").start()
    yield server
    server.stop()


def wait_for(check, timeout: float = 30.0, what: str = "condition"):
    """Poll `check()` (blocking; run it in a thread from async tests) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout} s; last: {last}")


def alerts_of(node: RelayNode, camera_id: str, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in {"camera": camera_id, **filters}.items())
    status, body = node.request("GET", f"/api/alerts?{query}", token=OPERATOR)
    assert status == 200, body
    return body["alerts"]


def jpeg_of(node: RelayNode, path: str, token: str | None = OPERATOR) -> tuple[int, bytes, str]:
    request = urllib.request.Request(node.url + path, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get_content_type()


def mean_luma(jpeg: bytes) -> float:
    import cv2
    import numpy as np

    return float(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE).mean())


class SseLog:
    """Every SSE message of one /api/events stream, read in the background."""

    def __init__(self, url: str, token: str | None):
        self.url, self.token = url, token
        self.messages: list[tuple[str | None, dict]] = []
        self._task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SseLog:
        self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"} if self.token else {})
        response = await self._session.get(self.url, timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        assert response.status == 200, await response.text()

        async def read() -> None:
            async for message in sse_messages(response):
                self.messages.append(message)

        self._task = asyncio.create_task(read())
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._session.close()

    def alerts(self) -> list[dict]:
        return [data for event, data in self.messages if event == "alert"]


def patch_source(node: RelayNode, camera_id: str, source: str) -> None:
    status, body = node.request("PATCH", f"/api/admin/cameras/{camera_id}", {"source": source}, node.admin_token)
    assert status == 200, body


async def test_a_covered_lens_raises_one_alert_with_evidence_and_flapping_keeps_it_one(make_relay_node, scenes):
    node = make_relay_node(operator_token=OPERATOR, **FAST)
    node.add_camera("tps-lensa", scenes.url("/scene"), region="31.71.01.1001", tps=7)
    await asyncio.to_thread(node.wait_state, "tps-lensa", "online")
    await asyncio.sleep(2.5)
    assert alerts_of(node, "tps-lensa") == []  # a moving scene raises nothing

    async with SseLog(node.url + "/api/events?alerts=1", OPERATOR) as staff, \
            SseLog(node.url + "/api/events?alerts=1", None) as public:
        patch_source(node, "tps-lensa", scenes.url("/black"))  # the lens is covered
        [alert] = await asyncio.to_thread(wait_for, lambda: alerts_of(node, "tps-lensa", open="true"), 20, "a black alert")
        assert (alert["kind"], alert["active"], alert["open"], alert["repeats"]) == ("black", True, True, 0)
        assert (alert["tps"], alert["camera_kind"], alert["location"]["kecamatan"]["name"]) == (7, "tps", "Gambir")
        assert alert["evidence"] and alert["tile_url"] == f"/api/alerts/{alert['id']}/tile.jpg"
        status, jpeg, kind = jpeg_of(node, alert["tile_url"])
        assert (status, kind) == (200, "image/jpeg") and mean_luma(jpeg) < 30  # the tile of the covered lens

        # Uncovered, covered again, three times: one alert, ended and reopened each time.
        for flap in range(1, 4):
            patch_source(node, "tps-lensa", scenes.url("/scene"))
            await asyncio.to_thread(wait_for, lambda: not alerts_of(node, "tps-lensa")[0]["active"], 20, "the alert ended")
            patch_source(node, "tps-lensa", scenes.url("/black"))
            await asyncio.to_thread(wait_for, lambda n=flap: alerts_of(node, "tps-lensa")[0]["repeats"] == n, 20, f"reopened {flap}x")
        history = alerts_of(node, "tps-lensa")
        assert [(a["id"], a["active"], a["repeats"]) for a in history] == [(alert["id"], True, 3)]
        assert len(await asyncio.to_thread(alerts_of, node, "tps-lensa", open="true")) == 1

        # The public: no alert, no evidence, not even whether one exists.
        for method, path, body in [("GET", "/api/alerts", None), ("GET", "/api/alerts?open=true", None),
                                   ("GET", f"/api/alerts/{alert['id']}", None), ("GET", f"/api/alerts/{alert['id']}/tile.jpg", None),
                                   ("GET", "/api/alerts/1-0/tile.jpg", None), ("POST", f"/api/alerts/{alert['id']}/ack", {"note": "x"})]:
            status, answer = node.request(method, path, body)
            assert status == 401, (method, path, status, answer)
        await asyncio.sleep(0.5)
        changes = [(a["id"], a["change"]) for a in staff.alerts()]
        assert changes == [(alert["id"], "opened")] + [(alert["id"], "ended"), (alert["id"], "reopened")] * 3
        assert public.alerts() == [] and any(event == "status" for event, _ in public.messages)
        assert all(a["kind"] == "black" and a["camera"] == "tps-lensa" for a in staff.alerts())


async def test_offline_after_the_configured_time_and_coming_back_ends_it(make_relay_node, tmp_path):
    camera = RtspCameraServer([Mount(path="/cam", **SMALL)], log_dir=tmp_path / "camera").start()
    try:
        node = make_relay_node(operator_token=OPERATOR, alerts__offline_after_s="3")
        node.add_camera("tps-kabel", camera.url("/cam"), region="31.72.01.1001", tps=3)
        node.add_camera("tps-tersembunyi", camera.url("/cam"), region="31.72.01.1001", tps=4, public=False)
        for camera_id in ("tps-kabel", "tps-tersembunyi"):
            await asyncio.to_thread(node.wait_state, camera_id, "online")
        await asyncio.sleep(1.5)  # a keyframe tile or two: the last picture before the outage
        async with SseLog(node.url + "/api/events?alerts=1&region=31.72", OPERATOR) as staff:
            camera.kill()  # the cable is pulled: no RTSP teardown
            await asyncio.to_thread(node.wait_state, "tps-kabel", "offline", 20)
            offline_at = time.monotonic()
            while time.monotonic() - offline_at < 2.0:  # not before its time
                assert alerts_of(node, "tps-kabel") == []
                await asyncio.sleep(0.2)
            [alert] = await asyncio.to_thread(wait_for, lambda: alerts_of(node, "tps-kabel"), 15, "an offline alert")
            raised_after = time.monotonic() - offline_at
            print(f"\noffline alert {raised_after:.1f} s after the camera read offline (offline_after_s=3)")
            assert alert["kind"] == "offline" and alert["active"] and alert["evidence"]
            assert raised_after >= 2.5
            status, jpeg, _ = jpeg_of(node, alert["tile_url"])
            assert status == 200 and mean_luma(jpeg) > 40  # the picture it showed before it went away
            assert alerts_of(node, "tps-tersembunyi") == []  # not public: outside any public window

            camera.start()  # back
            ended = await asyncio.to_thread(wait_for, lambda: alerts_of(node, "tps-kabel")[0]["ended"], 30, "the alert ended")
            [alert] = alerts_of(node, "tps-kabel")
            assert alert["ended"] == ended and not alert["active"] and alert["open"]  # it still needs an answer
            await asyncio.sleep(0.3)
            assert [(a["camera"], a["change"], a["ended"]) for a in staff.alerts()] == [
                ("tps-kabel", "opened", None), ("tps-kabel", "ended", ended)]
    finally:
        camera.stop()


async def test_alerts_survive_a_node_and_redis_restart_and_acknowledging_is_audited(start_node, redis_server, node_env, tmp_path, scenes):
    env = {**node_env, "PANTAU_OPERATOR_TOKEN": OPERATOR, "PANTAU_INGEST__BACKOFF_INITIAL_S": "0.3",
           "PANTAU_INGEST__BACKOFF_CAP_S": "1.0", "PANTAU_ALERTS__TAMPER_AFTER_S": "1"}
    node = RelayNode(start_node("--redis-url", redis_server.url, "--data-dir", str(tmp_path / "d"), env=env), node_env["PANTAU_ADMIN_TOKEN"])
    node.add_camera("tps-tutup", scenes.url("/black"), region="31.73.01.1001", tps=12)
    [alert] = await asyncio.to_thread(wait_for, lambda: alerts_of(node, "tps-tutup", open="true"), 30, "a black alert")
    status, evidence, _ = jpeg_of(node, alert["tile_url"])
    assert status == 200

    time.sleep(1.2)  # appendfsync everysec
    node.node.stop(signal.SIGKILL)
    redis_server.restart(kill=True)  # Redis crashes too: its append-only file brings the alerts back
    restarted = iso_utc()
    node.node.start()
    node.url = node.node.url
    assert [a["id"] for a in alerts_of(node, "tps-tutup", open="true")] == [alert["id"]]
    assert jpeg_of(node, alert["tile_url"])[1] == evidence
    # The camera is still covered under the new process (its worker takes the lease once the
    # killed one's expires): the same alert, not a second one.
    await asyncio.to_thread(wait_for, lambda: (lambda s: s["state"] == "online" and (s["since"] or "") > restarted
                                               and s["picture"] == "black")(node.status("tps-tutup")), 40, "black again after the restart")
    await asyncio.sleep(2.5)  # tamper_after_s and a few watcher rounds
    assert [(a["id"], a["repeats"]) for a in alerts_of(node, "tps-tutup")] == [(alert["id"], 0)]

    # An operator answers for it: audited with the token's label and the note; off the open list.
    note = "Petugas KPPS diminta membuka penutup lensa (telp. 09:14)"
    status, acked = node.request("POST", f"/api/alerts/{alert['id']}/ack", {"note": note}, OPERATOR)
    assert status == 200, acked
    assert (acked["acknowledged_by"], acked["note"], acked["open"], acked["active"]) == ("env:operator", note, False, True)
    assert alerts_of(node, "tps-tutup", open="true") == []
    assert [a["id"] for a in alerts_of(node, "tps-tutup", open="false")] == [alert["id"]]
    status, again = node.request("POST", f"/api/alerts/{alert['id']}/ack", {"note": "lagi"}, OPERATOR)
    assert status == 409 and "env:operator" in again["message"]
    assert node.request("POST", f"/api/alerts/{alert['id']}/ack", {"note": "  "}, OPERATOR)[0] == 400
    status, audit = node.request("GET", "/api/admin/audit?limit=20", token=node.admin_token)
    [entry] = [e for e in audit["entries"] if e["action"] == "alert_ack"]
    assert (entry["actor"], entry["camera"], entry["details"]["alert"], entry["details"]["note"]) == ("env:operator", "tps-tutup", alert["id"], note)
    assert entry["details"]["kind"] == "black"


# ---- the wall and the kecamatan page in Chromium -------------------------------------------


async def test_the_wall_shows_a_new_alert_with_its_tile_and_an_operator_acknowledges_it(make_relay_node, scenes):
    from tests.browser import PageErrors, ResponseRecorder, chromium, wait_for_frames

    node = make_relay_node(operator_token=OPERATOR, **FAST)
    node.add_camera("tps-menteng-5", scenes.url("/scene"), region="31.71.06.1001", tps=5)
    node.add_camera("tps-menteng-6", scenes.url("/scene"), region="31.71.06.1001", tps=6)
    for camera_id in ("tps-menteng-5", "tps-menteng-6"):
        await asyncio.to_thread(node.wait_state, camera_id, "online")

    async with chromium(viewport={"width": 1920, "height": 1080}) as browser:
        page = await browser.new_page()
        errors = PageErrors(page)
        recorder = ResponseRecorder(page)
        await recorder.install_sse_hook()
        await page.goto(node.url + "/wall")
        await page.wait_for_selector("[data-testid=tile][data-code='31.71.06']")
        # A lens is covered while the public watches the wall: the public sees no alert...
        patch_source(node, "tps-menteng-6", scenes.url("/black"))
        [first] = await asyncio.to_thread(wait_for, lambda: alerts_of(node, "tps-menteng-6"), 20, "the first alert")
        await asyncio.sleep(1.0)
        assert await page.is_hidden("[data-testid=alert-bar]")
        await recorder.settle(page)
        assert [m for m in recorder.sse_messages if m["type"] == "alert"] == [] and recorder.sse_messages  # (status events came)

        await page.click("[data-testid=sign-in]")
        await page.fill("[data-testid=token]", OPERATOR)
        await page.click("[data-testid=sign-in-submit]")
        card = "[data-testid=alert][data-id='{}']"
        await page.wait_for_selector(card.format(first["id"]))  # ...an operator does, with what is open
        assert await page.inner_text("[data-testid=alert-count]") == "1"
        beeps = await page.evaluate("window.__pantau.alertBar.beeps")

        # A new alert while the wall is open: it appears with its evidence tile, and beeps.
        patch_source(node, "tps-menteng-5", scenes.url("/black"))
        [second] = await asyncio.to_thread(wait_for, lambda: alerts_of(node, "tps-menteng-5"), 20, "the second alert")
        new = card.format(second["id"])
        await page.wait_for_selector(new, timeout=10000)
        await page.wait_for_function(
            "s => { const img = document.querySelector(s + ' [data-testid=alert-tile]'); return img && img.complete && img.naturalWidth > 0; }",
            arg=new, timeout=10000)
        assert await page.inner_text(new + " [data-testid=alert-kind]") == "Gambar gelap/tertutup"
        assert await page.inner_text(new + " [data-testid=alert-where]") == "TPS 005 · Kel. Menteng · Kec. Menteng"
        assert "sejak" in await page.inner_text(new + " [data-testid=alert-since]")
        assert await page.inner_text("[data-testid=alert-count]") == "2"
        assert await page.evaluate("window.__pantau.alertBar.beeps") == beeps + 1
        assert [card_id for card_id in await page.eval_on_selector_all("[data-testid=alert]", "cards => cards.map(c => c.dataset.id)")] == [
            second["id"], first["id"]]  # newest first

        # The sound can be muted, and stays muted.
        await page.click("[data-testid=alert-sound]")
        assert await page.inner_text("[data-testid=alert-sound]") == "Suara: mati"
        assert await page.evaluate("localStorage.getItem('pantau-alert-sound')") == "mati"

        # A click opens the camera live in the large view.
        await page.click(new + " [data-testid=alert-open]")
        await page.wait_for_selector("[data-testid=focus]:not([hidden])")
        assert await page.evaluate("window.__pantau.camera") == "tps-menteng-5"
        assert await page.inner_text("[data-testid=focus-title]") == "TPS 005 · Kel. Menteng · Kec. Menteng"
        await wait_for_frames(page, 10, selector="[data-testid=focus-video]")
        await page.keyboard.press("Escape")
        await page.wait_for_selector("[data-testid=focus]", state="hidden")

        # The kecamatan page marks the cameras with an open alert.
        kecamatan = await browser.new_page()
        kecamatan_errors = PageErrors(kecamatan)
        await kecamatan.goto(node.url + "/kecamatan/31.71.06")
        for camera_id in ("tps-menteng-5", "tps-menteng-6"):
            await kecamatan.wait_for_selector(f"[data-testid=camera-tile][data-id='{camera_id}'][data-alert] [data-testid=tile-alert]")
        assert await kecamatan.inner_text("[data-testid=camera-tile][data-id='tps-menteng-5'] [data-testid=tile-alert]") == "⚠ Gambar gelap/tertutup"

        # "Tindak lanjuti" with a note: gone from the open list here and, pushed, on the kecamatan page.
        note = "Petugas KPPS TPS 005 dihubungi, penutup lensa dilepas"
        await page.click(new + " [data-testid=alert-ack]")
        assert "Kec. Menteng" in await page.inner_text("[data-testid=ack-what]")
        await page.click("[data-testid=ack-submit]")  # no note: the form does not send
        assert await page.is_visible("[data-testid=ack-dialog]")
        await page.fill("[data-testid=ack-note]", note)
        await page.click("[data-testid=ack-submit]")
        await page.wait_for_selector(new, state="detached", timeout=10000)
        await page.wait_for_selector("[data-testid=ack-dialog]", state="hidden")
        assert await page.inner_text("[data-testid=alert-count]") == "1"
        await kecamatan.wait_for_selector("[data-testid=camera-tile][data-id='tps-menteng-5']:not([data-alert])", timeout=10000)
        assert await kecamatan.is_visible("[data-testid=camera-tile][data-id='tps-menteng-6'][data-alert]")

        [acked] = alerts_of(node, "tps-menteng-5")
        assert (acked["open"], acked["acknowledged_by"], acked["note"]) == (False, "env:operator", note)
        status, audit = node.request("GET", "/api/admin/audit?limit=10", token=node.admin_token)
        assert [(e["action"], e["actor"], e["details"]["note"]) for e in audit["entries"] if e["action"] == "alert_ack"] == [
            ("alert_ack", "env:operator", note)]

        # Signed out, the bar is gone again.
        await page.click("[data-testid=sign-in]")
        await page.wait_for_selector("[data-testid=alert-bar]", state="hidden")

        await recorder.settle(page)
        assert [m for m in recorder.sse_messages if m["type"] == "alert" and "alerts=1" not in m["url"]] == []
        assert [m for m in recorder.sse_messages if m["type"] == "alert" and "alerts=1" in m["url"]]
        assert not errors.items, errors.items
        assert not kecamatan_errors.items, kecamatan_errors.items
