"""Recorded sound (issue 20 part 2, issue 18): a recorded GStreamer camera with a 440 Hz sine has
its AAC in every segment beside the picture (decoded with PyAV: the peak is at 440 Hz), the
chain names it and still verifies, an operator's export has the sound in video.mp4; the public
(where the site opens recordings) never gets the sound of a camera whose `audio_public` is off:
its playlist and segment files are the picture only and its export is refused, and turning
`audio_public` on gives it the sound."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest

from outputs.recording.verify import verify
from tests.support.sound_cameras import mono, peak_hz
from tests.support.system_deps import require_binary
from tests.test_metrics import wait_for
from tests.test_recording import segments
from tests.test_recording_playback import fetch

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def loud_node(make_relay_node, sound_cameras):
    node = make_relay_node(recording__segment_s="2", recording__sign_every_s="2", recording__public_playback="true")
    node.add_camera("loud", sound_cameras.url("/snd"), record=True)  # public, audio_public off (the default)
    node.data_dir = Path(node.node.args[node.node.args.index("--data-dir") + 1])
    node.recordings = node.data_dir / "recordings"
    return node


def streams_of(data: bytes) -> list[str]:
    with av.open(io.BytesIO(data)) as container:
        return sorted(s.type for s in container.streams)


def sound_peak(source) -> tuple[str, float]:
    """The sound's codec and its strongest frequency, decoded with PyAV."""
    with av.open(source) as container:
        stream = container.streams.audio[0]
        samples = np.concatenate([mono(frame) for frame in container.decode(stream)])
        rate = stream.codec_context.sample_rate
        return stream.codec_context.name, peak_hz(samples[-rate:], rate)


def decodes_cleanly(ffmpeg: str, path: Path) -> None:
    run = subprocess.run([ffmpeg, "-hide_banner", "-v", "warning", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr


def test_recorded_segments_carry_the_cameras_aac_and_the_chain_verifies(loud_node, tmp_path):
    ffmpeg = require_binary("ffmpeg")
    root = loud_node.recordings
    wait_for(lambda: len([e for e in segments(root, "loud") if e.fields.get("audio")]) >= 2, 60, "two segments with sound")
    entry = next(e for e in segments(root, "loud") if e.fields.get("audio"))
    assert entry.fields["audio"] == "aac"
    path = root / "loud" / entry.fields["file"]
    decodes_cleanly(ffmpeg, path)
    assert streams_of(path.read_bytes()) == ["audio", "video"]
    codec, peak = sound_peak(str(path))
    assert codec == "aac" and abs(peak - 440) < 5, peak
    report = verify(str(root))
    assert report.ok, report.problems

    token = loud_node.admin_token
    sounding = [e for e in segments(root, "loud") if e.fields.get("audio")][:2]
    query = f"from={sounding[0].fields['start']}&to={sounding[-1].fields['end']}"
    status, body = fetch(f"{loud_node.url}/api/cameras/loud/recordings/export?{query}", token)
    assert status == 200, body
    video = tmp_path / "video.mp4"
    video.write_bytes(zipfile.ZipFile(io.BytesIO(body)).read("video.mp4"))
    decodes_cleanly(ffmpeg, video)
    assert streams_of(video.read_bytes()) == ["audio", "video"]
    codec, peak = sound_peak(str(video))
    assert codec == "aac" and abs(peak - 440) < 5, peak


def test_a_g711_cameras_sound_is_recorded_as_ingests_opus(make_relay_node, sound_cameras):
    """Sound is part of the evidence whatever its codec: a G.711 camera's is recorded from the
    Opus ingest makes of it (which keeps that encoder running while the camera is recorded)."""
    ffmpeg = require_binary("ffmpeg")
    node = make_relay_node(recording__segment_s="2", recording__sign_every_s="2")
    node.add_camera("pcmu", sound_cameras.url("/pcmu"), record=True)
    root = Path(node.node.args[node.node.args.index("--data-dir") + 1]) / "recordings"
    wait_for(lambda: len([e for e in segments(root, "pcmu") if e.fields.get("audio")]) >= 2, 60, "two segments with sound")
    entry = [e for e in segments(root, "pcmu") if e.fields.get("audio")][1]
    assert entry.fields["audio"] == "opus"
    path = root / "pcmu" / entry.fields["file"]
    decodes_cleanly(ffmpeg, path)
    assert streams_of(path.read_bytes()) == ["audio", "video"]
    codec, peak = sound_peak(str(path))
    assert codec in ("opus", "libopus") and abs(peak - 440) < 5, (codec, peak)
    report = verify(str(root))
    assert report.ok, report.problems


def test_the_public_gets_no_sound_unless_audio_public_and_operators_always_do(loud_node, tmp_path):
    ffmpeg = require_binary("ffmpeg")
    root, token = loud_node.recordings, loud_node.admin_token
    wait_for(lambda: len([e for e in segments(root, "loud") if e.fields.get("audio")]) >= 2, 60, "two segments with sound")
    sounding = [e for e in segments(root, "loud") if e.fields.get("audio")][:2]
    query = f"from={sounding[0].fields['start']}&to={sounding[-1].fields['end']}"
    segment_url = f"{loud_node.url}/api/cameras/loud/recordings/{sounding[0].fields['file']}"

    def played(who: str | None) -> list[str]:
        """The streams of what ffmpeg, a standard HLS player, copies from the VOD playlist."""
        out = tmp_path / f"vod-{who}.mp4"
        headers = ["-headers", f"Authorization: Bearer {who}\r\n"] if who else []
        run = subprocess.run([ffmpeg, "-hide_banner", "-v", "error", *headers, "-i",
                              f"{loud_node.url}/api/cameras/loud/recordings/vod.m3u8?{query}", "-c", "copy", "-y", str(out)],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        with av.open(str(out)) as container:
            assert sum(1 for p in container.demux(container.streams.video[0]) if p.size) > 10
        return streams_of(out.read_bytes())

    assert played(token) == ["audio", "video"]  # operators always hear
    assert played(None) == ["video"]  # the public: the picture only
    status, body = fetch(segment_url)
    assert status == 200 and streams_of(body) == ["video"]
    with av.open(io.BytesIO(body)) as container:  # the same pictures as the file itself
        public_frames = sum(1 for p in container.demux(container.streams.video[0]) if p.size)
    status, original = fetch(segment_url, token)
    assert status == 200 and streams_of(original) == ["audio", "video"]
    with av.open(io.BytesIO(original)) as container:
        assert sum(1 for p in container.demux(container.streams.video[0]) if p.size) == public_frames
    status, body = fetch(f"{loud_node.url}/api/cameras/loud/recordings/export?{query}")
    assert status == 403 and "audio_public" in json.loads(body)["message"], body

    status, _ = loud_node.request("PATCH", "/api/admin/cameras/loud", {"audio_public": True}, token)
    assert status == 200
    assert played(None) == ["audio", "video"]
    status, body = fetch(segment_url)
    assert status == 200 and body == original
