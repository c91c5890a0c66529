"""Recordings in /metrics (pantau/monitoring/metrics.py), read at scrape time from what the
recorders count anyway: segments and bytes from the disk total every commit and deletion already
updates, CPU from the writer threads' and the chores pool's own clocks (two reads per tick or
task). Part of the ingest worker's metrics: recordings are written by the camera's lease owner."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import Metric

from outputs.recording import writer_threads
from outputs.recording.recorder import WRITERS
from outputs.recording.recorders import Recorders
from pantau.monitoring.metrics import counter, gauge


def recording_metrics(recorders: Recorders | None) -> Iterator[Metric]:
    if recorders is None:
        return
    usage = recorders.usage
    yield gauge("pantau_recording_cameras", "Cameras this worker records now (record on, lease held)", len(recorders.running))
    yield counter("pantau_recording_segments_written", "Segment files written and chained", usage.written)
    yield counter("pantau_recording_bytes_written", "Bytes of segment files written", usage.written_bytes)
    yield counter("pantau_recording_segments_deleted", "Segment files retention deleted (older than the retention, or over "
                  "the disk budget; never a held range)", usage.deleted)
    yield gauge("pantau_recording_disk_bytes", "Bytes of segments in the recordings directory as last counted (walked "
                "hourly: another worker's on a shared volume show at the next walk)", usage.last_total())
    yield counter("pantau_recording_cpu_seconds", "CPU time spent recording: muxing, hashing, writing, chaining and "
                  "signing segments, and retention (this process)", writer_threads.cpu_seconds() + WRITERS.cpu_seconds)
