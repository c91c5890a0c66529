"""Encoded video out of an aiortc receiver, without aiortc's decoder; keyframe requests back.

aiortc's RTCRtpReceiver reassembles each frame (H.264: an Annex-B access unit; VP8: one
frame) and puts `(codec, JitterFrame)` on a private queue that its decoder thread reads.
Ingest wants the encoded frames (H.264 passes through untouched), so `tap_encoded_frames`
swaps that queue for one that hands each frame to a callback instead. Only the end-of-stream
marker (None) is queued, so the receiver's idle decoder thread still ends when it stops.

This relies on aiortc internals (pinned in pyproject.toml; checked by tests/test_whip.py):
the name-mangled `_RTCRtpReceiver__decoder_queue`, `__remote_streams` (the sender's SSRCs)
and `_send_rtcp_pli`. `tap_encoded_frames` fails loudly if they are gone.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable

from aiortc import RTCRtpReceiver

log = logging.getLogger(__name__)

# (codec name "H264" | "VP8", frame bytes, RTP timestamp on a 90 kHz clock starting near 0)
FrameCallback = Callable[[str, bytes, int], None]

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_REMOTE_STREAMS = "_RTCRtpReceiver__remote_streams"


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


def tap_encoded_frames(receiver: RTCRtpReceiver, on_frame: FrameCallback) -> None:
    """Call before the connection starts (before the receiver's `receive()`)."""
    if not hasattr(receiver, _DECODER_QUEUE) or not hasattr(receiver, _REMOTE_STREAMS):
        raise RuntimeError("this aiortc version has no receiver decoder queue to tap; see ingest/sources/webrtc_receiver.py")
    setattr(receiver, _DECODER_QUEUE, _EncodedFrameTap(on_frame))


async def request_keyframe(receiver: RTCRtpReceiver) -> bool:
    """Send a PLI for every video stream the sender is sending; False if none is known yet."""
    ssrcs = list(getattr(receiver, _REMOTE_STREAMS, {}))
    for ssrc in ssrcs:
        await receiver._send_rtcp_pli(ssrc)
    return bool(ssrcs)
