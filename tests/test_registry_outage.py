"""While the site's registry Redis is down (restarted, failing over), the relay answers 503 with
Retry-After, not a 500 "internal error" with a traceback in the log: a page or a WHEP player can
retry, and the log says what happened. Found by bench/soak.py (issue 13 part 4): each registry
restart gave the admin listing and WHEP offers a 500."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.conftest import RedisServer

pytestmark = pytest.mark.timeout(60)
OFFER = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=recvonly\r\n"


async def test_registry_down_is_503_with_retry_after(start_node, tmp_path, node_env):
    registry = RedisServer(tmp_path)
    registry.start()
    relay = start_node("--redis-url", registry.url, "--data-dir", str(tmp_path / "relay"), "--node-id", "relay", command="relay")
    admin = {"Authorization": f"Bearer {node_env['PANTAU_ADMIN_TOKEN']}"}
    calls = [("GET", "/api/admin/cameras", {"headers": admin}), ("GET", "/api/cameras", {}),
             ("POST", "/whep/cam01", {"data": OFFER, "headers": {"Content-Type": "application/sdp"}})]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{relay.url}/api/admin/cameras", headers=admin) as response:
                assert response.status == 200
            registry.stop(kill=True)
            for method, path, kwargs in calls:
                async with http.request(method, relay.url + path, **kwargs) as response:
                    body = await response.json()
                    assert response.status == 503, (path, response.status, body)
                    assert response.headers["Retry-After"] == "2"
                    assert body["error"] == "unavailable" and "internal" not in body["message"]
            await asyncio.to_thread(registry.start)
            async with http.get(f"{relay.url}/api/admin/cameras", headers=admin) as response:
                assert response.status == 200
    finally:
        registry.stop()
    assert "unexpected error" not in relay.output()
