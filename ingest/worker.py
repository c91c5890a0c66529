"""The ingest worker: runs one source for every enabled camera this node ingests, following
the registry, so a camera added, changed, disabled or deleted through the API starts or stops
within `poll_registry_s` without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import cv2

from ingest.alert_watcher import AlertWatcher
from ingest.camera_pipeline import CameraPipeline
from ingest.metrics import PipelineTotals
from ingest.ownership import rendezvous
from ingest.picture.keyframe_tiles import KeyframeAnalyzer
from ingest.picture.picture_health import HealthThresholds
from ingest.picture.reference_follower import ReferenceFollower
from ingest.picture.tamper_checks import TamperLimits
from ingest.pipeline_feeder import PipelineFeeder
from ingest.sources.backoff import Backoff
from ingest.sources.rtsp_source import RtspSettings, RtspSource
from ingest.sources.whep_source import WhepPullSettings, WhepPullSource
from ingest.sources.whip_source import WebRtcSettings, WhipSource
from ingest.status_reporter import StatusReporter
from ingest.transcoder import TranscodeSettings
from outputs.restream.restreams import Restreams
from pantau.bus.stream_bus import StreamBus
from pantau.cameras.camera import Camera
from pantau.cameras.reference_views import ReferenceViews
from pantau.cameras.registry import Registry
from pantau.monitoring.alerts import AlertLimits, AlertStore
from pantau.monitoring.timed_executor import TimedExecutor
from pantau.runtime import native_memory
from pantau.runtime.config import AlertSettings, IngestSettings

log = logging.getLogger(__name__)

INGESTED_SOURCES = ("rtsp", "demo", "whip", "whep")
WEBRTC_SOURCES = ("whip", "whep")
STALL_CHECK_S = 1.0
# After sources stop, their threads close their containers within a packet or two (a silent
# camera: the read timeout); then one malloc_trim instead of waiting for the periodic one.
TRIM_AFTER_STOPS_S = 5.0


class Source(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def join(self, timeout: float) -> bool: ...


def source_key(camera: Camera) -> tuple:
    """What, when changed, needs the source restarted."""
    return camera.source, camera.transport, camera.source_token, "force_transcode" in camera.tags


class IngestWorker:
    def __init__(self, registry: Registry, bus: StreamBus, settings: IngestSettings,
                 selects: Callable[[Camera], bool] = lambda camera: True, webrtc: WebRtcSettings | None = None,
                 ownership=None, alerts: AlertSettings | None = None):
        """`ownership` (ingest/ownership.py, on a site without a static --cameras split): the
        cameras this worker holds the lease of (or warms up to take over), and WHIP claims.
        `alerts`: raise alert records for the cameras this worker answers for (None: no alerts)."""
        self.registry = registry
        self.bus = bus
        self.settings = settings
        self.selects = selects
        self.webrtc = webrtc  # None: this worker takes no WebRTC sources (WHIP, WHEP)
        self.ownership = ownership
        self.alert_settings = alerts
        self.alerts: AlertWatcher | None = None
        self.sources: dict[str, tuple[tuple, Source]] = {}
        self.pipelines: dict[str, CameraPipeline] = {}  # of the running sources, for /metrics
        self.retired = PipelineTotals()  # what stopped sources' pipelines had counted
        self.status: StatusReporter | None = None
        # Each camera's reference view, for its keyframe analyser (ingest/picture/reference_follower.py).
        self.references = ReferenceFollower(ReferenceViews(registry.redis),
                                            lambda camera_id, has: self.status.report(camera_id, reference=has))
        self._health = health_thresholds(settings)
        # Timed per keyframe (ingest/metrics.py): the analysis cost per camera shows in /metrics.
        self.keyframe_executor = TimedExecutor(
            ThreadPoolExecutor(settings.keyframe_threads, thread_name_prefix="keyframes"))
        # OpenCV's own thread pool would add a thread per core to every small resize/encode;
        # work here is already spread over cameras.
        cv2.setNumThreads(1)
        self._feeder = PipelineFeeder(from_sources=settings.shared_feed_from_cameras)
        self._demo = None
        self._tasks: list[asyncio.Task] = []
        self._trim: asyncio.Task | None = None
        # Recordings (outputs/recording/recorders.py), run by the camera's lease owner: set by the node.
        self.recorders = None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._feeder.start()
        self.status = StatusReporter(self.registry.redis)
        # Restreams to RTMP(S) (outputs/restream/), pushed by the camera's lease owner only.
        self.restreams = Restreams(self.bus, self.status.report, self._backoff)
        self._tasks = [asyncio.create_task(self.status.run(), name="status-writer"),
                       asyncio.create_task(self._follow_registry(), name="follow-registry"),
                       asyncio.create_task(self._watch_stalls(), name="stall-watch")]
        if self.alert_settings is not None and self.alert_settings.enabled:
            store = AlertStore(self.registry.redis, AlertLimits.of(self.alert_settings))
            self.alerts = AlertWatcher(self.registry, store, self.bus, self.alert_settings, self.alert_duty)
            self._tasks.append(asyncio.create_task(self.alerts.run(), name="alert-watch"))
        if self.ownership:
            with contextlib.suppress(Exception):  # Redis away at start: the loop retries
                await self.ownership.step()
            self.ownership.start()
        await self.reconcile()

    async def stop(self, deadline_s: float = 4.5) -> None:
        """Stop every source and wait for their threads (bounded by the read timeout)."""
        for task in [*self._tasks, *([self._trim] if self._trim else [])]:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1.0)
        if self.status:
            await self.restreams.stop()
        for _, source in self.sources.values():
            source.stop()
        end = time.monotonic() + deadline_s
        stuck = [cid for cid, (_, source) in self.sources.items() if not await asyncio.to_thread(source.join, max(0.0, end - time.monotonic()))]
        if stuck:
            log.warning("%d source thread(s) still closing at shutdown: %s", len(stuck), ", ".join(stuck[:5]))
        self.sources.clear()
        if self.recorders is not None:
            await self.recorders.stop()  # before the leases go: the last segments are still ours to write
        if self.ownership:
            await self.ownership.stop()  # after the sources: hand the leases over, nothing publishes
        self._feeder.stop()
        self.keyframe_executor.shutdown(wait=False, cancel_futures=True)
        if self.status:
            with contextlib.suppress(Exception):
                await self.status.flush()

    async def _follow_registry(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_registry_s)
            try:
                await self.reconcile()
            except Exception as exc:  # Redis away: keep running what runs, retry
                log.warning("could not follow the registry: %s", exc)

    async def _watch_stalls(self) -> None:
        """RTSP sessions whose video stopped while their socket stays busy (ingest/sources/rtsp_source.py)."""
        while True:
            await asyncio.sleep(STALL_CHECK_S)
            now = time.time()
            for _, source in list(self.sources.values()):
                if isinstance(source, RtspSource):
                    source.check_stall(now)

    async def alert_duty(self) -> dict[str, tuple[Camera, dict]]:
        """The cameras whose alerts this worker raises, with the status to judge each by: those
        it ingests (on a site: holds the lease of), from its own reports; and on a site the WHIP
        cameras nobody takes a push of whose rendezvous owner it is, from the site's status
        (a push taken by another worker shows there as online)."""
        cameras = self.registry.table.cameras
        duty: dict[str, tuple[Camera, dict]] = {}
        waiting: list[Camera] = []
        workers = sorted(self.ownership.live) if self.ownership else []
        for camera_id in list(self.sources):
            camera = cameras.get(camera_id)
            if camera is None:
                continue
            if self.ownership is None or camera_id in self.ownership.held:
                duty[camera_id] = (camera, self.status.current(camera_id))
            elif camera.source_type == "whip" and rendezvous(camera_id, workers) == self.ownership.worker:
                waiting.append(camera)
        if waiting:
            statuses = await self.registry.statuses(waiting)
            duty.update({camera.id: (camera, statuses[camera.id]) for camera in waiting})
        return duty

    # -- reconciling ---------------------------------------------------------------------------
    def eligible(self, camera: Camera) -> bool:
        """A camera this worker could ingest (before leases decide)."""
        return camera.enabled and camera.source_type in self.source_types and self.selects(camera)

    def wanted(self, cameras: dict[str, Camera]) -> dict[str, Camera]:
        owns = self.ownership.wants if self.ownership else (lambda camera: True)
        # WHIP sources wait for a push on every worker; the one that takes the push takes the lease.
        return {cid: c for cid, c in cameras.items() if self.eligible(c) and (c.source_type == "whip" or owns(c))}

    @property
    def source_types(self) -> tuple[str, ...]:
        return INGESTED_SOURCES if self.webrtc else tuple(t for t in INGESTED_SOURCES if t not in WEBRTC_SOURCES)

    def whip_source(self, camera_id: str) -> WhipSource | None:
        """The running WHIP source of a camera, for the WHIP endpoint."""
        entry = self.sources.get(camera_id)
        return entry[1] if entry and isinstance(entry[1], WhipSource) else None

    async def reconcile(self) -> None:
        table = await self.registry.sync()
        wanted = self.wanted(table.cameras)
        for camera_id, (key, source) in list(self.sources.items()):
            camera = wanted.get(camera_id)
            if camera is None or source_key(camera) != key:
                source.stop()
                self._trim_after_stops()
                del self.sources[camera_id]
                self.references.detach(camera_id)
                pipeline = self.pipelines.pop(camera_id, None)
                if pipeline is not None:
                    pipeline.close()
                self.retired.add(pipeline)
                self.bus.end_stream(camera_id)
                if camera_id not in table.cameras:
                    self.bus.forget(camera_id)
                    self.status.forget(camera_id)
                log.info("camera %s: source stopped", camera_id)
        for camera_id, camera in wanted.items():
            pipeline = self.pipelines.get(camera_id)
            if pipeline is not None and camera.masks != pipeline.masks:
                pipeline.set_masks(camera.masks)  # painted from the next keyframe, no reconnect
            if pipeline is not None and camera.unmasked_for_officials != pipeline.unmasked_for_officials:
                pipeline.set_unmasked_for_officials(camera.unmasked_for_officials)  # no reconnect either
            if camera_id not in self.sources:
                source = self._make_source(camera)
                self.sources[camera_id] = (source_key(camera), source)
                source.start()
        if self.recorders is not None:
            self.recorders.follow(cid for cid, camera in wanted.items() if camera.record and self.holds_lease(cid))
        self.restreams.follow({cid: camera for cid, camera in wanted.items() if cid in self.sources and self.holds_lease(cid)})
        await self.references.step()

    def _trim_after_stops(self) -> None:
        """Freed memory back to the system a few seconds after sources stop: a hand-back of 22
        cameras after a takeover left ~13 MB free inside glibc until the next periodic trim
        (up to memory.trim_every_s later; bench/takeover_memory.py)."""
        if self._trim is None or self._trim.done():
            self._trim = asyncio.create_task(self._trim_later(), name="trim-after-stops")

    @staticmethod
    async def _trim_later() -> None:
        await asyncio.sleep(TRIM_AFTER_STOPS_S)
        took = await asyncio.to_thread(native_memory.trim)
        log.debug("malloc_trim(0) after sources stopped took %.1f ms", took * 1000)

    def holds_lease(self, camera_id: str) -> bool:
        """This worker is the camera's one writer (without leases: a static split, or embedded)."""
        return self.ownership is None or camera_id in self.ownership.held

    def _pipeline(self, camera: Camera) -> CameraPipeline:
        s = self.settings
        analyzer = KeyframeAnalyzer(camera.id, self.bus, self.keyframe_executor,
                                    on_picture=lambda picture, width, height, cid=camera.id: self.status.report(
                                        cid, picture=picture, width=width, height=height), health=self._health)
        self.references.attach(camera.id, analyzer)
        pipeline = CameraPipeline(camera.id, self.bus, self.status, analyzer, TranscodeSettings(**s.transcode.model_dump()),
                                  force_transcode="force_transcode" in camera.tags, masks=camera.masks,
                                  unmasked_for_officials=camera.unmasked_for_officials)
        self.pipelines[camera.id] = pipeline
        return pipeline

    def _make_source(self, camera: Camera) -> Source:
        s = self.settings
        if camera.source_type == "demo":
            return self._demo_player().source_for(camera, self._pipeline(camera))
        if camera.source_type == "whip":
            return WhipSource(camera.id, self._pipeline(camera), self.webrtc, push_lease=self.ownership)
        backoff = self._backoff()
        if camera.source_type == "whep":
            return WhepPullSource(camera.id, camera.source, camera.source_token, self._pipeline(camera), self.webrtc,
                                  WhepPullSettings(s.rtsp_open_timeout_s, s.rtsp_read_timeout_s), backoff)
        return RtspSource(camera.id, camera.source, camera.transport, self._pipeline(camera),
                          RtspSettings(s.rtsp_open_timeout_s, s.rtsp_read_timeout_s), backoff, self._feeder)

    def _backoff(self) -> Backoff:
        s = self.settings
        return Backoff(initial_s=s.backoff_initial_s, cap_s=s.backoff_cap_s, auth_initial_s=s.auth_backoff_initial_s)

    def _demo_player(self):
        if self._demo is None:
            from ingest.sources.demo_source import DemoPlayer

            self._demo = DemoPlayer(self.registry.regions)
        return self._demo


def health_thresholds(settings: IngestSettings) -> HealthThresholds:
    picture = settings.picture
    return HealthThresholds(frozen_after=picture.frozen_after, sustain=picture.sustain_keyframes,
                            tamper_checks=picture.tamper_checks,
                            tamper=TamperLimits(moved_below=picture.moved_below, blurred_below=picture.blurred_below,
                                                obstructed_from=picture.obstructed_from))
