"""Pull a camera from a WHEP server (another Pantau site, MediaMTX, go2rtc, ...) as a WebRTC client.

`whep+https://host/whep/cam` (or `whep+http://`) is POSTed an SDP offer (recvonly video, H.264
preferred, VP8 accepted; recvonly Opus audio unless `webrtc.audio` is off) with
`Authorization: Bearer <source_token>` when the camera has one. The encoded frames, and the
sound's Opus packets undecoded (the camera's Opus track on the bus: no re-encode), go through
the same tap, feed and pipeline as a WHIP publisher's. A server that has no sound for us (a
camera without it, or one whose sound is not for the token we hold) answers the audio
inactive and the camera is pulled as before, picture only. The
session ends when the connection fails, or when no frame came for `read_timeout_s`; it is then
retried with the same backoff and status reasons as an RTSP camera (401/403: auth_failed,
slowly). Passwords in the URL and the token never reach a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from functools import partial

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from yarl import URL

from ingest.camera_pipeline import CameraPipeline
from ingest.sources.backoff import Backoff
from ingest.sources.webrtc_feed import WebRtcFeed
from ingest.sources.webrtc_receiver import request_keyframe, tap_encoded_frames, watch_sender_reports
from ingest.sources.whip_source import WebRtcSettings, opus_preferences, video_preferences
from pantau.cameras import source_policy
from pantau.media.stream_failures import AUTH_FAILED, NO_DATA, UNREACHABLE, UNSUPPORTED, describe

log = logging.getLogger(__name__)


class WhepFailure(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class WhepPullSettings:
    open_timeout_s: float = 4.0  # the HTTP exchange, then again for ICE/DTLS to connect
    read_timeout_s: float = 4.0  # no frame for this long ends the session


def http_url(source: str) -> str:
    return source.removeprefix("whep+")


def _reason_for_status(status: int) -> str:
    if status in (401, 403):
        return AUTH_FAILED
    if status in (400, 406, 415, 422):
        return UNSUPPORTED  # the server would not take our offer (codecs, SDP)
    return UNREACHABLE


class WhepPullSource:
    def __init__(self, camera_id: str, source: str, token: str | None, pipeline: CameraPipeline,
                 webrtc: WebRtcSettings, settings: WhepPullSettings | None = None, backoff: Backoff | None = None):
        self.camera_id = camera_id
        self._url = http_url(source)
        self._token = token
        self.pipeline = pipeline
        self.webrtc = webrtc
        self.settings = settings or WhepPullSettings()
        self.backoff = backoff or Backoff()
        self._task: asyncio.Task | None = None
        self._done = threading.Event()

    # -- Source protocol ---------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"whep-{self.camera_id}")
        self._task.add_done_callback(lambda _: self._done.set())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()

    def join(self, timeout: float) -> bool:
        return self._done.wait(timeout) if self._task else True

    # -- the loop ------------------------------------------------------------------------------
    async def _run(self) -> None:
        status = self.pipeline.status
        while True:
            started = time.monotonic()
            try:
                await self._session()
                reason = NO_DATA
            except WhepFailure as exc:
                reason = exc.reason
                log.info("camera %s: %s (%s)", self.camera_id, reason, exc)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = UNREACHABLE
                log.info("camera %s: unreachable (%s)", self.camera_id, describe(exc))  # redacted; names a policy rule
            self.backoff.connected_for(time.monotonic() - started)
            delay = self.backoff.next_delay(reason)
            status.report(self.camera_id, state="offline", reason=reason, picture=None, fps=None, bitrate_kbps=None,
                          retry_in_s=round(delay, 1))
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        self.pipeline.status.report(self.camera_id, state="connecting")
        pc = RTCPeerConnection(configuration=self.webrtc.configuration)
        transceiver = pc.addTransceiver("video", direction="recvonly")
        transceiver.setCodecPreferences(video_preferences())
        last_frame = [time.monotonic()]
        loop = asyncio.get_running_loop()

        def ask_for_keyframe() -> None:  # from any thread: a picture-loss request to the WHEP server
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(request_keyframe(transceiver.receiver)))

        feed = WebRtcFeed(self.camera_id, self.pipeline, ask_for_keyframe)

        def on_frame(codec: str, data: bytes, timestamp: int) -> None:
            last_frame[0] = time.monotonic()
            feed.on_frame(codec, data, timestamp)

        tap_encoded_frames(transceiver.receiver, on_frame)
        if self.webrtc.audio:
            sound = pc.addTransceiver("audio", direction="recvonly")
            sound.setCodecPreferences(opus_preferences())
            tap_encoded_frames(sound.receiver, feed.on_audio)
            for kind, receiver in (("video", transceiver.receiver), ("audio", sound.receiver)):
                watch_sender_reports(receiver, partial(feed.on_report, kind))
        ended = asyncio.Event()
        pc.on("connectionstatechange", lambda: pc.connectionState in ("failed", "closed") and ended.set())
        location = None
        try:
            await pc.setLocalDescription(await pc.createOffer())
            answer, location = await self._exchange(pc.localDescription.sdp)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            deadline = time.monotonic() + self.settings.open_timeout_s * 2
            while pc.connectionState != "connected":
                if ended.is_set() or time.monotonic() > deadline:
                    raise WhepFailure(UNREACHABLE, "ICE/DTLS did not connect")
                await asyncio.sleep(0.05)
            last_frame[0] = time.monotonic()
            self.pipeline.keyframes_from_source(ask_for_keyframe)  # the bus's keyframe requests (fresh tiles, new outputs) reach the server
            while not ended.is_set():
                if time.monotonic() - last_frame[0] > self.settings.read_timeout_s:
                    raise WhepFailure(NO_DATA, f"no video for {self.settings.read_timeout_s} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), 0.5)
        finally:
            self.pipeline.keyframes_from_source(None)
            feed.close()
            with contextlib.suppress(Exception):
                await pc.close()
            if location:
                await self._delete(location)
            await asyncio.to_thread(feed.join, 5.0)

    async def _exchange(self, offer: str) -> tuple[str, str | None]:
        headers = {"Content-Type": "application/sdp"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        timeout = aiohttp.ClientTimeout(total=self.settings.open_timeout_s)
        # Checked by the source policy (address literal here, names at connect); no redirects:
        # aiohttp would follow one to an address literal unchecked.
        async with (source_policy.http_session(self._url, timeout) as http,
                    http.post(self._url, data=offer, headers=headers, allow_redirects=False) as response):
            if response.status != 201:
                raise WhepFailure(_reason_for_status(response.status), f"the WHEP server answered {response.status}")
            answer = await response.text()
            location = response.headers.get("Location")
        return answer, str(response.url.join(URL(location))) if location else None

    async def _delete(self, location: str) -> None:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        with contextlib.suppress(Exception):
            async with (source_policy.http_session(location, aiohttp.ClientTimeout(total=2)) as http,
                        http.delete(location, headers=headers, allow_redirects=False)):
                pass
