"""Keeps each camera's `status` current in the registry.

Source threads report changes with `report()`; an event-loop task writes them in batches (one
HSET for all cameras that changed) so 176 cameras cost a handful of Redis calls per second.
State changes are written at once; counters (fps, bitrate) at most every `stats_every_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from typing import Any

import redis.asyncio as aioredis

from pantau.cameras import registry_keys as keys
from pantau.runtime.clock import iso_utc

log = logging.getLogger(__name__)

_URGENT = ("state", "reason", "picture", "reference", "mode", "codec", "width", "height", "restream", "audio_codec")


class StatusReporter:
    def __init__(self, redis: aioredis.Redis, flush_every_s: float = 0.2, stats_every_s: float = 5.0,
                 stats_check_s: float = 1.0):
        self.redis = redis
        self.flush_every_s = flush_every_s
        self.stats_every_s = stats_every_s
        self.stats_check_s = stats_check_s  # without urgent news, look for due counters this often
        self._lock = threading.Lock()
        self._current: dict[str, dict[str, Any]] = {}
        self._dirty: dict[str, bool] = {}  # camera -> urgent?
        self._last_written: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def report(self, camera_id: str, **fields: Any) -> None:
        """Merge fields into the camera's status (any thread). `state` changes stamp `since`."""
        with self._lock:
            status = self._current.setdefault(camera_id, {})
            urgent = any(k in _URGENT and status.get(k) != v for k, v in fields.items())
            if "state" in fields and status.get("state") != fields["state"]:
                status["since"] = iso_utc()
            status.update(fields)
            if "state" not in status:
                # Nothing is written for a camera until its source has said how it is: a worker
                # holding only an idle WHIP source for a camera that another worker streams must
                # not write over that worker's status (a reference-view flag, say, would read as
                # "waiting"). What was reported is kept and goes out with the first state.
                return
            self._dirty[camera_id] = self._dirty.get(camera_id, False) or urgent
        if urgent:
            self._loop.call_soon_threadsafe(self._wake.set)

    def current(self, camera_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._current.get(camera_id, {}))

    def forget(self, camera_id: str) -> None:
        with self._lock:
            self._current.pop(camera_id, None)
            self._dirty.pop(camera_id, None)
            self._last_written.pop(camera_id, None)

    def _take_due(self) -> dict[str, str]:
        now = time.monotonic()
        due = {}
        with self._lock:
            for camera_id, urgent in list(self._dirty.items()):
                if urgent or now - self._last_written.get(camera_id, 0) >= self.stats_every_s:
                    due[camera_id] = json.dumps(self._current[camera_id], separators=(",", ":"))
                    self._last_written[camera_id] = now
                    del self._dirty[camera_id]
        return due

    async def flush(self) -> bool:
        """Write what is due; False if nothing was."""
        due = self._take_due()
        if not due:
            return False
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(keys.STATUS, mapping=due)
                # Every relay turns this into `event: status` for its SSE clients.
                pipe.publish(keys.EVENTS, json.dumps({"type": "status", "statuses": {k: json.loads(v) for k, v in due.items()}}))
                await pipe.execute()
            return True
        except Exception:
            with self._lock:  # written next time
                for camera_id in due:
                    self._dirty[camera_id] = True
            raise

    async def run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # races with the event being set, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.stats_check_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                wrote = await self.flush()
            except Exception as exc:  # Redis away for a moment: keep the statuses, retry
                log.warning("could not write camera status: %s", exc)
                wrote = True
            if wrote:  # batch bursts; an idle node only wakes every stats_check_s
                await asyncio.sleep(self.flush_every_s)
