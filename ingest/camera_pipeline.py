"""From a source's demuxed packets to clean bus packets, for one camera.

Per session (one connection to the camera): skip to the first keyframe, drop packets without
DTS and small reorders, choose passthrough or transcode, normalise to Annex-B with SPS/PPS in
front of keyframes, publish on the bus with the session's epoch, feed keyframes to the tile
and health analyser, and keep the status counters (fps, bitrate, last keyframe).

B-frames are detected from the packets (pts != dts), not trusted from stream headers: FFmpeg
guesses reordering from the level when the SPS does not say, which would transcode cameras
that do not need it. A camera found to send B-frames switches to transcoding at its next
keyframe (new epoch), and stays on that path for later sessions.

A DTS jump of more than DISCONTINUITY_S against the wall clock (back, or ahead of the time
that passed) is a new timeline, not a reorder: some servers restart a stream's timestamps
while the connection stays up (GStreamer's shared media resets everyone's when a client joins
it seekable). It starts a new epoch, which every subscription rebases onto its continuous
clock (`pantau.bus.stream_bus.TimestampRebaser`), as after a reconnect; dropping packets until
the DTS passed the old maximum froze a camera for as long as the jump, online and silent.
`last_packet_at` (the last usable packet) lets the source's stall watch end a session that
delivers none (ingest/sources/rtsp_source.py).

A camera with privacy masks is always transcoded, masked before the encode
(ingest/transcoder.py), so nothing on the bus carries the unmasked picture. Masks change
without a reconnect (`set_masks`, from the worker's registry follower): new masks on a masked
camera are painted from the next frame, made a keyframe; a camera that gains its first masks
or loses its last switches path at the source's next keyframe (new epoch), as for B-frames.
With the officials' exception on (`set_unmasked_for_officials`), a masked camera's source
packets also go, untouched, to its unmasked bus id (ingest/unmasked_publisher.py), or, for a
source that cannot be passed on, the transcoder's second, unpainted encode.

Keyframes on request: the pipeline answers the bus's keyframe requests for its camera (a
viewer's picture loss, a new viewer facing an old GOP, the admin page's fresh tile): a
transcoding pipeline makes its next frame a keyframe at once; the source is asked too when it
can make one (a WHIP publisher, `keyframes_from_source`); an RTSP camera's next keyframe is
what passthrough can offer.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from ingest.h264 import AnnexBNormalizer, nal_type, nal_units
from ingest.picture.keyframe_tiles import KeyframeAnalyzer
from ingest.sources.failure_reasons import UnsupportedSource
from ingest.status_reporter import StatusReporter
from ingest.transcoder import OUTPUT_TIME_BASE, H264Transcoder, TranscodeSettings
from ingest.unmasked_publisher import UnmaskedPublisher
from pantau.bus.stream_bus import MediaPacket, StreamBus
from pantau.runtime.clock import iso_utc

log = logging.getLogger(__name__)

RATE_WINDOW_S = 5.0
DISCONTINUITY_S = 1.0  # a DTS step this far off the wall clock starts a new timeline


def new_epoch() -> int:
    """Unique and increasing across reconnects (and across nodes, to the microsecond)."""
    return time.time_ns() // 1000


@dataclass
class StreamInfo:
    """What a source knows about the video it is about to feed."""

    codec: str  # FFmpeg codec name: h264, hevc, mjpeg, ...
    width: int | None
    height: int | None
    time_base: Fraction
    extradata: bytes | None = None
    decoder: av.CodecContext | None = None  # needed only if the camera may be transcoded

    @classmethod
    def of(cls, stream: av.video.stream.VideoStream) -> StreamInfo:
        ctx = stream.codec_context
        return cls(ctx.name, ctx.width or None, ctx.height or None, stream.time_base or Fraction(1, 90_000), ctx.extradata, ctx)


class RateMeter:
    """Frames per second and kbit/s over the last few seconds.

    Per packet the caller only bumps two counters (`frames`, `bytes`); `rates()`, called about
    once a second, samples them: a packet costs two additions, not a deque entry."""

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self._samples: deque[tuple[float, int, int]] = deque()

    def rates(self, now: float) -> tuple[float | None, float | None]:
        samples = self._samples
        samples.append((now, self.frames, self.bytes))
        while now - samples[0][0] > RATE_WINDOW_S:
            samples.popleft()
        since, frames, size = samples[0]
        span = now - since
        if span <= 0:
            return None, None
        return round((self.frames - frames) / span, 1), round((self.bytes - size) * 8 / 1000 / span)


class CameraPipeline:
    def __init__(self, camera_id: str, bus: StreamBus, status: StatusReporter, analyzer: KeyframeAnalyzer,
                 transcode: TranscodeSettings, force_transcode: bool = False, masks: list[dict[str, Any]] | None = None,
                 unmasked_for_officials: bool = False):
        self.camera_id = camera_id
        self.bus = bus
        self.status = status
        self.analyzer = analyzer
        self.transcode_settings = transcode
        self.needs_transcode = force_transcode  # sticky: learned B-frames stay learned
        self.masks = masks or []  # set from the worker's thread; feed() notices a change per packet
        self._path_masks: list[dict[str, Any]] = []  # the masks the running path paints
        self._codec = ""
        self._extradata: bytes | None = None
        self._source_size: tuple[int | None, int | None] = (None, None)
        self.mode: str | None = None
        self.epoch = 0
        self._meter = RateMeter()
        self._normalizer: AnnexBNormalizer | None = None
        self._transcoder: H264Transcoder | None = None
        self._decoder: av.CodecContext | None = None
        self._last_dts: int | None = None
        self._last_at = 0.0  # wall time of the packet that set _last_dts
        self._jump = 0  # DISCONTINUITY_S in the stream's time base
        self._ticks_per_s = 90_000.0
        self.last_packet_at = 0.0  # time.time() of the last usable packet (or of the session start)
        self._waiting_for_keyframe = True
        self._switch_path = False  # at the next keyframe: a new path (B-frames found, masks added or removed)
        self._last_stats_report = 0.0
        self.sessions = 0  # connections that delivered a stream (ingest/metrics.py: reconnects)
        self.unmasked_for_officials = unmasked_for_officials  # set from the worker's thread
        self._source_keyframe: Callable[[], None] | None = None  # a source that makes keyframes when asked
        self._unmasked = UnmaskedPublisher(camera_id, bus, self._ask_source_for_keyframe)
        bus.on_keyframe_request(camera_id, self._keyframe_requested)

    @property
    def packets_in(self) -> int:
        """Packets fed so far (all sessions): the rate meter's own counter."""
        return self._meter.frames

    @property
    def bytes_in(self) -> int:
        return self._meter.bytes

    # -- session -------------------------------------------------------------------------
    def start_session(self, info: StreamInfo) -> None:
        """A new connection: new epoch, choose the path from what the stream says."""
        self.sessions += 1
        self.epoch = new_epoch()
        self._last_dts = None
        self._waiting_for_keyframe = True
        self._switch_path = False
        self._decoder = info.decoder
        self._codec, self._extradata = info.codec, info.extradata
        self._source_size = (info.width, info.height)
        self._time_base = info.time_base
        self._ticks_per_s = float(1 / info.time_base)
        self._jump = int(DISCONTINUITY_S * self._ticks_per_s)
        self.last_packet_at = time.time()
        self._unmasked.start_session(info.extradata if info.codec == "h264" else None)
        self._choose_path()
        self.analyzer.reset()
        self.status.report(self.camera_id, state="connecting", reason=None, codec=info.codec, width=info.width,
                           height=info.height, mode=self.mode)

    def set_masks(self, masks: list[dict[str, Any]]) -> None:
        """The camera's masks changed in the registry (called from the worker's thread)."""
        self.masks = masks

    def set_unmasked_for_officials(self, on: bool) -> None:
        """The officials' exception changed (worker's thread): from the next packet on."""
        self.unmasked_for_officials = on

    # -- keyframes on request ----------------------------------------------------------------
    def keyframes_from_source(self, ask: Callable[[], None] | None) -> None:
        """A source that can make keyframes when asked (WHIP) says how; None: no longer."""
        self._source_keyframe = ask

    def _ask_source_for_keyframe(self) -> None:
        ask = self._source_keyframe
        if ask is not None:
            ask()

    def _keyframe_requested(self) -> None:
        """From the bus (any thread): someone wants a keyframe of the camera's stream."""
        transcoder = self._transcoder
        if transcoder is not None:
            transcoder.force_keyframe()
        self._ask_source_for_keyframe()

    def close(self) -> None:
        """The source stopped for good (the worker): stop answering for the camera."""
        self.bus.on_keyframe_request(self.camera_id, None)
        self._unmasked.stop()

    def _choose_path(self) -> None:
        masks = self.masks
        self._path_masks = masks
        if self._codec == "h264" and not self.needs_transcode and not masks:
            self._use_passthrough(self._extradata)
        else:
            self._use_transcode(masks)

    def _use_passthrough(self, extradata: bytes | None) -> None:
        self.mode = "passthrough"
        self._normalizer = AnnexBNormalizer(extradata)
        self._transcoder = None

    def _use_transcode(self, masks: list[dict[str, Any]]) -> None:
        if self._decoder is None:
            self._decoder = self._new_decoder()
        self.mode = "transcode"
        self._normalizer = AnnexBNormalizer()
        self._transcoder = H264Transcoder(self._decoder, self.transcode_settings, masks)

    def _new_decoder(self) -> av.CodecContext:
        """A decoder for a source that brought none (the demo cameras: masks need one)."""
        try:
            decoder = av.CodecContext.create(self._codec, "r")
        except (av.FFmpegError, ValueError):
            raise UnsupportedSource("this source cannot be transcoded") from None
        if self._extradata:
            decoder.extradata = self._extradata
        return decoder

    def _notice_masks(self) -> None:
        """Masks changed: repaint at once when the path stays masked, else switch paths at the
        next keyframe."""
        masks = self.masks
        if masks and self._transcoder is not None and self._transcoder.masked:
            self._transcoder.set_masks(masks)
            self._path_masks = masks
        else:
            self._switch_path = True
            self._ask_source_for_keyframe()  # a WHIP publisher makes one when asked; a camera cannot

    def end_session(self) -> None:
        self.bus.end_stream(self.camera_id)
        self._unmasked.stop()
        self._transcoder = None

    # -- packets ---------------------------------------------------------------------------
    def feed(self, packet: av.Packet, received_at: float | None = None) -> None:
        """`received_at`: time.time() when the source got it (now if not given)."""
        # The hot path of every camera (25 times a second each, under the GIL): attributes
        # read once, no per-packet objects beyond the bus packet.
        dts = packet.dts
        if dts is None:
            return  # no timing: cannot be placed in the stream
        now = received_at or time.time()
        last_dts = self._last_dts
        if last_dts is not None:
            if dts <= last_dts:
                if last_dts - dts < self._jump:
                    return  # a repeated or reordered packet
                self._new_timeline(dts - last_dts)
            elif dts - last_dts > self._jump + (now - self._last_at) * self._ticks_per_s:
                self._new_timeline(dts - last_dts)
        size = packet.size
        if size == 0:
            return
        self._last_dts = dts
        self._last_at = self.last_packet_at = now
        meter = self._meter
        meter.frames += 1
        meter.bytes += size
        if self.masks is not self._path_masks and not self._switch_path:
            self._notice_masks()
        if self.mode == "passthrough":
            self._feed_passthrough(packet, dts, now)
        else:
            self._feed_transcode(packet, now)
        if now - self._last_stats_report >= 1.0:
            self._last_stats_report = now
            fps, kbps = meter.rates(now)
            self.status.report(self.camera_id, fps=fps, bitrate_kbps=kbps)

    def _new_timeline(self, step: int) -> None:
        """The camera's timestamps jumped (see the module docstring): go on, on a new epoch."""
        log.info("camera %s: timestamps jumped %+.1f s; continuing on a new timeline", self.camera_id,
                 float(step * self._time_base))
        self.epoch = new_epoch()

    def _feed_passthrough(self, packet: av.Packet, dts: int, now: float) -> None:
        if self._unmasked.publishing:
            self._unmasked.stop()  # no masks: the camera's own stream is the whole picture
        pts = packet.pts
        if pts is None:
            pts = dts
        elif pts != dts:
            if not self.needs_transcode:
                log.info("camera %s sends B-frames: transcoding it from its next keyframe", self.camera_id)
            self.needs_transcode = True
            self._switch_path = True
        data, keyframe = self._normalizer.normalize(bytes(packet))
        if self._switch_path:
            if keyframe:
                self._switch_paths(packet, now)
                return
            if self.needs_transcode:
                return  # B-frame GOP: not passed through; the switch happens at the keyframe
        self._emit(data, pts, dts, self._time_base, keyframe, now)

    def _switch_paths(self, packet: av.Packet, now: float) -> None:
        """At a source keyframe: the path the camera needs now (B-frames, masks), on a new epoch."""
        self._switch_path = False
        self.epoch = new_epoch()  # timestamps change meaning with the path
        self._waiting_for_keyframe = True
        self._choose_path()
        self.status.report(self.camera_id, mode=self.mode)
        if self.mode == "passthrough":
            self.status.report(self.camera_id, width=self._source_size[0], height=self._source_size[1])
            self._feed_passthrough(packet, packet.dts, now)
        else:
            self._feed_transcode(packet, now)

    def _is_source_keyframe(self, packet: av.Packet) -> bool:
        """Only asked while a path switch waits (WebRTC and demo packets carry no key flag)."""
        if packet.is_keyframe:
            return True
        data = bytes(packet)
        if self._codec == "h264":
            return any(nal_type(unit) == 5 for unit in nal_units(data))
        return self._codec == "vp8" and bool(data) and not data[0] & 1

    def _feed_transcode(self, packet: av.Packet, now: float) -> None:
        if self._switch_path and self._is_source_keyframe(packet):
            self._switch_paths(packet, now)
            return
        if packet.time_base is None:
            packet.time_base = self._time_base  # demo packets carry none; the decoder's frames need it
        unmasked = self.unmasked_for_officials and self._transcoder.masked
        if unmasked and self._codec == "h264" and not self.needs_transcode:
            if not self._unmasked.publish(packet, self._time_base, self.epoch, now):
                self.needs_transcode = True  # B-frames: never passed on, with or without masks
        elif not unmasked and self._unmasked.publishing:
            self._unmasked.stop()
        # A source that cannot be passed on: the transcoder encodes the unmasked frame too.
        self._transcoder.unmasked_wanted = unmasked and (self._codec != "h264" or self.needs_transcode)
        try:
            frames = self._transcoder.transcode(packet)
        except av.FFmpegError as exc:
            log.debug("camera %s: undecodable packet (%s)", self.camera_id, exc)
            return
        for frame in self._transcoder.unmasked_frames:
            self._unmasked.publish_encoded(frame, self.epoch, now)
        for frame in frames:
            data, keyframe = self._normalizer.normalize(frame.data)
            if self._transcoder.output_size and self.status.current(self.camera_id).get("width") != self._transcoder.output_size[0]:
                width, height = self._transcoder.output_size
                self.status.report(self.camera_id, width=width, height=height)
            self._emit(data, frame.pts, frame.pts, OUTPUT_TIME_BASE, keyframe or frame.keyframe, now)

    def _emit(self, data: bytes, pts: int, dts: int, time_base: Fraction, keyframe: bool, now: float) -> None:
        if self._waiting_for_keyframe:
            if not keyframe:
                return
            self._waiting_for_keyframe = False
            self.status.report(self.camera_id, state="online", reason=None)
        packet = MediaPacket(data, pts, dts, time_base, keyframe, self.epoch, now)
        self.bus.publish(self.camera_id, packet)
        if keyframe:
            self.status.report(self.camera_id, last_keyframe_at=iso_utc(now))
            self.analyzer.submit(packet)
