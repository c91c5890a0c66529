"""Issue 15's capacity and bounds findings, against a real `pantau serve`: what one anonymous
client can take (WHEP slots, offers, API calls, SSE streams), how big and how slow a request
may be, and who the client is behind a trusted proxy. Each test reproduces the finding as it
was reported, with limits set low so the test stays small."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest

from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.test_whep import _offer_sdp

pytestmark = pytest.mark.timeout(120)
SMALL = {"width": 320, "height": 180, "fps": 10, "bitrate_kbps": 300, "gop_seconds": 1}
TRUST_LOOPBACK = {"http__trusted_proxies": '["127.0.0.1"]'}


@pytest.fixture(scope="module")
def camera():
    server = RtspCameraServer([Mount(path="/cam", **SMALL)]).start()
    yield server
    server.stop()


async def post_offer(node, camera_id: str, sdp: str, client: str | None = None, token: str | None = None) -> tuple[int, dict, str]:
    headers = {"Content-Type": "application/sdp"}
    if client:
        headers["X-Forwarded-For"] = client
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.post(f"{node.url}/whep/{camera_id}", data=sdp, headers=headers) as response:
        return response.status, dict(response.headers), await response.text()


async def get(node, path: str, client: str | None = None, token: str | None = None) -> tuple[int, dict]:
    headers = {"X-Forwarded-For": client} if client else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.get(node.url + path, headers=headers) as response:
        await response.read()
        return response.status, dict(response.headers)


async def test_offers_that_never_connect_cannot_take_the_node(make_relay_node, camera):
    """Finding 1: offers that never complete ICE held a slot for 20 s each, so one client closed a
    camera (200 offers) and then the node (1,000), admins included."""
    node = make_relay_node(relay__max_viewers="5", relay__operator_reserve="2", relay__connect_timeout_s="2",
                           limits__pending_offers_per_address="2", **TRUST_LOOPBACK)
    node.add_camera("cam", camera.url("/cam"))
    sdp = await _offer_sdp()
    first = [await post_offer(node, "cam", sdp) for _ in range(3)]
    assert [status for status, _, _ in first] == [201, 201, 429], first
    assert first[2][1]["Retry-After"] == "2" and "belum tersambung" in first[2][2]
    # Another address may still watch, up to the public's share of the node (5 - 2 reserved).
    assert (await post_offer(node, "cam", sdp, client="10.1.0.7"))[0] == 201
    status, headers, body = await post_offer(node, "cam", sdp, client="10.1.0.8")
    assert status == 503 and "maksimum" in body and headers["Retry-After"]
    # The control room is never locked out: the reserve is theirs.
    assert (await post_offer(node, "cam", sdp, token=node.admin_token))[0] == 201
    # Unconnected sessions go within connect_timeout_s (was 20 s); the address may offer again.
    deadline = time.monotonic() + 10
    while node.request("GET", "/api/metrics", token=node.admin_token)[1]["viewers"] and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert node.request("GET", "/api/metrics", token=node.admin_token)[1]["viewers"] == 0
    assert (await post_offer(node, "cam", sdp))[0] == 201


async def test_offers_are_rate_limited_per_address(make_relay_node, camera):
    node = make_relay_node(limits__offers__burst="2", limits__offers__per_s="0.05", **TRUST_LOOPBACK)
    node.add_camera("cam", camera.url("/cam"))
    sdp = await _offer_sdp()
    statuses = [(await post_offer(node, "cam", sdp))[0] for _ in range(3)]
    assert statuses == [201, 201, 429]
    status, headers, _ = await post_offer(node, "cam", sdp)
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 20
    assert headers["Access-Control-Allow-Origin"] == "*"  # a browser's WHEP client can read it
    assert (await post_offer(node, "cam", sdp, client="10.2.0.1"))[0] == 201  # another address
    assert (await post_offer(node, "cam", sdp, token=node.admin_token))[0] == 201  # staff: no limit


async def test_api_rate_limit_per_address_and_trusted_proxies(make_relay_node):
    """Every page and /api/ call of an anonymous client spends its bucket; X-Forwarded-For names
    the client only when it comes from a trusted proxy (anyone can send the header)."""
    node = make_relay_node(limits__api__burst="5", limits__api__per_s="0.05")
    statuses = [(await get(node, "/api/regions", client=f"10.3.0.{n}"))[0] for n in range(7)]
    assert statuses == [200] * 5 + [429] * 2  # XFF from an untrusted peer: one client
    status, headers = await get(node, "/api/regions")
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert (await get(node, "/viewer/css/pantau.css"))[0] == 200  # static files are not counted
    assert (await get(node, "/api/regions", token=node.admin_token))[0] == 200

    trusting = make_relay_node(limits__api__burst="2", limits__api__per_s="0.05", **TRUST_LOOPBACK)
    assert [(await get(trusting, "/healthz", client="10.4.0.1"))[0] for _ in range(3)] == [200, 200, 429]
    assert (await get(trusting, "/healthz", client="10.4.0.2"))[0] == 200
    # The nearest untrusted hop is the client: a spoofed first hop changes nothing.
    assert (await get(trusting, "/healthz", client="1.2.3.4, 10.4.0.1"))[0] == 429


async def test_event_streams_are_limited_per_address_and_node(make_relay_node):
    """Finding 4: 1,000 SSE streams from one client took the node's CPU."""
    node = make_relay_node(limits__events_per_address="2", limits__events_per_node="3", **TRUST_LOOPBACK)
    async with aiohttp.ClientSession() as http:
        streams = []

        async def open_stream(client: str | None = None, token: str | None = None) -> int:
            headers = {"X-Forwarded-For": client} if client else {}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            response = await http.get(node.url + "/api/events?counts=1", headers=headers)
            if response.status == 200:
                assert (await response.content.readuntil(b"\n\n")).startswith(b"retry:")
                streams.append(response)
            else:
                assert int(response.headers["Retry-After"]) > 0
                response.release()
            return response.status

        assert [await open_stream("10.5.0.1") for _ in range(3)] == [200, 200, 429]
        assert await open_stream("10.5.0.2") == 200
        assert await open_stream("10.5.0.3") == 503  # the public's share of the node is taken
        assert await open_stream(token=node.admin_token) == 200  # operators are not limited
        streams.pop(0).close()  # a stream that ends frees its place, within a couple of seconds
        deadline = time.monotonic() + 5
        while (status := await open_stream("10.5.0.1")) != 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
        assert status == 200
        for response in streams:
            response.close()


async def test_offers_with_many_media_sections_or_too_large_are_refused_before_parsing(relay_node, camera):
    """Finding 5: a 64 KB offer with 180 bundled m=video sections cost 0.55 s of event loop."""
    relay_node.add_camera("cam", camera.url("/cam"))
    sdp = await _offer_sdp()
    head, video = sdp.split("m=video", 1)
    many = head + "".join("m=video" + video.replace("a=mid:0", f"a=mid:{n}") for n in range(180))
    started = time.monotonic()
    status, _, body = await post_offer(relay_node, "cam", many[:16_000])
    assert status == 400 and "media sections" in body
    status, _, body = await post_offer(relay_node, "cam", many)
    assert status == 413
    assert time.monotonic() - started < 1.0
    assert (await post_offer(relay_node, "cam", sdp))[0] == 201


async def test_bodies_are_small_everywhere_but_the_import(relay_node):
    """Finding 6: POST /api/session read a 60 MB JSON body before answering 401."""
    big = b'{"token": "' + b"x" * (1024 * 1024) + b'"}'
    async with aiohttp.ClientSession() as http:
        async with http.post(relay_node.url + "/api/session", data=big, headers={"Content-Type": "application/json"}) as response:
            assert response.status == 413 and "256 KB" in (await response.json())["message"]

        async def chunked():
            for _ in range(64):
                yield b"x" * 16384

        async with http.post(relay_node.url + "/api/session", data=chunked(), headers={"Content-Type": "application/json"}) as response:
            assert response.status == 413
    # The admin's CSV import keeps its large limit: ~510 KB of rows are taken.
    rows = "".join(f"tps,31.71.01.100{k},{n},,rtsp://10.9.{k}.{n % 250}:554/{n}/{'s' * 200},,,true,true,\n"
                   for k in (1, 2) for n in range(1, 1000))
    csv = "kind,region,tps,name,source,transport,source_token,public,enabled,tags\n" + rows
    assert len(csv) > 2 * 256 * 1024 - 1024  # twice the small-body limit
    status, data = relay_node.request("POST", "/api/admin/cameras/import", csv.encode(), token=relay_node.admin_token, content_type="text/csv")
    assert status == 200 and data["created"] == 1998, data


def test_slow_headers_and_bodies_are_cut_off(make_relay_node):
    """Finding 13: 200 connections sending headers one byte at a time were all held after 100 s."""
    node = make_relay_node(http__header_timeout_s="1", http__body_timeout_s="1")
    host, port = node.url.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)))
    slow.settimeout(5)
    started = time.monotonic()
    closed_after = None
    for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
        try:
            slow.sendall(bytes([byte]))
            time.sleep(0.1)
            slow.setblocking(False)
            if slow.recv(1024) == b"":
                closed_after = time.monotonic() - started
                break
        except BlockingIOError:
            pass
        except OSError:  # reset by the server
            closed_after = time.monotonic() - started
            break
        finally:
            slow.setblocking(True)
    slow.close()
    assert closed_after is not None and closed_after < 4, closed_after

    body = socket.create_connection((host, int(port)))
    body.settimeout(5)
    body.sendall(b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"to")
    started = time.monotonic()
    reply = body.recv(4096)
    body.close()
    assert reply.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 4, reply[:200]


def test_session_cookie_is_secure_behind_a_trusted_tls_proxy(make_relay_node):
    """Finding 12: the cookie lost `Secure` behind a TLS-terminating proxy."""
    import urllib.request

    def sign_in(node, proto: str) -> str:
        request = urllib.request.Request(node.url + "/api/session", data=f'{{"token": "{node.admin_token}"}}'.encode(), method="POST",
                                         headers={"Content-Type": "application/json", "X-Forwarded-Proto": proto})
        with urllib.request.urlopen(request) as response:
            return response.headers["Set-Cookie"]

    trusting = make_relay_node(**TRUST_LOOPBACK)
    assert "Secure" in sign_in(trusting, "https")
    assert "Secure" not in sign_in(trusting, "http")
    untrusting = make_relay_node()
    assert "Secure" not in sign_in(untrusting, "https")  # anyone can send the header
