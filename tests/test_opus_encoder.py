"""Ingest's Opus encoder (issue 20's cost): libopus through ctypes gives packets of the asked
size that any Opus decoder (PyAV's, as a viewer's would) plays back as the sound that went in."""

from __future__ import annotations

import av
import numpy as np
import pytest

import ingest.opus_encoder as opus_encoder
from ingest.opus_encoder import OpusEncoder
from pantau.media.audio_config import opus_packet_samples
from tests.support.sound_cameras import mono, peak_hz

RATE = 48_000


@pytest.mark.parametrize("frame_ms", [20, 60])
def test_packets_of_the_asked_size_decode_to_the_sound_that_went_in(frame_ms):
    assert opus_encoder._LIBOPUS is not None, "no libopus loaded (Debian libopus0, or PyAV's own copy)"
    frame = RATE * frame_ms // 1000
    encoder = OpusEncoder(frame, 32_000, "lowdelay", 0, wideband=True)
    assert encoder.delay == 120  # libopus's lookahead in its low-delay mode: 2.5 ms
    sine = (0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.float32)
    packets = [encoder.encode(sine[start:start + frame]) for start in range(0, RATE - frame + 1, frame)]
    with pytest.raises(ValueError):
        encoder.encode(sine[:frame - 1])  # libopus would read past its end
    encoder.close()
    assert {opus_packet_samples(p) for p in packets} == {frame}
    assert 2_000 < sum(map(len, packets)) < 8_000  # ~32 kbit/s for a second
    decoder = av.CodecContext.create("libopus", "r")
    decoded = np.concatenate([mono(f) for p in packets for f in decoder.decode(av.Packet(p))]) / 32768  # s16
    assert len(decoded) == len(packets) * frame and abs(peak_hz(decoded, RATE) - 440) < 5
    assert 0.3 < float(np.sqrt(np.mean(decoded[RATE // 2:] ** 2))) < 0.4  # the level kept (0.35)
