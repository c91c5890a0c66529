"""Visibility windows (issue 14 part 4) on a real node: a GStreamer camera, aiortc WHEP viewers,
SSE. The node's clock is moved through PANTAU_TEST_CLOCK_FILE (pantau/runtime/clock.py), so "13:00 WIB
on election day" is one file write away and nothing waits for it."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import time

import aiohttp
import pytest

from tests.support.node_clock import set_clock
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.support.sse import sse_messages
from tests.support.whep_client import WhepError, WhepViewer

pytestmark = pytest.mark.timeout(150)
OPERATOR = "op-windows-token-0123456789"
KELURAHAN = "31.71.01.1001"
KECAMATAN = "31.71.01"


@pytest.fixture
def camera_server(tmp_path):
    server = RtspCameraServer([Mount(path="/cam", gop_seconds=1, width=320, height=180, fps=25, bitrate_kbps=300)],
                              log_dir=tmp_path / "cam").start()
    yield server
    server.stop()


@pytest.fixture
def node(make_relay_node, camera_server, tmp_path):
    """Election day at 10:00 WIB (voting); TPS cameras public from 13:00 by the site's default."""
    clock_file = tmp_path / "clock"
    set_clock(clock_file, "2026-02-14T10:00")
    node = make_relay_node(operator_token=OPERATOR, test_clock_file=str(clock_file),
                           visibility__default_windows='["2026-02-14T13:00+07:00/"]')
    node.clock_file = clock_file
    assert "TEST CLOCK" in node.node.output()  # never unnoticed
    for camera_id, windows, tps in (("tps-rahasia", [], 1), ("tps-selalu", ["always"], 2),
                                    ("tps-sejam", ["2026-02-14T13:00/2026-02-14T14:00"], 3)):
        node.add_camera(camera_id, camera_server.url("/cam"), tps=tps, public_windows=windows)
    node.add_camera("rekap-gambir", camera_server.url("/cam"), kind="recap", region=KECAMATAN, tps=None,
                    public_windows=["daily 13:00-24:00"])
    for camera_id in ("tps-rahasia", "tps-selalu", "tps-sejam", "rekap-gambir"):
        node.wait_state(camera_id, "online")
    return node


def listed(node, token=None) -> dict[str, dict]:
    status, page = node.request("GET", f"/api/cameras?kelurahan={KELURAHAN}", token=token)
    assert status == 200, page
    return {c["id"]: c for c in page["cameras"]}


def http_status(node, path: str, token: str | None = None) -> int:
    return node.request("GET", path, token=token)[0]


async def sse_status(node, path: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(node.url + path, headers=headers) as response:
        return response.status


async def public_whep_refused(node, camera_id: str) -> int:
    with pytest.raises(WhepError) as refused:
        viewer = await WhepViewer(node.url, camera_id).start()
        await viewer.close()
    return refused.value.status


async def test_outside_its_window_a_camera_is_scheduled_for_the_public_and_refused_by_every_output(node):
    public = listed(node)
    hidden = public["tps-rahasia"]
    assert hidden["status"]["state"] == "scheduled" and hidden["status"]["public_from"] == "2026-02-14T13:00:00+07:00"
    assert hidden["status"]["picture"] is None and hidden["status"]["codec"] is None and hidden["viewers"] == 0
    assert public["tps-selalu"]["status"]["state"] == "online"  # 'always' overrides the site's default
    assert public["tps-sejam"]["status"]["public_from"] == "2026-02-14T13:00:00+07:00"
    status, single = node.request("GET", "/api/cameras/tps-rahasia")
    assert status == 200 and single["status"]["state"] == "scheduled"

    assert http_status(node, "/api/cameras/tps-rahasia/tile.jpg") == 403
    assert http_status(node, "/api/cameras/tps-selalu/tile.jpg") == 200
    assert await public_whep_refused(node, "tps-rahasia") == 403
    assert await sse_status(node, "/api/events?camera=tps-rahasia") == 403
    status, refused = node.request("GET", "/api/cameras/tps-rahasia/tile.jpg")
    assert "Tayang publik mulai 13.00 WIB" in refused["message"]

    # Operators and admins see everything, always.
    assert listed(node, OPERATOR)["tps-rahasia"]["status"]["state"] == "online"
    assert http_status(node, "/api/cameras/tps-rahasia/tile.jpg", OPERATOR) == 200
    assert await sse_status(node, "/api/events?camera=tps-rahasia", OPERATOR) == 200
    viewer = await WhepViewer(node.url, "tps-rahasia", OPERATOR).start()
    try:
        await viewer.wait_frames(10)
    finally:
        await viewer.close()

    # 13:00 WIB: counting is public. No restart, nothing else changed.
    set_clock(node.clock_file, "2026-02-14T13:00:01")
    assert listed(node)["tps-rahasia"]["status"]["state"] == "online"
    assert http_status(node, "/api/cameras/tps-rahasia/tile.jpg") == 200
    assert await sse_status(node, "/api/events?camera=tps-rahasia") == 200
    viewer = await WhepViewer(node.url, "tps-rahasia").start()
    try:
        await viewer.wait_frames(10)
    finally:
        await viewer.close()


async def wait_for(predicate, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_a_window_that_closes_ends_open_public_sessions_and_events_but_not_the_operators(node):
    set_clock(node.clock_file, "2026-02-14T13:30")
    events: list[tuple[str | None, dict]] = []
    async with aiohttp.ClientSession() as http, http.get(node.url + "/api/events?camera=tps-sejam") as stream:
        assert stream.status == 200

        async def read() -> None:
            async for message in sse_messages(stream):
                events.append(message)

        reader = asyncio.create_task(read())
        public_viewer = await WhepViewer(node.url, "tps-sejam").start()
        operator_viewer = await WhepViewer(node.url, "tps-sejam", OPERATOR).start()
        try:
            await public_viewer.wait_frames(10)
            await operator_viewer.wait_frames(10)
            await wait_for(lambda: any(e == "viewers" and d.get("viewers") == 2 for e, d in events), what="a viewers event")

            set_clock(node.clock_file, "2026-02-14T14:00:01")  # the window closes
            await wait_for(lambda: any(e == "status" and d["state"] == "scheduled" for e, d in events), what="the scheduled status")
            closed = next(d for e, d in events if e == "status" and d["state"] == "scheduled")
            assert closed["public_from"] is None  # no window opens again
            await wait_for(lambda: node.request("GET", "/api/metrics", token=OPERATOR)[1]["viewers_per_camera"].get("tps-sejam") == 1,
                           what="the public session to end")
            await wait_for(lambda: public_viewer.pc.connectionState in ("closed", "failed"), what="the public peer to close")
            ended_at = len(public_viewer.frames)
            operator_before = len(operator_viewer.frames)
            await operator_viewer.wait_frames(operator_before + 25)  # the operator keeps watching (~1 s)
            assert len(public_viewer.frames) <= ended_at + 1  # ...while the public picture stopped
            after_close = len(events)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    # Nothing more about the camera reached the public stream after the "scheduled" status
    # (viewer counts changed when the public session ended, and status events kept coming).
    assert all(d["state"] == "scheduled" for e, d in events[after_close - 1:] if e == "status")
    assert not [e for e, _ in events[after_close:] if e in ("viewers", "status")]
    assert await public_whep_refused(node, "tps-sejam") == 403
    await public_viewer.close(send_delete=False)
    await operator_viewer.close()


async def test_a_public_region_stream_hears_when_windows_open_and_close(node):
    async with aiohttp.ClientSession() as http, http.get(f"{node.url}/api/events?region={KELURAHAN}") as stream:
        assert stream.status == 200
        messages = sse_messages(stream)
        set_clock(node.clock_file, "2026-02-14T13:00:00")
        opened = {}
        async with asyncio.timeout(10):
            while set(opened) != {"tps-rahasia", "tps-sejam"}:
                event, data = await anext(messages)
                if event == "status" and data["id"] != "tps-selalu":
                    assert data["state"] == "online", data  # nothing of a hidden camera before it opens
                    opened[data["id"]] = data
        # The open statuses may come from the cameras' own status events before the window watch
        # has looked (once a second): let it see the windows open, or a window that closes again
        # within that second is, to it, one that never opened.
        await asyncio.sleep(1.5)
        set_clock(node.clock_file, "2026-02-14T14:00:00")
        async with asyncio.timeout(10):
            while True:
                event, data = await anext(messages)
                if event == "status" and data["id"] == "tps-sejam" and data["state"] == "scheduled":
                    break


async def test_windows_through_the_admin_api_csv_and_audit_log(node):
    token = node.admin_token
    status, refused = node.request("PATCH", "/api/admin/cameras/tps-selalu", {"public_windows": ["2026-02-14T14:00/2026-02-14T13:00"]}, token)
    assert status == 422 and [e["field"] for e in refused["errors"]] == ["public_windows"], refused
    assert "start must come before the end" in refused["errors"][0]["reason"]
    status, changed = node.request("PATCH", "/api/admin/cameras/tps-selalu", {"public_windows": "daily 13:00-24:00; 2026-02-15T08:00/"}, token)
    assert status == 200 and changed["public_windows"] == ["daily 13:00-24:00", "2026-02-15T08:00+07:00/"]
    assert listed(node)["tps-selalu"]["status"]["state"] == "scheduled"  # 10:00: outside both
    _, audit = node.request("GET", "/api/admin/audit?limit=1", token=token)
    assert audit["entries"][0]["details"]["changes"]["public_windows"] == [["always"], ["daily 13:00-24:00", "2026-02-15T08:00+07:00/"]]

    status, text = node.request("GET", f"/api/admin/cameras.csv?kelurahan={KELURAHAN}", token=token)
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(text))}
    assert rows["tps-selalu"]["public_windows"] == "daily 13:00-24:00;2026-02-15T08:00+07:00/"
    assert rows["tps-rahasia"]["public_windows"] == ""
    # An import that gets a window wrong is refused whole, naming the line and the column.
    bad = text.replace("daily 13:00-24:00;", "daily 24:00-13:00;")
    status, refused = node.request("POST", "/api/admin/cameras/import?mode=upsert", bad.encode(), token, content_type="text/csv")
    assert status == 422 and {(e["line"], e["field"]) for e in refused["errors"]} == {(list(rows).index("tps-selalu") + 2, "public_windows")}
    fixed = text.replace("daily 13:00-24:00;2026-02-15T08:00+07:00/", "always")
    status, result = node.request("POST", "/api/admin/cameras/import?mode=upsert", fixed.encode(), token, content_type="text/csv")
    assert status == 200 and result["updated"] == 3, result
    assert listed(node)["tps-selalu"]["status"]["state"] == "online"
    status, document = node.request("GET", "/api/openapi.json")
    assert "public_windows" in json.dumps(document["components"]["schemas"]["CameraInput"])


def gambir(node, token=None) -> dict:
    status, wall = node.request("GET", "/api/wall", token=token)
    assert status == 200, wall
    return next(k for kota in wall["kota"] for k in kota["kecamatan"] if k["code"] == KECAMATAN) | {"revision": wall["revision"]}


async def test_the_public_wall_counts_and_shows_only_what_is_inside_a_window(node):
    voting = gambir(node)
    assert voting["tps"] == {"online": 1, "total": 1}  # only 'tps-selalu' may be seen at 10:00
    assert voting["recap"]["status"] == {"state": "scheduled", "reason": None, "picture": None,
                                         "public_from": "2026-02-14T13:00:00+07:00"}
    staff = gambir(node, OPERATOR)
    assert staff["tps"] == {"online": 3, "total": 3} and staff["recap"]["status"]["state"] == "online"

    # The public wall's stream (recap statuses and counts) hears of 13:00 without a reload.
    async with aiohttp.ClientSession() as http, http.get(f"{node.url}/api/events?counts=1&kind=recap") as stream:
        messages = sse_messages(stream)
        set_clock(node.clock_file, "2026-02-14T13:00:01")
        seen = set()
        async with asyncio.timeout(10):
            while seen != {"kecamatan", "status"}:
                event, data = await anext(messages)
                if event == "kecamatan" and data["code"] == KECAMATAN:
                    assert data["tps"] == {"online": 3, "total": 3}, data
                    seen.add(event)
                elif event == "status" and data["id"] == "rekap-gambir":
                    assert data["state"] == "online", data
                    seen.add(event)
    counting = gambir(node)
    assert counting["tps"] == {"online": 3, "total": 3} and counting["recap"]["status"]["state"] == "online"
