"""Encoded video out of an aiortc receiver, without aiortc's decoder; keyframe requests back.

aiortc's RTCRtpReceiver reassembles each frame (H.264: an Annex-B access unit; VP8: one
frame) and puts `(codec, JitterFrame)` on a private queue that its decoder thread reads.
Ingest wants the encoded frames (H.264 passes through untouched), so `tap_encoded_frames`
swaps that queue for one that hands each frame to a callback instead. Only the end-of-stream
marker (None) is queued, so the receiver's idle decoder thread still ends when it stops.

Sound skips aiortc's jitter buffer: it holds four audio frames before it hands out the first
(80 ms of a browser's 20 ms Opus, 240 ms of a Pantau upstream's 60 ms), and ingest passes the
packets on as they are (a relay's viewers have their own jitter buffers): each Opus packet is
a frame, handed over as it arrives; one that comes late or twice is dropped.

`watch_sender_reports` hands over each RTCP sender report (the sender's wall clock and the
RTP timestamp it was at, on the tap's clock): what places a sound track on its picture's clock.

This relies on aiortc internals (pinned in pyproject.toml; checked by tests/test_whip.py):
the name-mangled `_RTCRtpReceiver__decoder_queue`, `__jitter_buffer`, `__kind`, `__remote_streams` (the sender's SSRCs),
`__timestamp_mapper`, `_handle_rtcp_packet` and `_send_rtcp_pli`. Both fail loudly if they are gone.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtcpSrPacket, RtpPacket

log = logging.getLogger(__name__)

# (codec name "H264" | "VP8", frame bytes, RTP timestamp on a 90 kHz clock starting near 0)
FrameCallback = Callable[[str, bytes, int], None]

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_KIND = "_RTCRtpReceiver__kind"
_REMOTE_STREAMS = "_RTCRtpReceiver__remote_streams"
_TIMESTAMP_MAPPER = "_RTCRtpReceiver__timestamp_mapper"
# (sender's wall clock in seconds (NTP), RTP timestamp on the tap's clock then)
ReportCallback = Callable[[float, int], None]


class _EncodedFrameTap(queue.Queue):
    def __init__(self, on_frame: FrameCallback):
        super().__init__()
        self._on_frame = on_frame

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver is stopping: let its decoder thread see the end
            super().put(None, block, timeout)
            return
        codec, frame = item
        try:
            self._on_frame(codec.name, frame.data, frame.timestamp)
        except Exception:  # a bad frame must not break aiortc's RTP handling
            log.exception("encoded frame handler failed")


class _PacketPerFrame(JitterBuffer):
    """Sound: every RTP packet is a whole frame, handed out as it arrives (in order only)."""

    def __init__(self) -> None:
        super().__init__(capacity=16)
        self._last: int | None = None  # the last sequence number handed out

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        step = None if self._last is None else (packet.sequence_number - self._last) % (1 << 16)
        if step == 0 or (step is not None and step >= 1 << 15):
            return False, None  # repeated, or late: its moment has passed
        self._last = packet.sequence_number
        return False, JitterFrame(packet.payload, packet.timestamp)


def tap_encoded_frames(receiver: RTCRtpReceiver, on_frame: FrameCallback) -> None:
    """Call before the connection starts (before the receiver's `receive()`)."""
    if not all(hasattr(receiver, name) for name in (_DECODER_QUEUE, _REMOTE_STREAMS, _JITTER_BUFFER, _KIND)):
        raise RuntimeError("this aiortc version has no receiver decoder queue to tap; see ingest/sources/webrtc_receiver.py")
    setattr(receiver, _DECODER_QUEUE, _EncodedFrameTap(on_frame))
    if getattr(receiver, _KIND) == "audio":
        setattr(receiver, _JITTER_BUFFER, _PacketPerFrame())


def watch_sender_reports(receiver: RTCRtpReceiver, on_report: ReportCallback) -> None:
    """Call before the connection starts. Reports that come before the first frame (the tap's
    clock has no origin yet) are skipped: the sender sends one about every second."""
    mapper = getattr(receiver, _TIMESTAMP_MAPPER, None)
    if mapper is None or not hasattr(mapper, "_origin"):
        raise RuntimeError("this aiortc version has no receiver timestamp mapper; see ingest/sources/webrtc_receiver.py")
    handle = receiver._handle_rtcp_packet

    async def handle_and_report(packet) -> None:
        if isinstance(packet, RtcpSrPacket) and mapper._origin is not None:
            since_origin = (packet.sender_info.rtp_timestamp - mapper._origin + (1 << 31)) % (1 << 32) - (1 << 31)
            try:
                on_report(packet.sender_info.ntp_timestamp / (1 << 32), since_origin)
            except Exception:  # never break aiortc's RTCP handling
                log.exception("sender report handler failed")
        await handle(packet)

    receiver._handle_rtcp_packet = handle_and_report


async def request_keyframe(receiver: RTCRtpReceiver) -> bool:
    """Send a PLI for every video stream the sender is sending; False if none is known yet."""
    ssrcs = list(getattr(receiver, _REMOTE_STREAMS, {}))
    for ssrc in ssrcs:
        await receiver._send_rtcp_pli(ssrc)
    return bool(ssrcs)
