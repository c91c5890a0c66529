"""An executor that counts its tasks' wall and CPU time, for /metrics: ingest's keyframe analysis
(ingest/metrics.py) and recordings' chores (outputs/recording/recorder.py) show what they cost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future


class TimedExecutor(Executor):
    """An executor that adds up how long its tasks ran (wall and thread CPU time), two clock reads
    a task: for pools whose tasks are few and large (a keyframe's analysis, a retention pass)."""

    def __init__(self, inner: Executor):
        self._inner = inner
        self._lock = threading.Lock()
        self.tasks = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        return self._inner.submit(self._timed, fn, args, kwargs)

    def _timed(self, fn: Callable, args: tuple, kwargs: dict):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
            with self._lock:
                self.tasks += 1
                self.seconds += wall
                self.cpu_seconds += cpu

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait, cancel_futures=cancel_futures)
