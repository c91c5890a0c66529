"""A WHEP pull source reading another Pantau node's WHEP output (a second process): passthrough,
a private camera behind a token, a wrong token (auth_failed), and the source going away and
coming back (the camera reconnects by itself)."""

from __future__ import annotations

import asyncio

import pytest

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
