"""The stream bus contract: how ingest hands encoded video to the relay.

Per camera, an ordered stream of `MediaPacket`s (H.264 Annex-B access units, SPS/PPS in front
of every keyframe, no B-frames; beside them, for a camera with sound, audio packets on tracks
named by their codec: see `MediaPacket.track`), a GOP cache (a new subscriber starts at the latest keyframe
at once) and the latest keyframe tile (JPEG). Publishers call from any thread and never block;
subscribers read on the event loop through a bounded queue: one that falls behind skips to the
next keyframe, so memory is bounded and a lost frame never corrupts the picture.

Timestamps: each packet carries its publisher's `epoch`, which changes on every reconnect (and,
later, on every change of owner). A subscription rebases timestamps onto one continuous 90 kHz
clock across epochs, so a viewer never sees time jump back when a camera reboots. Audio is
rebased with the same offset as the video of its epoch (both come from one source clock), so
lips and voices stay in sync across reconnects.

Tracks: a subscription asks for the tracks it reads (video only unless it asks for more), so an
output that knows nothing of audio sees exactly what it saw before audio existed. Audio packets
are never keyframes; a subscription that reads video starts at a video keyframe and drops the
audio before it, like any packet before the keyframe.

Implementations: `pantau.bus.memory_bus.InProcessBus` (embedded) and, later, a Redis Streams bus.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from fractions import Fraction

CLOCK_RATE = 90_000  # the RTP video clock; every subscription delivers timestamps in it
VIDEO = "video"
# Audio tracks, named by codec: "opus" (48 kHz, what WebRTC viewers get), "aac" (ADTS frames,
# each with its own header, as cameras send it: what HLS and recordings keep).
AUDIO_TRACKS = ("opus", "aac")
KEYFRAME_STALE_S = 2.0  # a new subscriber asks for a fresh keyframe when the cached one is older


@dataclass(frozen=True, slots=True)
class MediaPacket:
    data: bytes
    pts: int
    dts: int
    time_base: Fraction
    keyframe: bool
    epoch: int
    # Wall-clock time (time.time()) ingest received it: for latency figures and pacing.
    received_at: float = 0.0
    track: str = VIDEO  # VIDEO or one of AUDIO_TRACKS


@dataclass(frozen=True, slots=True)
class Tile:
    jpeg: bytes
    captured_at: float  # time.time() of the keyframe it shows
    width: int
    height: int


@dataclass(slots=True)
class SubscriptionStats:
    delivered: int = 0
    dropped: int = 0  # packets discarded while waiting for a keyframe after falling behind
    skips: int = 0  # times the queue overflowed and the subscriber jumped to the next keyframe


@dataclass(frozen=True, slots=True)
class TimedPacket:
    """A packet as a subscriber sees it: timestamps on the continuous 90 kHz clock."""

    packet: MediaPacket
    pts: int
    dts: int


class Subscription(abc.ABC):
    camera_id: str
    stats: SubscriptionStats

    @abc.abstractmethod
    async def get(self) -> TimedPacket:
        """The next packet (waits). The first one is always a keyframe."""

    @abc.abstractmethod
    def take_queued(self) -> list[TimedPacket]:
        """Every packet queued now, in order, without waiting (empty if none): for a reader that
        takes packets in batches on a clock of its own, from any thread (recordings: one writer
        thread takes every recorded camera's queue twice a second, with no wake-up per camera or
        packet). One reader at a time: the subscription's timestamps follow what it took."""

    async def get_batch(self) -> list[TimedPacket]:
        """The next packet (waits, like `get`) and every packet queued behind it."""
        first = await self.get()
        return [first, *self.take_queued()]

    @abc.abstractmethod
    def pending(self) -> int:
        """Packets queued and not yet read."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StreamBus(abc.ABC):
    @abc.abstractmethod
    def publish(self, camera_id: str, packet: MediaPacket) -> None:
        """Append a packet (any thread; never blocks). A keyframe starts a new GOP cache."""

    @abc.abstractmethod
    def end_stream(self, camera_id: str) -> None:
        """The camera stopped sending (offline, disabled): forget its GOP cache so no new
        viewer is shown stale video. Subscribers stay attached for when it comes back."""

    @abc.abstractmethod
    def subscribe(self, camera_id: str, tracks: Collection[str] = (VIDEO,)) -> Subscription:
        """Must be called on the event loop that will read the subscription. `tracks`: what it
        reads (VIDEO and/or AUDIO_TRACKS); with VIDEO it starts at a video keyframe."""

    @abc.abstractmethod
    def gop(self, camera_id: str) -> list[MediaPacket]:
        """The cached packets from the latest keyframe on (empty if none)."""

    @abc.abstractmethod
    def put_tile(self, camera_id: str, tile: Tile) -> None: ...

    @abc.abstractmethod
    async def tile(self, camera_id: str) -> Tile | None:
        """The camera's latest tile, wherever it was made (async: on a site it is in Redis)."""

    @abc.abstractmethod
    def subscriber_count(self, camera_id: str) -> int: ...

    def wants(self, camera_id: str, track: str) -> bool:
        """Whether some reader takes `track` of the camera now, so a publisher may skip making
        what nobody reads (ingest's Opus encode). Any thread. On Redis the readers are other
        processes, which announce the tracks they read (expiring like their camera demand)."""
        return True

    @abc.abstractmethod
    def forget(self, camera_id: str) -> None:
        """A deleted camera: drop its cache and tile."""

    @abc.abstractmethod
    def on_keyframe_request(self, camera_id: str, callback: Callable[[], None] | None) -> None:
        """Set (or with None, remove) the publisher's hook for making a keyframe on demand.
        Only sources that can do it register one (WHIP publishers listen to PLI; an RTSP
        camera does not)."""

    @abc.abstractmethod
    def request_keyframe(self, camera_id: str) -> bool:
        """Ask the camera's publisher for a keyframe (any thread); False if it cannot make one.
        `subscribe` calls it by itself when the GOP cache is empty or older than
        `KEYFRAME_STALE_S`, so a new viewer does not wait a whole GOP."""


@dataclass
class TimestampRebaser:
    """Maps (epoch, pts, dts, time_base) onto one continuous 90 kHz clock.

    Within an epoch the offset is fixed. When the epoch changes, the new epoch's first packet
    is placed one frame interval after the last one delivered, whatever its own timestamps.
    Audio packets take the offset of their epoch as it is (never moving it) and only keep
    their own track from going backwards."""

    epoch: int | None = None
    offset: int = 0
    last_dts: int | None = None  # the last delivered, any track
    last_video_dts: int | None = None
    frame_step: int = CLOCK_RATE // 25
    _scales: list[tuple[Fraction, tuple[int, int]]] = field(default_factory=list)  # time base, its 90 kHz scale as a ratio
    _last_audio_dts: dict[str, int] = field(default_factory=dict)

    def to_clock(self, value: int, time_base: Fraction) -> int:
        numerator, denominator = self._ratio(time_base)
        product = value * numerator
        return product // denominator if product >= 0 else -(-product // denominator)  # as int() does: towards zero

    def _ratio(self, time_base: Fraction) -> tuple[int, int]:
        # Per packet of every subscription: hashing a Fraction (a dict key) and multiplying by one
        # cost ~5 µs each; the few time bases a subscription sees are kept as integer ratios.
        for known, ratio in self._scales:
            if known is time_base or known == time_base:
                return ratio
        ratio = (time_base * CLOCK_RATE).as_integer_ratio()
        self._scales = [*self._scales[-3:], (time_base, ratio)]
        return ratio

    def rebase(self, packet: MediaPacket) -> TimedPacket:
        dts = self.to_clock(packet.dts, packet.time_base)
        pts = self.to_clock(packet.pts, packet.time_base)
        if packet.epoch != self.epoch:
            self.epoch = packet.epoch
            self.offset = -dts if self.last_dts is None else self.last_dts + self.frame_step - dts
        if packet.track != VIDEO:
            return self._rebase_audio(packet, pts, dts)
        out_dts = dts + self.offset
        if self.last_video_dts is not None:
            step = out_dts - self.last_video_dts
            if step <= 0:  # never backwards, even if a publisher misbehaves
                self.offset += self.frame_step - step
                out_dts = self.last_video_dts + self.frame_step
            elif step <= CLOCK_RATE // 5:  # a real frame interval, not a gap after a skip
                self.frame_step = step
        self.last_video_dts = out_dts
        self.last_dts = max(out_dts, self.last_dts if self.last_dts is not None else out_dts)
        return TimedPacket(packet, pts + self.offset, out_dts)

    def _rebase_audio(self, packet: MediaPacket, pts: int, dts: int) -> TimedPacket:
        shift = self.offset
        last = self._last_audio_dts.get(packet.track)
        if last is not None and dts + shift <= last:  # never backwards within the track
            shift = last + 1 - dts
        out_dts = dts + shift
        self._last_audio_dts[packet.track] = out_dts
        self.last_dts = max(out_dts, self.last_dts if self.last_dts is not None else out_dts)
        return TimedPacket(packet, pts + shift, out_dts)
