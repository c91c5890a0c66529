"""Relay-added latency: ingest receive -> hand-over to the RTP sender, per live frame of every
viewer (relay/webrtc/bus_track.py takes the sample).

Two views of the same samples: the most recent ones, for the percentiles of `/api/metrics`, and
cumulative histogram buckets since start, for Prometheus (`/metrics`), which a bounded window
could not give (samples past the window between two scrapes would be lost). A sample costs a
deque append, a bisect over a dozen bounds and two additions, on the event loop.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Iterator

# (finer around the 10 ms goal of issue 19, so a window's p99 can be read from two scrapes)
BUCKETS_S = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class RelayLatency:
    def __init__(self, bounds: tuple[float, ...] = BUCKETS_S, recent: int = 20_000):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # per bucket (not cumulative); the last one is +Inf
        self.total_s = 0.0
        self.recent: deque[float] = deque(maxlen=recent)

    def append(self, seconds: float) -> None:
        self.recent.append(seconds)
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total_s += seconds

    def extend(self, samples: Iterable[float]) -> None:
        for seconds in samples:
            self.append(seconds)

    def __iter__(self) -> Iterator[float]:
        return iter(self.recent)

    def __len__(self) -> int:
        return len(self.recent)

    def cumulative_buckets(self) -> list[tuple[str, int]]:
        """[(le, count of samples <= le), ..., ("+Inf", all)] as Prometheus wants them."""
        buckets, running = [], 0
        for bound, count in zip((*map(repr, self.bounds), "+Inf"), self.counts):
            running += count
            buckets.append((bound, running))
        return buckets
