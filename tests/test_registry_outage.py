"""While the site's registry Redis is down (restarted, failing over), the relay goes on answering
reads from the last known state (the registry's mirror and the statuses as last read) and says
so in a `Pantau-Registry` header; writes get 503 with Retry-After, never a 500 with a traceback,
and nothing stored is lost. Found by bench/soak.py (issue 13 part 4): each registry restart gave
the admin listing a 500, then (after a first fix) a 503 — the soak's goal is zero 5xx."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import redis
from aiortc import RTCPeerConnection

from pantau.cameras import registry_keys as keys
from tests.conftest import RedisServer

pytestmark = pytest.mark.timeout(60)
CAMERA = {"id": "outage-cam", "name": "TPS 001 Gambir", "kind": "tps", "region": "31.71.01.1001", "tps": 1,
          "source": "rtsp://127.0.0.1:9/none", "public": True}


async def test_reads_answer_from_the_last_known_state_and_writes_get_503(start_node, tmp_path, node_env):
    registry = RedisServer(tmp_path)
    registry.start()
    relay = start_node("--redis-url", registry.url, "--data-dir", str(tmp_path / "relay"), "--node-id", "relay", command="relay")
    admin = {"Authorization": f"Bearer {node_env['PANTAU_ADMIN_TOKEN']}"}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{relay.url}/api/admin/cameras", json=CAMERA, headers=admin) as response:
                assert response.status == 201, await response.text()
            # What ingest would have reported: the listing must show it again during the outage.
            redis.Redis(port=registry.port).hset(keys.STATUS, CAMERA["id"], json.dumps({"state": "online", "reason": None}))
            reads = [("/api/admin/cameras", admin), ("/api/cameras", {}), (f"/api/cameras/{CAMERA['id']}", {}), ("/api/wall", {})]
            before = {}
            for path, headers in reads:
                async with http.get(relay.url + path, headers=headers) as response:
                    assert response.status == 200 and "Pantau-Registry" not in response.headers
                    before[path] = await response.json()
            assert before["/api/admin/cameras"]["cameras"][0]["status"]["state"] == "online"

            registry.stop(kill=True)
            for path, headers in reads:
                async with http.get(relay.url + path, headers=headers) as response:
                    body = await response.json()
                    assert response.status == 200, (path, response.status, body)
                    assert response.headers["Pantau-Registry"].startswith("unreachable since "), path
                    if path != "/api/wall":
                        assert body == before[path], path
            async with http.post(f"{relay.url}/api/admin/cameras", json=CAMERA | {"id": "outage-cam-2"}, headers=admin) as response:
                body = await response.json()
                assert response.status == 503 and response.headers["Retry-After"] == "2", body
                assert body["error"] == "unavailable" and "internal" not in body["message"]

            await asyncio.to_thread(registry.start)
            async with http.get(f"{relay.url}/api/admin/cameras", headers=admin) as response:
                body = await response.json()
                assert response.status == 200 and "Pantau-Registry" not in response.headers
                assert [c["id"] for c in body["cameras"]] == [CAMERA["id"]]  # stored before, kept; the refused one not there
    finally:
        registry.stop()
    assert "unexpected error" not in relay.output()
    assert "registry Redis unreachable: reads answer from the last known state" in relay.output()


async def _offer_sdp() -> tuple[RTCPeerConnection, str]:
    """A browser-like WHEP offer (recvonly video + audio); the test never completes ICE with it."""
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def test_viewers_come_and_go_while_the_registry_redis_is_away(start_node, tmp_path, node_env):
    """Found by bench/soak.py: an offer sent while the registry Redis was down got 503 (the
    session directory lives there) and left a session nobody could end; and a session that ended
    during the outage stayed in the directory for a day. Now the viewer is admitted, ends here,
    and the directory is brought up to date when the Redis is back."""
    (tmp_path / "registry").mkdir()
    (tmp_path / "bus").mkdir()
    registry, bus = RedisServer(tmp_path / "registry"), RedisServer(tmp_path / "bus", persistent=False)
    registry.start()
    bus.start()
    relay = start_node("--redis-url", registry.url, "--bus-redis-url", bus.url, "--data-dir", str(tmp_path / "relay"),
                       "--node-id", "relay", command="relay")
    admin = {"Authorization": f"Bearer {node_env['PANTAU_ADMIN_TOKEN']}"}
    peers = []
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{relay.url}/api/admin/cameras", json=CAMERA, headers=admin) as response:
                assert response.status == 201, await response.text()
            async with http.get(f"{relay.url}/api/cameras/{CAMERA['id']}") as response:
                assert response.status == 200  # (the relay's mirror has the camera before the outage)

            async def offer() -> str:
                pc, sdp = await _offer_sdp()
                peers.append(pc)
                async with http.post(f"{relay.url}/whep/{CAMERA['id']}", data=sdp, headers={"Content-Type": "application/sdp"}) as response:
                    body = await response.text()
                    assert response.status == 201, (response.status, body)
                    return response.headers["Location"]

            async def metrics() -> dict:
                async with http.get(f"{relay.url}/api/metrics", headers=admin) as response:
                    assert response.status == 200
                    return await response.json()

            before = await offer()  # registered at once
            registry.stop(kill=True)
            during = [await offer() for _ in range(3)]  # was: 503 "the site's Redis is unreachable"
            async with http.delete(relay.url + before) as response:
                assert response.status == 200, await response.text()
            async with http.delete(relay.url + during[0]) as response:
                assert response.status == 200, await response.text()
            state = await metrics()
            assert state["viewers"] == 2, state  # the two that left are gone from the relay at once
            assert state["session_directory_unwritten"] >= 1, state

            await asyncio.to_thread(registry.start)
            client = redis.Redis(port=registry.port, decode_responses=True)
            wanted = {location.rsplit("/", 1)[1] for location in during[1:]}
            for _ in range(100):
                held = {key.rsplit(":", 1)[1] for key in client.scan_iter(match=f"{keys.SESSION_DIRECTORY}:whep:*")}
                if held == wanted:
                    break
                await asyncio.sleep(0.1)
            assert held == wanted  # the two live ones registered, the two that left not there
            assert all(client.get(f"{keys.SESSION_DIRECTORY}:whep:{sid}") == "relay" for sid in wanted)
            assert (await metrics())["session_directory_unwritten"] == 0
            # Once back, a DELETE sent to any relay finds the session through the directory.
            async with http.delete(relay.url + during[1]) as response:
                assert response.status == 200
            assert client.exists(f"{keys.SESSION_DIRECTORY}:whep:{during[1].rsplit('/', 1)[1]}") == 0
    finally:
        for pc in peers:
            await pc.close()
        registry.stop()
        bus.stop()
    assert "session directory reachable again" in relay.output()
    assert "unexpected error" not in relay.output()
