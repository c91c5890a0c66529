"""The in-process stream bus of the embedded default (and each relay's local hub later).

Publishers run in ingest threads; subscribers on the event loop. Each camera's channel has
one lock; a subscriber's queue is a bounded deque, and the event loop is woken only when a
subscriber is actually waiting, so cameras nobody watches cost nothing beyond the GOP cache.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from pantau.bus.stream_bus import (
    KEYFRAME_STALE_S,
    VIDEO,
    MediaPacket,
    StreamBus,
    Subscription,
    SubscriptionStats,
    Tile,
    TimedPacket,
    TimestampRebaser,
)


@dataclass(frozen=True)
class BusLimits:
    queue_packets: int = 300  # per subscriber: ~10 s at 30 fps
    queue_bytes: int = 8 * 1024 * 1024
    gop_packets: int = 1200  # a GOP longer than this (40 s at 30 fps) is not cached
    gop_bytes: int = 24 * 1024 * 1024


class _MemorySubscription(Subscription):
    def __init__(self, channel: _Channel, camera_id: str, limits: BusLimits, tracks: Collection[str]):
        self.camera_id = camera_id
        self._tracks = frozenset(tracks)
        self.stats = SubscriptionStats()
        self._channel = channel
        self._limits = limits
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._lock = threading.Lock()
        self._queue: deque[MediaPacket] = deque()
        self._queued_bytes = 0
        self._waiting = False  # a reader is parked on _event
        self._need_keyframe = VIDEO in self._tracks  # audio alone starts at once
        self._closed = False
        self._rebaser = TimestampRebaser()

    # called under the channel lock, from any thread
    def offer(self, packet: MediaPacket) -> None:
        if packet.track not in self._tracks:
            return
        with self._lock:
            if self._closed:
                return
            if self._need_keyframe and not packet.keyframe:
                self.stats.dropped += 1
                return
            if len(self._queue) >= self._limits.queue_packets or self._queued_bytes + len(packet.data) > self._limits.queue_bytes:
                # Fallen behind: drop everything and resume at a keyframe (never a broken picture).
                self.stats.dropped += len(self._queue)
                self.stats.skips += 1
                self._queue.clear()
                self._queued_bytes = 0
                if not packet.keyframe and VIDEO in self._tracks:
                    self._need_keyframe = True
                    self.stats.dropped += 1
                    return
            self._need_keyframe = False
            self._queue.append(packet)
            self._queued_bytes += len(packet.data)
            wake = self._waiting
            self._waiting = False
        if wake:
            self._loop.call_soon_threadsafe(self._event.set)

    async def get(self) -> TimedPacket:
        while True:
            with self._lock:
                if self._closed:
                    raise EOFError(f"subscription to {self.camera_id} is closed")
                if self._queue:
                    packet = self._queue.popleft()
                    self._queued_bytes -= len(packet.data)
                    self.stats.delivered += 1
                    return self._rebaser.rebase(packet)
                self._event.clear()
                self._waiting = True
            await self._event.wait()

    def take_queued(self) -> list[TimedPacket]:
        with self._lock:
            if self._closed:
                raise EOFError(f"subscription to {self.camera_id} is closed")
            packets = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            self.stats.delivered += len(packets)
        rebase = self._rebaser.rebase  # only the reader uses the rebaser: outside the lock
        return [rebase(packet) for packet in packets]

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.clear()
            wake = self._waiting
        self._channel.remove(self)
        if wake:
            self._loop.call_soon_threadsafe(self._event.set)


@dataclass
class _Channel:
    lock: threading.Lock = field(default_factory=threading.Lock)
    gop: list[MediaPacket] = field(default_factory=list)
    gop_bytes: int = 0
    subscribers: set[_MemorySubscription] = field(default_factory=set)
    tile: Tile | None = None
    keyframe_request: Callable[[], None] | None = None  # the publisher's, if it can make keyframes

    def remove(self, subscription: _MemorySubscription) -> None:
        with self.lock:
            self.subscribers.discard(subscription)


class InProcessBus(StreamBus):
    def __init__(self, limits: BusLimits | None = None):
        self.limits = limits or BusLimits()
        self._channels: dict[str, _Channel] = {}
        self._lock = threading.Lock()

    def _channel(self, camera_id: str) -> _Channel:
        channel = self._channels.get(camera_id)
        if channel is None:
            with self._lock:
                channel = self._channels.setdefault(camera_id, _Channel())
        return channel

    def publish(self, camera_id: str, packet: MediaPacket) -> None:
        channel = self._channel(camera_id)
        with channel.lock:
            if packet.keyframe:
                channel.gop = [packet]
                channel.gop_bytes = len(packet.data)
            elif channel.gop:
                if len(channel.gop) >= self.limits.gop_packets or channel.gop_bytes + len(packet.data) > self.limits.gop_bytes:
                    channel.gop = []  # too long to cache: new viewers wait for the next keyframe
                    channel.gop_bytes = 0
                else:
                    channel.gop.append(packet)
                    channel.gop_bytes += len(packet.data)
            for subscriber in channel.subscribers:
                subscriber.offer(packet)

    def end_stream(self, camera_id: str) -> None:
        channel = self._channel(camera_id)
        with channel.lock:
            channel.gop = []
            channel.gop_bytes = 0

    def subscribe(self, camera_id: str, tracks: Collection[str] = (VIDEO,)) -> Subscription:
        channel = self._channel(camera_id)
        subscription = _MemorySubscription(channel, camera_id, self.limits, tracks)
        with channel.lock:
            for packet in channel.gop:  # start at the latest keyframe, at once
                subscription.offer(packet)
            channel.subscribers.add(subscription)
            stale = not channel.gop or time.time() - channel.gop[0].received_at > KEYFRAME_STALE_S
        if stale:
            self.request_keyframe(camera_id)
        return subscription

    def on_keyframe_request(self, camera_id: str, callback: Callable[[], None] | None) -> None:
        self._channel(camera_id).keyframe_request = callback

    def request_keyframe(self, camera_id: str) -> bool:
        channel = self._channels.get(camera_id)
        callback = channel.keyframe_request if channel else None
        if callback is None:
            return False
        callback()
        return True

    def gop(self, camera_id: str) -> list[MediaPacket]:
        channel = self._channels.get(camera_id)  # asking does not make a channel
        if channel is None:
            return []
        with channel.lock:
            return list(channel.gop)

    def put_tile(self, camera_id: str, tile: Tile) -> None:
        self._channel(camera_id).tile = tile

    async def tile(self, camera_id: str) -> Tile | None:
        return self.local_tile(camera_id)

    def local_tile(self, camera_id: str) -> Tile | None:
        channel = self._channels.get(camera_id)
        return channel.tile if channel else None

    def camera_ids(self) -> list[str]:
        """Cameras this hub has a channel for (published, subscribed or with a tile)."""
        return list(self._channels)

    def subscriber_count(self, camera_id: str) -> int:
        channel = self._channels.get(camera_id)
        return len(channel.subscribers) if channel else 0

    def wants(self, camera_id: str, track: str) -> bool:
        channel = self._channels.get(camera_id)
        if channel is None:
            return False
        with channel.lock:
            return any(track in subscription._tracks for subscription in channel.subscribers)

    def forget(self, camera_id: str) -> None:
        """Drop a deleted camera's channel (cache and tile)."""
        with self._lock:
            self._channels.pop(camera_id, None)
