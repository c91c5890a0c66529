"""Light receivers for the relay benchmark's fan-out windows: aiortc viewers that fit the machine.

aiortc's receive path costs a viewer ~40-60 µs of Python per RTP packet: aioice first parses
every datagram as STUN (an exception per media packet), queues it and wakes the ICE and DTLS
transports' tasks; then SRTP unprotect, an `RtpPacket` with its extensions, the jitter buffer,
the NACK generator, the depacketizer and a hand-over to the decoder thread. A 720p 2 Mbit/s
viewer gets ~250 packets a second, so 100 such viewers need more than the two cores of the
machine, which then measures the viewers, not the servers (the earlier runs at 100: 21-53 of
100 connected, the slowest at 2-5 fps, for Pantau and Janus alike).

A light viewer is the same aiortc peer connection (`../shared/bench/janus/fanout_bench.py`,
unchanged) with one thing swapped once its DTLS transport is connected: a media datagram
(SRTP, not SRTCP) is counted in the ICE socket's own callback from its clear RTP header
(SSRC, payload type, sequence number, marker) instead of going up aiortc's path. Kept as
aiortc does it, so a server sees from a light viewer what it sees from a full one:

- signalling, ICE and DTLS: untouched; STUN (connectivity checks, consent freshness every
  ~5 s in both directions, RFC 7675), DTLS and SRTCP datagrams go aiortc's way;
- RTCP: the server's sender reports reach aiortc's receiver; aiortc's receiver reports go out
  every 0.5-1.5 s as before, from per-SSRC statistics that are aiortc's own
  (`StreamStatistics`), fed here from the header (packets, highest sequence number, loss;
  jitter left at 0);
- frame and packet counts where fanout_bench.py reads them (its counting decoder per viewer,
  one frame per marker bit of the video SSRC; `getStats()` packets), so its figures and
  relay_clients.py's checks (every viewer connected, its frame rate) stay what they were.

Skipped: NACK (aiortc sends one only for a gap; the light viewer counts gaps instead and the
bench reports them: on loopback, with viewers that keep up, there are none) and REMB (neither
server acts on it for a relayed camera: Janus's streaming plugin has no encoder to steer, the
shared fan-out sends the camera's bytes as they are).

That the packets are valid: every viewer unprotects one media packet in `CHECK_EVERY` with its
own SRTP session (a wrong key, a wrong sequence number or a corrupted packet fails the
authentication tag), and the first viewer of each process unprotects all of its packets,
reassembles frames with aiortc's depacketizer and keeps `SAMPLE_FRAMES` from a keyframe,
decoded with PyAV once the window is over. `report()` is printed by relay_support.py after the
client's own figures, as one `@light {json}` line.
"""

from __future__ import annotations

import aioice.ice
import pylibsrtp
from aiortc import rtcdtlstransport, rtcrtpreceiver
from aiortc.codecs import depayload, is_rtx
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_gt

CHECK_EVERY = 64  # media packets between two SRTP-authenticated ones, per viewer
SAMPLE_FRAMES = 50  # frames the sampled viewer of each process keeps for a decode (2 s at 25 fps)
LIGHT_PREFIX = "@light "

VIEWERS: list[LightViewer] = []


class HeaderStatistics(StreamStatistics):
    """aiortc's receive statistics of one SSRC (what its receiver reports say), fed from the
    clear RTP header."""

    def add_sequence(self, sequence: int) -> bool:
        """Count a packet; True if packets before it are missing (a gap)."""
        self.packets_received += 1
        if self.base_seq is None:
            self.base_seq = self.max_seq = sequence
            return False
        if not uint16_gt(sequence, self.max_seq):
            return False  # (late or repeated)
        gap = sequence != (self.max_seq + 1) & 0xFFFF
        if sequence < self.max_seq:
            self.cycles += 1 << 16
        self.max_seq = sequence
        return gap


class LightViewer:
    """The media side of one viewer's DTLS transport, once connected."""

    def __init__(self, dtls, sampled: bool):
        self.dtls = dtls
        self.sampled = sampled
        self.receiver = None
        self.streams: dict[int, StreamStatistics] = {}
        self.video_types: set[int] = set()
        self.counter = None  # fanout_bench.py's counting decoder of this viewer
        self.frame_bytes = 0
        self.packets = self.gaps = self.checked = self.failed = 0
        self.codec = None
        self.sample: list[bytes] = []  # whole access units, from a keyframe
        self._frame: list[bytes] | None = None  # the sampled viewer's frame being reassembled
        self._next_sequence: int | None = None

    def _bind(self) -> bool:
        """Find the viewer's RTP receiver (aiortc registers it just after DTLS connects)."""
        receivers = self.dtls._rtp_router.receivers
        if not receivers:
            return False
        receiver = next(iter(receivers))
        codecs = receiver._RTCRtpReceiver__codecs
        video = [c for c in codecs.values() if not is_rtx(c)]
        if not video:
            return False
        self.receiver, self.codec = receiver, video[0]
        self.video_types = {c.payloadType for c in video}
        self.streams = receiver._RTCRtpReceiver__remote_streams  # (read by its RTCP task and getStats)
        self.counter = rtcrtpreceiver.get_decoder(self.codec)  # fanout_bench.py's counter, made as aiortc would
        return True

    def datagram(self, data: bytes) -> bool:
        """An SRTP media datagram; False (not handled) until the receiver exists."""
        if self.receiver is None and not self._bind():
            return False
        ssrc = int.from_bytes(data[8:12], "big")
        stream = self.streams.get(ssrc)
        if stream is None:
            stream = self.streams[ssrc] = HeaderStatistics(self.codec.clockRate)
        if stream.add_sequence(data[2] << 8 | data[3]):
            self.gaps += 1
        self.packets += 1
        if (data[1] & 0x7F) in self.video_types:
            self.frame_bytes += len(data)
            if data[1] & 0x80:  # marker: the frame's last packet
                self.counter.frames += 1
                self.counter.bytes += self.frame_bytes
                self.frame_bytes = 0
            if self.sampled and len(self.sample) < SAMPLE_FRAMES:
                self._keep(data)
                return True
        if self.packets % CHECK_EVERY == 0:
            self._unprotect(data)
        return True

    def _unprotect(self, data: bytes) -> bytes | None:
        self.checked += 1
        try:
            return self.dtls._rx_srtp.unprotect(data)
        except pylibsrtp.Error:
            self.failed += 1
            return None

    def _keep(self, data: bytes) -> None:
        clear = self._unprotect(data)
        if clear is None:
            self._frame = None
            return
        packet = RtpPacket.parse(clear, self.dtls._rtp_header_extensions_map)
        if self._next_sequence is not None and packet.sequence_number != self._next_sequence:
            # A packet lost (a light viewer sends no NACK): the frames after it would not decode
            # either, so the sample starts again at the next keyframe.
            self.sample, self._frame = [], None
        self._next_sequence = (packet.sequence_number + 1) & 0xFFFF
        if self._frame is not None:
            self._frame.append(depayload(self.codec, packet.payload))
        if packet.marker:
            unit, self._frame = b"".join(self._frame or ()), []  # (a whole frame follows a marker)
            if unit and (self.sample or _has_keyframe(unit)):
                self.sample.append(unit)

    def figures(self) -> dict:
        lost = sum(max(0, s.packets_expected - s.packets_received) for s in self.streams.values() if s.base_seq is not None)
        return {"packets": self.packets, "gaps": self.gaps, "lost": lost, "srtp_checked": self.checked, "srtp_failed": self.failed}


def _has_keyframe(annex_b: bytes) -> bool:
    at = annex_b.find(b"\x00\x00\x01")
    while at != -1 and at + 3 < len(annex_b):
        if annex_b[at + 3] & 0x1F == 5:
            return True
        at = annex_b.find(b"\x00\x00\x01", at + 3)
    return False


def decode(units: list[bytes]) -> dict:
    """The sampled frames through PyAV's H.264 decoder: how many pictures, of which sizes."""
    import av

    codec = av.CodecContext.create("h264", "r")
    pictures, sizes, errors = 0, set(), 0
    for unit in units:
        try:
            for frame in codec.decode(av.Packet(unit)):
                pictures += 1
                sizes.add(f"{frame.width}x{frame.height}")
        except av.error.FFmpegError:
            errors += 1
    return {"frames": len(units), "pictures": pictures, "sizes": sorted(sizes), "errors": errors}


def install() -> None:
    """Light viewers for every DTLS transport of this process from now on."""
    original_set_state = rtcdtlstransport.RTCDtlsTransport._set_state
    original_datagram = aioice.ice.StunProtocol.datagram_received

    def set_state(dtls, state) -> None:
        original_set_state(dtls, state)
        if state == rtcdtlstransport.State.CONNECTED and dtls._rx_srtp is not None:
            viewer = LightViewer(dtls, sampled=not VIEWERS)
            VIEWERS.append(viewer)
            dtls.transport._connection.light_viewer = viewer

    def datagram_received(protocol, data: bytes, addr: tuple) -> None:
        # SRTP media: first byte 128-191 (RTP version 2), second not an RTCP packet type (192-208)
        if 127 < data[0] < 192 and not 192 <= data[1] <= 208:
            viewer = getattr(protocol.receiver, "light_viewer", None)
            if viewer is not None and viewer.datagram(data):
                return
        original_datagram(protocol, data, addr)

    rtcdtlstransport.RTCDtlsTransport._set_state = set_state
    aioice.ice.StunProtocol.datagram_received = datagram_received


def report() -> dict:
    """Every light viewer of this process together, and the sampled viewer's decode."""
    each = [v.figures() for v in VIEWERS]
    total = {key: sum(f[key] for f in each) for key in ("packets", "gaps", "lost", "srtp_checked", "srtp_failed")}
    sampled = next((v for v in VIEWERS if v.sampled), None)
    total["viewers"] = len(VIEWERS)
    total["sample"] = decode(sampled.sample) if sampled and sampled.sample else None
    return total
