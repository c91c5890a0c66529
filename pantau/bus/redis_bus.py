"""The stream bus on Redis Streams, for a site of several processes.

Two halves in one class, so the same contract tests run on it as on the in-process bus:

* **Publishing** (ingest): `publish()` feeds a local in-process hub (GOP cache, tiles) and, only
  for cameras that some relay wants, a writer task that appends to Redis. When demand starts,
  the cached GOP goes out first, so the new relay's viewer starts at a keyframe at once.
* **Relaying** (relay): `subscribe()` registers demand, starts one reader task per camera that
  feeds a second local hub (the same code as the embedded default), and stops reading shortly
  after the last local subscriber leaves.

Keys (hash-tagged per camera, so a camera's stream, demand and, later, its lease and fencing
token share one Redis Cluster slot):

    {cam:ID}:media      STREAM   one entry per packet (format below)
    {cam:ID}:demand     STRING   set by relays with viewers, PX DEMAND_TTL_MS, refreshed
    {cam:ID}:demand:TRACK STRING set by relays whose viewers take that sound track ("opus"),
                        PX DEMAND_TTL_MS, refreshed: ingest makes Opus only while it exists
    {cam:ID}:tiledemand STRING   set by relays asked for the tile, PX TILE_DEMAND_TTL_MS
    {cam:ID}:tile       STRING   latest tile: TILE_HEADER (captured_at, width, height) + JPEG
    {cam:ID}:keyframe   STRING   a relay asks the publisher for a keyframe (WHIP: PLI)
    {cam:ID}~unmasked:media, ...  the same for a variant of the camera's stream (the unmasked
                        picture of the officials' exception): its camera's slot and lease

Stream entry fields (all bytes): `v` the packet data (Annex-B H.264 access unit), `k` "1" for
a keyframe else "0", `e` the publisher epoch (decimal; changes on every reconnect or change of
owner), `p`/`d` pts/dts (decimal), `tb` the time base ("1/90000"), `t` the ingest receive time
(float seconds), `a` the track for an audio packet (absent: video). An entry with field `end` = "1" (and no media) says the camera stopped: relays
drop their GOP cache. Every keyframe is added with `MINID` = the previous keyframe's id, so the
stream holds the current GOP (and the one before it, for readers part-way through it), never a
fixed count of packets. The bus Redis needs no persistence: after a restart relays and
publishers start again from the next demand refresh and cached GOP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from fractions import Fraction

import redis.asyncio as aioredis

from pantau.bus.bus_ids import camera_of
from pantau.bus.memory_bus import BusLimits, InProcessBus
from pantau.bus.stream_bus import (
    AUDIO_TRACKS,
    KEYFRAME_STALE_S,
    VIDEO,
    MediaPacket,
    StreamBus,
    Subscription,
    Tile,
    TimedPacket,
)
from pantau.runtime.leases import FENCED_XADD, lease_key

log = logging.getLogger(__name__)

DEMAND_TTL_MS = 5000
DEMAND_REFRESH_S = 1.0
DEMAND_POLL_S = 0.25
TILE_DEMAND_TTL_MS = 15000
TILE_TTL_MS = 60000
READER_LINGER_S = 5.0  # keep reading this long after the last local subscriber left
READ_BLOCK_MS = 1000
CLOCK_SYNC_S = 60.0  # how often the bus Redis's clock is read again
TILE_HEADER = struct.Struct("!dHH")  # captured_at, width, height


def _tagged(bus_id: str) -> str:
    """`{cam:ID}` and, for a variant of the camera's stream (pantau/bus/bus_ids.py), the rest of
    the bus id after it: a variant shares its camera's slot (and lease)."""
    camera_id = camera_of(bus_id)
    return f"{{cam:{camera_id}}}{bus_id[len(camera_id):]}"


def media_key(camera_id: str) -> str:
    return f"{_tagged(camera_id)}:media"


def demand_key(camera_id: str) -> str:
    return f"{_tagged(camera_id)}:demand"


def track_demand_key(camera_id: str, track: str) -> str:
    return f"{_tagged(camera_id)}:demand:{track}"


def tile_demand_key(camera_id: str) -> str:
    return f"{_tagged(camera_id)}:tiledemand"


def tile_key(camera_id: str) -> str:
    return f"{_tagged(camera_id)}:tile"


def keyframe_key(camera_id: str) -> str:
    return f"{_tagged(camera_id)}:keyframe"


def encode_entry(packet: MediaPacket) -> dict[str, bytes | str]:
    tb = packet.time_base
    return {"v": packet.data, "k": "1" if packet.keyframe else "0", "e": str(packet.epoch), "p": str(packet.pts),
            "d": str(packet.dts), "tb": f"{tb.numerator}/{tb.denominator}", "t": repr(packet.received_at)} | (
                {"a": packet.track} if packet.track != VIDEO else {})


def decode_entry(fields: dict[bytes, bytes]) -> MediaPacket | None:
    """The packet of a stream entry, or None for an end-of-stream marker."""
    if fields.get(b"end"):
        return None
    numerator, denominator = fields[b"tb"].split(b"/")
    track = fields.get(b"a")
    return MediaPacket(fields[b"v"], int(fields[b"p"]), int(fields[b"d"]), Fraction(int(numerator), int(denominator)),
                       fields[b"k"] == b"1", int(fields[b"e"]), float(fields[b"t"]), track.decode() if track else VIDEO)


def entry_ms(entry_id: bytes) -> int:
    return int(entry_id.split(b"-")[0])


@dataclass
class BusCounters:
    """For benchmarks, /api/metrics and /metrics: what went through Redis."""

    published_packets: int = 0
    published_bytes: int = 0
    read_packets: int = 0


@dataclass
class _Reader:
    camera_id: str
    subscribed_at_ms: int  # on the bus Redis clock, like the stream entry ids
    task: asyncio.Task | None = None
    idle_since: float | None = None  # monotonic time the last local subscriber left
    # Ingest receive -> delivered here, of the last packet of the last XREAD batch (for /metrics;
    # taken once per batch, not per packet). Clocks of ingest and relay hosts must agree (NTP).
    lag_s: float | None = None


class _RelayedSubscription(Subscription):
    """A local hub subscription that tells the bus when it closes."""

    def __init__(self, inner: Subscription, on_close: Callable[[], None]):
        self._inner = inner
        self._on_close = on_close
        self.camera_id = inner.camera_id
        self.stats = inner.stats

    async def get(self) -> TimedPacket:
        return await self._inner.get()

    def take_queued(self) -> list[TimedPacket]:
        return self._inner.take_queued()

    def pending(self) -> int:
        return self._inner.pending()

    def close(self) -> None:
        self._inner.close()
        self._on_close()


@dataclass
class _Outbox:
    """Writes waiting for the writer task (filled from any thread)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    items: deque = field(default_factory=deque)


class RedisStreamBus(StreamBus):
    def __init__(self, redis: aioredis.Redis, limits: BusLimits | None = None):
        """`redis`: a client with decode_responses=False (entries carry binary video)."""
        self.redis = redis
        self.limits = limits or BusLimits()
        self.counters = BusCounters()
        self._published = InProcessBus(self.limits)  # what this process publishes (ingest side)
        self._relayed = InProcessBus(self.limits)  # what this process reads for its viewers (relay side)
        self._demanded: set[str] = set()  # cameras some relay wants: published packets go to Redis
        self._tile_demanded: set[str] = set()
        self._local_demand: set[str] = set()  # cameras this process's own subscribers want
        # Publisher: the (camera, track) pairs it asked `wants` about (only those are polled: a
        # camera without sound costs Redis nothing more), and those some relay reads now.
        self._tracks_asked: set[tuple[str, str]] = set()
        self._tracks_demanded: set[tuple[str, str]] = set()
        self._last_keyframe_id: dict[str, bytes] = {}
        self._outbox = _Outbox()
        self._wake = asyncio.Event()
        self._readers: dict[str, _Reader] = {}
        self._keyframe_asked: dict[str, float] = {}
        # Bus Redis clock minus ours, in ms: stream entry ids carry the Redis server's clock, and a
        # reader compares them with the moment it subscribed (see _catch_up).
        self.redis_clock_offset_ms = 0
        self._loop = asyncio.get_running_loop()
        # On a site with leases (ingest/ownership.py): the lease value this process holds for a
        # camera (None: not ours, nothing is written), and who to tell when an append was refused.
        self.fence: Callable[[str], str | None] | None = None
        self.on_fenced: Callable[[str], None] | None = None
        self._fenced_xadd = redis.register_script(FENCED_XADD)
        self._tasks = [self._loop.create_task(self._write_loop(), name="bus-writer"),
                       self._loop.create_task(self._demand_loop(), name="bus-demand")]

    async def close(self, timeout_s: float = 5.0) -> None:
        tasks = self._tasks + [r.task for r in self._readers.values() if r.task]
        for task in tasks:
            task.cancel()
        _, stuck = await asyncio.wait(tasks, timeout=timeout_s)  # bounded: a stop must never hang
        if stuck:
            log.warning("%d bus task(s) did not stop within %.0f s", len(stuck), timeout_s)

    # ---- publishing (ingest) ------------------------------------------------------------------
    def publish(self, camera_id: str, packet: MediaPacket) -> None:
        with self._outbox.lock:
            self._published.publish(camera_id, packet)
            if camera_id in self._demanded:
                self._queue(("media", camera_id, packet))

    def end_stream(self, camera_id: str) -> None:
        with self._outbox.lock:
            self._published.end_stream(camera_id)
            self._queue(("end", camera_id, None))

    def gop(self, camera_id: str) -> list[MediaPacket]:
        return self._published.gop(camera_id)

    def put_tile(self, camera_id: str, tile: Tile) -> None:
        self._published.put_tile(camera_id, tile)
        if camera_id in self._tile_demanded:
            with self._outbox.lock:
                self._queue(("tile", camera_id, tile))

    def forget(self, camera_id: str) -> None:
        with self._outbox.lock:
            self._published.forget(camera_id)
            self._demanded.discard(camera_id)
            self._tracks_asked = {pair for pair in self._tracks_asked if pair[0] != camera_id}
            self._tracks_demanded = {pair for pair in self._tracks_demanded if pair[0] != camera_id}
            self._tile_demanded.discard(camera_id)
            self._queue(("forget", camera_id, None))

    def on_keyframe_request(self, camera_id: str, callback: Callable[[], None] | None) -> None:
        self._published.on_keyframe_request(camera_id, callback)

    def wants(self, camera_id: str, track: str) -> bool:
        """Some reader takes the track: a subscriber in this process (at once), or a relay that
        announced it in Redis (seen at the next demand poll; gone once its key expires). Any
        thread; asking puts the pair on the poll's list."""
        pair = (camera_id, track)
        if pair not in self._tracks_asked:
            self._tracks_asked.add(pair)
        return (pair in self._tracks_demanded or self._published.wants(camera_id, track)
                or self._relayed.wants(camera_id, track))

    def _queue(self, item: tuple) -> None:
        """Under the outbox lock, from any thread."""
        self._outbox.items.append(item)
        if len(self._outbox.items) == 1:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _start_demand(self, camera_id: str) -> None:
        """A relay now wants this camera: its cached GOP goes out first, then live packets."""
        with self._outbox.lock:
            if camera_id in self._demanded:
                return
            self._demanded.add(camera_id)
            for packet in self._published.gop(camera_id):
                self._queue(("media", camera_id, packet))

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._outbox.lock:
                batch = list(self._outbox.items)
                self._outbox.items.clear()
            if not batch:
                continue
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the bus Redis is away: these packets are lost; demand will restart
                if asyncio.current_task().cancelling():
                    raise  # redis-py turned our cancellation into an error: stop anyway
                log.warning("bus write failed (%s); %d items dropped", exc, len(batch))
                self._demanded.clear()
                self._last_keyframe_id.clear()

    async def _write(self, batch: list[tuple]) -> None:
        appends: list[tuple[str, bool, int]] = []  # (camera, keyframe?, index of the reply)
        queued = 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for kind, camera_id, item in batch:
                if kind == "media":
                    previous = self._last_keyframe_id.get(camera_id) if item.keyframe else None
                    if await self._append(pipe, camera_id, encode_entry(item), previous):
                        appends.append((camera_id, item.keyframe, queued))
                        queued += 1
                        self.counters.published_packets += 1
                        self.counters.published_bytes += len(item.data)
                elif kind == "end":
                    if await self._append(pipe, camera_id, {"end": "1"}, None):
                        appends.append((camera_id, False, queued))
                        queued += 1
                    self._last_keyframe_id.pop(camera_id, None)
                elif kind == "tile":
                    pipe.set(tile_key(camera_id), TILE_HEADER.pack(item.captured_at, item.width, item.height) + item.jpeg, px=TILE_TTL_MS)
                    queued += 1
                elif kind == "forget":
                    pipe.delete(media_key(camera_id), tile_key(camera_id))
                    queued += 1
            replies = await pipe.execute() if queued else []
        refused = set()
        for camera_id, keyframe, index in appends:
            if replies[index] is None:  # the fence said no: the lease is someone else's now
                refused.add(camera_id)
            elif keyframe:
                self._last_keyframe_id[camera_id] = replies[index]
        for camera_id in refused:
            self._demanded.discard(camera_id)
            if self.on_fenced:
                self.on_fenced(camera_of(camera_id))

    async def _append(self, pipe, camera_id: str, fields: dict, minid: bytes | None) -> bool:
        """Queue one XADD on the pipeline (fenced on a site with leases); False if not ours to write."""
        if self.fence is None:
            pipe.xadd(media_key(camera_id), fields, minid=minid)
            return True
        owner = camera_of(camera_id)  # a variant (the unmasked stream) is fenced by its camera's lease
        token = self.fence(owner)
        if token is None:
            return False  # warming up or not ours: nothing leaves this process
        args = [token, minid or b""]
        for name, value in fields.items():
            args += [name, value]
        await self._fenced_xadd(keys=[lease_key(owner), media_key(camera_id)], args=args, client=pipe)
        return True

    def resend_gop(self, camera_id: str) -> None:
        """This process just became the camera's publisher: relays get its cached GOP at once."""
        with self._outbox.lock:
            if camera_id in self._demanded:
                for packet in self._published.gop(camera_id):
                    self._queue(("media", camera_id, packet))

    async def _demand_loop(self) -> None:
        """Publisher: which cameras do relays want? Relay: keep our own demand alive."""
        last_refresh = last_clock_sync = 0.0
        while True:
            try:
                if not last_clock_sync or time.monotonic() - last_clock_sync >= CLOCK_SYNC_S:
                    await self._sync_clock()
                    last_clock_sync = time.monotonic()
                await self._poll_demand()
                if time.monotonic() - last_refresh >= DEMAND_REFRESH_S:
                    last_refresh = time.monotonic()
                    await self._refresh_own_demand()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if asyncio.current_task().cancelling():
                    raise
                log.debug("bus demand poll failed: %s", exc)
            await asyncio.sleep(DEMAND_POLL_S)

    async def _sync_clock(self) -> None:
        before = time.time()
        seconds, micros = await self.redis.time()
        after = time.time()
        self.redis_clock_offset_ms = round((seconds + micros / 1e6 - (before + after) / 2) * 1000)

    def _redis_now_ms(self) -> int:
        return int(time.time() * 1000) + self.redis_clock_offset_ms

    async def _poll_demand(self) -> None:
        cameras = self._published.camera_ids()
        if not cameras:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for camera_id in cameras:
                pipe.exists(demand_key(camera_id))
                pipe.exists(tile_demand_key(camera_id))
                if self._publishes(camera_id):
                    pipe.getdel(keyframe_key(camera_id))
                else:  # a worker warming up must not take the lease holder's request
                    pipe.exists(keyframe_key(camera_id))
            published = set(cameras)
            tracks_asked = [pair for pair in list(self._tracks_asked) if pair[0] in published]
            for camera_id, track in tracks_asked:
                pipe.exists(track_demand_key(camera_id, track))
            replies = await pipe.execute()
        track_replies = replies[3 * len(cameras):]
        self._tracks_demanded = {pair for pair, wanted in zip(tracks_asked, track_replies) if wanted}
        for i, camera_id in enumerate(cameras):
            wanted, tile_wanted, keyframe = replies[3 * i: 3 * i + 3]
            if wanted:
                self._start_demand(camera_id)
            elif camera_id in self._demanded and camera_id not in self._local_demand:
                self._demanded.discard(camera_id)
            if tile_wanted and camera_id not in self._tile_demanded:
                self._tile_demanded.add(camera_id)
                tile = self._published.local_tile(camera_id)
                if tile is not None:
                    with self._outbox.lock:
                        self._queue(("tile", camera_id, tile))
            elif not tile_wanted:
                self._tile_demanded.discard(camera_id)
            if keyframe and self._publishes(camera_id):
                self._published.request_keyframe(camera_id)

    async def _refresh_own_demand(self) -> None:
        wanted = [c for c, reader in self._readers.items() if reader.idle_since is None]
        if not wanted:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for camera_id in wanted:
                pipe.set(demand_key(camera_id), b"1", px=DEMAND_TTL_MS)
                for track in self._tracks_read(camera_id):
                    pipe.set(track_demand_key(camera_id, track), b"1", px=DEMAND_TTL_MS)
            await pipe.execute()

    def _tracks_read(self, camera_id: str) -> list[str]:
        """The sound tracks this process's subscribers of the camera read now."""
        return [track for track in AUDIO_TRACKS if self._relayed.wants(camera_id, track)]

    # ---- relaying (relay) ---------------------------------------------------------------------
    def subscribe(self, camera_id: str, tracks: Collection[str] = (VIDEO,)) -> Subscription:
        self._local_demand.add(camera_id)
        reader = self._readers.get(camera_id)
        if reader is None or reader.task is None or reader.task.done():
            reader = _Reader(camera_id, self._redis_now_ms())
            self._readers[camera_id] = reader
            # The relayed hub asks when a new subscriber finds no fresh keyframe: pass it on.
            self._relayed.on_keyframe_request(camera_id, lambda: self.request_keyframe(camera_id))
            self._start_demand(camera_id)  # if this process publishes it: no need to wait for the poll
            reader.task = self._loop.create_task(self._read(reader), name=f"bus-read-{camera_id}")
            self._loop.create_task(self._announce_demand(camera_id))
        reader.idle_since = None
        inner = self._relayed.subscribe(camera_id, tracks)
        sound = [track for track in tracks if track != VIDEO]
        if sound:  # the publisher starts making it at its next poll, not at our next refresh
            self._loop.create_task(self._announce_demand(camera_id, sound))
        return _RelayedSubscription(inner, lambda: self._subscription_closed(camera_id))

    async def _announce_demand(self, camera_id: str, tracks: Collection[str] = ()) -> None:
        with contextlib.suppress(Exception):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(demand_key(camera_id), b"1", px=DEMAND_TTL_MS)
                for track in tracks:
                    pipe.set(track_demand_key(camera_id, track), b"1", px=DEMAND_TTL_MS)
                await pipe.execute()

    def _subscription_closed(self, camera_id: str) -> None:
        if self._relayed.subscriber_count(camera_id) == 0:
            reader = self._readers.get(camera_id)
            if reader is not None:
                reader.idle_since = time.monotonic()
            self._local_demand.discard(camera_id)

    async def _read(self, reader: _Reader) -> None:
        camera_id, key = reader.camera_id, media_key(reader.camera_id)
        last_id: bytes | None = None
        while True:
            if reader.idle_since is not None and time.monotonic() - reader.idle_since > READER_LINGER_S:
                self._readers.pop(camera_id, None)
                self._relayed.end_stream(camera_id)
                return
            try:
                if last_id is None:
                    last_id = await self._catch_up(reader, key)
                    if reader.idle_since is None:  # after a bus restart our demand keys are gone:
                        await self._announce_demand(camera_id, self._tracks_read(camera_id))  # say so now
                    continue
                reply = await self.redis.xread({key: last_id}, count=200, block=READ_BLOCK_MS)
                delivered = None
                for _, entries in reply or []:
                    for entry_id, fields in entries:
                        last_id = entry_id
                        delivered = self._deliver(camera_id, fields) or delivered
                if delivered is not None and delivered.received_at:
                    reader.lag_s = time.time() - delivered.received_at
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the bus Redis restarts: start again at the latest keyframe
                if asyncio.current_task().cancelling():
                    raise
                log.info("bus read of %s failed (%s); retrying", camera_id, exc)
                last_id = None
                reader.subscribed_at_ms = self._redis_now_ms()
                await asyncio.sleep(0.5)

    async def _catch_up(self, reader: _Reader, key: str) -> bytes:
        """Deliver the stream from the GOP that was current when we subscribed; returns the last id."""
        entries = await self.redis.xrange(key, "-", "+")
        start = 0
        for index, (entry_id, fields) in enumerate(entries):
            if entry_ms(entry_id) >= reader.subscribed_at_ms:
                # Written after we subscribed (or in that same millisecond): a live subscriber
                # sees all of it, even when the reader's first look comes late on a busy loop.
                break
            if fields.get(b"end"):
                start = index + 1  # the camera stopped before we came: what came before is stale
            elif fields.get(b"k") == b"1":
                start = index
        for _, fields in entries[start:]:
            self._deliver(reader.camera_id, fields)
        return entries[-1][0] if entries else b"0-0"

    def _deliver(self, camera_id: str, fields: dict[bytes, bytes]) -> MediaPacket | None:
        packet = decode_entry(fields)
        if packet is None:
            self._relayed.end_stream(camera_id)
            return None
        self.counters.read_packets += 1
        self._relayed.publish(camera_id, packet)
        return packet

    def _ask_keyframe(self, camera_id: str) -> None:
        self._loop.create_task(self._set_keyframe_request(camera_id))

    async def _set_keyframe_request(self, camera_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.redis.set(keyframe_key(camera_id), b"1", px=int(KEYFRAME_STALE_S * 1000))

    def request_keyframe(self, camera_id: str) -> bool:
        """Asks the local publisher if there is one, else whichever process publishes the camera
        (through Redis; it may be unable to make keyframes: an RTSP camera). True: passed on.
        A local pipeline that only warms up to take the camera over (its lease is another's)
        publishes nothing: the request goes through Redis as well."""
        if self._published.request_keyframe(camera_id) and self._publishes(camera_id):
            return True
        self._loop.call_soon_threadsafe(self._ask_keyframe, camera_id)
        return True

    def _publishes(self, camera_id: str) -> bool:
        """This process is the camera's publisher (without leases: whoever publishes it)."""
        return self.fence is None or self.fence(camera_of(camera_id)) is not None

    def demanded(self) -> set[str]:
        """Cameras published to Redis now (some relay watches them)."""
        return set(self._demanded)

    def pending_writes(self) -> int:
        return len(self._outbox.items)

    def write_lag_s(self) -> float:
        """How long the oldest media packet waiting for the writer has waited since ingest
        received it (0 when nothing waits): the publishing side's bus lag."""
        with self._outbox.lock:
            oldest = next((item for kind, _, item in self._outbox.items if kind == "media"), None)
        return max(0.0, time.time() - oldest.received_at) if oldest is not None and oldest.received_at else 0.0

    def read_lags(self) -> dict[str, float]:
        """Per camera read for local viewers: ingest receive -> delivered here, at the last batch."""
        return {camera_id: reader.lag_s for camera_id, reader in list(self._readers.items())
                if reader.idle_since is None and reader.lag_s is not None}

    def subscriber_count(self, camera_id: str) -> int:
        return self._relayed.subscriber_count(camera_id)

    async def tile(self, camera_id: str) -> Tile | None:
        local = self._published.local_tile(camera_id)
        if local is not None:
            return local
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(tile_demand_key(camera_id), b"1", px=TILE_DEMAND_TTL_MS)
            pipe.get(tile_key(camera_id))
            _, raw = await pipe.execute()
        if not raw or len(raw) < TILE_HEADER.size:
            return None
        captured_at, width, height = TILE_HEADER.unpack_from(raw)
        return Tile(raw[TILE_HEADER.size:], captured_at, width, height)
