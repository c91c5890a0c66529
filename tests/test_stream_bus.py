"""Stream-bus contract tests, the same on the in-process bus and on the Redis Streams bus."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import pytest
import redis.asyncio as aioredis

from pantau.bus.memory_bus import BusLimits, InProcessBus
from pantau.bus.redis_bus import RedisStreamBus
from pantau.bus.stream_bus import CLOCK_RATE, MediaPacket, StreamBus, TimestampRebaser

TB = Fraction(1, 90_000)
STEP = 3600  # 25 fps


def packet(n: int, epoch: int = 1, gop: int = 25, size: int = 100, base: int = 0) -> MediaPacket:
    return MediaPacket(bytes([n % 256]) * size, base + n * STEP, base + n * STEP, TB, n % gop == 0, epoch)


@pytest.fixture(params=["memory", "redis"])
async def bus(request) -> AsyncIterator[StreamBus]:
    """The same contract on the in-process bus and on Redis Streams (a real redis-server)."""
    limits = BusLimits(queue_packets=60, gop_packets=200)
    if request.param == "memory":
        yield InProcessBus(limits)
        return
    server = request.getfixturevalue("redis_server")
    client = aioredis.from_url(server.url)
    redis_bus = RedisStreamBus(client, limits)
    yield redis_bus
    await redis_bus.close()
    await client.aclose()


async def delivered(bus: StreamBus, timeout: float = 3.0) -> None:
    """Wait until what was published reached the subscribers (at once on the in-process bus;
    through Redis and a reader task on the Redis bus)."""
    if not isinstance(bus, RedisStreamBus):
        return
    deadline = time.monotonic() + timeout
    while bus.counters.read_packets < bus.counters.published_packets or bus.pending_writes():
        assert time.monotonic() < deadline, f"not delivered: {bus.counters}"
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)


async def eventually(condition, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def test_subscriber_gets_packets_in_order(bus):
    sub = bus.subscribe("cam")
    for n in range(50):
        bus.publish("cam", packet(n))
    got = [await sub.get() for _ in range(50)]
    assert [t.packet.data[0] for t in got] == list(range(50))
    assert [t.dts for t in got] == [n * STEP for n in range(50)]


async def test_batch_reads_take_everything_queued_in_order(bus):
    sub = bus.subscribe("cam")
    one_by_one = bus.subscribe("cam")
    assert sub.take_queued() == [], "nothing queued: nothing taken, no waiting"
    for n in range(40):
        bus.publish("cam", packet(n))
    await delivered(bus)
    # Taken from a thread of its own, as the recordings' writer thread does.
    with ThreadPoolExecutor(1) as thread:
        batch = await asyncio.get_running_loop().run_in_executor(thread, sub.take_queued)
    assert [t.packet.data[0] for t in batch] == list(range(40))
    assert [t.dts for t in batch] == [(await one_by_one.get()).dts for _ in range(40)]
    assert sub.pending() == 0 and sub.stats.delivered == 40
    waiting = asyncio.create_task(sub.get_batch())
    await asyncio.sleep(0.05)
    assert not waiting.done(), "get_batch waits for the next packet"
    publisher = threading.Thread(target=lambda: [bus.publish("cam", packet(n)) for n in range(40, 43)])
    publisher.start()
    later = await asyncio.wait_for(waiting, 2)
    publisher.join()
    await delivered(bus)
    later += sub.take_queued()
    assert [t.packet.data[0] for t in later] == [40, 41, 42]
    assert [t.dts for t in later] == [n * STEP for n in range(40, 43)], "one clock with the packets taken before"
    sub.close()
    with pytest.raises(EOFError):
        sub.take_queued()


async def test_late_subscriber_starts_at_the_latest_keyframe_at_once(bus):
    for n in range(40):  # keyframes at 0 and 25
        bus.publish("cam", packet(n))
    sub = bus.subscribe("cam")
    first = await asyncio.wait_for(sub.get(), 0.1 if isinstance(bus, InProcessBus) else 1.0)
    assert first.packet.keyframe and first.packet.data[0] == 25
    await delivered(bus)  # through Redis the rest of the GOP may still be on its way
    assert sub.pending() == 14


async def test_slow_subscriber_is_bounded_and_resumes_at_a_keyframe(bus):
    sub = bus.subscribe("cam")
    for n in range(1000):
        bus.publish("cam", packet(n))
    await delivered(bus)
    assert sub.pending() <= 60
    assert sub.stats.skips > 0 and sub.stats.dropped > 0
    first = await sub.get()
    assert first.packet.keyframe
    previous = first.packet.data[0]
    while sub.pending():  # after the skip, the stream is continuous again
        current = (await sub.get()).packet.data[0]
        assert current == (previous + 1) % 256
        previous = current


async def test_epoch_change_keeps_time_moving_forward(bus):
    sub = bus.subscribe("cam")
    for n in range(30):
        bus.publish("cam", packet(n, epoch=1, base=10_000_000))
    # The camera rebooted: its clock starts again near zero, with a new epoch.
    for n in range(30):
        bus.publish("cam", packet(n, epoch=2, base=0))
    dts = [(await sub.get()).dts for _ in range(60)]
    assert all(b - a == STEP for a, b in zip(dts, dts[1:])), "one continuous clock across the reconnect"


async def test_end_stream_clears_the_cache_but_keeps_subscribers(bus):
    sub = bus.subscribe("cam")
    for n in range(10):
        bus.publish("cam", packet(n))
    bus.end_stream("cam")
    assert bus.gop("cam") == []
    for n in range(25, 30):
        bus.publish("cam", packet(n, epoch=2))
    await delivered(bus)
    assert sub.pending() == 15


async def test_publish_from_threads_wakes_the_reader(bus):
    sub = bus.subscribe("cam")

    async def read_all():
        return [await sub.get() for _ in range(50)]

    reader = asyncio.create_task(asyncio.wait_for(read_all(), 2))
    await asyncio.sleep(0.05)  # the reader is parked before anything is published
    thread = threading.Thread(target=lambda: [bus.publish("cam", packet(n)) for n in range(50)])
    thread.start()
    got = await reader
    thread.join()
    assert [t.packet.data[0] for t in got] == list(range(50))


async def test_closed_subscription_gets_nothing_more(bus):
    sub = bus.subscribe("cam")
    assert bus.subscriber_count("cam") == 1
    sub.close()
    assert bus.subscriber_count("cam") == 0
    bus.publish("cam", packet(0))
    with pytest.raises(EOFError):
        await sub.get()


async def test_tiles_and_forget(bus):
    from pantau.bus.stream_bus import Tile

    bus.put_tile("cam", Tile(b"jpeg", 1.0, 480, 270))
    assert (await bus.tile("cam")).jpeg == b"jpeg"
    bus.forget("cam")
    assert await bus.tile("cam") is None


def test_rebaser_never_goes_backwards():
    rebaser = TimestampRebaser()
    out = [rebaser.rebase(packet(n)).dts for n in range(5)]
    out.append(rebaser.rebase(packet(2)).dts)  # a misbehaving publisher repeats a timestamp
    assert out == sorted(set(out)) and out[-1] - out[-2] == STEP
    assert rebaser.to_clock(1, Fraction(1, 1000)) == CLOCK_RATE // 1000


AUDIO_TB = Fraction(1, 48_000)
AUDIO_STEP = 960  # 20 ms of Opus at 48 kHz


def audio(n: int, epoch: int = 1, base_s: float = 0.0, track: str = "opus") -> MediaPacket:
    """Audio packet n, 20 ms each from `base_s` on the source clock; data byte 200 + n."""
    ts = round(base_s * 48_000) + n * AUDIO_STEP
    return MediaPacket(bytes([200 + n % 50]) * 40, ts, ts, AUDIO_TB, False, epoch, track=track)


def interleaved(epoch: int = 1, base_s: float = 0.0, frames: int = 30) -> list[MediaPacket]:
    """25 fps video and 50 packets/s of audio on one source clock, in time order (as a demuxer
    hands them out); a video keyframe every 25 frames. One audio packet before the first frame."""
    out = [audio(0, epoch, base_s - 0.02)]
    for n in range(frames):
        out.append(packet(n, epoch=epoch, base=round(base_s * 90_000)))
        out += [audio(2 * n + 1, epoch, base_s - 0.02), audio(2 * n + 2, epoch, base_s - 0.02)]
    return out


async def test_audio_reaches_only_subscribers_that_ask_for_it(bus):
    video_only = bus.subscribe("cam")
    both = bus.subscribe("cam", tracks=("video", "opus"))
    sound_only = bus.subscribe("cam", tracks=("opus",))
    published = interleaved(frames=10)
    for p in published:
        bus.publish("cam", p)
    await delivered(bus)
    assert video_only.pending() == 10  # exactly what it got before audio existed
    assert [(await video_only.get()).packet.track for _ in range(10)] == ["video"] * 10
    got = [await both.get() for _ in range(both.pending())]
    assert got[0].packet.keyframe  # the audio before the first keyframe is dropped
    assert [t.packet for t in got] == published[1:]  # then everything, in order
    assert sound_only.pending() == 21  # audio alone starts at once
    assert {(await sound_only.get()).packet.track for _ in range(21)} == {"opus"}


async def test_audio_stays_in_sync_with_video_across_a_reconnect(bus):
    """Each audio packet keeps its distance to the video frame of the same source time, before
    and after the camera's clock restarts (new epoch): lips and voices stay together."""
    sub = bus.subscribe("cam", tracks=("video", "opus"))
    got = []
    for epoch, base_s in ((1, 500.0), (2, 0.0)):  # the camera's clock restarts near zero
        for p in interleaved(epoch=epoch, base_s=base_s, frames=12):  # within the queue's bound
            bus.publish("cam", p)
        await delivered(bus)
        got += [await sub.get() for _ in range(sub.pending())]
    for epoch in (1, 2):
        mine = [t for t in got if t.packet.epoch == epoch]
        frame_at = {round(t.packet.dts / 90_000, 3): t.dts for t in mine if t.packet.track == "video"}
        assert len(frame_at) == 12
        for t in mine:
            if t.packet.track != "opus":
                continue
            source_s = round(float(t.packet.dts * t.packet.time_base), 3)
            if source_s in frame_at:  # an audio packet at the same source time as a frame
                assert t.dts == frame_at[source_s], (epoch, source_s)
    video_dts = [t.dts for t in got if t.packet.track == "video"]
    audio_dts = [t.dts for t in got if t.packet.track == "opus"]
    assert video_dts == sorted(video_dts) and audio_dts == sorted(audio_dts)
    steps = [b - a for a, b in zip(video_dts, video_dts[1:])]
    assert steps[:11] == steps[12:] == [STEP] * 11
    # Across the reconnect: one frame step after the last packet delivered (here audio, 20 ms
    # past the last frame), then the new epoch's audio lead (20 ms) before its first frame.
    assert steps[11] == STEP + 2 * 1800


async def test_a_late_subscriber_gets_the_audio_of_the_cached_gop(bus):
    for p in interleaved(frames=30):  # keyframes at frames 0 and 25
        bus.publish("cam", p)
    await delivered(bus)
    sub = bus.subscribe("cam", tracks=("video", "opus"))
    first = await asyncio.wait_for(sub.get(), 1.0)
    assert first.packet.keyframe and first.packet.data[0] == 25
    await delivered(bus)
    rest = [(await sub.get()).packet for _ in range(sub.pending())]
    assert sum(p.track == "video" for p in rest) == 4 and sum(p.track == "opus" for p in rest) == 10


async def test_a_sound_track_is_wanted_only_while_someone_reads_it(bus, monkeypatch):
    """Ingest makes Opus only while it is wanted (issue 20's cost): a reader of the video or of
    another track does not want it; the last reader of it leaving ends the want (on Redis when
    its announced demand expires)."""
    monkeypatch.setattr("pantau.bus.redis_bus.DEMAND_TTL_MS", 1500)
    bus.publish("cam", packet(0))
    assert not bus.wants("cam", "opus")
    others = [bus.subscribe("cam"), bus.subscribe("cam", tracks=("video", "aac"))]
    await asyncio.sleep(0.6 if isinstance(bus, RedisStreamBus) else 0)  # a few demand polls
    assert not bus.wants("cam", "opus") and bus.wants("cam", "aac")
    listener = bus.subscribe("cam", tracks=("video", "opus"))
    await eventually(lambda: bus.wants("cam", "opus"))
    listener.close()
    await eventually(lambda: not bus.wants("cam", "opus"), timeout=4)
    assert bus.wants("cam", "aac")
    for other in others:
        other.close()


def test_redis_entries_carry_the_track():
    from pantau.bus.redis_bus import decode_entry, encode_entry

    for p in (packet(0), audio(3, track="aac")):
        fields = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in encode_entry(p).items()}
        assert decode_entry(fields) == p
    assert "a" not in encode_entry(packet(0))  # video entries are as they were


async def test_new_subscriber_asks_the_publisher_for_a_keyframe_when_none_is_fresh(bus):
    asked: list[str] = []
    if isinstance(bus, InProcessBus):
        assert bus.request_keyframe("cam") is False  # nobody to ask: an RTSP camera, say
    bus.on_keyframe_request("cam", lambda: asked.append("cam"))
    bus.subscribe("cam").close()  # empty GOP cache: ask
    await eventually(lambda: asked == ["cam"])
    fresh = packet(0)
    bus.publish("cam", MediaPacket(fresh.data, 0, 0, TB, True, 1, received_at=time.time()))
    await delivered(bus)
    bus.subscribe("cam").close()  # a fresh keyframe is cached: no need
    await asyncio.sleep(0.5 if isinstance(bus, RedisStreamBus) else 0)
    assert asked == ["cam"]
    bus.publish("cam", MediaPacket(fresh.data, 3600, 3600, TB, True, 1, received_at=time.time() - 10))
    await delivered(bus)
    bus.subscribe("cam").close()  # the cached keyframe is old: ask again
    await eventually(lambda: asked == ["cam", "cam"])
    bus.on_keyframe_request("cam", None)
    if isinstance(bus, InProcessBus):
        assert bus.request_keyframe("cam") is False


# ---- Redis bus only: a publishing process and a relaying process ---------------------------


@pytest.fixture
async def two_processes(redis_server):
    """Two RedisStreamBus instances on one Redis: what an ingest worker and a relay each hold."""
    clients = [aioredis.from_url(redis_server.url) for _ in range(2)]
    ingest, relay = RedisStreamBus(clients[0]), RedisStreamBus(clients[1])
    yield ingest, relay, clients[0]
    for bus_, client in zip((ingest, relay), clients):
        await bus_.close()
        await client.aclose()


async def test_redis_bus_publishes_only_on_demand_and_starts_a_new_relay_at_the_cached_gop(two_processes):
    from pantau.bus.redis_bus import media_key

    ingest, relay, redis = two_processes
    now = time.time()
    for n in range(40):  # nobody watches: nothing goes to Redis
        ingest.publish("cam", MediaPacket(bytes([n]) * 100, n * STEP, n * STEP, TB, n % 25 == 0, 1, now))
    await asyncio.sleep(0.6)  # a few demand polls
    assert ingest.counters.published_packets == 0 and await redis.exists(media_key("cam")) == 0

    started = time.monotonic()
    sub = relay.subscribe("cam")
    first = await asyncio.wait_for(sub.get(), 2)
    assert first.packet.keyframe and first.packet.data[0] == 25  # the cached GOP, not the next keyframe
    print(f"\nfirst packet through Redis after {(time.monotonic() - started) * 1000:.0f} ms")
    assert (time.monotonic() - started) < 1.0
    await eventually(lambda: sub.pending() == 14)
    ingest.publish("cam", MediaPacket(bytes([40]) * 100, 40 * STEP, 40 * STEP, TB, False, 1, time.time()))
    assert (await asyncio.wait_for(sub.get(), 2)).packet.data[0] == 26

    # The last viewer leaves: the relay stops wanting it, and ingest stops publishing.
    sub.close()
    await eventually(lambda: "cam" not in ingest._demanded, timeout=8)


async def test_redis_bus_tiles_and_keyframe_requests_cross_processes(two_processes):
    from pantau.bus.stream_bus import Tile

    ingest, relay, _ = two_processes
    asked: list[int] = []
    ingest.on_keyframe_request("cam", lambda: asked.append(1))
    ingest.publish("cam", MediaPacket(b"k", 0, 0, TB, True, 1, time.time() - 30))  # an old keyframe
    ingest.put_tile("cam", Tile(b"jpeg-bytes", 123.5, 480, 270))
    assert await relay.tile("cam") is None  # the first ask registers the demand for tiles
    await eventually(lambda: "cam" in ingest._tile_demanded)
    await asyncio.sleep(0.1)
    tile = await relay.tile("cam")
    assert tile is not None and (tile.jpeg, tile.captured_at, tile.width, tile.height) == (b"jpeg-bytes", 123.5, 480, 270)
    relay.subscribe("cam")  # the cached keyframe is 30 s old: the publisher is asked for a new one
    await eventually(lambda: asked)


class _SkewedClock:
    """This host's clock off from the bus Redis server's by `skew_s` (a relay on another machine)."""

    def __init__(self, skew_s: float):
        self.skew_s = skew_s

    def time(self) -> float:
        return time.time() + self.skew_s

    def monotonic(self) -> float:
        return time.monotonic()


@pytest.mark.parametrize("skew_s", [0.0, 5.0])
async def test_redis_bus_late_first_read_still_delivers_all_since_subscribing(redis_server, monkeypatch, skew_s):
    """On a loaded machine the relay's first look at the stream can come after the publisher wrote
    packets, an end (camera reconnect) and more packets: the subscriber still gets all of them,
    as it would live (found as a CI flake: only the 5 packets after the end arrived). Stream entry
    ids carry the Redis server's clock, so a relay whose clock runs ahead must not be fooled."""
    import pantau.bus.redis_bus

    monkeypatch.setattr(pantau.bus.redis_bus, "time", _SkewedClock(skew_s))
    clients = [aioredis.from_url(redis_server.url) for _ in range(2)]
    ingest, relay = RedisStreamBus(clients[0]), RedisStreamBus(clients[1])
    try:
        await eventually(lambda: abs(relay.redis_clock_offset_ms + skew_s * 1000) < 100)
        await _late_first_read(ingest, relay, monkeypatch)
    finally:
        for bus_, client in zip((ingest, relay), clients):
            await bus_.close()
            await client.aclose()


async def _late_first_read(ingest: RedisStreamBus, relay: RedisStreamBus, monkeypatch) -> None:
    first_read_done = asyncio.Event()
    real_xrange = relay.redis.xrange

    async def late_xrange(*args, **kwargs):
        if not first_read_done.is_set():
            await eventually(lambda: ingest.counters.published_packets == 15 and not ingest.pending_writes())
            first_read_done.set()
        return await real_xrange(*args, **kwargs)

    monkeypatch.setattr(relay.redis, "xrange", late_xrange)
    for n in range(10):  # cached by the publisher; written to Redis once a relay wants it
        ingest.publish("cam", packet(n))
    sub = relay.subscribe("cam")
    await eventually(lambda: "cam" in ingest._demanded)
    ingest.end_stream("cam")
    for n in range(25, 30):
        ingest.publish("cam", packet(n, epoch=2))
    await asyncio.wait_for(first_read_done.wait(), 3)
    await eventually(lambda: sub.pending() == 15)
    got = [(await sub.get()).packet.data[0] for _ in range(15)]
    assert got == list(range(10)) + list(range(25, 30))


async def test_redis_bus_sound_demand_crosses_processes_per_track(two_processes, monkeypatch):
    """A relay's listener makes ingest in another process want the camera's Opus; a relay that
    reads the picture alone does not; the want ends when the listener's demand expires."""
    monkeypatch.setattr("pantau.bus.redis_bus.DEMAND_TTL_MS", 1500)
    ingest, relay, _ = two_processes
    ingest.publish("cam", packet(0))
    ingest.publish("other", packet(0))
    assert not ingest.wants("cam", "opus") and not ingest.wants("other", "opus")
    watcher = relay.subscribe("cam")
    await eventually(lambda: "cam" in ingest._demanded)
    await asyncio.sleep(0.6)
    assert not ingest.wants("cam", "opus")  # wanted for its picture, not its sound
    listener = relay.subscribe("cam", tracks=("video", "opus"))
    await eventually(lambda: ingest.wants("cam", "opus"), timeout=2)
    assert not ingest.wants("other", "opus")
    await asyncio.sleep(2.0)  # longer than the demand's expiry: the relay keeps it alive
    assert ingest.wants("cam", "opus")
    listener.close()
    await eventually(lambda: not ingest.wants("cam", "opus"), timeout=4)
    assert "cam" in ingest._demanded  # the picture is still watched
    watcher.close()
