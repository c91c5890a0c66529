"""The ingest worker in /metrics (pantau/monitoring/metrics.py), read from its live state at scrape time.

Nothing here runs per packet: packets and bytes are the counters every camera pipeline keeps
anyway for its fps and bitrate (`RateMeter`), reconnects are counted per session, the
keyframe analysis is timed per keyframe by the executor it runs on, and cameras by state are
read from the status reporter. A source that stops (camera removed, disabled, its source
changed, its lease moved) leaves its totals in `PipelineTotals`, so the node's counters never
go back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import Metric

from outputs.recording.recording_metrics import recording_metrics
from pantau.monitoring.metrics import counter, gauge

if TYPE_CHECKING:
    from ingest.camera_pipeline import CameraPipeline
    from ingest.worker import IngestWorker


def reconnects(pipeline: CameraPipeline) -> int:
    return max(0, pipeline.sessions - 1)


class PipelineTotals:
    """What the pipelines of stopped sources had counted."""

    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0
        self.sessions = 0
        self.reconnects = 0

    def add(self, pipeline: CameraPipeline | None) -> None:
        if pipeline is None:
            return
        self.packets += pipeline.packets_in
        self.bytes += pipeline.bytes_in
        self.sessions += pipeline.sessions
        self.reconnects += reconnects(pipeline)


class IngestCollector:
    def __init__(self, worker: IngestWorker, per_camera: bool = False):
        self.worker = worker
        self.per_camera = per_camera

    def collect(self) -> Iterator[Metric]:
        worker = self.worker
        pipelines = dict(worker.pipelines)
        statuses = {camera_id: worker.status.current(camera_id) if worker.status else {} for camera_id in list(worker.sources)}
        states = Counter((s.get("state") or "connecting", s.get("reason") or "") for s in statuses.values())
        pictures = Counter(s["picture"] for s in statuses.values() if s.get("state") == "online" and s.get("picture"))
        transcoding = sum(1 for camera_id, s in statuses.items() if s.get("state") == "online"
                          and getattr(pipelines.get(camera_id), "mode", None) == "transcode")
        yield gauge("pantau_ingest_sources", "Camera sources this ingest worker runs (WHIP sources wait on every worker)", len(statuses))
        yield gauge("pantau_ingest_cameras", "Cameras of this worker by state and reason (reason empty unless offline)",
                    labels=["state", "reason"], rows=[(state, reason, n) for (state, reason), n in sorted(states.items())])
        yield gauge("pantau_ingest_pictures", "Online cameras of this worker by the picture judged at their last keyframe",
                    labels=["picture"], rows=sorted(pictures.items()))
        yield gauge("pantau_ingest_transcoding_cameras", "Online cameras this worker transcodes (not H.264, or B-frames)", transcoding)

        retired = worker.retired
        live = list(pipelines.values())
        yield counter("pantau_ingest_packets", "Video packets received from cameras (after dropping untimed and reordered ones)",
                      retired.packets + sum(p.packets_in for p in live))
        yield counter("pantau_ingest_bytes", "Bytes of video received from cameras", retired.bytes + sum(p.bytes_in for p in live))
        yield counter("pantau_ingest_sessions", "Camera connections that delivered a stream", retired.sessions + sum(p.sessions for p in live))
        yield counter("pantau_ingest_reconnects", "Camera connections after a camera's first one (the camera dropped or failed and came back)",
                      retired.reconnects + sum(reconnects(p) for p in live))
        timed = worker.keyframe_executor
        yield counter("pantau_ingest_keyframes_analysed", "Keyframes decoded for tiles and picture health", timed.tasks)
        yield counter("pantau_ingest_keyframe_analysis_seconds", "Wall time spent analysing keyframes (decode, tile, picture health)",
                      timed.seconds)
        yield counter("pantau_ingest_keyframe_analysis_cpu_seconds", "CPU time spent analysing keyframes", timed.cpu_seconds)
        yield from recording_metrics(worker.recorders)
        if self.per_camera:
            yield from self._per_camera(pipelines, statuses)

    @staticmethod
    def _per_camera(pipelines: dict[str, CameraPipeline], statuses: dict[str, dict]) -> Iterator[Metric]:
        ids = sorted(statuses)
        with_pipeline = [(camera_id, pipelines[camera_id]) for camera_id in ids if camera_id in pipelines]
        yield counter("pantau_camera_packets", "Video packets received from the camera", labels=["camera"],
                      rows=[(c, p.packets_in) for c, p in with_pipeline])
        yield counter("pantau_camera_bytes", "Bytes of video received from the camera", labels=["camera"],
                      rows=[(c, p.bytes_in) for c, p in with_pipeline])
        yield counter("pantau_camera_reconnects", "Connections after the camera's first one", labels=["camera"],
                      rows=[(c, reconnects(p)) for c, p in with_pipeline])
        yield gauge("pantau_camera_up", "1 while the camera is online on this worker", labels=["camera"],
                    rows=[(c, 1 if statuses[c].get("state") == "online" else 0) for c in ids])
        yield gauge("pantau_camera_fps", "Frames per second over the last seconds", labels=["camera"],
                    rows=[(c, statuses[c]["fps"]) for c in ids if statuses[c].get("fps") is not None])
        yield gauge("pantau_camera_bitrate_kbps", "kbit/s over the last seconds", labels=["camera"],
                    rows=[(c, statuses[c]["bitrate_kbps"]) for c in ids if statuses[c].get("bitrate_kbps") is not None])
