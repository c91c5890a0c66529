"""One camera's sound, normalized once per camera for every output (issue 20).

Cameras send AAC, G.711 (µ-law, A-law) or Opus; browsers over WebRTC take Opus only, HLS and
MP4 take AAC. So, per camera and never per viewer:
* AAC is passed through as it came, each frame with its own ADTS header (built from the
  stream's AudioSpecificConfig), on the bus track "aac": no decode for HLS and recordings;
* everything is decoded once, resampled to 48 kHz, and encoded once as Opus (60 ms packets:
  a third of the calls of 20 ms ones, for libopus and for the Python around it; WebRTC and the
  fMP4 segmenter take any Opus packet size) on the bus track "opus", unless the camera already
  sends Opus, which is passed through.
The decode is needed anyway for the level meter (`audio_level_db` in the camera's status, so
an admin sees a dead microphone), so Opus costs only its encode.

Opus is made only while some reader takes it (`StreamBus.wants`: a WHEP viewer that hears the
camera, LL-HLS of a camera without AAC): most cameras, most of the time, have nobody listening,
and the encode is most of what sound costs. The in-process bus (one node) knows its readers; on
Redis, relays announce the tracks their viewers read, per camera, expiring like their demand.

Sound never costs the picture: anything that fails here (a codec PyAV cannot open, a broken
packet) turns sound off for the rest of the session, with one log line, and video goes on.

Timestamps stay on the camera's own clock (the stream's pts, in seconds), published with the
video pipeline's current epoch: the bus rebases audio with the same offset as the video of its
epoch, so lips and voices stay together across reconnects (pantau/bus/stream_bus.py). The Opus
encoder's timestamps are anchored on the first input frame and re-anchored when the input
jumps (a lost packet, a camera clock reset), so they never drift from the video.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np

from ingest.opus_encoder import OpusEncoder
from ingest.status_reporter import StatusReporter
from pantau.bus.stream_bus import MediaPacket, StreamBus
from pantau.media.audio_config import adts_header

log = logging.getLogger(__name__)

OPUS_RATE = 48_000
# The encode costs 0.108 CPU-s per camera-minute here with 20 ms packets, 0.091 with 40 ms, 0.079
# with 60 ms (2026-12-07, medians of 4 alternating runs); 60 ms adds 40 ms of delay to the sound.
OPUS_FRAME_MS = 60
OPUS_FRAME = OPUS_RATE * OPUS_FRAME_MS // 1000
OPUS_TIME_BASE = Fraction(1, OPUS_RATE)
OPUS_BITRATE = 32_000  # speech and a room: plenty for mono
# libopus at its default complexity (10) costs ~0.45 CPU-s per camera-minute here; at 0, with
# the band cut at 8 kHz (wideband: all of speech), ~0.2 in its speech mode (SILK, "voip"), and
# half that in its low-delay mode (CELT only, "lowdelay"; 32 kbit/s mono is plenty for a room's
# speech, and it saves SILK's lookahead): bench/audio_cost.py.
OPUS_APPLICATION = "lowdelay"
OPUS_COMPLEXITY = 0
# The same as ffmpeg options (bench/audio_cost.py gives ffmpeg's libopus exactly these).
OPUS_OPTIONS = {"application": OPUS_APPLICATION, "frame_duration": str(OPUS_FRAME_MS),
                "compression_level": str(OPUS_COMPLEXITY), "cutoff": "8000"}
LEVEL_EVERY_S = 1.0  # how often the status gets the level
REANCHOR_S = 0.1  # input this far from where the encoder expects it: a gap or a reset
SILENCE_DB = -90.0


def level_db(frame: av.AudioFrame, samples: np.ndarray | None = None) -> float:
    """RMS level in dBFS of a decoded frame (any sample format PyAV decodes to); `samples`: its
    `to_ndarray()` if the caller has it already."""
    samples = (frame.to_ndarray() if samples is None else samples).astype(np.float64, copy=False)
    if frame.format.name.startswith("s16"):
        samples = samples / 32768.0
    elif frame.format.name.startswith("s32"):
        samples = samples / 2147483648.0
    if samples.size == 0:
        return SILENCE_DB
    rms = math.sqrt(float(np.mean(samples * samples)))
    return max(SILENCE_DB, 20 * math.log10(rms)) if rms > 0 else SILENCE_DB


def mono_float(frame: av.AudioFrame, samples: np.ndarray) -> np.ndarray | None:
    """A 48 kHz float frame's samples as one mono float32 row, or None for anything else (the
    resampler's work). AAC decodes to exactly this: most cameras skip the resampler, which cost
    as much as the encode."""
    if frame.sample_rate != OPUS_RATE or frame.format.name not in ("fltp", "flt"):
        return None
    channels = frame.layout.nb_channels
    if channels == 1:
        return samples.reshape(-1)
    if frame.format.is_planar:
        return samples.mean(axis=0, dtype=np.float32)
    return samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)


def _samples(frame: av.AudioFrame) -> np.ndarray:
    """A decoded frame's samples; mono float (AAC's, most cameras) read straight from its plane
    (PyAV's `to_ndarray` stacks planes, costing more than the level meter's arithmetic)."""
    if frame.format.name in ("fltp", "flt") and frame.layout.nb_channels == 1:
        return np.frombuffer(frame.planes[0], np.float32, frame.samples).reshape(1, -1)
    return frame.to_ndarray()


class AudioPipeline:
    """Fed from the source's thread with the audio packets of one session at a time."""

    def __init__(self, camera_id: str, bus: StreamBus, status: StatusReporter, epoch: Callable[[], int]):
        self.camera_id = camera_id
        self.bus = bus
        self.status = status
        self._epoch = epoch  # the video pipeline's current epoch
        self._pcm = np.zeros(2 * OPUS_FRAME, np.float32)  # 48 kHz mono samples not encoded yet: the first _pcm_len
        self._pcm_len = 0
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
        self.opus_made = 0  # Opus packets encoded here (not passed through)

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
        self._resampler = self._new_resampler()
        self._encoder = None if self._codec == "opus" else self._new_opus_encoder()
        self._pcm_len = 0
        self._anchor_s = None
        self._samples_in = 0
        self._level_sum, self._level_n, self._level_at = 0.0, 0, time.time()  # first level after a whole second
        self.status.report(self.camera_id, audio_codec=self._codec, audio_level_db=None)

    def end_session(self) -> None:
        if self._codec is not None:
            self.status.report(self.camera_id, audio_level_db=None)
        self._codec = self._decoder = self._resampler = self._encoder = None

    @staticmethod
    def _new_opus_encoder() -> OpusEncoder:
        return OpusEncoder(OPUS_FRAME, OPUS_BITRATE, OPUS_APPLICATION, OPUS_COMPLEXITY, wideband=True)

    @staticmethod
    def _new_resampler() -> av.AudioResampler:
        return av.AudioResampler(format="flt", layout="mono", rate=OPUS_RATE)

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
            self._publish(payload, packet.pts, self._time_base, "opus", epoch, now)
        listened = self._encoder is not None and self.bus.wants(self.camera_id, "opus")
        if self._encoder is not None and not listened:
            self._anchor_s = None  # nobody takes Opus: none is made; the next listener starts a new encoder
        for frame in self._decoder.decode(packet):
            samples = _samples(frame)
            self._measure(frame, samples, now)
            if listened:
                self._encode(frame, samples, source_s, epoch, now)

    def _encode(self, frame: av.AudioFrame, samples: np.ndarray, source_s: float, epoch: int, now: float) -> None:
        expected_s = None if self._anchor_s is None else self._anchor_s + (self._samples_in + self._pcm_len) / OPUS_RATE
        if expected_s is None or abs(source_s - expected_s) > REANCHOR_S:
            self._anchor_s = source_s  # first frame, or a gap or clock reset: start again here
            self._samples_in = 0
            self._pcm_len = 0
            self._resampler = self._new_resampler()
            self._encoder = self._new_opus_encoder()
        mono = mono_float(frame, samples)
        if mono is not None:
            self._keep(mono)
        else:
            frame.pts = None  # the resampler counts samples; the anchor keeps the clock
            for resampled in self._resampler.resample(frame):
                self._keep(resampled.to_ndarray().reshape(-1))
        while self._pcm_len >= OPUS_FRAME:
            data = self._encoder.encode(self._pcm[:OPUS_FRAME])
            # Stamped as libavcodec stamps it (minus the encoder's lookahead), so a decoder's
            # output lines up with the camera's clock.
            pts = round(self._anchor_s * OPUS_RATE) + self._samples_in - self._encoder.delay
            self._samples_in += OPUS_FRAME
            self._pcm_len -= OPUS_FRAME
            self._pcm[:self._pcm_len] = self._pcm[OPUS_FRAME:OPUS_FRAME + self._pcm_len]
            self.opus_made += 1
            self._publish(data, pts, OPUS_TIME_BASE, "opus", epoch, now)

    def _keep(self, mono: np.ndarray) -> None:
        """Append 48 kHz mono samples to those waiting for a whole Opus frame."""
        end = self._pcm_len + len(mono)
        if end > len(self._pcm):
            self._pcm = np.concatenate((self._pcm[:self._pcm_len], np.zeros(end, np.float32)))
        self._pcm[self._pcm_len:end] = mono
        self._pcm_len = end

    def _measure(self, frame: av.AudioFrame, samples: np.ndarray, now: float) -> None:
        self._level_sum += 10 ** (level_db(frame, samples) / 10)
        self._level_n += 1
        if now - self._level_at >= LEVEL_EVERY_S:
            mean = self._level_sum / self._level_n
            db = round(10 * math.log10(mean), 1) if mean > 0 else SILENCE_DB
            self.status.report(self.camera_id, audio_level_db=max(SILENCE_DB, db))
            self._level_sum, self._level_n, self._level_at = 0.0, 0, now

    def _publish(self, data: bytes, pts: int, time_base: Fraction, track: str, epoch: int, now: float) -> None:
        self.bus.publish(self.camera_id, MediaPacket(data, pts, pts, time_base, False, epoch, now, track))
