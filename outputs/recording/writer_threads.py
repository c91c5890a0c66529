"""The threads that write recordings: each wakes every `TICK_S` and, for every camera it holds in
turn, takes what the camera's bus subscription queued since (`Subscription.take_queued`) and
muxes, writes and chains it (`Recorder.tick`).

Why not a task per camera that waits for packets and hands each batch to a thread pool: on this
VM every wake-up of the event loop and every hop to a thread and back cost ~0.2 ms of CPU, and a
camera paid four of them a second, about half of what recording cost (README "Recordings",
Cost). Here a tick costs one wake-up for all the cameras of a thread. Muxing and fsync block:
never on the event loop; two threads, so one slow fsync holds up only the cameras of its thread,
and those lose nothing while it lasts less than their subscription queues (300 packets: ~4 s of
a camera with sound, ~12 s without; a longer stall skips them to the next keyframe, a cut the
chain shows as a new segment).

A recorder is closed (its open segment written, the head signed) in its thread, after its last
tick, so nothing writes a camera's files from two threads at once. Each thread adds up the CPU
time of its ticks (two clock reads a tick): what recording costs shows in /metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from typing import Protocol

log = logging.getLogger(__name__)

TICK_S = 0.5  # how often the queues are taken: a segment's packets reach the muxer in batches of about this long
THREADS = 2


class Ticking(Protocol):
    camera_id: str

    def tick(self) -> None:
        """Take what is queued and write it (in the writer thread)."""

    def close(self) -> None:
        """The last call: write what is left (in the writer thread)."""

    def failed(self, error: BaseException) -> None:
        """Told when tick raised something it did not handle (thread-safe)."""


class WriterThread:
    def __init__(self, name: str, tick_s: float = TICK_S):
        self.name = name
        self.tick_s = tick_s
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._recorders: list[Ticking] = []
        self._closing: list[tuple[Ticking, Future]] = []
        self._thread: threading.Thread | None = None
        self.cpu_seconds = 0.0  # of its ticks and closes, every thread it ran on

    def __len__(self) -> int:
        return len(self._recorders)

    def add(self, recorder: Ticking) -> None:
        with self._lock:
            self._recorders.append(recorder)
            self._start()

    def remove(self, recorder: Ticking) -> Future:
        """Stop ticking `recorder` and close it in the thread; the future is done once it is closed."""
        done: Future = Future()
        with self._lock:
            self._closing.append((recorder, done))
            self._start()
        self._wake.set()
        return done

    def _start(self) -> None:  # under the lock
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.tick_s)
            self._wake.clear()
            with self._lock:
                closing, self._closing = self._closing, []
                for recorder, _ in closing:
                    if recorder in self._recorders:
                        self._recorders.remove(recorder)
                recorders = list(self._recorders)
                if not recorders and not closing:
                    self._thread = None  # nothing to write: the thread ends; add() starts another
                    return
            started = time.thread_time()
            self._work(recorders, closing)
            self.cpu_seconds += time.thread_time() - started  # (only this thread writes it)

    def _work(self, recorders: list[Ticking], closing: list[tuple[Ticking, Future]]) -> None:
        for recorder, done in closing:
            try:
                recorder.close()
                done.set_result(None)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the close
                done.set_exception(exc)
        for recorder in recorders:
            try:
                recorder.tick()
            except Exception as exc:  # a full disk, a broken volume: that recorder stops, the others go on
                with self._lock:
                    if recorder in self._recorders:
                        self._recorders.remove(recorder)
                recorder.failed(exc)


_THREADS = [WriterThread(f"recording-{index}") for index in range(THREADS)]


def least_busy() -> WriterThread:
    """The writer thread with the fewest cameras."""
    return min(_THREADS, key=len)


def cpu_seconds() -> float:
    """CPU time the writer threads have spent writing recordings, since the process started."""
    return sum(thread.cpu_seconds for thread in _THREADS)
