"""One thread that runs the passthrough path of every RTSP camera, fed by their demux threads.

Why not run it in each camera's own demux thread: FFmpeg reads block, so every camera needs a
thread, and PyAV's demux loop lets go of the GIL several times per packet (read, packet
alloc/move/free). With dozens of cameras each also running ~5 µs of our Python per packet,
those hand-overs find the GIL busy and turn into futex waits and context switches: measured
at 40 cameras, the pipeline cost ~45 µs per packet that way for ~5 µs of work. Handed to
this thread, a demux thread only appends to a queue; this thread takes the packets of all
cameras in one go. When packets keep coming it waits `gather_s` between batches, so they
are fed in bursts (at most that much added latency, only under load); a lone camera's
packet is fed at once.

Only worth it with many cameras: each hand-over can cost a wake-up of this thread, which at a
few cameras costs more than the contention it saves (measured: 5-8 % more CPU at 10 cameras,
7-15 % less at 20 and 40). So sources use it only while `crowded`: at least
`from_sources` cameras are streaming on this node.

Bounded: a demux thread that finds `max_queued` packets waiting blocks until the feeder has
caught up (back-pressure on that camera's TCP connection) rather than letting memory grow.

Transcoding is not done here (one camera would stall all others): a camera's source feeds its
transcoded path itself, after `settle` (see RtspSource).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Feed = Callable[[Any, float], None]  # (packet, received_at)


class PipelineFeeder:
    def __init__(self, gather_s: float = 0.005, busy_batch: int = 4, from_sources: int = 16, max_queued: int = 2000):
        self.gather_s = gather_s
        self.max_queued = max_queued  # ~2 s of 40 cameras
        self.busy_batch = busy_batch  # a batch this long means load: wait before the next one
        self.from_sources = from_sources
        self.crowded = False  # enough streaming sources to hand packets over
        self._sources = 0
        self._count_lock = threading.Lock()
        self._queue: deque[tuple[Feed, Any, float]] = deque()
        self._idle = False  # the thread is (about to be) parked on _wake
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="pipeline-feeder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def source_started(self) -> None:
        """A source streams now (counts towards `crowded`)."""
        self._count(+1)

    def source_ended(self) -> None:
        self._count(-1)

    def _count(self, change: int) -> None:
        with self._count_lock:
            self._sources += change
            self.crowded = self._sources >= self.from_sources

    def submit(self, feed: Feed, packet: Any, received_at: float) -> None:
        """From a demux thread: `feed(packet, received_at)` soon, in submission order.
        Cheap: an append (deques are thread-safe), and a wake-up only if the thread sleeps."""
        if len(self._queue) >= self.max_queued:
            self.settle()  # the feeder is behind: wait for it instead of queueing more
        self._append((feed, packet, received_at))

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _append(self, item: tuple[Feed, Any, float]) -> None:
        self._queue.append(item)
        if self._idle:
            self._idle = False
            self._wake.set()

    def settle(self, timeout_s: float = 2.0) -> bool:
        """Wait until everything submitted before this call has been fed (a source does this
        before it closes its container or feeds a packet itself). False on timeout."""
        if not self._thread.is_alive():
            return not self._queue
        done = threading.Event()
        self._append((lambda _packet, _at: done.set(), None, 0.0))
        return done.wait(timeout_s)

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stopped = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        queue = self._queue
        take = queue.popleft
        while not self._stopped:
            if not queue:
                self._wake.clear()
                self._idle = True
                if not queue:  # checked after _idle is set: a submit in between wakes us
                    self._wake.wait()
                self._idle = False
                continue
            fed = 0
            while queue:
                feed, packet, received_at = take()
                try:
                    feed(packet, received_at)
                except Exception:  # a feed reports its own failures; this thread must go on
                    log.exception("pipeline feed failed")
                fed += 1
            if fed >= self.busy_batch:
                time.sleep(self.gather_s)
