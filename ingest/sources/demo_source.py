"""Demo cameras: real H.264 through the same pipeline and bus as a real camera, cheap enough
for the embedded default to run all 176 on two cores.

Each camera's picture (its kecamatan or TPS label, code, a moving element and a clock) is a
short loop encoded once (`ingest.sources.demo_video`); one player thread replays every camera's loop
with fresh timestamps, starting each replay with a newly encoded keyframe that shows the
current time. Loops are built on a small thread pool at start, cameras staggered so that
their keyframes do not all land at once.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction

import av

from ingest.camera_pipeline import CameraPipeline, StreamInfo
from ingest.sources.demo_video import DemoVideo
from pantau.cameras.camera import Camera
from pantau.cameras.regions import RegionTree

log = logging.getLogger(__name__)

CLOCK = Fraction(1, 90_000)


def demo_labels(camera: Camera, regions: RegionTree) -> tuple[str, str]:
    """(title, subtitle) in ASCII: what the demo picture says about the camera."""
    path = regions.path(camera.region)
    kecamatan = path.get("kecamatan", {}).get("name", "")
    if camera.kind == "recap":
        return f"Kec. {kecamatan}", f"{camera.region}  rekap  {camera.id}"
    return camera.name, f"{camera.id}  Kec. {kecamatan}"


@dataclass
class _DemoCamera:
    camera_id: str
    pipeline: CameraPipeline
    title: str
    subtitle: str
    video: DemoVideo | None = None
    packets: list = field(default_factory=list)
    next_index: int = 0
    next_due: float = 0.0  # time.monotonic() of the next packet
    pts: int = 0


class DemoCameraSource:
    """The Source a worker sees for one demo camera."""

    def __init__(self, player: DemoPlayer, demo: _DemoCamera):
        self._player = player
        self._demo = demo

    def start(self) -> None:
        self._player.add(self._demo)

    def stop(self) -> None:
        self._player.remove(self._demo.camera_id)

    def join(self, timeout: float) -> bool:
        return True


class DemoPlayer:
    def __init__(self, regions: RegionTree, builders: int = 2):
        self.regions = regions
        self._cameras: dict[str, _DemoCamera] = {}
        self._wanted: set[str] = set()  # added and not removed (a build may still be running)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._builders = ThreadPoolExecutor(builders, thread_name_prefix="demo-build")
        self._thread: threading.Thread | None = None

    def source_for(self, camera: Camera, pipeline: CameraPipeline) -> DemoCameraSource:
        title, subtitle = demo_labels(camera, self.regions)
        return DemoCameraSource(self, _DemoCamera(camera.id, pipeline, title, subtitle))

    def add(self, demo: _DemoCamera) -> None:
        demo.pipeline.status.report(demo.camera_id, state="connecting", reason=None)
        with self._lock:
            self._wanted.add(demo.camera_id)
        self._builders.submit(self._build, demo)

    def remove(self, camera_id: str) -> None:
        with self._lock:
            self._wanted.discard(camera_id)
            demo = self._cameras.pop(camera_id, None)
        if demo is not None:
            demo.pipeline.end_session()

    def _build(self, demo: _DemoCamera) -> None:
        try:
            video = DemoVideo(demo.title, demo.subtitle)
        except Exception:
            log.exception("demo camera %s could not be built", demo.camera_id)
            demo.pipeline.status.report(demo.camera_id, state="offline", reason="unsupported_codec")
            return
        demo.video = video
        demo.pipeline.start_session(StreamInfo("h264", video.width, video.height, CLOCK, video.extradata))
        # Stagger: each camera starts its loop at its own phase, keyframes spread over the loop.
        phase = (zlib.crc32(demo.camera_id.encode()) % 1000) / 1000 * video.frame_count / video.fps
        demo.next_due = time.monotonic() + phase
        with self._lock:
            if demo.camera_id not in self._wanted:
                return  # removed while it was being built
            self._cameras[demo.camera_id] = demo
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._play, name="demo-player", daemon=True)
                self._thread.start()

    def _play(self) -> None:
        while True:
            with self._lock:
                cameras = list(self._cameras.values())
            if not cameras:
                with self._lock:
                    if not self._cameras:
                        self._thread = None
                        return
                continue
            now = time.monotonic()
            next_wake = now + 0.5
            for demo in cameras:
                while demo.next_due <= now:
                    self._send_next(demo)
                next_wake = min(next_wake, demo.next_due)
            time.sleep(max(0.0, next_wake - time.monotonic()))

    def _send_next(self, demo: _DemoCamera) -> None:
        video = demo.video
        if demo.next_index == 0 or not demo.packets:
            demo.packets = video.cycle(datetime.now(UTC))
            demo.next_index = 0
        encoded = demo.packets[demo.next_index]
        step = 90_000 // video.fps
        packet = av.Packet(encoded.data)
        packet.pts = packet.dts = demo.pts
        demo.pipeline.feed(packet)
        demo.pts += step
        demo.next_index = (demo.next_index + 1) % len(demo.packets)
        demo.next_due += 1 / video.fps
        if time.monotonic() - demo.next_due > 2.0:  # fell far behind (suspended?): do not burst
            demo.next_due = time.monotonic()
