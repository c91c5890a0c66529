"""Who hears a camera (issue 20 part 3): `audio_public` (default off: a TPS microphone also hears
voters) decides whether the public is told of the camera's sound; its level is the operators'
alone (it would tell the public when someone in the room speaks). A real node and a GStreamer
camera with an AAC sine; the public listing, the camera, and the public event stream."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.support.sse import sse_messages

pytestmark = pytest.mark.timeout(90)



def wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError("never happened")


async def public_status_events(url: str, camera_id: str, count: int) -> list[dict]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/api/events?camera={camera_id}") as response:
        assert response.status == 200
        got = []
        async for event, data in sse_messages(response):
            if event == "status" and data["id"] == camera_id:
                got.append(data)
                if len(got) == count:
                    return got
    return got


async def test_sound_is_the_public_s_only_when_the_camera_says_so(relay_node, sound_cameras):
    node = relay_node
    created = node.add_camera("snd", sound_cameras.url("/snd"))
    assert created["audio_public"] is False  # off unless said
    admin = wait_for(lambda: (s := node.request("GET", "/api/admin/cameras/snd", token=node.admin_token)[1]["status"])
                     .get("audio_level_db") is not None and s)
    assert admin["audio_codec"] == "aac" and -13 < admin["audio_level_db"] < -5, admin

    status, listing = node.request("GET", "/api/cameras")
    assert status == 200
    public = next(c for c in listing["cameras"] if c["id"] == "snd")
    assert public["audio_public"] is False and public["status"]["audio_codec"] is None
    assert "audio_level_db" not in public["status"]
    one = node.request("GET", "/api/cameras/snd")[1]
    assert one["status"]["audio_codec"] is None and "audio_level_db" not in one["status"]
    events = await asyncio.wait_for(public_status_events(node.url, "snd", 2), 15)  # the level changes every second
    assert all(e.get("audio_codec") is None and "audio_level_db" not in e for e in events), events

    status, body = node.request("PATCH", "/api/admin/cameras/snd", {"audio_public": "sometimes"}, node.admin_token)
    assert status == 422 and "audio_public" in str(body), body
    status, body = node.request("PATCH", "/api/admin/cameras/snd", {"audio_public": True}, node.admin_token)
    assert status == 200 and body["audio_public"] is True, body
    public = next(c for c in node.request("GET", "/api/cameras")[1]["cameras"] if c["id"] == "snd")
    assert public["audio_public"] is True and public["status"]["audio_codec"] == "aac"
    assert "audio_level_db" not in public["status"]
    events = await asyncio.wait_for(public_status_events(node.url, "snd", 1), 15)
    assert events[0]["audio_codec"] == "aac" and "audio_level_db" not in events[0]
    status, csv = node.request("GET", "/api/admin/cameras.csv", token=node.admin_token)
    header, row = csv.splitlines()[0].split(","), next(line for line in csv.splitlines() if line.startswith("snd,"))
    assert "audio_public" in header and row.split(",")[header.index("audio_public")] == "true"
