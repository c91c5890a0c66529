"""Pull one RTSP camera with PyAV in its own thread, reconnecting forever.

A dead camera must never hang a thread: opening is bounded by PyAV's interrupt callback
(`av.open(..., timeout=(open_s, None))`) and by FFmpeg's RTSP socket timeout (`timeout`,
microseconds, FFmpeg 5+); reading by the socket timeout alone, which also bounds how long a
stop request waits on a camera gone silent (a flowing camera stops at its next packet).
Opening skips most probing (`analyzeduration=0`, `probesize=32`): size and SPS/PPS come from
the SDP, ~0.12 s instead of ~1.2 s.

Sound: the camera's first audio track, if it has one, is demuxed with the video and handed to
the camera's `AudioPipeline` (ingest/audio_pipeline.py) on this thread, never to the feeder:
the feeder's ordering is the video pipeline's.

Given a `PipelineFeeder`, passthrough packets are handed to its one shared thread instead of
being processed here while many cameras stream (fewer GIL hand-overs, see
ingest/pipeline_feeder.py); a transcoded camera is always fed from this thread. Before feeding a packet itself, and before its
container closes, the source waits until the feeder has fed what it handed over, so the
pipeline always sees the packets of one session, in order, from one thread at a time.

Stall watch: the socket timeout does not see a camera that keeps its connection busy (RTCP,
keepalives) while no usable video comes, and PyAV's read timeout is off (above). So the
worker calls `check_stall` about once a second: a session whose last usable packet (see
`CameraPipeline.last_packet_at`) is older than the read timeout is `no_data` at once, and the
session ends at its next packet and reconnects (if FFmpeg never hands one over, the status is
still right).
"""

from __future__ import annotations

import logging
import threading
import time

from ingest.audio_pipeline import AudioPipeline
from ingest.camera_pipeline import CameraPipeline, StreamInfo
from ingest.pipeline_feeder import PipelineFeeder
from ingest.sources.backoff import Backoff
from ingest.sources.failure_reasons import NO_DATA, classify, describe
from pantau.media.rtsp_open import RtspSettings, audio_stream, open_rtsp, video_stream

__all__ = ["RtspSettings", "RtspSource"]

log = logging.getLogger(__name__)


class RtspSource:
    def __init__(self, camera_id: str, url: str, transport: str, pipeline: CameraPipeline,
                 settings: RtspSettings | None = None, backoff: Backoff | None = None,
                 feeder: PipelineFeeder | None = None, audio: bool = True):
        self.camera_id = camera_id
        self._url = url
        self._transport = transport
        self.pipeline = pipeline
        self.settings = settings or RtspSettings()
        self.backoff = backoff or Backoff()
        self.feeder = feeder
        self.audio = AudioPipeline(camera_id, pipeline.bus, pipeline.status, lambda: pipeline.epoch) if audio else None
        self._handed_over = False  # packets given to the feeder since it last settled
        self._feed_failure: Exception | None = None  # raised by the pipeline on the feeder's thread
        self._streaming = False  # a session is demuxing
        self._stalled = False  # the stall watch gave this session up
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rtsp-{camera_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def check_stall(self, now: float) -> None:
        """From the worker's event loop, about once a second (see the module docstring)."""
        if not self._streaming or self._stalled:
            return
        silent = now - self.pipeline.last_packet_at
        if silent > self.settings.read_timeout_s:
            self._stalled = True
            log.info("camera %s: no usable video for %.1f s; reconnecting", self.camera_id, silent)
            self.pipeline.status.report(self.camera_id, state="offline", reason=NO_DATA, picture=None, fps=None,
                                        bitrate_kbps=None)

    def _run(self) -> None:
        status = self.pipeline.status
        while not self._stop.is_set():
            started = time.monotonic()
            reason = None
            try:
                self._session()
                reason = "no_data"  # the camera ended the stream
            except Exception as exc:  # every failure is a status, never a dead thread
                reason = classify(exc)
                log.info("camera %s: %s (%s)", self.camera_id, reason, describe(exc))
            finally:
                self.pipeline.end_session()
            if self._stop.is_set():
                break
            self.backoff.connected_for(time.monotonic() - started)
            delay = self.backoff.next_delay(reason)
            status.report(self.camera_id, state="offline", reason=reason, picture=None, fps=None, bitrate_kbps=None,
                          retry_in_s=round(delay, 1))
            self._stop.wait(delay)

    def _session(self) -> None:
        self.pipeline.status.report(self.camera_id, state="connecting")
        # PyAV's read timeout stays disarmed here: armed, its interrupt callback takes the GIL on
        # every FFmpeg I/O poll (several per packet), and with many cameras the threads then spend
        # more CPU handing the GIL over than demuxing. FFmpeg's socket timeout (`timeout`, in
        # the options) still ends a read from a camera gone silent.
        container = open_rtsp(self._url, self._transport, self.settings, arm_read_timeout=False, audio=self.audio is not None)
        try:
            stream = video_stream(container)
            sound = audio_stream(container) if self.audio is not None else None
            self.pipeline.start_session(StreamInfo.of(stream))
            if sound is not None:
                self.audio.start_session(sound)
            self._stream(container, stream, sound)
        finally:
            if self.audio is not None:
                self.audio.end_session()
            container.close()

    def _stream(self, container, stream, sound=None) -> None:
        pipeline, feeder, stop = self.pipeline, self.feeder, self._stop
        sound_index = sound.index if sound is not None else -1
        if feeder is not None:
            feeder.source_started()
        self._stalled = False
        self._streaming = True
        try:
            for packet in container.demux(*(s for s in (stream, sound) if s is not None)):
                if stop.is_set():
                    return
                if packet.stream_index == sound_index:
                    self.audio.feed(packet)
                    continue
                if self._feed_failure is not None:
                    raise self._feed_failure
                if self._stalled:
                    raise TimeoutError("no usable video within the read timeout")
                if feeder is not None and feeder.crowded and pipeline.mode == "passthrough":
                    self._handed_over = True
                    feeder.submit(self._feed, packet, time.time())
                else:
                    self._settle()
                    pipeline.feed(packet)
        finally:
            self._streaming = False
            if feeder is not None:
                feeder.source_ended()
            self._settle()  # nothing of this session is fed after it ends (or the container closes)
            self._feed_failure = None

    def _feed(self, packet, received_at: float) -> None:
        """On the feeder's thread: a failure ends the session, as it would here."""
        try:
            self.pipeline.feed(packet, received_at)
        except Exception as exc:
            self._feed_failure = exc

    def _settle(self) -> None:
        if self._handed_over:
            self._handed_over = False
            if not self.feeder.settle():
                log.warning("camera %s: the pipeline feeder did not catch up within 2 s", self.camera_id)
