"""One camera's sound, normalized once per camera for every output (issue 20).

Cameras send AAC, G.711 (µ-law, A-law) or Opus; browsers over WebRTC take Opus only, HLS and
MP4 take AAC. So, per camera and never per viewer:
* AAC is passed through as it came, each frame with its own ADTS header (built from the
  stream's AudioSpecificConfig), on the bus track "aac": no decode for HLS and recordings;
* everything is decoded once, resampled to 48 kHz, and encoded once as Opus (20 ms frames) on
  the bus track "opus", unless the camera already sends Opus, which is passed through.
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

from ingest.status_reporter import StatusReporter
from pantau.bus.stream_bus import MediaPacket, StreamBus
from pantau.media.audio_config import adts_header

log = logging.getLogger(__name__)

OPUS_RATE = 48_000
OPUS_FRAME = 960  # 20 ms: what WebRTC endpoints expect
OPUS_TIME_BASE = Fraction(1, OPUS_RATE)
OPUS_BITRATE = 32_000  # speech and a room: plenty for mono
# libopus at its default complexity (10) costs ~0.45 CPU-s per camera-minute here; at 0, with
# the band cut at 8 kHz (wideband: all of speech), ~0.2 in its speech mode (SILK, "voip"), and
# half that in its low-delay mode (CELT only, "lowdelay"; 32 kbit/s mono is plenty for a room's
# speech, and it saves SILK's lookahead): bench/audio_cost.py.
OPUS_OPTIONS = {"application": "lowdelay", "frame_duration": "20", "compression_level": "0", "cutoff": "8000"}
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


class AudioPipeline:
    """Fed from the source's thread with the audio packets of one session at a time."""

    def __init__(self, camera_id: str, bus: StreamBus, status: StatusReporter, epoch: Callable[[], int]):
        self.camera_id = camera_id
        self.bus = bus
        self.status = status
        self._epoch = epoch  # the video pipeline's current epoch
        self._unsent = np.zeros(0, np.float32)  # 48 kHz mono samples short of a whole Opus frame
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
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=OPUS_RATE, frame_size=OPUS_FRAME)
        self._encoder = None if self._codec == "opus" else self._new_opus_encoder()
        self._unsent = np.zeros(0, np.float32)
        self._anchor_s = None
        self._samples_in = 0
        self._level_sum, self._level_n, self._level_at = 0.0, 0, time.time()  # first level after a whole second
        self.status.report(self.camera_id, audio_codec=self._codec, audio_level_db=None)

    def end_session(self) -> None:
        if self._codec is not None:
            self.status.report(self.camera_id, audio_level_db=None)
        self._codec = self._decoder = self._resampler = self._encoder = None

    @staticmethod
    def _new_opus_encoder():
        encoder = av.CodecContext.create("libopus", "w")
        encoder.sample_rate = OPUS_RATE
        encoder.layout = "mono"
        encoder.format = "flt"
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
            self._publish(payload, packet.pts, self._time_base, "opus", epoch, now)
        listened = self._encoder is not None and self.bus.wants(self.camera_id, "opus")
        if self._encoder is not None and not listened:
            self._anchor_s = None  # nobody takes Opus: none is made; the next listener starts a new encoder
        for frame in self._decoder.decode(packet):
            samples = frame.to_ndarray()
            self._measure(frame, samples, now)
            if listened:
                self._encode(frame, samples, source_s, epoch, now)

    def _encode(self, frame: av.AudioFrame, samples: np.ndarray, source_s: float, epoch: int, now: float) -> None:
        expected_s = None if self._anchor_s is None else self._anchor_s + (self._samples_in + len(self._unsent)) / OPUS_RATE
        if expected_s is None or abs(source_s - expected_s) > REANCHOR_S:
            self._anchor_s = source_s  # first frame, or a gap or clock reset: start again here
            self._samples_in = 0
            self._unsent = np.zeros(0, np.float32)
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=OPUS_RATE, frame_size=OPUS_FRAME)
            self._encoder = self._new_opus_encoder()
        for chunk in self._opus_frames(frame, samples):
            chunk.pts = self._samples_in
            chunk.time_base = OPUS_TIME_BASE
            self._samples_in += chunk.samples
            for encoded in self._encoder.encode(chunk):
                pts = round(self._anchor_s * OPUS_RATE) + encoded.pts
                self.opus_made += 1
                self._publish(bytes(encoded), pts, OPUS_TIME_BASE, "opus", epoch, now)

    def _opus_frames(self, frame: av.AudioFrame, samples: np.ndarray) -> list[av.AudioFrame]:
        """The decoded sound cut into whole Opus frames of 48 kHz mono float."""
        mono = mono_float(frame, samples)
        if mono is None:
            frame.pts = None  # the resampler and encoder count samples; the anchor keeps the clock
            return self._resampler.resample(frame)
        unsent = np.concatenate((self._unsent, mono)) if len(self._unsent) else mono
        whole = len(unsent) - len(unsent) % OPUS_FRAME
        self._unsent = unsent[whole:].copy()
        chunks = []
        for start in range(0, whole, OPUS_FRAME):
            chunk = av.AudioFrame.from_ndarray(unsent[start:start + OPUS_FRAME].reshape(1, -1), format="flt", layout="mono")
            chunk.sample_rate = OPUS_RATE
            chunks.append(chunk)
        return chunks

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
