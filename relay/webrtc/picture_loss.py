"""A viewer's picture-loss reports (RTCP PLI/FIR) passed on to the camera's publisher.

aiortc's RTCRtpSender answers a PLI or FIR by forcing a keyframe from its own encoder, and
ignores it when it sends pre-encoded packets, as the relay does. A viewer that lost a frame
NACK could not repair would then wait for the camera's next keyframe; a WHIP sender (a
browser) makes keyframes only when asked, so that could be minutes. Passed on through the
bus, the publisher asks its sender for one (WHIP/WHEP sources); an RTSP camera cannot be asked
and keeps its own GOP.

This relies on an aiortc internal (pinned in pyproject.toml; checked by tests/test_whip.py):
the sender's `_send_keyframe`, which its RTCP handler calls for PLI and FIR.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiortc import RTCRtpSender

MIN_INTERVAL_S = 0.5  # browsers repeat PLIs while the picture is broken; one ask is enough


class KeyframeAsker:
    """Per camera, at most one keyframe request every MIN_INTERVAL_S, however many viewers ask."""

    def __init__(self, ask: Callable[[str], object]):
        self._ask = ask
        self._last: dict[str, float] = {}

    def __call__(self, camera_id: str) -> None:
        now = time.monotonic()
        if now - self._last.get(camera_id, -MIN_INTERVAL_S) < MIN_INTERVAL_S:
            return
        self._last[camera_id] = now
        if len(self._last) > 10_000:  # forget old cameras now and then
            self._last = {c: t for c, t in self._last.items() if now - t < MIN_INTERVAL_S}
        self._ask(camera_id)


def forward_picture_loss(sender: RTCRtpSender, on_loss: Callable[[], None]) -> None:
    """Call `on_loss` (on the event loop) whenever the viewer behind `sender` reports a lost picture."""
    if not callable(getattr(sender, "_send_keyframe", None)):
        raise RuntimeError("this aiortc version has no RTCRtpSender._send_keyframe; see relay/webrtc/picture_loss.py")
    own = sender._send_keyframe

    def send_keyframe() -> None:
        own()  # keeps aiortc's behaviour for an encoding sender
        on_loss()

    sender._send_keyframe = send_keyframe
