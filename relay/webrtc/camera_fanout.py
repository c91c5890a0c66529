"""One task per camera for the WHEP viewers that have caught up with live (`relay.fanout: shared`).

With a task per viewer, every bus frame wakes as many tasks as there are viewers (each with
its own bus subscription and cross-thread wake-up), and the event loop's own work grows with
the audience before a byte is sent. Here a camera has one bus subscription and one task: each
frame is packetized once (relay/webrtc/shared_payloads.py) and goes to every live viewer from
the same loop iteration, per viewer only the header fields, SRTP and the send; with
`relay.fanout_send: native` all of that is one call into relay.webrtc._fastsend for all
viewers (relay/webrtc/fastsend.py), else a Python loop over the viewers.

A viewer is not live at once: it starts from the GOP cache on its own subscription, paced and
retimed by its own task (relay/webrtc/shared_rtp_sender.py). Once its queue is empty and the
camera's task has handed out the same bus packet it just sent, it joins here (its own
subscription closed, its task parked until it leaves): its RTP timestamps continue from its own
(a per-viewer base added to the camera's outgoing time) and its sequence numbers from its last.
A viewer behind a TURN relay never joins (its packets go aiortc's way).

If the camera's task ends under its viewers (an exception, its subscription ended: not a viewer
leaving), each is handed back to its own task with where its stream stood (`HandBack`: next
sequence number, last RTP timestamp, counts); that task subscribes again, goes on from the GOP
cache on the same sequence and clock, and joins the camera's next task.

NACK: a joined viewer's packets are found again from the camera's ring of the last frames
(which payloads, at which running packet count) and the viewer's sequence number at joining,
so nothing is kept per viewer and packet. aiortc's RTCP sender reports read counters written
here every few frames.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from struct import pack_into

from aiortc import clock
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State

from pantau.bus.stream_bus import MediaPacket, StreamBus
from relay.webrtc.bus_track import BusVideoTrack
from relay.webrtc.fastsend import FastSend
from relay.webrtc.relay_latency import RelayLatency
from relay.webrtc.shared_payloads import SharedPayloads
from relay.webrtc.shared_rtp_sender import write_sender_counters
from relay.webrtc.udp_batch import UdpBatchSender

log = logging.getLogger(__name__)

FRAMES_KEPT = 64  # ~2.5 s at 25 fps of NACK repairs from the camera's ring
REPORT_EVERY = 5  # frames between updates of aiortc's sender-report counters
# Packets x viewers of a frame from which the compiled send is split over two threads: ~2 ms of
# sending at the ~5 µs a packet bench/relay.py's trace found on loopback (kernel delivery
# included; 2026-12-07, 100 viewers: a 9-packet frame took 5 ms, a keyframe 18 packets, 12 ms),
# so from ~45 viewers of a 720p 2 Mbit/s camera.
PARALLEL_FROM_PACKETS = 400


@dataclass(frozen=True)
class HandBack:
    """Where a viewer's stream stood when its camera's task ended under it."""

    sequence: int  # its next RTP sequence number
    timestamp: int  # the RTP timestamp of the last frame sent to it
    octets: int  # payload octets sent to it in all (its sender reports go on counting)
    packets: int


@dataclass(eq=False)
class LiveViewer:
    """What the camera's task knows of one joined viewer."""

    sender: object  # its RTCRtpSender (aiortc's RTCP reads the counters written here)
    dtls: object  # its RTCDtlsTransport: SRTP session and transport statistics
    transport: object  # the nominated pair's asyncio datagram transport
    address: tuple
    header: bytearray  # the viewer's RTP header template (SSRC, extensions)
    abs_offset: int | None
    payload_type: int
    ts_base: int  # RTP timestamp = ts_base + the camera's outgoing 90 kHz time
    sequence: int  # next sequence number (Python path; the extension keeps its own)
    sequence_at_join: int
    packets_at_join: int  # the running packet count of the camera when the viewer joined
    octets_before: int  # octets sent to it before joining (its own task's)
    packets_before: int
    # its result: None once it has left, a HandBack if the camera's task ended under it
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    index: int = -1  # its struct in the extension's array
    octets_at_join: int = 0  # the running octet count of the camera when the viewer joined
    reported_packets: int = 0
    reported_octets: int = 0


class CameraFanout:
    def __init__(self, camera_id: str, bus: StreamBus, payloads: SharedPayloads, batch: UdpBatchSender,
                 native: FastSend | None, latency_samples: RelayLatency | None = None, parallel: bool = False):
        self.camera_id = camera_id
        self.parallel = parallel  # large frames half from the helper thread (relay.fanout_send_threads: 2)
        self.payloads = payloads
        self.batch = batch
        self.native = native
        # Not paced: this task must be live before its first viewer is (it sends nothing while it
        # has none), and live viewers are not held back when the loop was late.
        self.track = BusVideoTrack(bus.subscribe(camera_id), float("inf"))
        # ingest receipt -> the frame handed to the kernel for each live viewer (live frames)
        self.latency_samples = latency_samples
        self.viewers: list[LiveViewer] = []
        self.last_packet: MediaPacket | None = None  # the last bus packet handed out, and its time
        self.last_out = 0
        # (running packet count at the frame's first packet, outgoing time, payloads)
        self.frames: deque[tuple[int, int, tuple[bytes, ...]]] = deque(maxlen=FRAMES_KEPT)
        self.packets = 0  # running count of packets per viewer since the camera's task started
        self.octets = 0
        self.frames_sent = 0
        if native is not None:
            self._structs = native.ffi.new("struct fs_viewer[]", 8)
            self._scratch = native.ffi.new("unsigned char[]", native.slot_size * native.batch_size)
            self._helper_scratch = native.ffi.new("unsigned char[]", native.slot_size * native.batch_size)
        self.task = asyncio.ensure_future(self._run())

    # -- joining and leaving --------------------------------------------------------------------

    def join(self, sent: MediaPacket, out: int, timestamp_origin: int, sequence: int, **viewer) -> LiveViewer | None:
        """Take over a viewer whose own task just sent bus packet `sent` at outgoing time `out`
        (its RTP timestamp `timestamp_origin + out`), next sequence number `sequence`; None
        if this camera's task has not handed out that same packet last."""
        if self.last_packet is not sent or self.task.done():
            return None
        live = LiveViewer(ts_base=(timestamp_origin + out - self.last_out) & 0xFFFFFFFF, sequence=sequence,
                          sequence_at_join=sequence, packets_at_join=self.packets, octets_at_join=self.octets, **viewer)
        if self.native is not None:
            self._add_struct(live)
        self.viewers.append(live)
        return live

    def leave(self, live: LiveViewer, hand_back: HandBack | None = None) -> None:
        if live in self.viewers:
            self.viewers.remove(live)
            if self.native is not None:
                self._remove_struct(live)
        if not live.done.done():
            live.done.set_result(hand_back)

    def _hand_back(self, live: LiveViewer) -> HandBack:
        """Where `live`'s stream stands (read before it leaves: the extension keeps its sequence)."""
        sequence = self._structs[live.index].seq if self.native is not None and live.index >= 0 else live.sequence
        return HandBack(sequence=sequence & 0xFFFF, timestamp=(live.ts_base + self.last_out) & 0xFFFFFFFF,
                        octets=live.octets_before + self.octets - live.octets_at_join,
                        packets=live.packets_before + self.packets - live.packets_at_join)

    def _add_struct(self, live: LiveViewer) -> None:
        count = len(self.viewers)
        if count == len(self._structs):
            grown = self.native.ffi.new("struct fs_viewer[]", 2 * count)
            self.native.ffi.memmove(grown, self._structs, self.native.ffi.sizeof("struct fs_viewer") * count)
            self._structs = grown
        self.native.fill_viewer(self._structs + count, live.transport.get_extra_info("socket"), live.address,
                                live.dtls._tx_srtp, bytes(live.header), live.abs_offset, live.payload_type,
                                live.sequence, live.ts_base)
        live.index = count

    def _remove_struct(self, live: LiveViewer) -> None:
        last = len(self.viewers)  # (already removed from the list: the struct array is one longer)
        self.native.release(self._structs[live.index])
        if live.index != last:
            self._structs[live.index] = self._structs[last]
            moved = next(v for v in self.viewers if v.index == last)
            moved.index = live.index
        live.index = -1

    # -- the camera's loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        cancelled = False
        try:
            while True:
                media, out = await self.track.next_frame()
                self.last_packet, self.last_out = media, out
                if not self.viewers:
                    continue
                payloads = self.payloads.payloads(self.camera_id, media)
                if not payloads:
                    continue
                self.frames.append((self.packets, out, payloads))
                ntp_now = clock.current_ntp_time()
                if self.native is not None:
                    sent_at = self._send_native(payloads, out, ntp_now)
                else:
                    start = self.frames_sent % len(self.viewers)  # (served in turn: see _send_native)
                    sent_at = [self._send_python(live, payloads, out, ntp_now) for live in self.viewers[start:] + self.viewers[:start]]
                if self.latency_samples is not None and self.track.live and media.received_at:
                    # one sample per viewer, at its own packets' hand-over: what each viewer
                    # waits (the last of many gets the frame a few ms after the first)
                    received_at = media.received_at
                    self.latency_samples.extend(at - received_at for at in sent_at if at)
                self.packets += len(payloads)
                self.octets += sum(map(len, payloads))
                self.frames_sent += 1
                if self.frames_sent % REPORT_EVERY == 0:
                    self._report(ntp_now, out)
        except asyncio.CancelledError:
            cancelled = True  # (released: its last viewer has left)
        except MediaStreamError:
            pass
        except Exception:
            log.exception("fan-out of %s stopped; its viewers go on from their own tasks", self.camera_id)
        finally:
            self.track.stop()
            for live in list(self.viewers):
                self.leave(live, None if cancelled else self._hand_back(live))

    def _send_native(self, payloads: tuple[bytes, ...], out: int, ntp_now: int) -> list[float]:
        """Sends the frame to every live viewer; when each viewer's packets left (time.time())."""
        native = self.native
        lengths = native.ffi.new("int[]", [len(p) for p in payloads])
        frame = (b"".join(payloads), lengths, len(payloads), out & 0xFFFFFFFF, (ntp_now >> 14) & 0xFFFFFF)
        count = len(self.viewers)
        if self.parallel and count > 1 and count * len(payloads) >= PARALLEL_FROM_PACKETS:
            # A frame to many viewers: the second half from the helper thread at the same time
            # (the call lets go of the GIL), waited for here, so no join or leave can move the
            # structs under it; the last viewer gets the frame about half as late.
            half = count // 2
            helper = native.helper().submit(native.lib.fs_send_frame, native.protect, self._structs + half, count - half,
                                            *frame, self._helper_scratch)
            native.lib.fs_send_frame(native.protect, self._structs, half, *frame, self._scratch)
            helper.result()
        else:
            # Each frame starts one viewer further along: the last of 100 gets a frame ~5 ms
            # after the first, and no viewer should be the last every time.
            start = self.frames_sent % count
            if start:
                native.lib.fs_send_frame(native.protect, self._structs + start, count - start, *frame, self._scratch)
            native.lib.fs_send_frame(native.protect, self._structs, start or count, *frame, self._scratch)
        structs = self._structs
        return [structs[index].sent_at for index in range(count)]

    def _send_python(self, live: LiveViewer, payloads: tuple[bytes, ...], out: int, ntp_now: int) -> float:
        """When the viewer's packets left (time.time()), 0.0 if it has left instead."""
        if live.transport.is_closing():
            self.leave(live)
            return 0.0
        header, payload_type, sequence = live.header, live.payload_type, live.sequence
        timestamp = (live.ts_base + out) & 0xFFFFFFFF
        if live.abs_offset is not None:
            offset = live.abs_offset
            pack_into("!L", header, offset - 1, header[offset - 1] << 24 | (ntp_now >> 14) & 0xFFFFFF)
        protect = live.dtls._tx_srtp.protect
        last = len(payloads) - 1
        packets = []
        for index, payload in enumerate(payloads):
            pack_into("!BHL", header, 1, (index == last) << 7 | payload_type, sequence, timestamp)
            packets.append(protect(bytes(header) + payload))
            sequence = (sequence + 1) & 0xFFFF
        live.sequence = sequence
        self.batch.send(live.transport, packets, live.address)
        return time.time()

    def _report(self, ntp_now: int, out: int) -> None:
        """What aiortc's RTCP sender reports and transport statistics read, for every viewer."""
        for live in list(self.viewers):
            if live.dtls._state != State.CONNECTED:  # (the extension cannot tell; its session ends soon)
                self.leave(live)
                continue
            packets = self.packets - live.packets_at_join
            octets = self.octets - live.octets_at_join
            write_sender_counters(live.sender, ntp_now, (live.ts_base + out) & 0xFFFFFFFF,
                                  live.octets_before + octets, live.packets_before + packets)
            live.dtls._RTCDtlsTransport__tx_packets += packets - live.reported_packets
            live.dtls._RTCDtlsTransport__tx_bytes += octets - live.reported_octets
            live.reported_packets, live.reported_octets = packets, octets

    # -- NACK ----------------------------------------------------------------------------------

    def find(self, live: LiveViewer, sequence: int) -> tuple[int, int, bytes] | None:
        """(RTP timestamp, marker, payload) of the packet this viewer got with `sequence` from
        this camera's task, or None (before it joined, or no longer in the ring)."""
        since_join = (sequence - live.sequence_at_join) & 0xFFFF
        if since_join >= self.packets - live.packets_at_join:
            return None
        wanted = live.packets_at_join + since_join
        starts = [start for start, _, _ in self.frames]
        at = bisect.bisect_right(starts, wanted) - 1
        if at < 0:
            return None
        start, out, payloads = self.frames[at]
        index = wanted - start
        if index >= len(payloads):
            return None
        return (live.ts_base + out) & 0xFFFFFFFF, int(index == len(payloads) - 1), payloads[index]

    def stop(self) -> None:
        self.task.cancel()


class CameraFanouts:
    """The camera tasks of one relay: made with a camera's first viewer, ended with its last."""

    def __init__(self, bus: StreamBus, payloads: SharedPayloads, batch: UdpBatchSender, native: FastSend | None,
                 latency_samples: RelayLatency | None = None, parallel: bool = False):
        self.bus = bus
        self.payloads, self.batch, self.native, self.latency_samples = payloads, batch, native, latency_samples
        self.parallel = parallel
        self._cameras: dict[str, CameraFanout] = {}

    def get(self, camera_id: str) -> CameraFanout:
        fanout = self._cameras.get(camera_id)
        if fanout is None or fanout.task.done():
            fanout = self._cameras[camera_id] = CameraFanout(camera_id, self.bus, self.payloads, self.batch, self.native,
                                                             self.latency_samples, self.parallel)
        return fanout

    def release(self, camera_id: str) -> None:
        fanout = self._cameras.pop(camera_id, None)
        if fanout is not None:
            fanout.stop()

    def cameras(self) -> int:
        return len(self._cameras)
