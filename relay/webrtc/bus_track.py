"""A WebRTC video track that sends the bus's H.264 packets as they are (aiortc packetises an
`av.Packet` without decoding or encoding it): one encode per camera, none per viewer.

Instant and live start. A new viewer's subscription starts with the GOP cache: the latest
keyframe and every frame since. The keyframe goes out at once, so a picture shows at once;
the frames behind it are sent paced (`catchup_rate`, not one burst) and retimed to sit just
behind live: while packets wait in the queue, each is stamped one millisecond after the
previous, so the player decodes them straight through instead of holding a GOP of delay in
its jitter buffer. Once the queue is drained, packets keep their own spacing (shifted by the
time the catch-up saved), and the stream is live.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from pantau.bus.stream_bus import CLOCK_RATE, MediaPacket, Subscription
from relay.webrtc.relay_latency import RelayLatency

CLOCK = Fraction(1, CLOCK_RATE)
CATCHUP_STEP = CLOCK_RATE // 1000  # 1 ms between retimed backlog frames


class BusVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, subscription: Subscription, catchup_bytes_per_s: float, latency_samples: RelayLatency | deque | None = None):
        super().__init__()
        self.latency_samples = latency_samples  # seconds from ingest to hand-over, live frames only
        self.subscription = subscription
        self.catchup_bytes_per_s = catchup_bytes_per_s
        self.sent = 0
        self.first_sent_at: float | None = None
        self._offset = 0  # subtracted from bus timestamps
        self._last_out: int | None = None
        self._pace_until = 0.0
        self._anchor = False  # the next frame goes out one step after the last (a new subscription)
        self.live = False  # the last frame kept its own timing (not retimed while catching up)

    @property
    def last_out(self) -> int | None:
        """The outgoing 90 kHz timestamp of the last frame handed out."""
        return self._last_out

    def resubscribe(self, subscription: Subscription) -> None:
        """Go on from a new subscription (which starts with the GOP cache) on the same outgoing
        clock: its first frame one step after the last frame handed out, later ones retimed
        while they catch up, as at the start."""
        self.subscription.close()
        self.subscription = subscription
        self._anchor = True

    async def next_frame(self, pace: bool = True) -> tuple[MediaPacket, int]:
        """The next bus packet and its outgoing 90 kHz timestamp (paced and retimed while
        catching up; `pace=False`: not held back). The shared RTP path
        (relay/webrtc/shared_rtp_sender.py) reads this; aiortc's own sender reads `recv()`."""
        if self.readyState != "live":
            raise MediaStreamError
        backlog = self.subscription.pending() > 0
        if backlog and self.sent and pace:
            delay = self._pace_until - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        try:
            timed = await self.subscription.get()
        except EOFError:
            self.stop()
            raise MediaStreamError from None
        out = timed.pts - self._offset
        self.live = False
        if self._last_out is not None and (backlog or out <= self._last_out or self._anchor):
            # Catching up (or a publisher glitch, or a new subscription): one millisecond after
            # the previous frame.
            self._anchor = False
            out = self._last_out + CATCHUP_STEP
            self._offset = timed.pts - out
        else:
            self.live = True
            if self.latency_samples is not None and timed.packet.received_at:
                self.latency_samples.append(time.time() - timed.packet.received_at)
        self._last_out = out
        self._pace_until = time.monotonic() + len(timed.packet.data) / self.catchup_bytes_per_s
        self.sent += 1
        if self.first_sent_at is None:
            self.first_sent_at = time.monotonic()
        return timed.packet, out

    async def recv(self) -> av.Packet:
        media, out = await self.next_frame()
        packet = av.Packet(media.data)
        packet.pts = packet.dts = out
        packet.time_base = CLOCK
        return packet

    def stop(self) -> None:
        super().stop()
        self.subscription.close()
