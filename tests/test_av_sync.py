"""Lips and voices together at the viewer (issue 20: audio/video offset within 80 ms).

A GStreamer camera whose picture flashes white and whose sound beeps at the same instants of its
own clock (`Mount(flash=...)`, AAC sound as most IP cameras send it), through a real node (RTSP
ingest, the one Opus encode, the bus, WHEP) to an aiortc operator viewer. Every flash edge is
paired with its beep edge on the sender's wall clock, which is how a browser lines the tracks
up (tests/support/av_sync.py); after a camera restart (a new session, a new epoch on the bus)
the same viewer keeps watching and the edges must still meet."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.av_sync import REPORTS_AROUND_S, SyncViewer, edges_in_file, offsets_s
from tests.support.hls_client import playlist
from tests.test_hls_audio import copy_of

pytestmark = pytest.mark.timeout(150)

TARGET_S = 0.080
WATCH_S = 9.0  # nine edges (one a second); bounded even on a loaded machine
MIN_EDGES = 6
OPERATOR = "operator-token-for-av-sync-pull"


def report(viewer: SyncViewer, since: float) -> tuple[list[float], str]:
    """Offsets (beep minus flash, seconds) of the edges sent after `since` (time.time()), and a
    line for the failure message with the arrival offsets beside them."""
    edges = {kind: [(at, on) for at, on in found if at > since] for kind, found in viewer.edges().items()}
    arrived = {kind: [(at, on) for at, on in found if at > since] for kind, found in viewer.edges(by_arrival=True).items()}
    offsets = offsets_s(edges)
    rtp = [r for r, _, came in viewer.tracks["video"].samples if came > since]
    squeezed = sum(1 for a, b in zip(rtp, rtp[1:]) if (b - a) % (1 << 32) < 1800)  # frames retimed closer than 20 ms
    line = (f"offsets at the sender's clock (ms): {[round(o * 1000) for o in offsets]}; by arrival at aiortc: "
            f"{[round(o * 1000) for o in offsets_s(arrived)]}; {squeezed} of {len(rtp)} video frames retimed; edges {edges}")
    return offsets, line


def assert_together(offsets: list[float], line: str, stalls: int = 1) -> None:
    """Every edge within the target, but `stalls`: on this shared 2-core machine a track now and
    then stalls for a moment (seen: one picture 0.5 s late at load 8, the sound on time), which a
    viewer sees as a stutter, not as lips and voice apart; a steady offset fails on every edge."""
    assert len(offsets) >= MIN_EDGES, line
    assert sum(abs(o) > TARGET_S for o in offsets) <= stalls, line


async def test_flash_and_beep_stay_within_80_ms_at_the_viewer_across_a_camera_restart(make_relay_node, sound_cameras):
    node = make_relay_node()
    node.add_camera("flash", sound_cameras.url("/flash"))
    await asyncio.to_thread(node.wait_state, "flash", "online")
    viewer = await SyncViewer(node.url, "flash", token=node.admin_token, audio=True).start()
    try:
        await viewer.wait_frames(10)
        since = time.time() + 1.0  # the catch-up of the cached GOP is behind us
        await asyncio.sleep(WATCH_S)
        offsets, line = report(viewer, since)
        assert_together(offsets, line)

        await asyncio.to_thread(sound_cameras.restart, 0.5)
        frames = len(viewer.frames)
        await viewer.wait_frames(frames + 10, timeout=30)  # the same session plays on
        since = time.time() + REPORTS_AROUND_S  # the sender reports from before the restart are behind us
        await asyncio.sleep(REPORTS_AROUND_S + WATCH_S)
        offsets, line = report(viewer, since)
        assert_together(offsets, "after the restart: " + line)
    finally:
        await viewer.close()


def test_flash_and_beep_stay_within_80_ms_in_ll_hls(make_relay_node, sound_cameras, tmp_path):
    """LL-HLS players line the tracks up by their PTS alone: the camera's AAC and the picture
    must carry the same clock in the fMP4 parts."""
    node = make_relay_node(hls__linger_s="10")
    node.add_camera("flash", sound_cameras.url("/flash"), audio_public=True)
    node.wait_state("flash", "online")
    playlist(f"{node.url}/hls/flash")  # packaging starts on the first request
    time.sleep(2.5)  # the first segment may open before sound was seen: the next ones have it
    out = tmp_path / "copy.mp4"
    copy_of(f"{node.url}/hls/flash/index.m3u8", 8, out)
    edges = edges_in_file(out)
    offsets = offsets_s(edges)
    line = f"offsets by PTS (ms): {[round(o * 1000) for o in offsets]}; edges {edges}"
    assert_together(offsets, line)


async def test_flash_and_beep_stay_within_80_ms_through_a_whep_pull(make_relay_node, sound_cameras):
    """A camera pulled over WHEP from another node (its picture and its Opus as they come, placed
    on one clock by when each track's first packet arrived): still together at the viewer."""
    upstream = make_relay_node(operator_token=OPERATOR)
    upstream.add_camera("flash", sound_cameras.url("/flash"))
    node = make_relay_node()
    node.add_camera("pulled", f"whep+{upstream.url}/whep/flash", source_token=OPERATOR)
    await asyncio.to_thread(node.wait_state, "pulled", "online", 30)
    viewer = await SyncViewer(node.url, "pulled", token=node.admin_token, audio=True).start()
    try:
        await viewer.wait_frames(10)
        deadline = time.monotonic() + 20  # the pull places sound once the upstream's reports are steady
        while not viewer.tracks["audio"].samples and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        since = time.time() + 1.0
        await asyncio.sleep(WATCH_S)
        offsets, line = report(viewer, since)
        assert_together(offsets, line, stalls=2)  # two relays in the chain, each may stall once
    finally:
        await viewer.close()
