"""WHIP ingest against a real node: aiortc publishers (H.264 passed through, VP8 transcoded),
push keys, one publisher at a time, clean ends, and bad input answered with clear 4xx."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.support.whep_client import WhepError, WhepViewer
from tests.support.whip_publisher import WhipPublisher

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def node(make_relay_node):
    node = make_relay_node()
    node.add_camera("push", "whip", tps=7)
    node.add_camera("push2", "whip", tps=8)
    return node


def push_key(node, camera_id: str) -> str:
    status, body = node.request("POST", f"/api/admin/cameras/{camera_id}/push-key", token=node.admin_token)
    assert status == 201 and list(body) == ["push_key"], body
    return body["push_key"]


async def wait_state(node, camera_id: str, state: str, timeout: float = 20.0) -> dict:
    return await asyncio.to_thread(node.wait_state, camera_id, state, timeout)


async def test_h264_push_passes_through_to_viewers(node):
    assert node.status("push")["state"] == "waiting"
    key = push_key(node, "push")
    publisher = await WhipPublisher(node.url, "push", key, codec="H264").start()
    try:
        status = await wait_state(node, "push", "online")
        assert status["mode"] == "passthrough" and status["codec"] == "h264"
        # The size is known once a keyframe was decoded (the offer does not say it).
        deadline = asyncio.get_running_loop().time() + 10
        while (node.status("push")["width"], node.status("push")["height"]) != (640, 360):
            assert asyncio.get_running_loop().time() < deadline, node.status("push")
            await asyncio.sleep(0.2)
        viewer = await WhepViewer(node.url, "push").start()
        try:
            assert await viewer.first_frame_after() < 3.0
            await viewer.wait_frames(25)
            assert viewer.sizes[-1] == (640, 360)
        finally:
            await viewer.close()
    finally:
        assert await publisher.stop() == 200
    await wait_state(node, "push", "waiting")
    # The session is gone: a replayed DELETE is a clear 404.
    async with aiohttp.ClientSession() as session, session.delete(node.url + publisher.location) as response:
        assert response.status == 404
        assert (await response.json())["error"] == "not_found"


async def test_a_viewers_picture_loss_reaches_the_whip_sender(node):
    """A browser sender makes keyframes only when asked: a viewer's PLI (a frame NACK could not
    repair) must reach it through the relay, the bus and ingest, or that viewer waits for minutes."""
    from ingest.sources.webrtc_receiver import request_keyframe

    publisher = await WhipPublisher(node.url, "push", push_key(node, "push"), codec="H264").start()
    asked: list[float] = []
    sender = publisher.pc.getTransceivers()[0].sender
    own = sender._send_keyframe
    sender._send_keyframe = lambda: (asked.append(time.monotonic()), own())
    try:
        await wait_state(node, "push", "online")
        viewer = await WhepViewer(node.url, "push").start()
        try:
            await viewer.wait_frames(25)
            await asyncio.sleep(1.0)  # requests of the start (a new viewer, no picture yet) are over
            before = len(asked)
            receiver = viewer.pc.getTransceivers()[0].receiver
            for _ in range(5):  # a browser repeats its PLI while the picture is broken
                assert await request_keyframe(receiver)
                await asyncio.sleep(0.05)
            deadline = time.monotonic() + 2
            while len(asked) == before and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert len(asked) > before, "the viewer's PLI never reached the sender"
            await asyncio.sleep(0.5)
            assert len(asked) - before == 1, f"{len(asked) - before} keyframe requests for one lost picture"
        finally:
            await viewer.close()
    finally:
        await publisher.stop()


async def test_vp8_push_is_transcoded_once_to_h264(node):
    key = push_key(node, "push")
    publisher = await WhipPublisher(node.url, "push", key, codec="VP8").start()
    try:
        status = await wait_state(node, "push", "online")
        assert status["mode"] == "transcode" and status["codec"] == "vp8"
        viewer = await WhepViewer(node.url, "push").start()
        try:
            await viewer.wait_frames(25)
        finally:
            await viewer.close()
    finally:
        await publisher.stop()


async def test_push_keys_one_publisher_and_rotation(node):
    old = push_key(node, "push")
    new = push_key(node, "push")  # rotation: the old key stops working
    with pytest.raises(WhepError) as refused:
        await WhipPublisher(node.url, "push", old).start()
    assert refused.value.status == 401
    with pytest.raises(WhepError) as refused:
        await WhipPublisher(node.url, "push", None).start()
    assert refused.value.status == 401
    with pytest.raises(WhepError) as refused:
        await WhipPublisher(node.url, "push2", new).start()  # another camera's key
    assert refused.value.status == 401
    first = await WhipPublisher(node.url, "push", new).start()
    try:
        await wait_state(node, "push", "online")
        with pytest.raises(WhepError) as busy:
            await WhipPublisher(node.url, "push", new).start()
        assert busy.value.status == 409
    finally:
        await first.stop()
    assert new not in node.node.output() and old not in node.node.output()
    # A deleted camera's key dies with it, even if a camera with the same id comes back.
    assert node.request("DELETE", "/api/admin/cameras/push", token=node.admin_token)[0] == 204
    node.add_camera("push", "whip", tps=7)
    with pytest.raises(WhepError) as refused:
        await WhipPublisher(node.url, "push", new).start()
    assert refused.value.status == 401
    status, body = node.request("POST", "/api/admin/cameras/nope/push-key", token=node.admin_token)
    assert status == 404
    node.add_camera("rtsp-cam", "rtsp://127.0.0.1:9/x")
    status, body = node.request("POST", "/api/admin/cameras/rtsp-cam/push-key", token=node.admin_token)
    assert status == 409
    status, _ = node.request("POST", "/api/admin/cameras/push/push-key")
    assert status == 401


async def test_bad_offers_get_clear_4xx_and_the_node_keeps_serving(node):
    key = push_key(node, "push")
    live = await WhipPublisher(node.url, "push2", push_key(node, "push2")).start()
    try:
        await wait_state(node, "push2", "online")
        auth = {"Authorization": f"Bearer {key}"}
        sdp = {"Content-Type": "application/sdp"}
        audio_only = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                      "c=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=sendonly\r\n")
        h265_only = audio_only.replace("m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=video 9 UDP/TLS/RTP/SAVPF 96").replace(
            "a=rtpmap:111 opus/48000/2", "a=rtpmap:96 H265/90000") + "a=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" \
            "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\na=rtcp-mux\r\n"
        cases = [
            ({**auth, **sdp}, b"this is not sdp", 400),
            ({**auth, **sdp}, b"v=0\r\nnonsense", 400),
            ({**auth, **sdp}, audio_only.encode(), 400),
            ({**auth, **sdp}, h265_only.encode(), 400),
            ({**auth, **sdp}, b"v=0\r\n" + b"x" * 100_000, 413),
            ({**auth, "Content-Type": "text/plain"}, b"v=0\r\n", 415),
            ({"Authorization": "Bearer wrong", **sdp}, b"v=0\r\n", 401),
        ]
        async with aiohttp.ClientSession() as session:
            for headers, body, expected in cases:
                async with session.post(f"{node.url}/whip/push", data=body, headers=headers) as response:
                    text = await response.text()
                    assert response.status == expected, (body[:40], response.status, text)
                    assert (await response.json())["message"], text
            async with session.post(f"{node.url}/whip/nope", data=b"v=0\r\n", headers={**auth, **sdp}) as response:
                assert response.status == 404
            async with session.patch(f"{node.url}/whip/push/sessions/abc", data=b"a=x", headers=sdp) as response:
                assert response.status == 405
            async with session.options(f"{node.url}/whip/push") as response:
                assert response.status == 204 and response.headers["Accept-Post"] == "application/sdp"
        assert node.status("push")["state"] == "waiting"
        assert node.status("push2")["state"] == "online"  # the live publisher never noticed
        assert "Traceback" not in node.node.output() and key not in node.node.output()
    finally:
        await live.stop()


async def test_a_publisher_s_sound_is_taken(node):
    """The offer's audio is answered recvonly with Opus (was: inactive) and its sound reaches the
    camera's audio pipeline: the status names the codec and measures the sine's level."""
    key = push_key(node, "push")
    publisher = await WhipPublisher(node.url, "push", key, codec="H264", audio=True).start()
    try:
        answer = publisher.pc.remoteDescription.sdp
        audio_section = answer[answer.index("m=audio"):]
        assert "a=recvonly" in audio_section.split("m=", 2)[1] and "opus/48000" in audio_section.lower()
        await wait_state(node, "push", "online")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status = node.request("GET", "/api/admin/cameras/push", token=node.admin_token)[1]["status"]
            if status.get("audio_level_db") is not None:
                break
            await asyncio.sleep(0.2)
        assert status["audio_codec"] == "opus" and -13 < status["audio_level_db"] < -5, status
    finally:
        await publisher.stop()
