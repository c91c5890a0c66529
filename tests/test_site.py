"""A site of several processes on real Redis servers: a registry Redis (append-only) and a bus
Redis (no persistence), two `pantau ingest` workers splitting the cameras by kota, two
`pantau relay` processes, GStreamer cameras, aiortc WHEP viewers."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.conftest import RedisServer, RelayNode
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.support.sse import sse_messages
from tests.support.whep_client import WhepViewer

pytestmark = pytest.mark.timeout(180)
SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 600, "gop_seconds": 1}


class Site:
    def __init__(self, start_node, tmp_path, node_env):
        self.registry = RedisServer(self._dir(tmp_path, "registry-redis"))
        self.bus = RedisServer(self._dir(tmp_path, "bus-redis"), persistent=False)
        self.registry.start()
        self.bus.start()
        self.env = {**node_env, "PANTAU_RELAY__ICE__INCLUDE_LOOPBACK": "true", "PANTAU_INGEST__BACKOFF_INITIAL_S": "0.3",
                    "PANTAU_INGEST__BACKOFF_CAP_S": "1.0"}
        self.admin_token = node_env["PANTAU_ADMIN_TOKEN"]
        common = ["--redis-url", self.registry.url, "--bus-redis-url", self.bus.url]
        self.relays = [RelayNode(start_node(*common, "--data-dir", str(tmp_path / f"relay-{i}"), "--node-id", f"relay-{i}",
                                            env=self.env, command="relay"), self.admin_token) for i in "ab"]
        self.workers = [start_node(*common, "--data-dir", str(tmp_path / f"ingest-{i}"), "--node-id", f"ingest-{i}",
                                   "--cameras", kota, env=self.env, command="ingest")
                        for i, kota in (("a", "31.71"), ("b", "31.72"))]

    @staticmethod
    def _dir(tmp_path, name):
        path = tmp_path / name
        path.mkdir()
        return path

    def stop(self):
        self.registry.stop()
        self.bus.stop()

    def metrics(self, worker: int) -> dict:
        import urllib.request

        request = urllib.request.Request(self.workers[worker].url + "/api/metrics", headers={"Authorization": f"Bearer {self.admin_token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


@pytest.fixture
def site(start_node, tmp_path, node_env):
    site = Site(start_node, tmp_path, node_env)
    yield site
    site.stop()


@pytest.fixture
def cameras(tmp_path):
    server = RtspCameraServer([Mount(path="/pusat", **SMALL), Mount(path="/utara", **SMALL)], log_dir=tmp_path / "cameras").start()
    yield server
    server.stop()


async def wait_state(node: RelayNode, camera_id: str, state: str, timeout: float = 20.0) -> dict:
    return await asyncio.to_thread(node.wait_state, camera_id, state, timeout)


async def test_a_viewer_on_relay_b_plays_a_camera_ingested_by_worker_a(site, cameras):
    relay_a, relay_b = site.relays
    relay_a.add_camera("pusat", cameras.url("/pusat"), region="31.71.01.1001", tps=1)  # worker A (31.71)
    relay_a.add_camera("utara", cameras.url("/utara"), region="31.72.01.1001", tps=1)  # worker B (31.72)
    for camera_id in ("pusat", "utara"):
        await wait_state(relay_b, camera_id, "online")
    await asyncio.sleep(1.0)

    # No viewers: nothing goes to the bus.
    bus = aioredis.from_url(site.bus.url)
    try:
        assert [site.metrics(i)["bus"]["published_packets"] for i in (0, 1)] == [0, 0]
        assert await bus.exists("{cam:pusat}:media", "{cam:utara}:media") == 0
        assert site.metrics(0)["sources"] == 1 and site.metrics(1)["sources"] == 1  # split by kota

        first = await WhepViewer(relay_b.url, "pusat").start()
        second = None
        try:
            first_s = await first.first_frame_after()
            await first.wait_frames(25)
            # The GOP is now held in Redis: a viewer on the other relay starts from it at once.
            second = await WhepViewer(relay_a.url, "pusat").start()
            second_s = await second.first_frame_after()
            print(f"\nfirst picture: first viewer (demand starts) {first_s:.2f} s, next viewer (GOP in Redis) {second_s:.2f} s")
            assert second_s < 0.5
            assert first_s < 1.5
            assert site.metrics(0)["bus"]["published_packets"] > 0
            assert site.metrics(1)["bus"]["published_packets"] == 0  # nobody watches worker B's camera
            assert await bus.xlen("{cam:pusat}:media") <= 2 * 25 + 5  # trimmed at keyframes: about two GOPs

            # Viewer counts and tiles are the same on every relay.
            for relay in site.relays:
                deadline = time.monotonic() + 10
                while relay.request("GET", "/api/cameras/pusat")[1]["viewers"] != 2:
                    assert time.monotonic() < deadline, relay.request("GET", "/api/cameras/pusat")
                    await asyncio.sleep(0.2)
            await assert_real_tile(relay_b, "utara")
        finally:
            for viewer in (first, second):
                if viewer:
                    await viewer.close()
        # The last viewers left: after the relays' linger and the demand's expiry, publishing stops.
        await asyncio.sleep(12)
        before = site.metrics(0)["bus"]["published_packets"]
        await asyncio.sleep(2)
        assert site.metrics(0)["bus"]["published_packets"] == before
    finally:
        await bus.aclose()


async def assert_real_tile(relay: RelayNode, camera_id: str) -> None:
    """The latest keyframe (made by the worker that ingests the camera), not a placeholder."""
    deadline = time.monotonic() + 10
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"{relay.url}/api/cameras/{camera_id}/tile.jpg") as response:
                assert response.status == 200 and response.content_type == "image/jpeg"
                if not response.headers["ETag"].startswith('"p-'):
                    return
            assert time.monotonic() < deadline, "only placeholders"
            await asyncio.sleep(0.3)


async def test_status_from_worker_a_reaches_sse_on_relay_b(site, tmp_path):
    camera = RtspCameraServer([Mount(path="/cam", **SMALL)], log_dir=tmp_path / "sse-camera").start()
    relay_a, relay_b = site.relays
    try:
        relay_a.add_camera("kamera", camera.url("/cam"), region="31.71.01.1002", tps=3)
        await wait_state(relay_b, "kamera", "online")
        async with aiohttp.ClientSession() as http, http.get(f"{relay_b.url}/api/events?camera=kamera") as events:
            await asyncio.to_thread(camera.stop)
            state = await asyncio.wait_for(first_state(events, "offline"), 20)
            assert state["reason"] in ("unreachable", "no_data")
    finally:
        camera.stop()


async def first_state(events: aiohttp.ClientResponse, wanted: str) -> dict:
    async for event, data in sse_messages(events):
        if event == "status" and data["state"] == wanted:
            return data
    raise AssertionError("the event stream ended")


async def test_a_bus_redis_restart_interrupts_viewers_for_at_most_a_gop(site, cameras):
    relay_a, relay_b = site.relays
    relay_a.add_camera("pusat", cameras.url("/pusat"), region="31.71.01.1001", tps=1)
    await wait_state(relay_b, "pusat", "online")
    viewer = await WhepViewer(relay_b.url, "pusat").start()
    try:
        await viewer.wait_frames(25)
        await asyncio.to_thread(site.bus.restart)
        back = time.monotonic()
        count = len(viewer.frames)
        await viewer.wait_frames(count + 25, timeout=20)
        resumed = next(t for t in viewer.frames[count:] if t > back) - back
        print(f"\npicture back {resumed:.2f} s after the bus Redis returned (GOP 1 s)")
        assert resumed <= 1.0 + 1.5  # one GOP, plus the demand refresh and the reader's retry
        # Nothing else is lost: the registry and the cameras are as they were.
        status, camera = relay_a.request("GET", "/api/admin/cameras/pusat", token=site.admin_token)
        assert status == 200 and camera["status"]["state"] == "online"
    finally:
        await viewer.close()


async def test_a_delete_reaching_the_other_relay_ends_the_session(site, cameras):
    """Behind a load balancer the DELETE on a session's Location may land on any relay."""
    relay_a, relay_b = site.relays
    relay_a.add_camera("pusat", cameras.url("/pusat"), region="31.71.01.1001", tps=1)
    await wait_state(relay_b, "pusat", "online")
    viewer = await WhepViewer(relay_b.url, "pusat").start()
    try:
        await viewer.wait_frames(10)
        status, _ = relay_a.request("DELETE", viewer.location)
        assert status == 200
        deadline = time.monotonic() + 10
        while relay_b.request("GET", "/api/cameras/pusat")[1]["viewers"] != 0:
            assert time.monotonic() < deadline, "the session on relay B did not end"
            await asyncio.sleep(0.2)
        assert relay_a.request("DELETE", viewer.location)[0] == 404  # and only once
    finally:
        await viewer.close(send_delete=False)
