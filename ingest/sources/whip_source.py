"""A camera that pushes its video over WHIP (RFC 9725): a phone browser, OBS, a WebRTC camera.

The camera is `waiting` until a publisher connects, and again after it leaves. One publisher
at a time: a second gets `PublisherConflict` (409). The publisher's H.264 passes through
untouched (VP8 is transcoded once to H.264) into the same pipeline, bus, tiles and health as
an RTSP camera; its sound (the offer's first audio, Opus) goes undecoded to the camera's audio
pipeline beside it (ingest/sources/webrtc_feed.py). Unlike an RTSP camera, the publisher listens: it is asked for a keyframe (PLI)
when it connects and the bus has no picture yet, and whenever the bus asks for one (a new
viewer while the GOP cache is empty or old).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription

from ingest.camera_pipeline import CameraPipeline
from ingest.sources.webrtc_feed import WebRtcFeed
from ingest.sources.webrtc_receiver import request_keyframe, tap_encoded_frames, watch_sender_reports

log = logging.getLogger(__name__)

KEYFRAME_CHECKS_S = (0.3, 1.0, 3.0)  # after connecting: ask again while no picture arrived


class PublisherConflict(Exception):
    """The camera already has a live publisher."""


class BadOffer(ValueError):
    """The offer cannot be answered; the message says why."""


class PushLease(Protocol):
    """A site's lease on a pushed camera (ingest/ownership.py `Ownership`)."""

    async def claim_push(self, camera_id: str) -> bool: ...
    async def release_push(self, camera_id: str) -> None: ...
    async def pushed_elsewhere(self, camera_id: str) -> bool: ...


@dataclass(frozen=True)
class WebRtcSettings:
    configuration: RTCConfiguration
    announce: object  # (sdp) -> sdp with the announced address added (pantau.web.ice_config.announce)
    connect_timeout_s: float = 20.0
    audio: bool = True  # answer a publisher's sound (Opus) instead of refusing it


def opus_preferences() -> list:
    return [c for c in RTCRtpReceiver.getCapabilities("audio").codecs if c.mimeType.lower() == "audio/opus"]


def video_preferences() -> list:
    """What a publisher may send: H.264 (passed through) first, then VP8 (transcoded), with RTX."""
    codecs = RTCRtpReceiver.getCapabilities("video").codecs
    wanted = ("video/h264", "video/vp8", "video/rtx")
    return sorted((c for c in codecs if c.mimeType.lower() in wanted), key=lambda c: wanted.index(c.mimeType.lower()))


@dataclass(eq=False)
class _Publisher:
    id: str
    pc: RTCPeerConnection
    receiver: RTCRtpReceiver
    feed: WebRtcFeed
    connected: bool = False


class WhipSource:
    def __init__(self, camera_id: str, pipeline: CameraPipeline, settings: WebRtcSettings,
                 push_lease: PushLease | None = None):
        """`push_lease`: on a site, the camera's lease (ingest/ownership.py): a push is taken
        only by the worker that gets it. None: this process is the only one."""
        self.camera_id = camera_id
        self.pipeline = pipeline
        self.settings = settings
        self._lease = push_lease
        self.publisher: _Publisher | None = None
        self._stopped = False
        self._closed = threading.Event()
        self._closed.set()  # nothing to wait for until a publisher comes
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting_check: asyncio.Task | None = None

    # -- Source protocol (the worker's view) ----------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()  # keyframe requests come from other threads
        if self._lease is None:
            self._report_waiting()
        else:  # the phone may be pushing to another worker right now: then it is not waiting
            # (kept: the loop holds only a weak reference to a task)
            self._waiting_check = self._loop.create_task(self._report_waiting_unless_pushed_elsewhere())
        self.pipeline.keyframes_from_source(self.ask_for_keyframe)  # the pipeline answers the bus's requests

    def stop(self) -> None:
        self._stopped = True
        self.pipeline.keyframes_from_source(None)
        if self.publisher is not None:
            asyncio.get_running_loop().create_task(self.end(self.publisher.id))

    def join(self, timeout: float) -> bool:
        return self._closed.wait(timeout)

    # -- publishers ------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        return self.publisher is not None

    async def accept(self, offer_sdp: str) -> tuple[str, str]:
        """Answer a WHIP offer; returns (session id, answer SDP with all candidates)."""
        if self._stopped:
            raise PublisherConflict("this camera is being reconfigured; try again")
        if self.publisher is not None:
            raise PublisherConflict("kamera ini sudah menerima kiriman dari perangkat lain")
        if "m=video" not in offer_sdp:
            raise BadOffer("the offer has no video (Pantau takes video, and its sound with it)")
        if self._lease is not None and not await self._lease.claim_push(self.camera_id):
            raise PublisherConflict("kamera ini sedang menerima kiriman lewat node lain")
        try:
            return await self._answer(offer_sdp)
        except BaseException:
            if self._lease is not None:
                await self._lease.release_push(self.camera_id)
            raise

    async def _answer(self, offer_sdp: str) -> tuple[str, str]:
        pc = RTCPeerConnection(configuration=self.settings.configuration)
        transceiver = pc.addTransceiver("video", direction="recvonly")
        transceiver.setCodecPreferences(video_preferences())
        publisher = _Publisher(secrets.token_urlsafe(16), pc, transceiver.receiver, None)  # type: ignore[arg-type]
        publisher.feed = WebRtcFeed(self.camera_id, self.pipeline, lambda: self._keyframe_soon(publisher))
        tap_encoded_frames(transceiver.receiver, publisher.feed.on_frame)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            sound = None
            for other in pc.getTransceivers():
                if other is transceiver:
                    continue
                if other.kind == "audio" and sound is None and self.settings.audio:
                    sound = other  # the first audio: Opus, handed to the feed undecoded
                    other.direction = "recvonly"
                    other.setCodecPreferences(opus_preferences())
                    tap_encoded_frames(other.receiver, publisher.feed.on_audio)
                    for kind, receiver in (("video", transceiver.receiver), ("audio", other.receiver)):
                        watch_sender_reports(receiver, partial(publisher.feed.on_report, kind))
                else:
                    other.direction = "inactive"  # extra audio and video are refused, not decoded
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            with contextlib.suppress(Exception):
                await pc.close()
            raise BadOffer(_offer_problem(exc)) from None
        if transceiver.mid is None:
            with contextlib.suppress(Exception):
                await pc.close()
            raise BadOffer("the offer's video could not be matched")
        self.publisher = publisher
        self._closed.clear()
        self.pipeline.status.report(self.camera_id, state="connecting", reason=None)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                publisher.connected = True
                for delay in KEYFRAME_CHECKS_S:
                    asyncio.get_running_loop().call_later(delay, self._keyframe_if_no_picture, publisher)
            elif pc.connectionState in ("failed", "closed"):
                await self.end(publisher.id)

        asyncio.get_running_loop().call_later(self.settings.connect_timeout_s, self._reap_if_unconnected, publisher)
        log.info("camera %s: WHIP publisher connecting", self.camera_id)
        return publisher.id, self.settings.announce(pc.localDescription.sdp)

    async def end(self, session_id: str) -> bool:
        publisher = self.publisher
        if publisher is None or publisher.id != session_id:
            return False
        self.publisher = None
        publisher.feed.close()
        with contextlib.suppress(Exception):
            await publisher.pc.close()
        await asyncio.to_thread(publisher.feed.join, 5.0)
        if self._lease is not None:
            with contextlib.suppress(Exception):
                await self._lease.release_push(self.camera_id)
        self._closed.set()
        if not self._stopped:
            self._report_waiting()
        log.info("camera %s: WHIP publisher left", self.camera_id)
        return True

    # -- keyframes ---------------------------------------------------------------------------
    def ask_for_keyframe(self) -> None:
        """From the bus (any thread): a viewer would wait for a keyframe."""
        publisher = self.publisher
        if publisher is not None and publisher.connected:
            self._keyframe_soon(publisher)

    def _keyframe_soon(self, publisher: _Publisher) -> None:
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(request_keyframe(publisher.receiver)))

    def _keyframe_if_no_picture(self, publisher: _Publisher) -> None:
        if self.publisher is publisher and not self.pipeline.bus.gop(self.camera_id):
            asyncio.ensure_future(request_keyframe(publisher.receiver))

    def _reap_if_unconnected(self, publisher: _Publisher) -> None:
        if self.publisher is publisher and not publisher.connected:
            log.info("camera %s: WHIP publisher never connected; closing it", self.camera_id)
            asyncio.ensure_future(self.end(publisher.id))

    async def _report_waiting_unless_pushed_elsewhere(self) -> None:
        try:
            elsewhere = await self._lease.pushed_elsewhere(self.camera_id)
        except Exception as exc:  # the registry is away: its status cannot be written either
            log.debug("camera %s: push lease unknown (%s)", self.camera_id, exc)
            return
        if not elsewhere and self.publisher is None and not self._stopped:
            self._report_waiting()

    def _report_waiting(self) -> None:
        self.pipeline.status.report(self.camera_id, state="waiting", reason=None, picture=None, fps=None,
                                    bitrate_kbps=None, mode=None)


def _offer_problem(exc: Exception) -> str:
    text = str(exc)
    if "send parameters" in text or "codec" in text.lower():
        return "the offer has no video codec Pantau can take (H.264 or VP8)"
    return f"the offer could not be answered: {text[:200]}"
