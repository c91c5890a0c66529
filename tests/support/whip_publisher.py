"""A WHIP publisher built on aiortc, for tests: pushes a moving test picture in H.264 or VP8,
and with `audio=True` a 440 Hz sine in Opus.

(The WHIP client "that is not ours" is Chromium with the npm `whip-whep` package; see
tests/test_whip.py. This one lets tests pick the codec and send bad offers.)
"""

from __future__ import annotations

import asyncio
import fractions
import time

import aiohttp
import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, VideoStreamTrack
from aiortc.mediastreams import AudioStreamTrack

from tests.support.whep_client import exchange_sdp  # also applies the loopback ICE policy


class MovingPicture(VideoStreamTrack):
    """640x360 at 25 fps: a bar sweeping across a grey ramp (changes every frame)."""

    def __init__(self, fps: int = 25):
        super().__init__()
        self.fps = fps
        self.count = 0
        self.base = np.tile(np.linspace(40, 200, 640, dtype=np.uint8), (360, 1))
        self.started = time.monotonic()

    async def recv(self) -> av.VideoFrame:
        self.count += 1
        due = self.started + self.count / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        gray = self.base.copy()
        x = (self.count * 8) % 640
        gray[:, x:x + 24] = 255
        frame = av.VideoFrame.from_ndarray(np.stack([gray] * 3, axis=-1), format="rgb24")
        frame.pts = self.count
        frame.time_base = fractions.Fraction(1, self.fps)
        return frame


class Sine(AudioStreamTrack):
    """440 Hz at half scale, mono 48 kHz, 20 ms frames in real time."""

    def __init__(self, hz: float = 440.0):
        super().__init__()
        self.hz = hz
        self.sent = 0
        self.started = time.monotonic()

    async def recv(self) -> av.AudioFrame:
        due = self.started + self.sent / 48_000
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        t = (np.arange(960) + self.sent) / 48_000
        samples = (0.5 * 32767 * np.sin(2 * np.pi * self.hz * t)).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 48_000
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, 48_000)
        self.sent += 960
        return frame


class WhipPublisher:
    def __init__(self, base_url: str, camera_id: str, push_key: str | None, codec: str = "H264", audio: bool = False):
        self.url = f"{base_url}/whip/{camera_id}"
        self.base_url = base_url
        self.push_key = push_key
        self.codec = codec
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = MovingPicture()
        self.audio = Sine() if audio else None
        self.location: str | None = None

    async def start(self) -> WhipPublisher:
        transceiver = self.pc.addTransceiver(self.track, direction="sendonly")
        wanted = f"video/{self.codec}".lower()
        transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                         if c.mimeType.lower() in (wanted, "video/rtx")])
        if self.audio is not None:
            self.pc.addTransceiver(self.audio, direction="sendonly")
        self.location = await exchange_sdp(self.pc, self.url, self.push_key)
        return self

    async def stop(self, delete: bool = True) -> int | None:
        status = None
        if delete and self.location:
            async with aiohttp.ClientSession() as session, session.delete(self.base_url + self.location) as response:
                status = response.status
        await self.pc.close()
        return status
