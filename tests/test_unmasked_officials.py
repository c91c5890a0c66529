"""The officials' exception to privacy masks (issue 17): `unmasked_for_officials`, set by admins
only and audited; while it is on, ingest publishes a masked camera's unmasked picture on a
second bus id, which only an admin's `POST /whep/{id}?view=unmasked` reads (audited), while
every other output keeps the masked picture. Off: no unmasked stream and the view refused.

Pipeline level: real libx264 packets through the real pipeline, transcoder and in-process bus.
Node level: a GStreamer camera with SMPTE bars (tests/test_masks_ingest.py's pattern and region
comparisons), a real node, WHEP viewers on aiortc."""

from __future__ import annotations

import asyncio
import json
import time

import av
import pytest

from ingest.camera_pipeline import CameraPipeline
from pantau.bus.memory_bus import InProcessBus
from pantau.cameras.unmasked_view import unmasked_bus_id
from tests.support.hls_client import get
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.support.whep_client import WhepError
from tests.test_api import api  # noqa: F401 (the in-process relay fixture)
from tests.test_h264_and_health import encode_h264
from tests.test_masks_ingest import CORNER, SMALL, PictureViewer, hls_picture, masked_black, tile
from tests.test_site import site  # noqa: F401 (two relays and a worker on Redis)
from tests.test_timestamp_jumps import STEP, TB, feed, make_pipeline

pytestmark = pytest.mark.timeout(150)
OPERATOR = "operator-token-unmasked-4321"
UNMASKED = unmasked_bus_id("cam")


def masked_pipeline(bus: InProcessBus, unmasked: bool) -> CameraPipeline:
    pipeline = make_pipeline(bus)
    pipeline.set_masks([CORNER])
    pipeline.set_unmasked_for_officials(unmasked)
    return pipeline


def test_the_pipeline_publishes_the_unmasked_source_packets_only_while_the_exception_is_on():
    encoded, _ = encode_h264(90)  # a keyframe every 10 frames
    bus = InProcessBus()
    pipeline = masked_pipeline(bus, unmasked=False)
    start = time.time()
    feed(pipeline, encoded[:30], [n * STEP for n in range(30)], start)
    assert pipeline.mode == "transcode" and bus.gop("cam")  # masked, on the camera's id
    assert bus.gop(UNMASKED) == [] and UNMASKED not in bus.camera_ids()  # off: nothing at all

    pipeline.set_unmasked_for_officials(True)
    feed(pipeline, encoded[30:60], [n * STEP for n in range(30, 60)], start + 1.2)
    unmasked = bus.gop(UNMASKED)
    assert unmasked and unmasked[0].keyframe
    # The source's own packets (no second encode): the bytes libx264 made for the camera.
    assert unmasked[-1].data == encoded[59] and unmasked[-1].pts == 59 * STEP
    assert all(p.data not in encoded for p in bus.gop("cam"))  # the camera's id: the transcoder's

    pipeline.set_unmasked_for_officials(False)
    feed(pipeline, encoded[60:61], [60 * STEP], start + 2.4)
    assert bus.gop(UNMASKED) == [] and UNMASKED not in bus.camera_ids()  # stopped at once, cache gone


async def test_a_live_unmasked_subscriber_gets_nothing_once_the_exception_is_off():
    encoded, _ = encode_h264(60)
    bus = InProcessBus()
    pipeline = masked_pipeline(bus, unmasked=True)
    subscription = bus.subscribe(UNMASKED)
    start = time.time()
    feed(pipeline, encoded[:30], [n * STEP for n in range(30)], start)
    assert subscription.pending() == 30  # from the first keyframe on
    pipeline.set_unmasked_for_officials(False)
    while subscription.pending():
        await subscription.get()
    feed(pipeline, encoded[30:], [n * STEP for n in range(30, 60)], start + 1.2)
    assert subscription.pending() == 0


def decoded_corner(packets) -> float:
    """Mean grey of the masked corner in the last picture the packets decode to."""
    decoder = av.CodecContext.create("h264", "r")
    frames = [f for p in packets for f in decoder.decode(av.Packet(p.data))] + decoder.decode(None)
    picture = frames[-1].to_ndarray(format="gray")
    h, w = picture.shape
    return float(picture[4:int(0.3 * h) - 4, int(0.75 * w) + 4:w - 4].mean())


def test_a_source_that_cannot_be_passed_on_gets_its_unmasked_picture_encoded_a_second_time():
    encoded, _ = encode_h264(40)
    bus = InProcessBus()
    pipeline = make_pipeline(bus, force_transcode=True)  # as H.265 or B-frames: never passed on as it is
    pipeline.set_masks([CORNER])
    start = time.time()
    feed(pipeline, encoded[:20], [n * STEP for n in range(20)], start)
    assert UNMASKED not in bus.camera_ids()
    pipeline.set_unmasked_for_officials(True)
    feed(pipeline, encoded[20:], [n * STEP for n in range(20, 40)], start + 0.8)
    unmasked, masked = bus.gop(UNMASKED), bus.gop("cam")
    assert unmasked and unmasked[0].keyframe and all(p.data not in encoded for p in unmasked)  # the transcoder's
    assert decoded_corner(unmasked) > 50 and decoded_corner(masked) < 25  # grey 60 there, unless masked
    pipeline.set_unmasked_for_officials(False)
    feed(pipeline, encoded[:1], [40 * STEP], start + 1.6)
    assert UNMASKED not in bus.camera_ids()


def test_without_masks_there_is_no_unmasked_stream_and_a_keyframe_request_reaches_the_transcoder():
    encoded, _ = encode_h264(40)
    bus = InProcessBus()
    pipeline = make_pipeline(bus)
    pipeline.set_unmasked_for_officials(True)  # on, but the camera has no masks: its own stream is whole
    start = time.time()
    feed(pipeline, encoded[:12], [n * STEP for n in range(12)], start)
    assert pipeline.mode == "passthrough" and UNMASKED not in bus.camera_ids()

    pipeline.close()
    masked = masked_pipeline(bus, unmasked=False)  # the camera's next pipeline (a new source)
    feed(masked, encoded[:4], [n * STEP for n in range(4)], start)  # the transcoder's first keyframe
    keyframes = sum(p.keyframe for p in bus.gop("cam"))
    assert bus.request_keyframe("cam")  # the pipeline answers for its camera
    feed(masked, encoded[4:6], [n * STEP for n in range(4, 6)], start + 0.2)
    gop = bus.gop("cam")
    assert gop[0].keyframe and len(gop) <= 2 and keyframes == 1  # the next frame was made a keyframe at once


@pytest.fixture
def camera(tmp_path):
    server = RtspCameraServer([Mount(path="/bars", pattern="smpte", **SMALL)], log_dir=tmp_path / "cam").start()
    yield server
    server.stop()


def audit(node, action: str) -> list[dict]:
    status, body = node.request("GET", "/api/admin/audit?limit=50", token=node.admin_token)
    assert status == 200
    return [e for e in body["entries"] if e["action"] == action]


async def refused(node, token: str | None, view: str = "unmasked", camera_id: str = "cam") -> tuple[int, dict]:
    viewer = PictureViewer(node.url, camera_id, token)
    viewer.camera_id = f"{camera_id}?view={view}"
    with pytest.raises(WhepError) as caught:
        await viewer.start()
    return caught.value.status, json.loads(caught.value.body)


async def test_off_by_default_admin_only_and_refused_while_off(make_relay_node, camera):
    node = make_relay_node(operator_token=OPERATOR)
    created = node.add_camera("cam", camera.url("/bars"), masks=[CORNER])
    assert created["unmasked_for_officials"] is False
    # An operator cannot set it (every camera write is admin-only); nothing stored changes.
    status, body = node.request("PATCH", "/api/admin/cameras/cam", {"unmasked_for_officials": True}, OPERATOR)
    assert status == 403
    status, body = node.request("PUT", "/api/admin/cameras/cam", {**created, "unmasked_for_officials": True}, OPERATOR)
    assert status == 403
    assert node.request("GET", "/api/admin/cameras/cam", token=node.admin_token)[1]["unmasked_for_officials"] is False
    status, body = node.request("PATCH", "/api/admin/cameras/cam", {"unmasked_for_officials": "maybe"}, node.admin_token)
    assert status == 422 and body["errors"][0]["field"] == "unmasked_for_officials"
    # The public API never names it.
    assert "unmasked_for_officials" not in node.request("GET", "/api/cameras/cam")[1]
    node.wait_state("cam", "online")

    assert (await refused(node, None))[0] == 401
    status, body = await refused(node, OPERATOR)
    assert status == 403 and body["errors"][0]["field"] == "view"
    status, body = await refused(node, node.admin_token)
    assert status == 409 and "unmasked_for_officials" in body["message"]
    assert (await refused(node, node.admin_token, view="raw"))[0] == 400
    assert audit(node, "watch_unmasked") == []
    # The unmasked bus id is no camera id: no route takes it.
    assert (await refused(node, node.admin_token, view="unmasked", camera_id=UNMASKED.replace("~", "%7E")))[0] == 404
    for path in (f"/api/cameras/{UNMASKED}/tile.jpg", f"/hls/{UNMASKED}/index.m3u8"):
        assert get(node.url + path.replace("~", "%7E"), headers={"Authorization": f"Bearer {node.admin_token}"})[0] == 404


async def test_an_admin_watches_unmasked_while_everyone_else_keeps_the_masks(make_relay_node, camera):
    node = make_relay_node(operator_token=OPERATOR, hls__linger_s="10")
    node.add_camera("cam", camera.url("/bars"), masks=[CORNER])
    node.wait_state("cam", "online")
    status, body = node.request("PATCH", "/api/admin/cameras/cam", {"unmasked_for_officials": True}, node.admin_token)
    assert status == 200 and body["unmasked_for_officials"] is True
    change = audit(node, "update")[0]
    assert change["camera"] == "cam" and change["details"]["changes"]["unmasked_for_officials"] == [False, True]

    admin = PictureViewer(node.url, "cam", node.admin_token)
    admin.camera_id = "cam?view=unmasked"
    await admin.start()  # (watching from before the worker follows the change: the picture comes with it)
    operator = await PictureViewer(node.url, "cam", OPERATOR).start()
    public = await PictureViewer(node.url, "cam").start()
    try:
        await admin.picture_where(lambda p: not masked_black(p, 0.75, 0.0, 1.0, 0.3), timeout=20)  # the blue bar
        for viewer in (operator, public):
            await viewer.wait_frames(10, timeout=30)
            assert masked_black(viewer.latest, 0.75, 0.0, 1.0, 0.3)
        assert masked_black(tile(node, "cam"), 0.75, 0.0, 1.0, 0.3)
        assert masked_black(await asyncio.to_thread(hls_picture, node, "cam"), 0.75, 0.0, 1.0, 0.3)
        watched = audit(node, "watch_unmasked")
        assert len(watched) == 1 and watched[0]["camera"] == "cam" and watched[0]["actor"]
        assert node.admin_token not in json.dumps(watched)

        # Off: the unmasked stream stops, the admin's session is ended (the relay's once-a-second
        # check) and a new view is refused.
        status, _ = node.request("PATCH", "/api/admin/cameras/cam", {"unmasked_for_officials": False}, node.admin_token)
        assert status == 200
        await asyncio.sleep(2.0)  # the registry poll (0.5 s), the relay's check (1 s), a frame or two in flight
        before = len(admin.frames)
        await asyncio.sleep(2.0)
        assert len(admin.frames) == before
        assert admin.pc.connectionState in ("closed", "failed"), admin.pc.connectionState
        frames = len(operator.frames)
        await operator.wait_frames(frames + 10, timeout=10)  # the masked picture goes on
        assert (await refused(node, node.admin_token))[0] == 409
    finally:
        for viewer in (admin, operator, public):
            await viewer.close()


async def test_on_a_site_the_unmasked_stream_is_fenced_by_its_cameras_lease(redis_server):
    """The unmasked stream has no lease of its own: it is written while the camera's lease is the
    writer's, in the camera's Redis slot, and refused (the camera given up) once it is not."""
    import redis.asyncio as aioredis

    from pantau.bus.redis_bus import RedisStreamBus, media_key
    from pantau.bus.stream_bus import MediaPacket
    from pantau.runtime.leases import lease_key

    clients = [aioredis.from_url(redis_server.url) for _ in range(2)]
    ingest, relay = RedisStreamBus(clients[0]), RedisStreamBus(clients[1])
    lost: list[str] = []
    ingest.fence = {"cam": "worker-a:1"}.get
    ingest.on_fenced = lost.append
    try:
        assert media_key(UNMASKED) == "{cam:cam}~unmasked:media"  # the camera's slot
        await clients[0].set(lease_key("cam"), "worker-a:1")
        subscription = relay.subscribe(UNMASKED)
        await asyncio.sleep(0.5)  # the demand poll
        encoded, _ = encode_h264(12)
        for n, data in enumerate(encoded):
            ingest.publish(UNMASKED, MediaPacket(data, n * STEP, n * STEP, TB, n % 10 == 0, 1, time.time()))
        first = await asyncio.wait_for(subscription.get(), 3)
        assert first.packet.keyframe and first.packet.data in (encoded[0], encoded[10])  # (the cached GOP)

        await clients[0].set(lease_key("cam"), "worker-b:2")  # taken over
        ingest.publish(UNMASKED, MediaPacket(encoded[0], 12 * STEP, 12 * STEP, TB, True, 1, time.time()))
        deadline = time.monotonic() + 3
        while not lost and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert lost == ["cam"]  # the camera is given up, not a lease named "cam~unmasked"
    finally:
        for bus, client in zip((ingest, relay), clients):
            await bus.close()
            await client.aclose()


async def test_the_exception_in_csv_and_only_an_admin_imports_it(api):  # noqa: F811
    from tests.test_api import ADMIN
    from tests.test_api import OPERATOR as OPERATOR_HEADERS
    from tests.test_api import camera as camera_json

    await api.call("POST", "/api/admin/cameras", 201, json=camera_json(1, masks=[CORNER], unmasked_for_officials=True), headers=ADMIN)
    _, csv_text = await api.call("GET", "/api/admin/cameras.csv", 200, headers=ADMIN)
    header, row = csv_text.splitlines()[:2]
    assert "unmasked_for_officials" in header.split(",") and row.endswith(",true")
    await api.call("PATCH", "/api/admin/cameras/3171011001001", 200, json={"unmasked_for_officials": False}, headers=ADMIN)
    csv_headers = {"Content-Type": "text/csv"}
    await api.call("POST", "/api/admin/cameras/import?mode=upsert", 403, data=csv_text, headers={**OPERATOR_HEADERS, **csv_headers})
    _, stored = await api.call("GET", "/api/admin/cameras/3171011001001", 200, headers=ADMIN)
    assert stored["unmasked_for_officials"] is False  # the operator's import changed nothing
    await api.call("POST", "/api/admin/cameras/import?mode=upsert", 200, data=csv_text, headers={**ADMIN, **csv_headers})
    _, stored = await api.call("GET", "/api/admin/cameras/3171011001001", 200, headers=ADMIN)
    assert stored["unmasked_for_officials"] is True
    _, audit = await api.call("GET", "/api/admin/audit?limit=5", 200, headers=ADMIN)
    update = next(e for e in audit["entries"] if e["action"] == "update")
    assert update["details"]["changes"]["unmasked_for_officials"] == [False, True]


async def test_on_a_site_a_keyframe_request_reaches_the_lease_holder_past_a_warming_pipeline(redis_server):
    """Every pipeline answers keyframe requests for its camera now; one that only warms up (the
    lease is another worker's) must not swallow a relay's request in its own process."""
    import redis.asyncio as aioredis

    from pantau.bus.redis_bus import RedisStreamBus
    from pantau.bus.stream_bus import MediaPacket

    clients = [aioredis.from_url(redis_server.url) for _ in range(2)]
    holder, warming = RedisStreamBus(clients[0]), RedisStreamBus(clients[1])  # the second also relays
    asked: list[str] = []
    holder.fence, warming.fence = {"cam": "worker-a:1"}.get, {}.get
    holder.on_keyframe_request("cam", lambda: asked.append("holder"))
    warming.on_keyframe_request("cam", lambda: asked.append("warming"))
    try:
        # The holder publishes the camera (its demand poll looks at the cameras it publishes).
        holder.publish("cam", MediaPacket(b"\0\0\0\1\x65", 0, 0, TB, True, 1, time.time()))
        assert warming.request_keyframe("cam")
        deadline = time.monotonic() + 5  # (the warming process's own demand poll must not take it meanwhile)
        while "holder" not in asked and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert "holder" in asked
    finally:
        for bus, client in zip((holder, warming), clients):
            await bus.close()
            await client.aclose()



async def test_on_a_site_an_admin_on_another_relay_watches_unmasked_and_gets_a_fresh_tile(site, camera):  # noqa: F811
    """Two relays and an ingest worker sharing Redis: the unmasked stream and the keyframe
    request of the fresh tile cross the bus like the camera's own stream does."""
    relay_a, relay_b = site.relays
    relay_a.add_camera("cam", camera.url("/bars"), masks=[CORNER], unmasked_for_officials=True)
    await asyncio.to_thread(relay_a.wait_state, "cam", "online", 30)
    admin = PictureViewer(relay_b.url, "cam", site.admin_token)
    admin.camera_id = "cam?view=unmasked"
    masked = await PictureViewer(relay_b.url, "cam", site.admin_token).start()
    await admin.start()
    try:
        await admin.picture_where(lambda p: not masked_black(p, 0.75, 0.0, 1.0, 0.3), timeout=20)
        await masked.wait_frames(10, timeout=30)
        assert masked_black(masked.latest, 0.75, 0.0, 1.0, 0.3)
        # The fresh tile: the request goes to the worker through the bus Redis, the tile comes back.
        asked_at = time.time()
        status, headers, _ = await asyncio.to_thread(
            get, f"{relay_a.url}/api/admin/cameras/cam/fresh-tile.jpg?wait=5", 15, {"Authorization": f"Bearer {site.admin_token}"})
        assert status == 200 and headers["X-Tile-Fresh"] == "true", headers
        assert time.time() - asked_at < 5
    finally:
        await admin.close()
        await masked.close()
