"""Stream-bus contract tests (the in-process bus now; the Redis Streams bus will run the same)."""

from __future__ import annotations

import asyncio
import threading
import time
from fractions import Fraction

import pytest

from pantau.memory_bus import BusLimits, InProcessBus
from pantau.stream_bus import CLOCK_RATE, MediaPacket, StreamBus, TimestampRebaser

TB = Fraction(1, 90_000)
STEP = 3600  # 25 fps


def packet(n: int, epoch: int = 1, gop: int = 25, size: int = 100, base: int = 0) -> MediaPacket:
    return MediaPacket(bytes([n % 256]) * size, base + n * STEP, base + n * STEP, TB, n % gop == 0, epoch)


@pytest.fixture(params=["memory"])
def bus(request) -> StreamBus:
    return InProcessBus(BusLimits(queue_packets=60, gop_packets=200))


async def test_subscriber_gets_packets_in_order(bus):
    sub = bus.subscribe("cam")
    for n in range(50):
        bus.publish("cam", packet(n))
    got = [await sub.get() for _ in range(50)]
    assert [t.packet.data[0] for t in got] == list(range(50))
    assert [t.dts for t in got] == [n * STEP for n in range(50)]


async def test_late_subscriber_starts_at_the_latest_keyframe_at_once(bus):
    for n in range(40):  # keyframes at 0 and 25
        bus.publish("cam", packet(n))
    sub = bus.subscribe("cam")
    first = await asyncio.wait_for(sub.get(), 0.1)
    assert first.packet.keyframe and first.packet.data[0] == 25
    assert sub.pending() == 14


async def test_slow_subscriber_is_bounded_and_resumes_at_a_keyframe(bus):
    sub = bus.subscribe("cam")
    for n in range(1000):
        bus.publish("cam", packet(n))
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


def test_tiles_and_forget(bus):
    from pantau.stream_bus import Tile

    bus.put_tile("cam", Tile(b"jpeg", 1.0, 480, 270))
    assert bus.tile("cam").jpeg == b"jpeg"
    bus.forget("cam")
    assert bus.tile("cam") is None


def test_rebaser_never_goes_backwards():
    rebaser = TimestampRebaser()
    out = [rebaser.rebase(packet(n)).dts for n in range(5)]
    out.append(rebaser.rebase(packet(2)).dts)  # a misbehaving publisher repeats a timestamp
    assert out == sorted(set(out)) and out[-1] - out[-2] == STEP
    assert rebaser.to_clock(1, Fraction(1, 1000)) == CLOCK_RATE // 1000


async def test_new_subscriber_asks_the_publisher_for_a_keyframe_when_none_is_fresh(bus):
    asked: list[str] = []
    assert bus.request_keyframe("cam") is False  # nobody to ask: an RTSP camera, say
    bus.subscribe("cam").close()
    bus.on_keyframe_request("cam", lambda: asked.append("cam"))
    bus.subscribe("cam").close()  # empty GOP cache: ask
    assert asked == ["cam"]
    fresh = packet(0)
    bus.publish("cam", MediaPacket(fresh.data, 0, 0, TB, True, 1, received_at=time.time()))
    bus.subscribe("cam").close()  # a fresh keyframe is cached: no need
    assert asked == ["cam"]
    bus.publish("cam", MediaPacket(fresh.data, 3600, 3600, TB, True, 1, received_at=time.time() - 10))
    bus.subscribe("cam").close()  # the cached keyframe is old: ask again
    assert asked == ["cam", "cam"]
    bus.on_keyframe_request("cam", None)
    assert bus.request_keyframe("cam") is False
