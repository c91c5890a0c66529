"""The restreams of one ingest worker: one per camera it publishes that has a destination.

The worker calls `follow` after each reconcile with the cameras whose packets it puts on the bus
(on a site: those it holds the lease of), so exactly one process on a site pushes a camera, and
a restream moves with the lease. A changed URL or key restarts the restream; a removed one is
stopped and, while the camera is still ours, shown `off` (a worker that lost the lease cannot say
so: the registry's `effective_status` drops a restream status once the camera has no URL).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ingest.sources.backoff import Backoff
from outputs.restream.restreamer import DEFAULT_TIMEOUTS, Destination, Restreamer, RestreamTimeouts
from pantau.bus.stream_bus import StreamBus
from pantau.cameras.camera import Camera

log = logging.getLogger(__name__)


class Restreams:
    def __init__(self, bus: StreamBus, report: Callable[..., None], backoff: Callable[[], Backoff],
                 timeouts: RestreamTimeouts = DEFAULT_TIMEOUTS):
        self.bus = bus
        self._report = report
        self._backoff = backoff
        self.timeouts = timeouts
        self.running: dict[str, Restreamer] = {}
        self._stopping: set[asyncio.Task] = set()

    def follow(self, published: dict[str, Camera]) -> None:
        """Start, restart or stop restreams to match `published` (on the event loop)."""
        for camera_id, restreamer in list(self.running.items()):
            camera = published.get(camera_id)
            destination = destination_of(camera) if camera else None
            if destination != restreamer.destination:
                del self.running[camera_id]
                self._stop_later(restreamer)
                if camera is not None:  # still ours: no stale `live` when a destination is set again
                    self._report(camera_id, restream={"state": "off", "reason": None, "since": None})
                log.info("camera %s: restream stopped", camera_id)
        for camera_id, camera in published.items():
            destination = destination_of(camera)
            if destination is not None and camera_id not in self.running:
                restreamer = Restreamer(camera_id, destination, self.bus, self._report, self._backoff(), self.timeouts)
                self.running[camera_id] = restreamer
                restreamer.start()

    def _stop_later(self, restreamer: Restreamer) -> None:
        task = asyncio.get_running_loop().create_task(restreamer.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def stop(self) -> None:
        restreamers, self.running = list(self.running.values()), {}
        await asyncio.gather(*(r.stop() for r in restreamers), *self._stopping, return_exceptions=True)


def destination_of(camera: Camera) -> Destination | None:
    return Destination(camera.restream_url, camera.restream_key) if camera.restream_url else None
