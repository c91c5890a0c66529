"""One camera's sound, normalized once per camera for every output (issue 20).

Cameras send AAC, G.711 (µ-law, A-law) or Opus; browsers over WebRTC take Opus only, HLS and
MP4 take AAC. So, per camera and never per viewer:
* AAC is passed through as it came, each frame with its own ADTS header (built from the
  stream's AudioSpecificConfig), on the bus track "aac": no decode for HLS and recordings;
* everything is decoded once, resampled to 48 kHz, and encoded once as Opus (20 ms frames) on
  the bus track "opus", unless the camera already sends Opus, which is passed through.
The decode is needed anyway for the level meter (`audio_level_db` in the camera's status, so
an admin sees a dead microphone), so Opus costs only its encode.

Sound never costs the picture: anything that fails here (a codec PyAV cannot open, a broken
packet) turns sound off for the rest of the session, with one log line, and video goes on.

Timestamps stay on the camera's own clock (the stream's pts, in seconds), published with the
video pipeline's current epoch: the bus rebases audio with the same offset as the video of its
epoch, so lips and voices stay together across reconnects (pantau/bus/stream_bus.py). The Opus
encoder's timestamps are anchored on the first input frame and re-anchored when the input
jumps (a lost packet, a camera clock reset), so they never drift from the video.

Opus goes onto the bus with its picture. WebRTC viewers line the two tracks up by when each
packet was sent (the relay's RTCP sender reports map each track's RTP clock to its send time),
and the relay sends what the bus has as it comes; but a camera's sound reaches us before its
picture of the same instant (the video encoder's delay, a transcode at ingest: 40 ms on an idle
test camera, over 100 ms on a busy one), which a viewer would hear as sound ahead of the lips.
So each Opus packet waits until the video of its instant has been published (`video_time`: the
epoch and source time of the latest video frame), at most HOLD_MAX_S, so a stalled picture never
silences the sound. AAC is not held: HLS and recordings line up by timestamps alone.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction

import av
import numpy as np

from ingest.status_reporter import StatusReporter
from pantau.bus.stream_bus import MediaPacket, StreamBus
from pantau.media.audio_config import adts_header

log = logging.getLogger(__name__)

OPUS_RATE = 48_000
OPUS_FRAME = 960  # 20 ms: what WebRTC endpoints expect
OPUS_TIME_BASE = Fraction(1, OPUS_RATE)
OPUS_BITRATE = 32_000  # speech and a room: plenty for mono
# libopus at its default complexity (10) costs ~0.45 CPU-s per camera-minute here; at 0, with
# the band cut at 8 kHz (wideband: all of speech), ~0.2 (bench/audio_cost.py).
OPUS_OPTIONS = {"application": "voip", "frame_duration": "20", "compression_level": "0", "cutoff": "8000"}
LEVEL_EVERY_S = 1.0  # how often the status gets the level
REANCHOR_S = 0.1  # input this far from where the encoder expects it: a gap or a reset
SILENCE_DB = -90.0
HOLD_MAX_S = 1.0  # Opus waits at most this long for the video of its instant
VIDEO_STEP_S = 0.04  # a frame interval until the video shows its own


def level_db(frame: av.AudioFrame) -> float:
    """RMS level in dBFS of a decoded frame (any sample format PyAV decodes to)."""
    samples = frame.to_ndarray().astype(np.float64, copy=False)
    if frame.format.name.startswith("s16"):
        samples = samples / 32768.0
    elif frame.format.name.startswith("s32"):
        samples = samples / 2147483648.0
    if samples.size == 0:
        return SILENCE_DB
    rms = math.sqrt(float(np.mean(samples * samples)))
    return max(SILENCE_DB, 20 * math.log10(rms)) if rms > 0 else SILENCE_DB


class AudioPipeline:
    """Fed from the source's thread with the audio packets of one session at a time."""

    def __init__(self, camera_id: str, bus: StreamBus, status: StatusReporter, epoch: Callable[[], int],
                 video_time: Callable[[], tuple[int, float] | None] = lambda: None):
        self.camera_id = camera_id
        self.bus = bus
        self.status = status
        self._epoch = epoch  # the video pipeline's current epoch
        self._video_time = video_time  # (epoch, source seconds) of the latest video published, or None
        self._video_step_s = VIDEO_STEP_S
        self._video_seen: tuple[int, float] | None = None
        self._held: deque[tuple[float, float, MediaPacket]] = deque()  # Opus waiting for its picture
        self._codec = None
        self._config = b""  # AAC: AudioSpecificConfig
        self._time_base = Fraction(1, OPUS_RATE)
        self._decoder = None
        self._resampler = None
        self._encoder = None
        self._anchor_s: float | None = None  # source time (s) of the encoder's sample 0
        self._samples_in = 0  # samples given to the encoder since the anchor
        self._level_sum = 0.0
        self._level_n = 0
        self._level_at = 0.0
        self.packets_in = 0

    @property
    def active(self) -> bool:
        return self._codec is not None

    def start_session(self, stream) -> None:
        """A demuxed stream (RTSP): its codec context, opened by PyAV with what the demuxer read
        from the SDP, is the decoder."""
        context = stream.codec_context
        try:
            self._start(context.name, stream.time_base or Fraction(1, context.sample_rate or OPUS_RATE),
                        bytes(context.extradata or b""), context)
        except Exception as exc:
            self._give_up(exc)

    def start_frames(self, codec: str, time_base: Fraction) -> None:
        """Bare encoded frames (WebRTC: Opus payloads on the RTP clock)."""
        try:
            decoder = av.CodecContext.create(codec, "r")
            decoder.sample_rate = OPUS_RATE
            self._start(codec, time_base, b"", decoder)
        except Exception as exc:
            self._give_up(exc)

    def _start(self, codec: str, time_base: Fraction, config: bytes, decoder) -> None:
        self._codec = codec
        self._time_base = time_base
        self._config = config
        self._decoder = decoder
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE, frame_size=OPUS_FRAME)
        self._encoder = None if self._codec == "opus" else self._new_opus_encoder()
        self._anchor_s = None
        self._samples_in = 0
        self._level_sum, self._level_n, self._level_at = 0.0, 0, time.time()  # first level after a whole second
        self.status.report(self.camera_id, audio_codec=self._codec, audio_level_db=None)

    def end_session(self) -> None:
        if self._codec is not None:
            self.status.report(self.camera_id, audio_level_db=None)
        self._codec = self._decoder = self._resampler = self._encoder = None
        self._release(flush=True)

    @staticmethod
    def _new_opus_encoder():
        encoder = av.CodecContext.create("libopus", "w")
        encoder.sample_rate = OPUS_RATE
        encoder.layout = "mono"
        encoder.format = "s16"
        encoder.bit_rate = OPUS_BITRATE
        encoder.time_base = OPUS_TIME_BASE
        encoder.options = dict(OPUS_OPTIONS)
        return encoder

    def _give_up(self, exc: Exception) -> None:
        log.warning("camera %s: sound off for this session (%s: %s); the picture goes on", self.camera_id,
                    type(exc).__name__, exc)
        self.end_session()

    def feed(self, packet: av.Packet, received_at: float | None = None) -> None:
        if self._codec is None or packet.pts is None or not packet.size:
            return
        try:
            self._feed(packet, received_at)
        except Exception as exc:
            self._give_up(exc)

    def _feed(self, packet: av.Packet, received_at: float | None) -> None:
        now = received_at or time.time()
        self.packets_in += 1
        epoch = self._epoch()
        payload = bytes(packet)
        if self._codec == "aac" and len(self._config) >= 2:
            self._publish(adts_header(self._config, len(payload)) + payload, packet.pts, self._time_base, "aac", epoch, now)
        source_s = float(packet.pts * self._time_base)
        if self._codec == "opus":
            self._publish_opus(payload, packet.pts, self._time_base, source_s, epoch)
        for frame in self._decoder.decode(packet):
            self._measure(frame, now)
            if self._encoder is not None:
                self._encode(frame, source_s, epoch)

    def _encode(self, frame: av.AudioFrame, source_s: float, epoch: int) -> None:
        expected_s = None if self._anchor_s is None else self._anchor_s + self._samples_in / OPUS_RATE
        if expected_s is None or abs(source_s - expected_s) > REANCHOR_S:
            self._anchor_s = source_s  # first frame, or a gap or clock reset: start again here
            self._samples_in = 0
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE, frame_size=OPUS_FRAME)
            self._encoder = self._new_opus_encoder()
        frame.pts = None  # the resampler and encoder count samples; the anchor keeps the clock
        for chunk in self._resampler.resample(frame):
            chunk.pts = self._samples_in
            chunk.time_base = OPUS_TIME_BASE
            self._samples_in += chunk.samples
            for encoded in self._encoder.encode(chunk):
                pts = round(self._anchor_s * OPUS_RATE) + encoded.pts
                self._publish_opus(bytes(encoded), pts, OPUS_TIME_BASE, pts / OPUS_RATE, epoch)

    def _measure(self, frame: av.AudioFrame, now: float) -> None:
        self._level_sum += 10 ** (level_db(frame) / 10)
        self._level_n += 1
        if now - self._level_at >= LEVEL_EVERY_S:
            mean = self._level_sum / self._level_n
            db = round(10 * math.log10(mean), 1) if mean > 0 else SILENCE_DB
            self.status.report(self.camera_id, audio_level_db=max(SILENCE_DB, db))
            self._level_sum, self._level_n, self._level_at = 0.0, 0, now

    def _publish(self, data: bytes, pts: int, time_base: Fraction, track: str, epoch: int, now: float) -> None:
        self.bus.publish(self.camera_id, MediaPacket(data, pts, pts, time_base, False, epoch, now, track))

    def _publish_opus(self, data: bytes, pts: int, time_base: Fraction, source_s: float, epoch: int) -> None:
        self._held.append((source_s, time.monotonic(), MediaPacket(data, pts, pts, time_base, False, epoch, 0.0, "opus")))
        self._release()

    def _release(self, flush: bool = False) -> None:
        """Publish the held Opus whose picture is out: the latest video frame (of the same epoch)
        covers its instant. Without a picture of its epoch (none yet, or the clock just changed)
        there is nothing to wait for."""
        video = self._video_time()
        if video is not None and self._video_seen is not None and video[0] == self._video_seen[0]:
            step = video[1] - self._video_seen[1]
            if 0 < step < 0.2:  # one frame or a few (we look every 20 ms): down at once, up slowly
                self._video_step_s = step if step < self._video_step_s else 0.9 * self._video_step_s + 0.1 * step
        self._video_seen = video
        now = time.monotonic()
        while self._held:
            source_s, held_at, packet = self._held[0]
            out = (flush or video is None or video[0] != packet.epoch or video[1] + self._video_step_s > source_s
                   or now - held_at >= HOLD_MAX_S)
            if not out:
                return
            self._held.popleft()
            # Stamped when it goes out with its picture: the relay's "too old to play" is measured from here.
            self.bus.publish(self.camera_id, replace(packet, received_at=time.time()))
