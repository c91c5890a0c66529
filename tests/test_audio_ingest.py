"""Sound from RTSP cameras (issue 20): GStreamer cameras with a 440 Hz sine as AAC, G.711 µ-law,
A-law and Opus; ingest puts Opus (one encode per camera) and, for AAC, the camera's own frames
on the bus beside the video, on the video's clock; a camera without sound is as before."""

from __future__ import annotations

import asyncio

import av
import numpy as np
import pytest

from pantau.media.audio_config import opus_packet_samples
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.support.sound_cameras import SMALL, mono, peak_hz
from tests.test_ingest_rtsp import ingest  # noqa: F401  (the fixture: a worker on a real Redis)

pytestmark = pytest.mark.timeout(120)
AUDIO = ("aac", "pcmu", "pcma", "opus")


@pytest.fixture(scope="module")
def cameras():
    server = RtspCameraServer([Mount(path=f"/{codec}", audio=codec, **SMALL) for codec in AUDIO]
                              + [Mount(path="/silent", **SMALL)])
    server.start()
    yield server
    server.stop()


async def packets_of(subscription, seconds: float) -> list:
    got, loop = [], asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            got.append(await asyncio.wait_for(subscription.get(), left))
        except TimeoutError:
            break
    return got


def decoded(codec: str, packets: list[bytes]) -> tuple[np.ndarray, int]:
    """Mono samples (float) and their rate, decoded by PyAV as an independent player would."""
    decoder = av.CodecContext.create(codec, "r")
    chunks, rate = [], 0
    for data in packets:
        for frame in decoder.decode(av.Packet(data)):
            rate = frame.sample_rate
            chunks.append(mono(frame))
    return np.concatenate(chunks), rate


@pytest.mark.parametrize("codec", AUDIO)
async def test_a_camera_with_sound_gives_opus_on_the_bus(cameras, ingest, codec):  # noqa: F811
    await ingest.add(f"snd-{codec}", cameras.url(f"/{codec}"))
    status = await ingest.wait_status(f"snd-{codec}", lambda s: s["state"] == "online" and s.get("audio_level_db") is not None)
    assert status["audio_codec"] == {"pcmu": "pcm_mulaw", "pcma": "pcm_alaw"}.get(codec, codec)
    assert -13 < status["audio_level_db"] < -5, status  # a sine at half scale: -9 dBFS
    subscription = ingest.bus.subscribe(f"snd-{codec}", tracks=("video", "opus", "aac"))
    got = await packets_of(subscription, 3.0)
    opus = [t for t in got if t.packet.track == "opus"]
    video = [t for t in got if t.packet.track == "video"]
    opus_s = sum(opus_packet_samples(t.packet.data) for t in opus) / 48_000  # 60 ms packets; an Opus camera's own size
    assert got[0].packet.keyframe and len(video) >= 15 and opus_s >= 2.0, (len(video), opus_s)
    samples, rate = decoded("libopus", [t.packet.data for t in opus])
    assert rate == 48_000 and abs(peak_hz(samples, rate) - 440) < 5
    # On the video's clock: the audio a subscriber gets spans the same time as the video.
    assert abs(opus[0].dts - video[0].dts) < 90_000 * 0.5 and abs(opus[-1].dts - video[-1].dts) < 90_000 * 0.5
    assert all(b.dts > a.dts for a, b in zip(opus, opus[1:]))
    aac = [t for t in got if t.packet.track == "aac"]
    if codec == "aac":  # the camera's own frames too, each with its ADTS header
        assert len(aac) >= 100 and all(t.packet.data[:2] == b"\xff\xf1" for t in aac)
        samples, rate = decoded("aac", [t.packet.data for t in aac])
        assert rate == 48_000 and abs(peak_hz(samples, rate) - 440) < 5
    else:
        assert aac == []
    subscription.close()


async def test_a_camera_without_sound_is_as_before(cameras, ingest):  # noqa: F811
    await ingest.add("silent", cameras.url("/silent"))
    status = await ingest.wait_status("silent", lambda s: s["state"] == "online")
    assert status.get("audio_codec") is None and status.get("audio_level_db") is None
    everything = ingest.bus.subscribe("silent", tracks=("video", "opus", "aac"))
    got = await packets_of(everything, 1.5)
    assert got and {t.packet.track for t in got} == {"video"}
