"""WHEP viewer sessions: one peer connection per viewer, caps, reaping, counts.

A session ends on DELETE, when ICE/DTLS fails or the peer stops answering (aiortc reports the
connection `failed`/`closed`), or when it never connects within `connect_timeout_s`. Ending
closes the peer connection and the bus subscription and forgets the session: nothing is kept
per ended session.

Capacity is shared, so it is guarded: public viewers get at most `max_viewers -
operator_reserve` of the node (operators and admins can always watch), at most
`max_viewers_per_camera` per camera, and one client address holds at most
`limits.pending_offers_per_address` public sessions that have not connected yet (an offer that
never completes ICE costs nothing to send but holds a slot until it is reaped).

Sound: an offer with an audio m-line gets the camera's Opus (relay/webrtc/bus_audio_track.py)
when the viewer may hear it (operators always, the public where the camera's `audio_public`
says so); otherwise its audio is answered `inactive`: the public gets no track at all, not a
silent one it could unmute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from pantau.bus.stream_bus import StreamBus
from pantau.runtime.config import RelaySettings
from pantau.runtime.session_directory import SessionDirectory
from pantau.web.ice_config import announce, rtc_configuration
from relay.webrtc.bus_audio_track import BusAudioTrack
from relay.webrtc.bus_track import BusVideoTrack
from relay.webrtc.camera_fanout import CameraFanouts
from relay.webrtc.fastsend import load as load_fastsend
from relay.webrtc.picture_loss import KeyframeAsker, forward_picture_loss
from relay.webrtc.relay_latency import RelayLatency
from relay.webrtc.shared_payloads import SharedPayloads
from relay.webrtc.shared_rtp_sender import SharedRtpSender
from relay.webrtc.udp_batch import UdpBatchSender

log = logging.getLogger(__name__)


class CapReached(Exception):
    """Too many viewers; the message is shown to the viewer as it is."""


class TooManyPending(CapReached):
    """This client address already has too many sessions that never connected (429)."""


class BadOffer(ValueError):
    pass


@dataclass
class ViewerSession:
    id: str
    camera_id: str
    pc: RTCPeerConnection
    track: BusVideoTrack
    public: bool
    address: str = ""
    created: float = field(default_factory=time.monotonic)
    connected: bool = False
    audio: BusAudioTrack | None = None
    bus_id: str = ""  # the stream it reads when not the camera's own (an admin's unmasked view)


def _opus_preferences() -> list:
    return [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType.lower() == "audio/opus"]


def _h264_preferences() -> list:
    """H.264 (and its RTX) only: aiortc fixes the codec inside setRemoteDescription, so the
    preference must be set before it, or Chromium silently gets VP8 and decodes nothing."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    return [c for c in codecs if c.mimeType.lower() in ("video/h264", "video/rtx")]


class ViewerSessions:
    def __init__(self, bus: StreamBus, settings: RelaySettings, directory: SessionDirectory,
                 on_count: Callable[[str, int], None] | None = None, pending_per_address: int = 10):
        self.bus = bus
        self.settings = settings
        self.pending_per_address = pending_per_address
        # Public offers per client address that have not connected yet (being answered, or
        # answered and waiting for ICE).
        self._pending: dict[str, int] = {}
        self.directory = directory  # so a DELETE reaching another relay still ends our session
        self.sessions: dict[str, ViewerSession] = {}
        self.per_camera: dict[str, int] = {}
        # Offers being answered (awaits in between): they count against the caps already, so
        # offers arriving together cannot all pass the check before any of them is counted.
        self._opening: dict[str, int] = {}
        self._ask_keyframe = KeyframeAsker(bus.request_keyframe)
        self._on_count = on_count or (lambda camera_id, count: None)
        self._configuration = rtc_configuration(settings.ice)
        # Bus -> hand-over to the RTP sender, per live frame of every viewer (/api/metrics, /metrics).
        self.latency_samples = RelayLatency()
        # Each camera's frames packetized once for all its viewers (relay.fanout: shared).
        self.payloads = SharedPayloads()
        self.udp_batch = UdpBatchSender()
        # One task per camera for its caught-up viewers (relay/webrtc/camera_fanout.py).
        self.fanouts = CameraFanouts(bus, self.payloads, self.udp_batch, load_fastsend() if settings.fanout_send == "native" else None,
                                     self.latency_samples, parallel=settings.fanout_send_threads == 2)

    def viewers(self, camera_id: str) -> int:
        return self.per_camera.get(camera_id, 0)

    def check_caps(self, camera_id: str, public: bool, address: str = "") -> None:
        s = self.settings
        node_cap = max(0, s.max_viewers - s.operator_reserve) if public else s.max_viewers
        if len(self.sessions) + sum(self._opening.values()) >= node_cap:
            raise CapReached(f"Server ini sedang melayani jumlah penonton maksimum ({s.max_viewers}). Coba lagi sebentar lagi.")
        if public and self._pending.get(address, 0) >= self.pending_per_address:
            raise TooManyPending(f"Terlalu banyak sambungan yang belum tersambung dari alamat ini. Coba lagi dalam "
                                 f"{math.ceil(s.connect_timeout_s)} detik.")
        if public and self.viewers(camera_id) + self._opening.get(camera_id, 0) >= s.max_viewers_per_camera:
            raise CapReached(f"Kamera ini sudah ditonton jumlah maksimum ({s.max_viewers_per_camera} penonton). Coba lagi sebentar lagi.")

    async def open(self, camera_id: str, offer_sdp: str, public: bool, address: str = "",
                   audio: bool = False, bus_id: str | None = None) -> tuple[ViewerSession, str]:
        """Answer a WHEP offer; returns the session and the answer SDP (all candidates in it).
        `audio`: this viewer may hear the camera (see the module docstring). `bus_id`: the
        picture's stream when not the camera's own (pantau/cameras/unmasked_view.py)."""
        self.check_caps(camera_id, public, address)
        if "m=video" not in offer_sdp:
            raise BadOffer("the offer has no video m-line (Pantau sends video, and sound with it)")
        _count(self._opening, camera_id, +1)
        if public:
            _count(self._pending, address, +1)  # until it connects or ends
        answered = False
        try:
            result = await self._answer(camera_id, offer_sdp, public, address, audio, bus_id or camera_id)
            answered = True
            return result
        finally:
            _count(self._opening, camera_id, -1)
            if public and not answered:
                _count(self._pending, address, -1)

    async def _answer(self, camera_id: str, offer_sdp: str, public: bool, address: str,
                      audio: bool, bus_id: str) -> tuple[ViewerSession, str]:
        pc = RTCPeerConnection(configuration=self._configuration)
        track = BusVideoTrack(self.bus.subscribe(bus_id), self.settings.catchup_rate_mbps * 1_000_000 / 8, self.latency_samples)
        session = ViewerSession(secrets.token_urlsafe(16), camera_id, pc, track, public, address, bus_id=bus_id)
        try:
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(_h264_preferences())
            forward_picture_loss(transceiver.sender, lambda: self._ask_keyframe(bus_id))
            if self.settings.fanout == "shared":
                SharedRtpSender(transceiver.sender, track, bus_id, self.payloads, self.udp_batch, self.fanouts)
            if audio and "m=audio" in offer_sdp:
                session.audio = BusAudioTrack(self.bus.subscribe(camera_id, tracks=("opus",)))
                pc.addTransceiver(session.audio, direction="sendonly").setCodecPreferences(_opus_preferences())
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            for other in pc.getTransceivers():
                if other.kind == "audio" and other.sender.track is None:
                    other.direction = "inactive"  # no sound for this viewer: no track at all
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            await self._close_pc(pc, track, session.audio)
            raise BadOffer(f"the offer could not be answered: {exc}") from None
        self.sessions[session.id] = session
        self.per_camera[camera_id] = self.viewers(camera_id) + 1
        self._on_count(camera_id, self.viewers(camera_id))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected" and not session.connected:
                session.connected = True
                if session.public:
                    _count(self._pending, session.address, -1)
            elif pc.connectionState in ("failed", "closed"):
                await self.close(session.id)

        asyncio.get_running_loop().call_later(self.settings.connect_timeout_s, self._reap_if_unconnected, session.id)
        # (after the reaper is set: a session never outlives a failed answer; an unreachable
        # directory does not fail it, see pantau/runtime/session_directory.py)
        await self.directory.register(session.id)
        return session, announce(pc.localDescription.sdp, self.settings.ice.announce_address)

    def _reap_if_unconnected(self, session_id: str) -> None:
        session = self.sessions.get(session_id)
        if session is not None and not session.connected:
            log.info("viewer session of %s never connected; closing it", session.camera_id)
            asyncio.ensure_future(self.close(session_id))

    async def close(self, session_id: str) -> bool:
        session = self.sessions.pop(session_id, None)
        if session is None:
            return False
        if session.public and not session.connected:
            _count(self._pending, session.address, -1)
        count = self.per_camera.get(session.camera_id, 1) - 1
        if count > 0:
            self.per_camera[session.camera_id] = count
        else:
            self.per_camera.pop(session.camera_id, None)
        self._on_count(session.camera_id, max(count, 0))
        await self._close_pc(session.pc, session.track, session.audio)
        if not self.viewers(session.camera_id):
            self.payloads.release(session.camera_id)
            self.payloads.release(session.bus_id)
        if not any(other.bus_id == session.bus_id for other in self.sessions.values()):
            self.fanouts.release(session.bus_id)  # (its task holds a bus subscription: demand)
        await self.directory.forget(session_id)  # (Redis away: written when it is back)
        return True

    @staticmethod
    async def _close_pc(pc: RTCPeerConnection, track: BusVideoTrack, audio: BusAudioTrack | None = None) -> None:
        track.stop()
        if audio is not None:
            audio.stop()
        with contextlib.suppress(Exception):
            await pc.close()

    async def close_all(self) -> None:
        await asyncio.gather(*(self.close(sid) for sid in list(self.sessions)))


def _count(counts: dict[str, int], key: str, delta: int) -> None:
    """Add delta to counts[key], dropping keys that reach zero (the dict stays as small as what is live)."""
    value = counts.get(key, 0) + delta
    if value > 0:
        counts[key] = value
    else:
        counts.pop(key, None)
