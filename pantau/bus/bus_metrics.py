"""The stream bus in /metrics (pantau/monitoring/metrics.py), read at scrape time.

Only the Redis Streams bus of a site has something to say: what this process appended to Redis
(publishing, ingest), what it read back (relaying), and the lag of each side. The in-process
bus of the embedded default hands packets over in memory, so it adds no families.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import Metric

from pantau.bus.redis_bus import RedisStreamBus
from pantau.bus.stream_bus import StreamBus
from pantau.monitoring.metrics import counter, gauge


class BusCollector:
    def __init__(self, bus: StreamBus, per_camera: bool = False):
        self.bus = bus
        self.per_camera = per_camera

    def collect(self) -> Iterator[Metric]:
        bus = self.bus
        if not isinstance(bus, RedisStreamBus):
            return
        counters = bus.counters
        yield counter("pantau_bus_published_packets", "Packets this process appended to the Redis stream bus", counters.published_packets)
        yield counter("pantau_bus_published_bytes", "Bytes of video this process appended to the Redis stream bus", counters.published_bytes)
        yield counter("pantau_bus_read_packets", "Packets this process read from the Redis stream bus for its viewers", counters.read_packets)
        yield gauge("pantau_bus_write_queue", "Items waiting for this process's bus writer task", bus.pending_writes())
        yield gauge("pantau_bus_write_lag_seconds", "Age of the oldest packet waiting to be appended to Redis (0: none waits)",
                    bus.write_lag_s())
        lags = bus.read_lags()
        yield gauge("pantau_bus_read_lag_seconds", "Ingest receive -> delivered to this relay, worst camera read now (0: none)",
                    max(lags.values(), default=0.0))
        yield gauge("pantau_bus_read_cameras", "Cameras this relay reads from the bus for its viewers", len(lags))
        if self.per_camera:
            yield gauge("pantau_camera_bus_read_lag_seconds", "Ingest receive -> delivered to this relay, per camera read",
                        labels=["camera"], rows=sorted(lags.items()))
