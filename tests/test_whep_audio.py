"""Sound to WHEP viewers (issue 20): an operator always gets the camera's Opus, the public only
where `audio_public` says so, and then no track at all otherwise (the answer's audio is
inactive). A real node, a GStreamer camera with a 440 Hz AAC sine (ingest makes the Opus), aiortc
viewers that decode what arrives."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.support.sound_cameras import peak_hz
from tests.support.whep_client import WhepViewer

pytestmark = pytest.mark.timeout(120)



def audio_direction(answer: str) -> str | None:
    if "m=audio" not in answer:
        return None
    section = answer[answer.index("m=audio"):].split("\nm=", 1)[0]
    return next((d for d in ("sendonly", "inactive", "sendrecv", "recvonly") if f"a={d}" in section), None)


async def heard(viewer: WhepViewer, seconds: float) -> np.ndarray:
    await asyncio.sleep(seconds)
    return np.concatenate(viewer.sound) if viewer.sound else np.zeros(0)


async def test_operators_always_hear_the_public_only_when_allowed(make_relay_node, sound_cameras):
    node = make_relay_node()
    node.add_camera("snd", sound_cameras.url("/snd"))  # audio_public: false
    await asyncio.to_thread(node.wait_state, "snd", "online")
    operator = await WhepViewer(node.url, "snd", token=node.admin_token, audio=True).start()
    public = await WhepViewer(node.url, "snd", audio=True).start()
    try:
        assert audio_direction(operator.pc.remoteDescription.sdp) == "sendonly"
        assert audio_direction(public.pc.remoteDescription.sdp) == "inactive"
        await operator.wait_frames(10)
        await public.wait_frames(10)  # the picture as before
        samples = await heard(operator, 3.0)
        assert len(samples) > 48_000, len(samples)  # more than a second of sound in 3 s
        assert abs(peak_hz(samples[-48_000:], 48_000) - 440) < 5
        assert public.sound == [] and public.audio_track is None
    finally:
        await operator.close()
        await public.close()

    status, body = node.request("PATCH", "/api/admin/cameras/snd", {"audio_public": True}, node.admin_token)
    assert status == 200, body
    allowed = await WhepViewer(node.url, "snd", audio=True).start()
    video_only = await WhepViewer(node.url, "snd").start()  # a viewer that asks for no sound gets none
    try:
        assert audio_direction(allowed.pc.remoteDescription.sdp) == "sendonly"
        assert audio_direction(video_only.pc.remoteDescription.sdp) is None
        samples = await heard(allowed, 3.0)
        assert len(samples) > 48_000 and abs(peak_hz(samples[-48_000:], 48_000) - 440) < 5
        await video_only.wait_frames(10)
    finally:
        await allowed.close()
        await video_only.close()
