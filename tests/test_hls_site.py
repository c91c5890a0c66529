"""LL-HLS on a site: two relays behind Debian's nginx with the project's config
(configs/nginx-site.conf). One camera, 50 concurrent LL-HLS players through nginx: the relays
(the origin) see about one request per part, counted at the origin; a player alternating
between the relays gets the same names and the same bytes, and keeps playing."""

from __future__ import annotations

import asyncio
import re
import signal
import time
import urllib.request

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.support.hls_client import Playlist
from tests.support.nginx_front import NginxFront
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.test_site import Site

pytestmark = pytest.mark.timeout(180)
SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 600, "gop_seconds": 1}
PART_ROUTE = "/hls/{camera}/part-{number}.m4s"
PLAYLIST_ROUTE = "/hls/{camera}/index.m3u8"


@pytest.fixture
def hls_site(start_node, tmp_path, node_env):
    camera = RtspCameraServer([Mount(path="/pusat", **SMALL)], log_dir=tmp_path / "camera").start()
    site = Site(start_node, tmp_path, {**node_env, "PANTAU_HLS__LINGER_S": "4"})
    relay_a = site.relays[0]
    relay_a.add_camera("pusat", camera.url("/pusat"), region="31.71.01.1001", tps=1, public=True)
    relay_a.wait_state("pusat", "online")
    relays = [re.sub(r"^http://", "", r.url) for r in site.relays]
    front = NginxFront(tmp_path / "nginx", relays, re.sub(r"^http://", "", site.workers[0].url)).start()
    yield site, front
    front.stop()
    site.stop()
    camera.stop()


def origin_requests(site: Site, route: str) -> int:
    """Answered 200s of `route` over both relays (their /metrics)."""
    total = 0
    for relay in site.relays:
        request = urllib.request.Request(relay.url + "/metrics", headers={"Authorization": f"Bearer {site.admin_token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("pantau_http_requests_total{") and f'route="{route}"' in line and 'status="200"' in line:
                    total += int(float(line.rsplit(" ", 1)[1]))
    return total


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with session.get(url) as response:
        return response.status, await response.read()


async def ll_player(session: aiohttp.ClientSession, base: str, seconds: float, parts: dict[str, bytes], keys: set[str]) -> int:
    """Like hls.js in low-latency mode: a blocking reload for the next part, and the preload hint
    at the same time. Returns the parts it got."""
    status, body = await fetch(session, f"{base}/index.m3u8")
    assert status == 200
    playlist = Playlist.parse(body.decode())
    got = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        key = f"index.m3u8?_HLS_msn={playlist.last_msn}&_HLS_part={playlist.parts_of_last}"
        keys.add(key)
        (status, body), (part_status, data) = await asyncio.gather(fetch(session, f"{base}/{key}"),
                                                                   fetch(session, f"{base}/{playlist.preload_hint}"))
        assert status == 200 and part_status == 200, (status, part_status)
        assert parts.setdefault(playlist.preload_hint, data) == data  # one name, one content
        got += 1
        playlist = Playlist.parse(body.decode())
    return got


async def test_fifty_players_through_nginx_cost_the_origin_about_one_request_per_part(hls_site):
    site, front = hls_site
    base = f"{front.url}/hls/pusat"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for _ in range(50):  # packaging starts on the first request
            status, _ = await fetch(session, f"{base}/index.m3u8")
            if status == 200:
                break
            await asyncio.sleep(0.5)
        parts_before, playlists_before = origin_requests(site, PART_ROUTE), origin_requests(site, PLAYLIST_ROUTE)
        parts: dict[str, bytes] = {}
        keys: set[str] = set()
        got = await asyncio.gather(*(ll_player(session, base, 6.0, parts, keys) for _ in range(50)))
    origin_parts = origin_requests(site, PART_ROUTE) - parts_before
    origin_playlists = origin_requests(site, PLAYLIST_ROUTE) - playlists_before
    served = sum(got)
    print(f"players got {served} parts ({len(parts)} distinct); origin answered {origin_parts} part and "
          f"{origin_playlists} playlist requests ({len(keys)} distinct blocking requests)")
    assert min(got) >= 15  # every player kept up with live (6 s of 200 ms parts)
    assert origin_parts <= 3 * len(parts)
    assert origin_playlists <= 3 * len(keys) + 50  # + each player's first, plain playlist (1 s cache)
    assert served >= 10 * origin_parts


async def test_a_player_alternating_between_relays_gets_the_same_names_and_bytes(hls_site):
    site, _ = hls_site
    bases = [f"{relay.url}/hls/pusat" for relay in site.relays]
    async with aiohttp.ClientSession() as session:
        for _ in range(40):
            status, body = await fetch(session, f"{bases[0]}/index.m3u8")
            if status == 200:
                break
            await asyncio.sleep(0.5)
        playlist = Playlist.parse(body.decode())
        previous_number = None
        for turn in range(30):
            here, there = bases[turn % 2], bases[(turn + 1) % 2]
            query = f"index.m3u8?_HLS_msn={playlist.last_msn}&_HLS_part={playlist.parts_of_last}"
            status, body = await fetch(session, f"{here}/{query}")
            assert status == 200
            playlist = Playlist.parse(body.decode())
            status, other = await fetch(session, f"{there}/{query}")
            assert status == 200
            other = Playlist.parse(other.decode())
            # The same names for the same media (one may already list a newer part).
            shared = [p for p in playlist.parts if p in other.parts]
            assert shared and shared == [p for p in other.parts if p in playlist.parts]
            assert set(playlist.segments) & set(other.segments)
            newest = playlist.parts[-1][0]
            (s1, from_here), (s2, from_there) = await asyncio.gather(fetch(session, f"{here}/{newest}"), fetch(session, f"{there}/{newest}"))
            assert s1 == s2 == 200 and from_here == from_there and from_here[4:8] == b"moof"
            number = int(re.search(r"part-(\d+)", newest).group(1))
            assert previous_number is None or number == previous_number + 1  # no part skipped or repeated
            previous_number = number
        init = playlist.maps[-1]
        assert (await fetch(session, f"{bases[0]}/{init}")) == (await fetch(session, f"{bases[1]}/{init}"))
        segment = playlist.segments[-1]
        assert (await fetch(session, f"{bases[0]}/{segment}")) == (await fetch(session, f"{bases[1]}/{segment}"))

    # One packager for the camera: the lease names one relay, and only that one packages.
    holder = await lease_holder(site)
    assert holder in ("relay-a", "relay-b")
    packaging = [relay.request("GET", "/api/metrics", token=site.admin_token)[1]["hls"]["packaging"] for relay in site.relays]
    assert packaging == ([["pusat"], []] if holder == "relay-a" else [[], ["pusat"]])
    # Nobody asks any more: after hls.linger_s (4 s) packaging stops and the lease is given back.
    def packaging_anywhere() -> bool:
        return any(relay.request("GET", "/api/metrics", token=site.admin_token)[1]["hls"]["packaging"] for relay in site.relays)

    deadline = time.monotonic() + 20  # the lease goes first, the packager's task ends just after
    while (await lease_holder(site) is not None or await asyncio.to_thread(packaging_anywhere)) and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    assert await lease_holder(site) is None
    assert not await asyncio.to_thread(packaging_anywhere)


async def lease_holder(site: Site) -> str | None:
    bus = aioredis.from_url(site.bus.url)
    try:
        holder = await bus.get("{cam:pusat}:hls:lease")
    finally:
        await bus.aclose()
    return holder.decode().split(":")[0] if holder else None


async def test_when_the_packaging_relay_dies_the_other_continues_the_playlist(hls_site):
    site, _ = hls_site
    bases = [f"{relay.url}/hls/pusat" for relay in site.relays]
    async with aiohttp.ClientSession() as session:
        for _ in range(40):  # both relays have viewers
            statuses = [(await fetch(session, f"{base}/index.m3u8"))[0] for base in bases]
            if statuses == [200, 200]:
                break
            await asyncio.sleep(0.5)
        holder = await lease_holder(site)
        dead, alive = (0, 1) if holder == "relay-a" else (1, 0)
        _, body = await fetch(session, f"{bases[alive]}/index.m3u8")
        before = Playlist.parse(body.decode())
        site.relays[dead].node.stop(signal.SIGKILL)

        seen, statuses = None, set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # a player on the survivor keeps polling
            status, body = await fetch(session, f"{bases[alive]}/index.m3u8")
            statuses.add(status)
            playlist = Playlist.parse(body.decode()) if status == 200 else None
            if playlist and playlist.discontinuities and playlist.last_msn > before.last_msn + 1:
                seen = playlist
                break
            await asyncio.sleep(0.3)
    assert statuses == {200}, statuses
    assert seen is not None, "the survivor never continued the playlist"
    assert seen.media_sequence >= before.media_sequence
    assert await lease_holder(site) == ("relay-b" if alive == 1 else "relay-a")
