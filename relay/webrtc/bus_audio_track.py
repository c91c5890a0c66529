"""A WebRTC audio track that sends the bus's Opus packets as they are (aiortc packetises an
`av.Packet` without decoding or encoding it): the one Opus encode per camera is ingest's.

Sound starts live. The video track plays the GOP cache at once and catches up to live; sound
has no keyframes to wait for and nothing to catch up to, so the sound the subscription holds
from before (the cache since the keyframe) is dropped and the track starts with the newest
packet. Lips and voices stay together at the viewer through RTCP sender reports: each track's
sender maps its RTP time to the wall clock when it sends, and both send what is live.
"""

from __future__ import annotations

import time
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from pantau.bus.stream_bus import CLOCK_RATE, Subscription

OPUS_CLOCK = Fraction(1, 48_000)
STALE_S = 0.3  # sound older than this when read was held back (the cache, a slow reader): skipped


class BusAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, subscription: Subscription):
        super().__init__()
        self.subscription = subscription
        self.sent = 0
        self.skipped = 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        while True:
            try:
                timed = await self.subscription.get()
            except EOFError:
                self.stop()
                raise MediaStreamError from None
            if time.time() - timed.packet.received_at > STALE_S and self.subscription.pending():
                self.skipped += 1  # something newer is waiting: this one is history
                continue
            break
        packet = av.Packet(timed.packet.data)
        packet.pts = packet.dts = timed.dts * OPUS_CLOCK.denominator // CLOCK_RATE
        packet.time_base = OPUS_CLOCK
        self.sent += 1
        return packet

    def stop(self) -> None:
        super().stop()
        self.subscription.close()
