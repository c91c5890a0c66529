"""Which cameras this relay serves over HLS now, and each one's packaging lifecycle.

A camera starts on its first HLS request and stops `hls.linger_s` after its last one: a camera
nobody watches has no bus subscription, no muxer and no task, so it costs no CPU.

Embedded (one node), this relay packages the camera into its own window. On a site the relays
with viewers elect one packager (relay/hls/redis_part_log.py) and every relay follows the
shared part log into its window; the packager goes on while any relay still has viewers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable

from pantau.bus.stream_bus import StreamBus
from pantau.runtime.config import HlsSettings
from relay.hls.packager import Numbering, Packager
from relay.hls.part_record import PartRecord
from relay.hls.playlist import LiveWindow
from relay.hls.redis_part_log import RedisPartLog

log = logging.getLogger(__name__)

CHECK_S = 1.0  # lease renewal, demand, idle check


class CameraHls:
    def __init__(self, owner: HlsCameras, camera_id: str):
        self.owner = owner
        self.camera_id = camera_id
        settings = owner.settings
        self.window = LiveWindow(settings.segments_kept, settings.part_target_s, settings.segment_target_s)
        self.last_request = time.monotonic()
        self.requests = 0  # being answered now (a blocking one is held for seconds)
        self.packaging = False  # this relay packages the camera now
        self.task: asyncio.Task | None = None

    def idle(self) -> bool:
        return not self.requests and time.monotonic() - self.last_request > self.owner.settings.linger_s

    def begin_request(self) -> None:
        """A request starts: the camera stays while it is answered, and `linger_s` after."""
        self.requests += 1

    def end_request(self) -> None:
        self.requests -= 1
        self.last_request = time.monotonic()

    async def run(self) -> None:
        try:
            if self.owner.part_log is None:
                await self._run_embedded()
            else:
                await self._run_site(self.owner.part_log)
        finally:
            self.packaging = False
            self.owner.cameras.pop(self.camera_id, None)

    async def _package(self, numbering: Numbering, sink) -> None:
        packager = Packager(self.owner.bus, self.camera_id, self.owner.settings, numbering, sink,
                            lambda: self.owner.audio_allowed(self.camera_id))
        try:
            await packager.run()
        finally:
            if packager.last is not None:
                self.owner.last_records[self.camera_id] = dataclasses.replace(packager.last, data=b"", init=b"")

    async def _run_embedded(self) -> None:
        async def apply(record: PartRecord) -> bool:
            self.window.apply(record)
            return True

        numbering = Numbering.after(self.owner.last_records.get(self.camera_id), self.owner.settings)
        self.packaging = True
        packager = asyncio.create_task(self._package(numbering, apply), name=f"hls-package-{self.camera_id}")
        try:
            while not self.idle():
                if packager.done():  # it failed: start again after the last part it made
                    with contextlib.suppress(asyncio.CancelledError):
                        if packager.exception():
                            log.warning("HLS packager of %s stopped: %r", self.camera_id, packager.exception())
                    numbering = Numbering.after(self.owner.last_records.get(self.camera_id), self.owner.settings)
                    packager = asyncio.create_task(self._package(numbering, apply))
                await asyncio.sleep(CHECK_S)
        finally:
            packager.cancel()
            await asyncio.gather(packager, return_exceptions=True)

    async def _run_site(self, part_log: RedisPartLog) -> None:
        follower = asyncio.create_task(part_log.follow(self.camera_id, self.window.apply), name=f"hls-follow-{self.camera_id}")
        packager: asyncio.Task | None = None
        token: str | None = None
        try:
            while True:
                try:
                    if token is not None:
                        if self.idle() and not await part_log.wanted(self.camera_id):
                            break  # nobody on any relay watches: stop packaging
                        if packager.done() or not await part_log.renew(self.camera_id, token):
                            packager.cancel()
                            token, packager, self.packaging = None, None, False
                    elif self.idle():
                        break
                    else:
                        await part_log.want(self.camera_id)
                        token = await part_log.lead(self.camera_id)
                        if token is not None:
                            last = await part_log.last(self.camera_id)
                            numbering = Numbering.after(last, self.owner.settings)
                            sink = part_log.sink(self.camera_id, token, self.owner.settings.segments_kept)
                            packager = asyncio.create_task(self._package(numbering, sink), name=f"hls-package-{self.camera_id}")
                            self.packaging = True
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the bus Redis is away: try again at the next check
                    log.info("HLS lease of %s: %s", self.camera_id, exc)
                await asyncio.sleep(CHECK_S)
        finally:
            follower.cancel()
            if packager is not None:
                packager.cancel()
                await asyncio.gather(packager, return_exceptions=True)
            if token is not None:
                await part_log.release(self.camera_id, token)
            await asyncio.gather(follower, return_exceptions=True)


class HlsCameras:
    def __init__(self, bus: StreamBus, settings: HlsSettings, part_log: RedisPartLog | None,
                 audio_allowed: Callable[[str], bool] = lambda camera_id: False):
        """`audio_allowed(camera_id)`: may its sound go into HLS, which anyone may fetch
        (its `audio_public`); asked at every segment."""
        self.audio_allowed = audio_allowed
        self.bus = bus
        self.settings = settings
        self.part_log = part_log
        self.cameras: dict[str, CameraHls] = {}
        self.last_records: dict[str, PartRecord] = {}  # embedded: where a later run continues

    def touch(self, camera_id: str) -> CameraHls:
        """The camera's HLS on this relay, started if it was not; a request keeps it going."""
        camera = self.cameras.get(camera_id)
        if camera is None:
            camera = self.cameras[camera_id] = CameraHls(self, camera_id)
            camera.task = asyncio.get_running_loop().create_task(camera.run(), name=f"hls-{camera_id}")
        camera.last_request = time.monotonic()
        return camera

    def packaging(self) -> list[str]:
        """Cameras this relay packages now (on a site: those it was elected for)."""
        return sorted(c for c, hls in self.cameras.items() if hls.packaging)

    def summary(self) -> dict:
        """For /api/metrics: cameras served over HLS here, and those this relay packages."""
        return {"serving": sorted(self.cameras), "packaging": self.packaging()}

    async def stop(self) -> None:
        tasks = [c.task for c in self.cameras.values() if c.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
