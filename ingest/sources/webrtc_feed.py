"""Encoded frames from a WebRTC receiver into a camera pipeline, on a thread of their own.

Frames arrive on the event loop (aiortc's RTP handling); the pipeline's work (normalising,
keyframe tiles, and for VP8 a decode + H.264 encode) must not run there. One feed per
connected publisher: a bounded queue and one thread. A feed that falls behind drops what is
queued, asks the sender for a keyframe and restarts the pipeline session at it (new epoch),
so a viewer never sees a picture built on a lost frame.

Sound (Opus, the only audio codec answered) goes through the same queue and thread to the
camera's `AudioPipeline`. Each track's RTP clock starts at 0 at its first packet (aiortc's
timestamp mapper) and means nothing to the other's, so audio is placed on the video's clock
by the RTCP sender reports of both (`on_report`: each maps its track's RTP clock to the
sender's wall clock, which is how the sender meant them to be played together). Not by when
the first packet of each arrived: a WHEP server starts a picture from its cached keyframe,
up to a GOP old, and its sound live, which put the sound 300 ms off on a Pantau upstream.
The placement is made once both tracks' mappings are steady (two reports in a row agreeing
within STEADY_S): a Pantau upstream retimes the picture it catches up from its cache, so its
first video reports can map the clock ~0.35 s off what they say once live. Sound before that
(two or three seconds) is dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from fractions import Fraction

import av

from ingest.audio_pipeline import AudioPipeline
from ingest.camera_pipeline import CameraPipeline, StreamInfo

log = logging.getLogger(__name__)

RTP_VIDEO_CLOCK = Fraction(1, 90_000)
RTP_OPUS_CLOCK = Fraction(1, 48_000)
CODECS = {"H264": "h264", "VP8": "vp8"}  # what a WebRTC source may send -> FFmpeg codec
MAX_QUEUED_FRAMES = 90 + 150  # ~3 s at 30 fps, and 3 s of 20 ms audio packets
STEADY_S = 0.02  # two sender reports of a track whose clock mappings agree this well: steady
CLOCKS = {"video": RTP_VIDEO_CLOCK, "audio": RTP_OPUS_CLOCK}
_END = object()


def stream_info(codec: str) -> StreamInfo:
    decoder = av.CodecContext.create(codec, "r")
    decoder.thread_count = 1
    return StreamInfo(codec=codec, width=None, height=None, time_base=RTP_VIDEO_CLOCK, decoder=decoder)


class WebRtcFeed:
    def __init__(self, camera_id: str, pipeline: CameraPipeline, request_keyframe: Callable[[], None]):
        self.camera_id = camera_id
        self.pipeline = pipeline
        self._request_keyframe = request_keyframe
        self._queue: queue.Queue = queue.Queue(MAX_QUEUED_FRAMES)
        self._thread = threading.Thread(target=self._run, name=f"webrtc-{camera_id}", daemon=True)
        self._codec: str | None = None
        self._started = False
        self.frames = 0
        self.audio = AudioPipeline(camera_id, pipeline.bus, pipeline.status, lambda: pipeline.epoch)
        self._reports: dict[str, tuple[float, int]] = {}  # kind -> (sender wall clock s, RTP timestamp then), once steady
        self._mapping: dict[str, float] = {}  # kind -> the last report's sender time minus its RTP time, seconds
        self._audio_lead: int | None = None  # added to audio timestamps: the video's clock, in 48 kHz ticks

    def on_frame(self, codec_name: str, data: bytes, timestamp: int) -> None:
        """From the event loop: queue one encoded frame (never blocks)."""
        codec = CODECS.get(codec_name)
        if codec is None:
            return
        self._put((codec, data, timestamp))

    def on_audio(self, codec_name: str, data: bytes, timestamp: int) -> None:
        """From the event loop: queue one Opus packet (never blocks)."""
        if codec_name.lower() != "opus":
            return
        self._put(("audio", data, timestamp))

    def on_report(self, kind: str, sender_s: float, timestamp: int) -> None:
        """From the event loop: a sender report of the "video" or "audio" track."""
        self._put(("report", kind, (sender_s, timestamp)))

    def _put(self, item: tuple) -> None:
        if not self._started:
            self._started = True
            self._thread.start()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._drain()
            self._queue.put_nowait(("resync", b"", 0))
            self._request_keyframe()

    def close(self) -> None:
        """The publisher is gone: the thread ends the pipeline session and exits."""
        if not self._started:
            return
        self._drain()
        self._queue.put(_END)

    def join(self, timeout: float) -> bool:
        if self._started:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not _END:
                codec, data, timestamp = item
                if codec == "audio":
                    self._feed_audio(data, timestamp)
                    continue
                if codec == "report":
                    self._note_report(data, timestamp)
                    continue
                if codec == "resync":
                    self._codec = None  # the next frame starts a new session at a keyframe
                    continue
                if codec != self._codec:
                    self._codec = codec
                    self.pipeline.start_session(stream_info(codec))
                packet = av.Packet(data)
                packet.pts = packet.dts = timestamp
                packet.time_base = RTP_VIDEO_CLOCK
                self.pipeline.feed(packet)
                self.frames += 1
        except Exception:  # a broken frame ends this feed, never the node
            log.exception("camera %s: WebRTC feed failed", self.camera_id)
        finally:
            self.audio.end_session()
            self.pipeline.end_session()

    def _note_report(self, kind: str, report: tuple[float, int]) -> None:
        sender_s, timestamp = report
        mapping = sender_s - float(timestamp * CLOCKS[kind])
        previous = self._mapping.get(kind)
        self._mapping[kind] = mapping
        if previous is not None and abs(mapping - previous) <= STEADY_S:
            self._reports[kind] = report

    def _feed_audio(self, data: bytes, timestamp: int) -> None:
        if self._codec is None:
            return  # nothing to be in sync with yet (and no subscriber would take it)
        if self._audio_lead is None:
            if "video" not in self._reports or "audio" not in self._reports:
                return  # not yet placed on the video's clock
            (video_s, video_ts), (audio_s, audio_ts) = self._reports["video"], self._reports["audio"]
            # The audio timestamp whose instant (sender's clock) is the video's at video_ts.
            self._audio_lead = round((video_ts * RTP_VIDEO_CLOCK - audio_ts * RTP_OPUS_CLOCK + audio_s - video_s)
                                     * RTP_OPUS_CLOCK.denominator)
        if not self.audio.active:
            self.audio.start_frames("opus", RTP_OPUS_CLOCK)
        packet = av.Packet(data)
        packet.pts = packet.dts = timestamp + self._audio_lead
        packet.time_base = RTP_OPUS_CLOCK
        self.audio.feed(packet)
