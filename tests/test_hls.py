"""LL-HLS from a real node (RTSP camera -> ingest -> bus -> relay/hls): what a standard player
(ffmpeg) reads, what PyAV decodes, the playlist's LL-HLS content, blocking reload, and a
camera restart seen by a client that keeps polling."""

from __future__ import annotations

import io
import subprocess
import time

import av
import pytest

from tests.support.hls_client import Playlist, get, playlist
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.support.system_deps import require_binary

pytestmark = pytest.mark.timeout(120)
SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 800}


@pytest.fixture
def camera(tmp_path):
    server = RtspCameraServer([Mount(path="/cam", gop_seconds=1, **SMALL)], log_dir=tmp_path / "cam").start()
    yield server
    server.stop()


@pytest.fixture
def make_hls_node(make_relay_node, camera):
    def make(linger_s: str = "5"):
        node = make_relay_node(hls__linger_s=linger_s)
        node.add_camera("cam", camera.url("/cam"), public=True)
        node.wait_state("cam", "online")
        node.base = f"{node.url}/hls/cam"
        return node
    return make


@pytest.fixture
def hls_node(make_hls_node):
    return make_hls_node()


def first_playlist(base: str) -> Playlist:
    status, headers, parsed = playlist(base)
    assert status == 200, status
    return parsed


def test_ffmpeg_reads_ten_seconds_as_standard_hls_and_pyav_decodes_the_segments(hls_node, tmp_path):
    ffmpeg = require_binary("ffmpeg")
    first_playlist(hls_node.base)  # packaging starts on the first request
    out = tmp_path / "copy.mp4"
    run = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-i", f"{hls_node.base}/index.m3u8",
                          "-t", "10", "-c", "copy", "-y", str(out)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr
    with av.open(str(out)) as copy:
        stream = copy.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = sum(1 for _ in copy.decode(stream))
    assert frames >= 9.5 * 25, frames  # 10 s at 25 fps

    # Each segment, with the init segment in front, is a valid H.264 stream on its own.
    parsed = first_playlist(hls_node.base)
    status, headers, init = get(f"{hls_node.base}/{parsed.maps[-1]}")
    assert status == 200 and "immutable" in headers["Cache-Control"]
    for uri in parsed.segments[-2:]:
        status, headers, data = get(f"{hls_node.base}/{uri}")
        assert status == 200 and "immutable" in headers["Cache-Control"]
        with av.open(io.BytesIO(init + data)) as segment:
            decoded = list(segment.decode(video=0))
        assert len(decoded) >= 20 and decoded[0].key_frame and (decoded[0].width, decoded[0].height) == (640, 360)


def test_playlist_is_ll_hls_and_blocking_reload_waits_for_the_part(hls_node):
    status, headers, parsed = playlist(hls_node.base)
    assert headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
    assert headers["Cache-Control"] == "public, max-age=1"
    text = parsed.text
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600" in text
    assert "#EXT-X-PART-INF:PART-TARGET=0.200" in text and "#EXT-X-PROGRAM-DATE-TIME:" in text
    assert parsed.parts and parsed.preload_hint and parsed.segments and parsed.maps
    assert any(independent for _, independent in parsed.parts)

    # The part after the last listed one does not exist yet: the request returns once it does.
    msn, part = parsed.last_msn, parsed.parts_of_last
    status, headers, later = playlist(hls_node.base, msn, part)
    assert status == 200 and headers["Cache-Control"].startswith("public, max-age=")
    assert later.last_msn > msn or later.parts_of_last > part
    assert later.preload_hint != parsed.preload_hint

    # Two segments ahead is allowed (and waited for); three is a 400 at once.
    status, _, ahead = playlist(hls_node.base, later.last_msn + 2)
    assert status == 200 and ahead.last_msn >= later.last_msn + 2
    assert playlist(hls_node.base, ahead.last_msn + 3)[0] == 400

    # The preload hint is held until the part exists, then it is the part's bytes.
    _, _, current = playlist(hls_node.base)
    status, headers, data = get(f"{hls_node.base}/{current.preload_hint}")
    assert status == 200 and data[4:8] == b"moof" and "immutable" in headers["Cache-Control"]
    assert get(f"{hls_node.base}/part-1.m4s")[0] == 404  # long gone (or never was)
    assert get(f"{hls_node.base.replace('/cam', '/nope')}/index.m3u8")[0] == 404


def test_camera_restart_continues_the_playlist_with_a_discontinuity(make_hls_node, camera):
    # A linger shorter than a blocking request's hold: a held request must keep the camera.
    hls_node = make_hls_node(linger_s="2")
    _, _, before = playlist(hls_node.base)
    statuses = set()

    camera.stop(kill=True)
    # While the camera is away the playlist stays (200); a blocking request for a part that does
    # not come answers 503 (retry) within three target durations, never 404.
    started = time.monotonic()
    status, headers, _ = playlist(hls_node.base, before.last_msn + 2)
    waited = time.monotonic() - started
    assert status == 503 and headers["Cache-Control"] == "no-store" and 1 < waited < 10, (status, waited)
    statuses.add(playlist(hls_node.base)[0])
    camera.start()

    deadline = time.monotonic() + 30
    seen = None
    while time.monotonic() < deadline:
        status, _, parsed = playlist(hls_node.base)
        statuses.add(status)
        if status == 200 and parsed.discontinuities and parsed.last_msn > before.last_msn + 1:
            seen = parsed
            break
        time.sleep(0.3)
    assert statuses == {200}, statuses
    assert seen is not None, f"no EXT-X-DISCONTINUITY after the camera came back: {parsed.text if parsed else status}"
    assert seen.media_sequence >= before.media_sequence
    # The segments after the discontinuity play: their init and first segment decode.
    after = seen.text.split("#EXT-X-DISCONTINUITY")[1]
    segment = next(line for line in after.splitlines() if line.startswith("seg-"))
    init = get(f"{hls_node.base}/{seen.maps[-1]}")[2]
    with av.open(io.BytesIO(init + get(f"{hls_node.base}/{segment}")[2])) as media:
        assert next(media.decode(video=0)).key_frame


def hls_summary(node) -> dict:
    status, metrics = node.request("GET", "/api/metrics", token=node.admin_token)
    assert status == 200
    return metrics["hls"]


def test_packaging_stops_after_the_last_request_and_a_new_run_never_reuses_a_name(hls_node):
    _, _, first = playlist(hls_node.base)
    assert hls_summary(hls_node)["packaging"] == ["cam"]
    old_part = first.parts[-1][0]
    old_bytes = get(f"{hls_node.base}/{old_part}")[2]
    deadline = time.monotonic() + 20  # hls.linger_s is 5 s here
    while hls_summary(hls_node)["packaging"] and time.monotonic() < deadline:
        time.sleep(0.25)
    assert hls_summary(hls_node) == {"serving": [], "packaging": []}

    _, _, again = playlist(hls_node.base)  # a new run
    assert again.media_sequence > first.last_msn
    numbers = [int(uri.split("-")[1].split(".")[0]) for uri, _ in again.parts]
    assert min(numbers) > int(old_part.split("-")[1].split(".")[0])
    assert again.discontinuity_sequence == first.discontinuity_sequence + 1
    status, _, data = get(f"{hls_node.base}/{old_part}")
    assert status == 404 or data == old_bytes  # a cached URL never names other bytes


def test_public_sees_only_cameras_inside_their_window_and_staff_see_all(hls_node, camera):
    hls_node.add_camera("tertutup", camera.url("/cam"), public=False)
    hls_node.add_camera("nanti", camera.url("/cam"), public=True, public_windows=["2099-01-01T13:00/"])
    staff = {"Authorization": f"Bearer {hls_node.admin_token}"}
    for camera_id, public_status in (("tertutup", 404), ("nanti", 403)):
        hls_node.wait_state(camera_id, "online")
        url = f"{hls_node.url}/hls/{camera_id}/index.m3u8"
        status, headers, body = get(url)
        assert status == public_status and headers["Cache-Control"] == "no-store", (camera_id, status)
        if public_status == 403:
            assert "jam tayang publik" in body.decode()
        status, _, body = get(url, headers=staff)
        assert status == 200 and b"#EXT-X-PART:" in body
        assert get(f"{hls_node.url}/hls/{camera_id}/{Playlist.parse(body.decode()).parts[-1][0]}")[0] == public_status
