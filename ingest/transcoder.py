"""Transcode once per camera to what every browser plays: H.264 constrained baseline, no
B-frames, at most `max_width` x `max_height` and `max_fps`, a keyframe every `keyframe_s`.

Used for H.265, MJPEG and other codecs, H.264 with B-frames, and cameras tagged
`force_transcode`, and cameras with privacy masks: those are painted on the decoded picture
(ingest/mask_painter.py) before the encode, optionally at a lower size (`masked_max_*`), and a
change of masks is painted from the next frame on, which is made a keyframe, so the GOP a new
viewer starts from never holds the picture as it was before the change. `force_keyframe` makes
the next frame a keyframe on request (a viewer's picture loss, the admin page's fresh tile).
With `unmasked_wanted` (the officials' exception, for a source that cannot be passed on as it
is) the same frame is also encoded before painting, by a second encoder whose keyframes follow
the first's; its output waits in `unmasked_frames`.
Decoder and encoder threads are capped (FFmpeg's default is one thread per CPU for every camera).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from av.video.reformatter import VideoReformatter

from ingest.mask_painter import MaskPainter, writable_copy

OUTPUT_TIME_BASE = Fraction(1, 90_000)
NEW_TIMELINE_TICKS = 90_000  # a step back of 1 s or more: the input's timestamps restarted


@dataclass(frozen=True)
class TranscodeSettings:
    max_width: int = 1280
    max_height: int = 720
    max_fps: float = 25.0
    keyframe_s: float = 2.0
    bitrate_kbps: int = 1500
    preset: str = "ultrafast"  # the cheapest; cameras are many and cores are two
    decoder_threads: int = 1
    encoder_threads: int = 1
    # A masked camera costs a transcode whatever its codec: it may be sent smaller.
    masked_max_width: int = 1280
    masked_max_height: int = 720


@dataclass(frozen=True)
class EncodedFrame:
    data: bytes
    pts: int  # in OUTPUT_TIME_BASE; dts == pts (no B-frames)
    keyframe: bool


def output_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    scale = min(1.0, max_width / width, max_height / height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


class H264Transcoder:
    def __init__(self, decoder: av.CodecContext, settings: TranscodeSettings, masks: list[dict[str, Any]] | None = None):
        """`decoder`: the input stream's codec context (it knows the codec and extradata).
        `masks`: privacy masks to paint on every frame (a masked transcoder stays masked:
        the pipeline starts a new one to drop them)."""
        self.settings = settings
        self._decoder = decoder
        self._decoder.thread_count = settings.decoder_threads
        self._encoder: av.CodecContext | None = None
        self._last_pts: int | None = None
        self._last_keyframe_pts: int | None = None
        self._min_step = int(90_000 / settings.max_fps)
        self.masked = bool(masks)
        # (generation, masks): replaced whole from another thread, compared per frame, so a
        # change is never lost between a read and a reset.
        self._wanted_masks: tuple[int, list[dict[str, Any]]] = (0, masks or [])
        self._painted_generation = 0
        self._painter: MaskPainter | None = None
        self._keyframe_wanted = False  # set from any thread; a lost race costs one GOP at most
        self.unmasked_wanted = False  # set by the pipeline before each packet
        self._unmasked_encoder: av.CodecContext | None = None
        self.unmasked_frames: list[EncodedFrame] = []  # the unmasked output of the last transcode() call
        # Kept: VideoFrame.reformat makes a new scaler per frame (measured 3.3 ms per 720p frame
        # to 852x480, against ~1 ms with one scaler kept), more than a smaller encode saves.
        self._scaler = VideoReformatter()

    def set_masks(self, masks: list[dict[str, Any]]) -> None:
        """New masks for a masked transcoder, painted from the next frame (a keyframe) on."""
        if not masks:
            raise ValueError("a masked transcoder needs masks; the pipeline starts an unmasked one")
        self._wanted_masks = (self._wanted_masks[0] + 1, masks)

    def force_keyframe(self) -> None:
        """Make the next encoded frame a keyframe (any thread)."""
        self._keyframe_wanted = True

    def _open_encoder(self, frame: av.VideoFrame) -> av.CodecContext:
        s = self.settings
        if self.masked:
            width, height = output_size(frame.width, frame.height, s.masked_max_width, s.masked_max_height)
        else:
            width, height = output_size(frame.width, frame.height, s.max_width, s.max_height)
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height = width, height
        encoder.pix_fmt = "yuv420p"
        encoder.time_base = OUTPUT_TIME_BASE
        encoder.framerate = Fraction(s.max_fps).limit_denominator(1000)
        encoder.bit_rate = s.bitrate_kbps * 1000
        encoder.thread_count = s.encoder_threads
        gop = max(1, round(s.max_fps * s.keyframe_s))
        encoder.options = {
            "preset": s.preset, "tune": "zerolatency", "profile": "baseline", "bf": "0",
            "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "repeat_headers": "1",
            "maxrate": f"{s.bitrate_kbps}k", "bufsize": f"{s.bitrate_kbps * 2}k",
        }
        encoder.open()
        return encoder

    @property
    def output_size(self) -> tuple[int, int] | None:
        return (self._encoder.width, self._encoder.height) if self._encoder else None

    def transcode(self, packet: av.Packet | None) -> list[EncodedFrame]:
        """Feed one input packet (None flushes); returns the encoded output it produced."""
        out: list[EncodedFrame] = []
        self.unmasked_frames = []
        if not self.unmasked_wanted:
            self._unmasked_encoder = None  # a later start begins with a keyframe of its own
        for frame in self._decoder.decode(packet):
            if frame.pts is None or frame.time_base is None:
                continue
            pts = int(frame.pts * frame.time_base / OUTPUT_TIME_BASE)
            if self._last_pts is not None and pts - self._last_pts < self._min_step:
                if self._last_pts - pts < NEW_TIMELINE_TICKS:
                    continue  # over the fps cap, or not moving forward
                # A new timeline (the pipeline starts a new epoch): a new encoder, whose first
                # frame is a keyframe, rather than no output until the old maximum is passed.
                self._encoder = self._unmasked_encoder = None
                self._last_keyframe_pts = None
            if self._encoder is None:
                self._encoder = self._open_encoder(frame)
            self._last_pts = pts
            picture = self._scaler.reformat(frame, width=self._encoder.width, height=self._encoder.height, format="yuv420p")
            masks_changed = False
            plain = None
            if self.masked:
                if self.unmasked_wanted:
                    plain, picture = picture, writable_copy(picture)
                elif picture is frame:
                    picture = writable_copy(picture)
                picture, masks_changed = self._paint(picture)
            picture.pts = pts
            picture.time_base = OUTPUT_TIME_BASE
            # Keyframes by time, not frame count: camera frame rates drift.
            if (self._last_keyframe_pts is None or pts - self._last_keyframe_pts >= self.settings.keyframe_s * 90_000
                    or masks_changed or self._keyframe_wanted):
                picture.pict_type = av.video.frame.PictureType.I
                self._last_keyframe_pts = pts
                self._keyframe_wanted = False
            for encoded in self._encoder.encode(picture):
                out.append(EncodedFrame(bytes(encoded), encoded.pts, encoded.is_keyframe))
            if plain is not None:
                self._encode_unmasked(plain, picture)
        return out

    def _encode_unmasked(self, plain: av.VideoFrame, painted: av.VideoFrame) -> None:
        if self._unmasked_encoder is None:
            self._unmasked_encoder = self._open_encoder(painted)  # (the same size: painted is already scaled)
        plain.pts, plain.time_base, plain.pict_type = painted.pts, painted.time_base, painted.pict_type
        for encoded in self._unmasked_encoder.encode(plain):
            self.unmasked_frames.append(EncodedFrame(bytes(encoded), encoded.pts, encoded.is_keyframe))

    def _paint(self, picture: av.VideoFrame) -> tuple[av.VideoFrame, bool]:
        """The picture with the wanted masks painted, and whether they changed since the last."""
        generation, masks = self._wanted_masks
        changed = generation != self._painted_generation
        if changed or self._painter is None or self._painter.size != (picture.width, picture.height):
            self._painter = MaskPainter(masks, picture.width, picture.height)
            self._painted_generation = generation
        self._painter.paint(picture)
        return picture, changed
