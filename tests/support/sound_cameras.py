"""GStreamer test cameras with sound (issue 20), shared by the sound tests: a 440 Hz sine, small
pictures (the sound is what is tested), and how to find the sine in what arrives.

    def test_x(sound_cameras): sound_cameras.url("/snd")   # /snd AAC, /pcmu G.711 µ-law, /mute no sound,
                                                           # /flash AAC beeps with white flashes (av_sync.py)
"""

from __future__ import annotations

import numpy as np
import pytest

from .rtsp_camera import Mount, RtspCameraServer

SMALL = {"width": 320, "height": 180, "fps": 10, "bitrate_kbps": 300, "gop_seconds": 1, "overlay": "none"}
SOUND_MOUNTS = (Mount(path="/snd", audio="aac", **SMALL), Mount(path="/pcmu", audio="pcmu", **SMALL),
                Mount(path="/mute", **SMALL),
                # 25 fps: a flash edge is seen to within a frame (40 ms), even past a frame the busy camera drops
                Mount(path="/flash", audio="aac", flash=2.0, **{**SMALL, "fps": 25}))


@pytest.fixture
def sound_cameras(tmp_path):
    server = RtspCameraServer(SOUND_MOUNTS, log_dir=tmp_path / "sound-cameras").start()
    yield server
    server.stop()


def peak_hz(samples: np.ndarray, rate: int) -> float:
    """The strongest frequency of mono samples (a Hann window against leakage)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def mono(frame) -> np.ndarray:
    """A decoded PyAV audio frame as mono float samples (planar: a row per channel; packed:
    the channels interleaved in one row)."""
    samples = frame.to_ndarray().astype(np.float64)
    if frame.format.is_planar:
        return samples.mean(axis=0)
    return samples.reshape(-1, frame.layout.nb_channels).mean(axis=1)
