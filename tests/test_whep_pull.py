"""A WHEP pull source reading another Pantau node's WHEP output (a second process): passthrough,
a private camera behind a token, a wrong token (auth_failed), the source going away and
coming back (the camera reconnects by itself), and the sound taken as Opus."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from tests.support.sound_cameras import peak_hz
from tests.support.whep_client import WhepViewer

pytestmark = pytest.mark.timeout(150)
OPERATOR = "operator-token-for-pull-5150"


async def wait_state(node, camera_id: str, state: str, timeout: float = 20.0) -> dict:
    return await asyncio.to_thread(node.wait_state, camera_id, state, timeout)


async def test_whep_pull_from_another_pantau_node(make_relay_node):
    upstream = make_relay_node(operator_token=OPERATOR)  # e.g. another site, or a kecamatan box
    upstream.add_camera("src", "demo", tps=1)
    upstream.add_camera("private", "demo", tps=2, public=False)
    await wait_state(upstream, "src", "online")

    node = make_relay_node()
    node.add_camera("pulled", f"whep+{upstream.url}/whep/src", tps=3)
    node.add_camera("pulled-private", f"whep+{upstream.url}/whep/private", tps=4, source_token=OPERATOR)
    node.add_camera("wrong-token", f"whep+{upstream.url}/whep/private", tps=5, source_token="not-the-token")
    status = await wait_state(node, "pulled", "online")
    assert status["codec"] == "h264" and status["mode"] == "passthrough"
    await wait_state(node, "pulled-private", "online")
    refused = await wait_state(node, "wrong-token", "offline")
    assert refused["reason"] == "auth_failed"

    viewer = await WhepViewer(node.url, "pulled").start()
    try:
        await viewer.wait_frames(20)
        assert upstream.request("GET", "/api/cameras/src")[1]["viewers"] == 1  # one pull, whatever the viewers downstream

        # The upstream node goes away: offline; it comes back: the pull resumes by itself.
        await asyncio.to_thread(upstream.node.stop)
        upstream.node.args += ["--port", upstream.url.rsplit(":", 1)[1]]  # back on the same address
        gone = await wait_state(node, "pulled", "offline")
        assert gone["reason"] in ("no_data", "unreachable"), gone
        await asyncio.to_thread(upstream.node.start)
        await wait_state(node, "pulled", "online", timeout=30)
        before = len(viewer.frames)
        await viewer.wait_frames(before + 20)  # the same viewer session sees the picture again
    finally:
        await viewer.close()
    log = node.node.output()
    assert OPERATOR not in log and "not-the-token" not in log


async def test_whep_pull_takes_the_sound_as_opus(make_relay_node, sound_cameras):
    """The upstream's Opus (made once there from the camera's AAC) becomes the pulled camera's
    Opus track as it is; its viewers hear the 440 Hz sine."""
    upstream = make_relay_node(operator_token=OPERATOR)
    upstream.add_camera("snd", sound_cameras.url("/snd"), tps=1)  # audio_public off: the operator token hears it
    await wait_state(upstream, "snd", "online")
    node = make_relay_node()
    node.add_camera("pulled-sound", f"whep+{upstream.url}/whep/snd", tps=2, source_token=OPERATOR)
    await wait_state(node, "pulled-sound", "online")
    viewer = await WhepViewer(node.url, "pulled-sound", token=node.admin_token, audio=True).start()
    try:
        await viewer.wait_frames(10)
        # The pulled sound starts once two sender reports of the upstream agree (its place on the
        # picture's clock): a few seconds after the pull connected, more on a loaded machine.
        deadline = time.monotonic() + 20
        while sum(len(chunk) for chunk in viewer.sound) <= 48_000 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        samples = np.concatenate(viewer.sound) if viewer.sound else np.zeros(0)
        assert len(samples) > 48_000, len(samples)  # more than a second of sound
        assert abs(peak_hz(samples[-48_000:], 48_000) - 440) < 5
    finally:
        await viewer.close()
    status = node.status("pulled-sound")
    assert status["audio_codec"] == "opus", status
