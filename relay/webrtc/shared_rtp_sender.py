"""The per-viewer RTP send path of the shared fan-out (`relay.fanout: shared`).

aiortc's RTCRtpSender packetizes every frame again for every viewer, builds an `RtpPacket`
object per packet, serialises its header and extensions in Python and awaits five coroutines
per packet on the way to the socket (sender -> DTLS transport -> ICE transport -> aioice
connection -> protocol). For a relay sending the same camera to many viewers that is most of
its CPU. Here, per viewer, only what must differ is done:

- the payloads come from the camera's `SharedPayloads` (packetized once per camera);
- the header is a template made once per viewer with aiortc's own serialiser (its SSRC,
  payload type and the negotiated extensions: mid, abs-send-time), into which marker,
  sequence number and timestamp are packed, and the abs-send-time once per frame;
- the packet is protected with the DTLS transport's own SRTP session (libsrtp through
  pylibsrtp) and a frame's packets go to the nominated ICE pair's socket directly, without the
  coroutine chain, in as few system calls as UDP GSO allows (relay/webrtc/udp_batch.py; a
  TURN-relayed pair, whose protocol wraps data, still goes aiortc's way).

aiortc keeps everything else: SDP, ICE, DTLS, RTCP (its sender reports read the counters kept
here), PLI/FIR (relay/webrtc/picture_loss.py) and NACK, which calls `_retransmit`, answered
here from a ring of the last `HISTORY` packets sent to this viewer. The ring holds references
to the camera's shared payload bytes, not copies; with RTX negotiated the repair goes out as
RTX (RFC 4588), as aiortc's sender does.

How it goes around RTCRtpSender: the sender's `_run_rtp` (the task `send()` starts) and
`_retransmit` are replaced on the instance before negotiation; aiortc's `stop()` cancels the
task as it would its own. That relies on aiortc internals (name-mangled counters and events of
RTCRtpSender, `RTCDtlsTransport._tx_srtp`, aioice's nominated pair), tested with aiortc 1.16.0,
checked by `check_aiortc_internals()` at every viewer's offer and by tests/test_whep_fanout.py.

This task sends a viewer's start (the GOP cache, paced and retimed). Once the viewer has caught
up it joins its camera's one task (relay/webrtc/camera_fanout.py), which sends every live
viewer of the camera each frame from one loop iteration, and parks until the viewer leaves, or
until that task ends under it: then it goes on from a new subscription (the GOP cache, retimed
onto the same clock and sequence) and joins the camera's next task; after `MAX_HAND_BACKS` of
those it stays on its own task (a camera task that keeps failing must not take its viewers along).
"""

from __future__ import annotations

import asyncio
import logging
from struct import pack, pack_into
from typing import TYPE_CHECKING

from aioice.ice import StunProtocol
from aiortc import RTCRtpSender, clock
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket
from aiortc.utils import random32

from relay.webrtc.bus_track import BusVideoTrack
from relay.webrtc.shared_payloads import SharedPayloads
from relay.webrtc.udp_batch import UdpBatchSender

if TYPE_CHECKING:
    from relay.webrtc.camera_fanout import CameraFanout, CameraFanouts, LiveViewer

log = logging.getLogger(__name__)

CHASE_FRAMES = 25  # at most a second behind the camera's task is caught up unpaced
MAX_HAND_BACKS = 3  # camera tasks that may end under a viewer before it stops joining them
HISTORY = 512  # packets per viewer for NACK: ~2 s at 2 Mbit/s (a power of two: seq & mask)
_MASK = HISTORY - 1
_MANGLED = ("rtp_started", "rtp_exited", "mid", "rtp_header_extensions_map", "rtx_payload_type",
            "rtx_sequence_number", "ntp_timestamp", "rtp_timestamp", "octet_count", "packet_count")


def _private(name: str) -> str:
    return f"_RTCRtpSender__{name}"


_NTP_TIMESTAMP, _RTP_TIMESTAMP, _OCTET_COUNT, _PACKET_COUNT = map(_private, ("ntp_timestamp", "rtp_timestamp", "octet_count", "packet_count"))


def check_aiortc_internals(sender: RTCRtpSender) -> None:
    """Fail loudly if aiortc's sender no longer has what this path takes over."""
    missing = [n for n in _MANGLED if not hasattr(sender, _private(n))]
    missing += [n for n in ("_run_rtp", "_retransmit", "_ssrc", "_rtx_ssrc") if not hasattr(sender, n)]
    if missing:
        raise RuntimeError(f"this aiortc version's RTCRtpSender lacks {missing}; see relay/webrtc/shared_rtp_sender.py")


def write_sender_counters(sender: RTCRtpSender, ntp_timestamp: int, rtp_timestamp: int, octets: int, packets: int) -> None:
    """What aiortc's RTCP sender reports read (its own sender writes them per packet)."""
    sender_vars = vars(sender)
    sender_vars[_NTP_TIMESTAMP] = ntp_timestamp
    sender_vars[_RTP_TIMESTAMP] = rtp_timestamp
    sender_vars[_OCTET_COUNT] = octets
    sender_vars[_PACKET_COUNT] = packets


def header_template(sender: RTCRtpSender, payload_type: int, ssrc: int) -> tuple[bytes, int | None]:
    """A serialised header (marker, sequence and timestamp zero) with the viewer's negotiated
    extensions, and the offset of abs-send-time's 3 bytes in it (None if not negotiated)."""
    extensions_map = getattr(sender, _private("rtp_header_extensions_map"))
    mid = getattr(sender, _private("mid"))

    def serialised(abs_send_time: int) -> bytes:
        packet = RtpPacket(payload_type=payload_type, ssrc=ssrc)
        packet.extensions.mid = mid
        packet.extensions.abs_send_time = abs_send_time
        return packet.serialize(extensions_map)

    low, high = serialised(0), serialised(0xFFFFFF)
    differ = [i for i, (a, b) in enumerate(zip(low, high)) if a != b]
    return low, (differ[0] if differ else None)


class SharedRtpSender:
    """Installed on one viewer's RTCRtpSender; sends the track's frames from shared payloads."""

    def __init__(self, sender: RTCRtpSender, track: BusVideoTrack, camera_id: str, payloads: SharedPayloads,
                 batch: UdpBatchSender, fanouts: CameraFanouts | None = None):
        check_aiortc_internals(sender)
        self.sender = sender
        self.track = track
        self.camera_id = camera_id
        self.payloads = payloads
        self.batch = batch
        # (sequence number, timestamp, marker, payload) of the last HISTORY packets, by seq & mask
        self.history: list[tuple[int, int, int, bytes] | None] = [None] * HISTORY
        self.retransmitted = 0
        self.payload_type = 0  # the negotiated H.264 payload type, once sending
        self._templates: dict[int, tuple[bytearray, int | None]] = {}
        # the camera's task this viewer joins once caught up (None: this task sends to the end)
        self.fanouts = fanouts
        self.live: LiveViewer | None = None
        self.handed_back = 0  # times a camera task ended under this viewer
        # (the task that ended under it, and its place there: NACKs of its last packets, until it joins again)
        self._handed_from: tuple[CameraFanout, LiveViewer] | None = None
        # (made now, so the camera's task is live by the time this viewer has caught up)
        self._fanout: CameraFanout | None = fanouts.get(camera_id) if fanouts is not None else None
        sender._run_rtp = self._run_rtp
        sender._retransmit = self._retransmit

    # -- the parts of aiortc used on the way out ----------------------------------------------

    def _set(self, name: str, value: object) -> None:
        setattr(self.sender, _private(name), value)

    def _get(self, name: str):
        return getattr(self.sender, _private(name))

    def _dtls(self) -> RTCDtlsTransport:
        dtls = self.sender.transport
        if dtls._state != State.CONNECTED:
            raise ConnectionError("DTLS is not connected")
        return dtls

    @staticmethod
    def _datagram_path(dtls: RTCDtlsTransport):
        """(datagram transport, remote address) of the nominated pair, or None for a pair whose
        protocol does more than send (TURN)."""
        connection = dtls.transport._connection
        pair = connection._nominated.get(1)
        if pair is None:
            raise ConnectionError("ICE has no nominated pair")
        if type(pair.protocol) is not StunProtocol or pair.protocol.transport is None:
            return None
        return pair.protocol.transport, pair.remote_addr

    def _template(self, payload_type: int, ssrc: int) -> tuple[bytearray, int | None]:
        template = self._templates.get(ssrc)
        if template is None:
            raw, abs_offset = header_template(self.sender, payload_type, ssrc)
            template = self._templates[ssrc] = (bytearray(raw), abs_offset)
        return template

    # -- sending ------------------------------------------------------------------------------

    async def _send(self, dtls: RTCDtlsTransport, packets: list[bytes]) -> None:
        protect = dtls._tx_srtp.protect
        path = self._datagram_path(dtls)
        if path is None:
            for packet in packets:
                await dtls._send_rtp(packet)
            return
        transport, address = path
        self.batch.send(transport, [protect(packet) for packet in packets], address)
        # (aiortc's transport statistics count what went through it)
        dtls._RTCDtlsTransport__tx_packets += len(packets)
        dtls._RTCDtlsTransport__tx_bytes += sum(map(len, packets))

    async def _run_rtp(self, codec: RTCRtpCodecParameters) -> None:
        self._get("rtp_started").set()
        sequence = random32() % 32768  # lower half, as aiortc: no early wrap-around
        timestamp_origin = random32()
        self.payload_type = payload_type = codec.payloadType
        header, abs_offset = self._template(payload_type, self.sender._ssrc)
        history, payloads_of, camera_id = self.history, self.payloads.payloads, self.camera_id
        octets = packets_sent = 0
        chase = False  # behind the camera's task by a few queued frames: send them unpaced, then join
        try:
            while True:
                media, out = await self.track.next_frame(pace=not chase)
                payloads = payloads_of(camera_id, media)
                if not payloads:
                    continue
                timestamp = (timestamp_origin + out) & 0xFFFFFFFF
                ntp_now = clock.current_ntp_time()  # once per frame: the packets leave together
                if abs_offset is not None:
                    pack_into("!L", header, abs_offset - 1, header[abs_offset - 1] << 24 | (ntp_now >> 14) & 0xFFFFFF)
                last = len(payloads) - 1
                packets = []
                for index, payload in enumerate(payloads):
                    marker = 1 if index == last else 0
                    pack_into("!BHL", header, 1, marker << 7 | payload_type, sequence, timestamp)
                    packets.append(bytes(header) + payload)
                    history[sequence & _MASK] = (sequence, timestamp, marker, payload)
                    octets += len(payload)
                    sequence = (sequence + 1) & 0xFFFF
                dtls = self._dtls()
                await self._send(dtls, packets)
                packets_sent += len(packets)
                write_sender_counters(self.sender, ntp_now, timestamp, octets, packets_sent)
                # (with frames still queued it joins only if the camera's task is at the same
                # packet: the queued ones are in that task's queue too and go out from there)
                if self.fanouts is not None and (not self.track.subscription.pending() or self._fanout.last_packet is media):
                    chase = False
                    self.live = await self._join_camera(dtls, media, out, timestamp_origin, sequence, header, abs_offset,
                                                        octets, packets_sent)
                    if self.live is not None:
                        self.track.subscription.close()  # the camera's task sends from now on
                        handed = await self.live.done
                        self._handed_from, self.live = (self._fanout, self.live), None
                        if handed is None:
                            break  # (left)
                        self._resume()
                        sequence, octets, packets_sent = handed.sequence, handed.octets, handed.packets
                        timestamp_origin = (handed.timestamp - self.track.last_out) & 0xFFFFFFFF
                elif self.fanouts is not None:
                    # On a busy loop the camera's task (cheap) is always a frame or two ahead when
                    # this task gets its turn, so waiting for the same packet never meets it: the
                    # frames up to the camera task's are queued here too, and go out now, in
                    # this same turn (no await suspends while the queue has them), then it joins.
                    chase = self.track.subscription.pending() <= CHASE_FRAMES
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except Exception:
            log.exception("shared RTP sender of %s stopped", self.camera_id)
        finally:
            if self.live is not None:
                self._fanout.leave(self.live)
                self.live = None
            self.track.stop()
            self.history = [None] * HISTORY
            self._handed_from = None
            self._get("rtp_exited").set()

    def _resume(self) -> None:
        """The camera's task ended under this viewer: its own task sends again, from a new
        subscription on the same outgoing clock, and joins the camera's next task."""
        self.handed_back += 1
        log.info("a viewer of %s goes on from its own task (its camera's task ended)", self.camera_id)
        self.track.resubscribe(self.fanouts.bus.subscribe(self.camera_id))
        if self.handed_back >= MAX_HAND_BACKS:
            self.fanouts = None
        else:
            self._fanout = self.fanouts.get(self.camera_id)

    async def _join_camera(self, dtls: RTCDtlsTransport, sent, out: int, timestamp_origin: int, sequence: int,
                           header: bytearray, abs_offset: int | None, octets: int, packets: int) -> LiveViewer | None:
        """Hand this caught-up viewer to its camera's task, if that task has just handed out
        the same bus packet (it may be a loop iteration behind: give it two more)."""
        path = self._datagram_path(dtls)
        if path is None:
            self.fanouts = None  # TURN-relayed: aiortc's way to the end
            return None
        fanout = self._fanout = self.fanouts.get(self.camera_id)  # (the same, unless it ended)
        for _ in range(3):
            try:
                live = fanout.join(sent, out, timestamp_origin, sequence, sender=self.sender, dtls=dtls, transport=path[0],
                                   address=path[1], header=header, abs_offset=abs_offset, payload_type=self.payload_type,
                                   octets_before=octets, packets_before=packets)
            except (ValueError, OSError) as exc:  # (an address the extension cannot take: stay on this task)
                log.warning("viewer of %s stays on its own task: %s", self.camera_id, exc)
                self.fanouts = None
                return None
            if live is not None:
                self._handed_from = None
                return live
            await asyncio.sleep(0)
        return None

    async def _retransmit(self, sequence_number: int) -> None:
        """A NACKed packet again, from the camera's ring once this viewer is live there, else
        from this viewer's own (RTX-wrapped when negotiated). Never raises: aiortc calls it from
        its DTLS transport's receive loop, which an exception would end (and with it RTCP)."""
        try:
            await self._retransmit_from_history(sequence_number)
        except Exception:
            log.exception("NACK repair of packet %d to a viewer of %s failed", sequence_number, self.camera_id)

    async def _retransmit_from_history(self, sequence_number: int) -> None:
        live = self.live
        found = live is not None and self._fanout.find(live, sequence_number)
        if not found and self._handed_from is not None:
            found = self._handed_from[0].find(self._handed_from[1], sequence_number)
        if found:
            timestamp, marker, payload = found
        else:
            entry = self.history[sequence_number & _MASK]
            if entry is None or entry[0] != sequence_number:
                return  # too old: the viewer asks for a keyframe instead
            _, timestamp, marker, payload = entry
        rtx_payload_type = self._get("rtx_payload_type")
        if rtx_payload_type is not None:
            header, _ = self._template(rtx_payload_type, self.sender._rtx_ssrc)
            rtx_sequence = self._get("rtx_sequence_number")
            self._set("rtx_sequence_number", (rtx_sequence + 1) & 0xFFFF)
            pack_into("!BHL", header, 1, marker << 7 | rtx_payload_type, rtx_sequence, timestamp)
            packet = bytes(header) + pack("!H", sequence_number) + payload
        else:
            header, _ = self._template(self.payload_type, self.sender._ssrc)
            pack_into("!BHL", header, 1, marker << 7 | self.payload_type, sequence_number, timestamp)
            packet = bytes(header) + payload
        self.retransmitted += 1
        try:
            await self._send(self._dtls(), [packet])
        except ConnectionError:
            pass
