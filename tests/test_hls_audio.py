"""Sound in LL-HLS (issue 20): a camera whose `audio_public` is on gets its sound in the public
HLS (AAC as the camera sent it; Opus for a G.711 camera), one it is off for gets none, and
turning it off takes the sound out of the next segments. A real node, GStreamer cameras with a
440 Hz sine, read back with ffmpeg (a standard HLS player) and decoded with PyAV."""

from __future__ import annotations

import io
import subprocess
import time

import av
import numpy as np
import pytest

from tests.support.hls_client import get, playlist
from tests.support.sound_cameras import mono, peak_hz
from tests.support.system_deps import require_binary

pytestmark = pytest.mark.timeout(150)



def copy_of(url: str, seconds: int, out) -> None:
    ffmpeg = require_binary("ffmpeg")
    run = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-i", url, "-t", str(seconds), "-c", "copy", "-y", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def sound_of(path) -> tuple[str, np.ndarray, int] | None:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        chunks = [mono(frame) for frame in container.decode(stream)]
        return stream.codec_context.name, np.concatenate(chunks), stream.codec_context.sample_rate


def init_tracks(base: str) -> list[str]:
    """The track kinds of the init segment the newest segment plays with."""
    status, _, parsed = playlist(base)
    assert status == 200 and parsed.maps
    status, _, init = get(f"{base}/{parsed.maps[-1]}")
    assert status == 200
    with av.open(io.BytesIO(init)) as container:
        return sorted(s.type for s in container.streams)


@pytest.mark.parametrize(("mount", "codec"), [("/snd", "aac"), ("/pcmu", "opus")])
def test_a_camera_the_public_may_hear_has_its_sound_in_hls(make_relay_node, sound_cameras, tmp_path, mount, codec):
    node = make_relay_node(hls__linger_s="5")
    node.add_camera("loud", sound_cameras.url(mount), audio_public=True)
    node.wait_state("loud", "online")
    base = f"{node.url}/hls/loud"
    playlist(base)  # packaging starts on the first request
    time.sleep(2.5)  # the first segment may open before sound was seen: the next ones have it
    out = tmp_path / "copy.mp4"
    copy_of(f"{base}/index.m3u8", 6, out)
    found = sound_of(out)
    assert found is not None, "no sound in the HLS copy"
    name, samples, rate = found
    assert name == codec and rate == 48_000
    assert abs(peak_hz(samples[-rate * 2:], rate) - 440) < 5
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264" and sum(1 for _ in container.demux(video)) >= 30


def test_no_sound_in_hls_unless_the_public_may_hear_it_and_off_at_the_next_segments(make_relay_node, sound_cameras, tmp_path):
    node = make_relay_node(hls__linger_s="30")
    node.add_camera("quiet", sound_cameras.url("/snd"))  # audio_public: false by default
    node.add_camera("turned", sound_cameras.url("/snd"), audio_public=True, tps=11)
    node.wait_state("quiet", "online")
    node.wait_state("turned", "online")
    for camera_id in ("quiet", "turned"):
        playlist(f"{node.url}/hls/{camera_id}")
    time.sleep(3)
    assert init_tracks(f"{node.url}/hls/quiet") == ["video"]
    assert init_tracks(f"{node.url}/hls/turned") == ["audio", "video"]
    out = tmp_path / "quiet.mp4"
    copy_of(f"{node.url}/hls/quiet/index.m3u8", 3, out)
    assert sound_of(out) is None

    status, body = node.request("PATCH", "/api/admin/cameras/turned", {"audio_public": False}, node.admin_token)
    assert status == 200, body
    deadline = time.monotonic() + 10
    while init_tracks(f"{node.url}/hls/turned") != ["video"]:
        assert time.monotonic() < deadline, "the sound stayed in the new segments"
        time.sleep(0.3)
