"""Ingest against real RTSP cameras (GStreamer's RTSP server from Debian): auth, codecs,
B-frames, reconnects, GOP cache, picture health, registry-driven start/stop, secrets.

Mounts are 640x360 (one shared encoder each) to keep the machine's two cores free for the
code under test; what is measured does not depend on the size."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

import av
import pytest

from ingest.worker import IngestWorker
from pantau.bus.memory_bus import InProcessBus
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import validate_camera
from pantau.cameras.regions import dki_regions
from pantau.cameras.registry import Registry
from pantau.runtime.config import IngestSettings
from tests.conftest import free_port
from tests.support.rtsp_camera import Mount, RtspCameraServer

DIGEST_PW = "Dig3st-pass-4411"
BASIC_PW = "Bas1c-pass-7722"
WRONG_PW = "Wr0ng-pass-9933"
SECRETS = (DIGEST_PW, BASIC_PW, WRONG_PW)
ADMIN = Actor("test", "127.0.0.1")
SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 800}

pytestmark = pytest.mark.timeout(180)


def mounts() -> list[Mount]:
    return [
        Mount(path="/h264", gop_seconds=1, **SMALL),
        Mount(path="/gop4", gop_seconds=4, **SMALL),
        Mount(path="/digest", gop_seconds=1, auth=("digest",), user="op", password=DIGEST_PW, **SMALL),
        Mount(path="/basic", gop_seconds=1, auth=("basic",), user="op", password=BASIC_PW, **SMALL),
        Mount(path="/hevc", codec="h265", gop_seconds=1, **SMALL),
        Mount(path="/bframes", bframes=2, gop_seconds=1, **SMALL),
        Mount(path="/black", pattern="black", overlay="none", gop_seconds=1, **SMALL),
        Mount(path="/frozen", frozen=True, overlay="none", gop_seconds=1, **SMALL),
    ]


@pytest.fixture(scope="module")
def cameras():
    server = RtspCameraServer(mounts())
    server.start()
    yield server
    server.stop()


class Ingest:
    def __init__(self, registry: Registry, bus: InProcessBus, worker: IngestWorker):
        self.registry, self.bus, self.worker = registry, bus, worker

    async def add(self, camera_id: str, source: str, **extra) -> None:
        number = int.from_bytes(camera_id.encode(), "big") % 900 + 1
        camera = validate_camera({"id": camera_id, "kind": "tps", "region": "31.71.01.1001", "tps": number, "source": source, **extra}, dki_regions())
        await self.registry.create(camera, ADMIN)

    async def status(self, camera_id: str) -> dict:
        camera = await self.registry.require(camera_id)
        return (await self.registry.statuses([camera]))[camera_id]

    async def wait_status(self, camera_id: str, check: Callable[[dict], bool], timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        status = {}
        while time.monotonic() < deadline:
            status = await self.status(camera_id)
            if check(status):
                return status
            await asyncio.sleep(0.05)
        raise AssertionError(f"{camera_id}: status never matched; last {status}")


# Tests marked with this run twice: each camera's packets processed in its own demux thread
# (the default below 16 cameras) and on the shared feeder thread (ingest/pipeline_feeder.py).
BOTH_FEED_PATHS = pytest.mark.parametrize("ingest", ["own-thread", "shared-feeder"], indirect=True)


@pytest.fixture
async def ingest(redis_server, caplog, request):
    import redis.asyncio as aioredis

    caplog.set_level(logging.DEBUG)
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    registry = Registry(client, dki_regions())
    bus = InProcessBus()
    shared_from = 1 if getattr(request, "param", "own-thread") == "shared-feeder" else 10_000
    settings = IngestSettings(backoff_initial_s=0.3, backoff_cap_s=1.0, poll_registry_s=0.2,
                              shared_feed_from_cameras=shared_from)
    worker = IngestWorker(registry, bus, settings)
    await worker.start()
    yield Ingest(registry, bus, worker)
    await worker.stop()
    statuses = json.dumps(await client.hgetall("{pantau}:status"))
    await client.aclose()
    for secret in SECRETS:
        assert secret not in caplog.text, "a camera password reached a log line"
        assert secret not in statuses, "a camera password reached a status"


def decodable_frames(packets: list[bytes]) -> int:
    decoder = av.CodecContext.create("h264", "r")
    frames = 0
    for data in packets:
        frames += len(decoder.decode(av.Packet(data)))
    return frames


async def read(subscription, count: int, timeout: float = 10.0):
    return [await asyncio.wait_for(subscription.get(), timeout) for _ in range(count)]


@BOTH_FEED_PATHS
async def test_digest_camera_passes_through_as_valid_h264(cameras, ingest):
    await ingest.add("digest", cameras.url("/digest", "op", DIGEST_PW))
    status = await ingest.wait_status("digest", lambda s: s["state"] == "online")
    assert (status["mode"], status["codec"], status["width"], status["height"]) == ("passthrough", "h264", 640, 360)
    subscription = ingest.bus.subscribe("digest")
    packets = await read(subscription, 50)
    assert packets[0].packet.keyframe
    assert decodable_frames([p.packet.data for p in packets]) >= 49
    status = await ingest.wait_status("digest", lambda s: s["fps"] and s["bitrate_kbps"] and s["last_keyframe_at"] and s["picture"] == "ok")
    assert 15 <= status["fps"] <= 30  # the test camera sends 25; a loaded one drops a few


async def test_basic_auth_and_wrong_password(cameras, ingest):
    await ingest.add("basic", cameras.url("/basic", "op", BASIC_PW))
    await ingest.add("wrong", cameras.url("/digest", "op", WRONG_PW))
    await ingest.wait_status("basic", lambda s: s["state"] == "online")
    status = await ingest.wait_status("wrong", lambda s: s["reason"] == "auth_failed")
    assert status["state"] == "offline" and status["retry_in_s"] >= 20  # retried slowly, not hammered


@BOTH_FEED_PATHS
async def test_h265_and_b_frames_are_transcoded_once(cameras, ingest):
    await ingest.add("hevc", cameras.url("/hevc"))
    await ingest.add("bframes", cameras.url("/bframes"))
    for camera_id, codec in (("hevc", "hevc"), ("bframes", "h264")):
        status = await ingest.wait_status(camera_id, lambda s: s["state"] == "online" and s["mode"] == "transcode", 20)
        assert status["codec"] == codec
        packets = await read(ingest.bus.subscribe(camera_id), 30)
        assert packets[0].packet.keyframe
        assert all(p.packet.pts == p.packet.dts for p in packets), "no B-frames leave ingest"
        assert decodable_frames([p.packet.data for p in packets]) >= 29


async def test_force_transcode_tag(cameras, ingest):
    await ingest.add("forced", cameras.url("/h264"), tags=["force_transcode"])
    await ingest.wait_status("forced", lambda s: s["state"] == "online" and s["mode"] == "transcode", 20)


@BOTH_FEED_PATHS
async def test_late_subscriber_starts_at_once_from_the_gop_cache(cameras, ingest):
    await ingest.add("gop4", cameras.url("/gop4"))
    await ingest.wait_status("gop4", lambda s: s["state"] == "online")
    await asyncio.sleep(1.5)  # join mid-GOP
    started = time.monotonic()
    first = await asyncio.wait_for(ingest.bus.subscribe("gop4").get(), 0.5)
    assert first.packet.keyframe and time.monotonic() - started < 0.5


@BOTH_FEED_PATHS
async def test_slow_subscriber_is_bounded_and_resumes_at_a_keyframe(cameras, ingest):
    await ingest.add("slow", cameras.url("/h264"))
    await ingest.wait_status("slow", lambda s: s["state"] == "online")
    subscription = ingest.bus.subscribe("slow")
    deadline = time.monotonic() + 40  # ~14 s at 25 fps: more packets arrive than the queue holds
    while subscription.stats.skips < 1:  # (a loaded test camera may send fewer frames a second)
        assert time.monotonic() < deadline, f"no skip; {subscription.pending()} pending"
        await asyncio.sleep(0.5)
    assert subscription.pending() <= ingest.bus.limits.queue_packets
    packets = await read(subscription, subscription.pending())
    assert packets[0].packet.keyframe
    assert decodable_frames([p.packet.data for p in packets]) >= len(packets) - 1


async def test_camera_unreachable_at_start_appears_later(ingest, tmp_path):
    late = RtspCameraServer([Mount(path="/late", gop_seconds=1, **SMALL)], port=free_port())
    await ingest.add("late", late.url("/late"))
    await ingest.wait_status("late", lambda s: s["state"] == "offline" and s["reason"] == "unreachable")
    late.start()
    try:
        await ingest.wait_status("late", lambda s: s["state"] == "online", 15)
    finally:
        late.stop()


@BOTH_FEED_PATHS
async def test_camera_restart_keeps_the_same_subscription_continuous(ingest):
    camera = RtspCameraServer([Mount(path="/cam", gop_seconds=1, **SMALL)])
    camera.start()
    try:
        await ingest.add("reboot", camera.url("/cam"))
        await ingest.wait_status("reboot", lambda s: s["state"] == "online")
        subscription = ingest.bus.subscribe("reboot")
        before = await read(subscription, 30)
        camera.kill()  # a crash: no RTSP TEARDOWN, the connection just dies
        await ingest.wait_status("reboot", lambda s: s["state"] == "offline")
        while subscription.pending():
            before.append(await subscription.get())
        camera.start()  # same port
        after = await read(subscription, 30, timeout=20)
        epochs = {p.packet.epoch for p in before} | {p.packet.epoch for p in after}
        assert len(epochs) >= 2, "a reconnect starts a new epoch"
        assert after[0].packet.keyframe
        dts = [p.dts for p in before + after]
        assert all(b > a for a, b in zip(dts, dts[1:])), "timestamps continue across the reboot"
        assert decodable_frames([p.packet.data for p in after]) >= 29
    finally:
        camera.stop()


@pytest.mark.parametrize("ingest", ["shared-feeder"], indirect=True)
async def test_a_pipeline_failure_on_the_feeder_thread_ends_the_session_and_it_reconnects(cameras, ingest, caplog):
    await ingest.add("fails", cameras.url("/h264"))
    await ingest.wait_status("fails", lambda s: s["state"] == "online")
    source = ingest.worker.sources["fails"][1]
    assert source.feeder.crowded  # packets really go through the shared feeder
    pipeline, real_feed = source.pipeline, source.pipeline.feed
    broken = []

    def feed_once_broken(packet, received_at=None):
        if not broken:
            broken.append(True)
            raise RuntimeError("a pipeline bug")
        real_feed(packet, received_at)

    pipeline.feed = feed_once_broken
    epoch = pipeline.epoch
    deadline = time.monotonic() + 10
    while pipeline.epoch == epoch:  # a new session, not the old one carrying on
        assert time.monotonic() < deadline, "the failure did not end the session"
        await asyncio.sleep(0.05)
    assert broken and "a pipeline bug" in caplog.text  # reported like any source failure
    await ingest.wait_status("fails", lambda s: s["state"] == "online", 10)


async def test_black_and_frozen_pictures_are_reported(cameras, ingest):
    await ingest.add("black", cameras.url("/black"))
    await ingest.add("frozen", cameras.url("/frozen"))
    await ingest.wait_status("black", lambda s: s["picture"] == "black", 15)
    # Frozen within 3 keyframes (GOP 1 s) of coming online.
    online = await ingest.wait_status("frozen", lambda s: s["state"] == "online")
    await ingest.wait_status("frozen", lambda s: s["picture"] == "frozen", 6)
    assert online


async def test_moving_clock_is_never_flagged_in_60_s(cameras, ingest):
    await ingest.add("clock", cameras.url("/h264"))
    await ingest.wait_status("clock", lambda s: s["picture"] == "ok")
    seen = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen.add(ingest.worker.status.current("clock").get("picture"))
        await asyncio.sleep(0.2)
    assert seen == {"ok"}


async def test_registry_edits_start_and_stop_sources_within_2_s(cameras, ingest):
    await ingest.add("edited", cameras.url("/h264"))
    started = time.monotonic()
    while "edited" not in ingest.worker.sources:
        await asyncio.sleep(0.05)
    assert time.monotonic() - started < 2
    await ingest.wait_status("edited", lambda s: s["state"] == "online", 5)
    stored = await ingest.registry.require("edited")
    disabled = validate_camera({**stored.to_stored(), "enabled": False}, dki_regions(), stored=stored)
    await ingest.registry.replace(disabled, ADMIN, expected=stored)
    started = time.monotonic()
    while "edited" in ingest.worker.sources:
        await asyncio.sleep(0.05)
    assert time.monotonic() - started < 2
    # Changing the source restarts it on the new URL.
    enabled = validate_camera({**disabled.to_stored(), "enabled": True, "source": cameras.url("/hevc")}, dki_regions(), stored=disabled)
    await ingest.registry.replace(enabled, ADMIN, expected=disabled)
    await ingest.wait_status("edited", lambda s: s["state"] == "online" and s["codec"] == "hevc", 10)
    await ingest.registry.delete("edited", ADMIN)
    started = time.monotonic()
    while "edited" in ingest.worker.sources:
        await asyncio.sleep(0.05)
    assert time.monotonic() - started < 2


async def test_stopped_sources_are_followed_by_one_malloc_trim(cameras, ingest, caplog, monkeypatch):
    """A hand-back stops many sources at once: glibc gets their freed pages back a few seconds
    later (one trim for the lot), not at the next periodic trim (bench/takeover_memory.py)."""
    monkeypatch.setattr("ingest.worker.TRIM_AFTER_STOPS_S", 0.3)
    for name in ("trim-a", "trim-b"):
        await ingest.add(name, cameras.url("/h264"))
    for name in ("trim-a", "trim-b"):
        await ingest.wait_status(name, lambda s: s["state"] == "online", 10)
    assert "after sources stopped" not in caplog.text
    for name in ("trim-a", "trim-b"):
        await ingest.registry.delete(name, ADMIN)
    deadline = time.monotonic() + 5
    while caplog.text.count("after sources stopped") == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    assert caplog.text.count("malloc_trim(0) after sources stopped") == 1
