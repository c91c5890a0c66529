"""A WHEP viewer built on aiortc, for tests and benchmarks: offers recvonly video, counts
decoded frames and when they arrived."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from pantau.runtime.config import IceSettings
from pantau.web.ice_config import apply_host_address_policy

# The test process offers loopback candidates too (a loopback-only network).
apply_host_address_policy(IceSettings(include_loopback=True))


class WhepError(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


async def exchange_sdp(pc: RTCPeerConnection, url: str, token: str | None) -> str:
    """Offer -> POST (WHEP or WHIP) -> answer; returns the session's Location (WhepError if refused)."""
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp", **({"Authorization": f"Bearer {token}"} if token else {})}
    async with aiohttp.ClientSession() as session, session.post(url, data=pc.localDescription.sdp, headers=headers) as response:
        body = await response.text()
        if response.status != 201:
            await pc.close()
            raise WhepError(response.status, body)
        location = response.headers["Location"]
    await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
    return location


class WhepViewer:
    def __init__(self, base_url: str, camera_id: str, token: str | None = None, audio: bool = False):
        self.audio = audio  # also offer to receive sound; decoded samples land in `sound`
        self.sound: list = []  # numpy arrays of mono samples (48 kHz), as they arrived
        self.audio_track = None
        self.base_url = base_url
        self.camera_id = camera_id
        self.token = token
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.frames: list[float] = []  # arrival times (monotonic) of decoded frames
        self.sizes: list[tuple[int, int]] = []
        self.location: str | None = None
        self.posted_at = 0.0
        self._first = asyncio.get_running_loop().create_future()
        self._reader: asyncio.Task | None = None
        self._audio_reader: asyncio.Task | None = None

    async def start(self) -> WhepViewer:
        self.pc.addTransceiver("video", direction="recvonly")
        if self.audio:
            self.pc.addTransceiver("audio", direction="recvonly")

        @self.pc.on("track")
        def on_track(track) -> None:
            if track.kind == "audio":
                self.audio_track = track
                self._audio_reader = asyncio.ensure_future(self._read_sound(track))
                return
            self._reader = asyncio.ensure_future(self._read(track))

        self.posted_at = time.monotonic()
        self.location = await exchange_sdp(self.pc, f"{self.base_url}/whep/{self.camera_id}", self.token)
        return self

    async def _read(self, track) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.frames.append(time.monotonic())
                self.sizes.append((frame.width, frame.height))
                if not self._first.done():
                    self._first.set_result(self.frames[-1])

    async def _read_sound(self, track) -> None:
        import numpy as np

        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                samples = frame.to_ndarray().astype(np.float64)
                channels = frame.layout.nb_channels
                self.sound.append(samples.mean(axis=0) if frame.format.is_planar else samples.reshape(-1, channels).mean(axis=1))

    async def first_frame_after(self, timeout: float = 10.0) -> float:
        """Seconds from the POST to the first decoded frame."""
        return await asyncio.wait_for(asyncio.shield(self._first), timeout) - self.posted_at

    async def wait_frames(self, count: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.frames) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.frames)} of {count} frames arrived")
            await asyncio.sleep(0.05)

    async def close(self, send_delete: bool = True) -> int | None:
        status = None
        if send_delete and self.location:
            async with aiohttp.ClientSession() as session, session.delete(self.base_url + self.location) as response:
                status = response.status
        for reader in (self._reader, self._audio_reader):
            if reader:
                reader.cancel()
        await self.pc.close()
        return status
