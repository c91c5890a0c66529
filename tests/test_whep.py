"""WHEP playback through a real node (ingest + relay) to an aiortc viewer, and the relay's
other outputs: tiles, events, caps, errors."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest

from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.support.whep_client import WhepError, WhepViewer

pytestmark = pytest.mark.timeout(120)
SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 800}
PASSWORD = "Relay-pw-5150"


@pytest.fixture
def camera(tmp_path):
    server = RtspCameraServer([Mount(path="/cam", gop_seconds=1, **SMALL), Mount(path="/gop4", gop_seconds=4, **SMALL),
                               Mount(path="/auth", gop_seconds=1, auth=("digest",), user="op", password=PASSWORD, **SMALL)],
                              log_dir=tmp_path / "cam").start()
    yield server
    server.stop()


async def test_viewer_gets_live_video_and_delete_ends_it(relay_node, camera):
    relay_node.add_camera("cam", camera.url("/auth", "op", PASSWORD))
    relay_node.wait_state("cam", "online")
    viewer = await WhepViewer(relay_node.url, "cam").start()
    try:
        await viewer.wait_frames(50)
        assert viewer.sizes[-1] == (640, 360)
        _, info = relay_node.request("GET", "/api/cameras/cam")
        assert info["viewers"] == 1
        status, metrics = relay_node.request("GET", "/api/metrics", token=relay_node.admin_token)
        assert status == 200 and metrics["viewers"] == 1 and metrics["relay_latency_ms"]["samples"] > 20
        assert metrics["relay_latency_ms"]["p50"] < 100
        assert relay_node.request("GET", "/api/metrics")[0] == 401
    finally:
        assert await viewer.close() == 200
    status, body = relay_node.request("DELETE", viewer.location)
    assert status == 404  # DELETE twice
    _, info = relay_node.request("GET", "/api/cameras/cam")
    assert info["viewers"] == 0
    assert PASSWORD not in relay_node.node.output()


async def test_first_frame_within_half_a_second_with_a_4_s_gop(relay_node, camera):
    relay_node.add_camera("gop4", camera.url("/gop4"))
    relay_node.wait_state("gop4", "online")
    await asyncio.sleep(1.5)  # join in the middle of a GOP
    results = []
    for _ in range(3):
        viewer = await WhepViewer(relay_node.url, "gop4").start()
        try:
            results.append(await viewer.first_frame_after())
            await viewer.wait_frames(40)
            # The cached GOP was retimed to catch up: after ~2 s, frames flow at the live rate.
            span = viewer.frames[-1] - viewer.frames[-26]
            assert span < 1.3, f"25 frames took {span:.2f} s"
        finally:
            await viewer.close()
        await asyncio.sleep(0.7)
    assert max(results) < 0.5, results


async def test_viewer_stays_through_a_camera_restart(relay_node, tmp_path):
    server = RtspCameraServer([Mount(path="/cam", gop_seconds=1, **SMALL)], log_dir=tmp_path / "c2").start()
    try:
        relay_node.add_camera("reboot", server.url("/cam"))
        relay_node.wait_state("reboot", "online")
        viewer = await WhepViewer(relay_node.url, "reboot").start()
        await viewer.wait_frames(25)
        server.kill()
        relay_node.wait_state("reboot", "offline")
        before = len(viewer.frames)
        server.start()
        relay_node.wait_state("reboot", "online")
        await viewer.wait_frames(before + 25, timeout=20)  # same session, same track
        assert viewer.pc.connectionState == "connected"
        await viewer.close()
    finally:
        server.stop()


async def test_viewer_cap_answers_503_with_a_reason(make_relay_node, camera):
    node = make_relay_node(relay__max_viewers_per_camera="1")
    node.add_camera("capped", camera.url("/cam"))
    first = await WhepViewer(node.url, "capped").start()
    try:
        with pytest.raises(WhepError) as refused:
            await WhepViewer(node.url, "capped").start()
        assert refused.value.status == 503 and "maksimum" in json.loads(refused.value.body)["message"]
        operator = await WhepViewer(node.url, "capped", token=node.admin_token).start()  # staff are not capped per camera
        await operator.close()
    finally:
        await first.close()


async def test_offers_arriving_together_cannot_pass_the_cap_together(make_relay_node, camera):
    """Answering an offer awaits (SDP, ICE gathering): the cap must count offers still being
    answered, or a burst of viewers all pass the check before any of them is counted."""
    node = make_relay_node(relay__max_viewers_per_camera="2")
    node.add_camera("burst", camera.url("/cam"))
    offers = [await _offer_sdp() for _ in range(6)]
    results = await asyncio.gather(*(asyncio.to_thread(node.request, "POST", "/whep/burst", offer.encode(),
                                                       content_type="application/sdp") for offer in offers))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 201, 503, 503, 503, 503], statuses
    assert node.request("GET", "/api/cameras/burst")[1]["viewers"] == 2


async def test_unconnected_sessions_are_reaped(make_relay_node, camera):
    node = make_relay_node(relay__connect_timeout_s="1.5")
    node.add_camera("reap", camera.url("/cam"))
    offer = (await _offer_sdp())
    status, _ = node.request("POST", "/whep/reap", offer.encode(), content_type="application/sdp")
    assert status == 201
    assert node.request("GET", "/api/cameras/reap")[1]["viewers"] == 1
    deadline = time.monotonic() + 5
    while node.request("GET", "/api/cameras/reap")[1]["viewers"] and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert node.request("GET", "/api/cameras/reap")[1]["viewers"] == 0


async def _offer_sdp() -> str:
    from aiortc import RTCConfiguration, RTCPeerConnection

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def test_whep_errors_are_4xx(relay_node, camera):
    relay_node.add_camera("cam", camera.url("/cam"))
    relay_node.add_camera("hidden", camera.url("/cam"), public=False, tps=7)
    relay_node.add_camera("off", camera.url("/cam"), enabled=False, tps=8)
    offer = await _offer_sdp()
    audio_only = "\r\n".join(line for line in offer.split("\r\n") if not line.startswith("m=video")).replace("m=video", "m=audio")
    audio_only = offer.split("m=video")[0]
    cases = [
        ("POST", "/whep/cam", b"not sdp", "application/sdp", 400),
        ("POST", "/whep/cam", audio_only.encode(), "application/sdp", 400),
        ("POST", "/whep/cam", offer.encode(), "text/plain", 415),
        ("POST", "/whep/nope", offer.encode(), "application/sdp", 404),
        ("POST", "/whep/hidden", offer.encode(), "application/sdp", 404),
        ("POST", "/whep/off", offer.encode(), "application/sdp", 409),
        ("DELETE", "/whep/cam/sessions/unknown", None, "application/json", 404),
        ("PATCH", "/whep/cam/sessions/unknown", b"a=candidate", "application/trickle-ice-sdpfrag", 405),
    ]
    for method, path, body, kind, expected in cases:
        status, data = relay_node.request(method, path, body, content_type=kind)
        assert status == expected, (method, path, status, data)
        assert isinstance(data, dict) and data["message"]
    request = urllib.request.Request(relay_node.url + "/whep/cam", method="OPTIONS")
    with urllib.request.urlopen(request) as response:
        assert response.status == 204 and response.headers["Accept-Post"] == "application/sdp"
        assert "Location" in response.headers["Access-Control-Expose-Headers"]
    viewer = await WhepViewer(relay_node.url, "hidden", token=relay_node.admin_token).start()  # staff see it
    await viewer.close()


async def test_tiles_revalidate_and_show_offline_state(relay_node, camera):
    relay_node.add_camera("cam", camera.url("/cam"))
    relay_node.add_camera("dead", "rtsp://127.0.0.1:1/none", tps=9)
    relay_node.wait_state("cam", "online")
    relay_node.wait_state("dead", "offline")
    time.sleep(1.2)  # a keyframe has been analysed
    with urllib.request.urlopen(relay_node.url + "/api/cameras/cam/tile.jpg") as response:
        tile, etag = response.read(), response.headers["ETag"]
        assert response.headers["Content-Type"] == "image/jpeg" and response.headers["Cache-Control"] == "no-cache"
        assert tile[:2] == b"\xff\xd8"
    request = urllib.request.Request(relay_node.url + "/api/cameras/cam/tile.jpg", headers={"If-None-Match": etag})
    try:
        with urllib.request.urlopen(request) as response:
            assert response.headers["ETag"] != etag  # a new keyframe came meanwhile
    except urllib.error.HTTPError as exc:
        assert exc.code == 304
    deadline = time.monotonic() + 5  # a keyframe a second; a loaded camera server can be late
    while True:
        with urllib.request.urlopen(relay_node.url + "/api/cameras/cam/tile.jpg") as response:
            if response.headers["ETag"] != etag:
                break
        assert time.monotonic() < deadline, "the tile changes at each keyframe"
        time.sleep(0.1)
    with urllib.request.urlopen(relay_node.url + "/api/cameras/dead/tile.jpg") as response:
        placeholder = response.read()
        assert response.headers["ETag"].startswith('"p-') and placeholder != tile


async def test_events_stream_status_and_viewers_and_hide_private_cameras(relay_node, camera):
    import aiohttp

    relay_node.add_camera("pub", camera.url("/cam"))
    relay_node.add_camera("priv", camera.url("/cam"), public=False, tps=5)
    relay_node.wait_state("pub", "online")
    seen: list[tuple[str, dict]] = []
    connected = asyncio.Event()

    async def listen():
        async with aiohttp.ClientSession() as session, session.get(relay_node.url + "/api/events") as response:
            event = None
            async for raw in response.content:
                connected.set()
                line = raw.decode().strip()
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    seen.append((event, json.loads(line.split(":", 1)[1])))

    async def wait_for(check, timeout=15.0):
        deadline = time.monotonic() + timeout
        while not any(check(e, d) for e, d in seen):
            assert time.monotonic() < deadline, seen[-5:]
            await asyncio.sleep(0.05)

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(connected.wait(), 5)
    camera.stop()
    await wait_for(lambda e, d: e == "status" and d["id"] == "pub" and d["state"] == "offline")
    camera.start()
    await wait_for(lambda e, d: e == "status" and d["id"] == "pub" and d["state"] == "online")
    viewer = await WhepViewer(relay_node.url, "pub").start()
    await wait_for(lambda e, d: (e, d) == ("viewers", {"id": "pub", "viewers": 1}))
    await viewer.close()
    await wait_for(lambda e, d: (e, d) == ("viewers", {"id": "pub", "viewers": 0}))
    listener.cancel()
    assert all(d["id"] != "priv" for _, d in seen), "the public stream never mentions a private camera"
