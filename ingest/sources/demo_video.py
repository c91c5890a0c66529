"""Demo cameras: real H.264 for many cameras at almost no CPU.

Encoding live video for every demo camera is too expensive (x264 ultrafast costs about 1% of a
core per camera even at 320x180@10 fps; the embedded default runs ~176 demo cameras on two
cores). So each camera encodes a short loop once (default 2 s at 10 fps, one GOP: an IDR then
P-frames) and replays its packets; the caller gives them fresh timestamps.

A replayed loop would show a stale clock, so every replay re-encodes only the IDR with the
current time drawn in and sends it in front of the stored P-frames. That is exact, not a
guess, because of how the picture and the encoder are set up:

* The clock lives in a box that is identical in every frame of the loop and sits in the
  bottom-right corner, aligned to 16x16 macroblocks and running to the right and bottom
  edges. x264 encodes deterministically (one thread, constant QP, no lookahead), so every
  macroblock before the box in raster order is coded exactly as in the loop's own IDR. With
  the ultrafast preset intra prediction is 16x16 only (left, top and top-left neighbours, never
  top-right), so a changed macroblock can only influence macroblocks to its right and below:
  inside the box. Ultrafast also disables the deblocking filter, which would otherwise smooth
  across macroblock edges in the IDR but not in the skipped P-frames (measured with deblocking
  on: the box drifts by up to 2 levels over the loop; the outside stays exact because the
  panel's edge is too sharp for the filter).
* In the stored P-frames the box is static, so x264 codes it as P_SKIP (copy from the
  reference). A P_SKIP motion vector is zero whenever the macroblock above or to the left has
  a zero vector; everything around the box is static too (the moving ball stays at least two
  macroblock rows away), so the copy is a copy of the same place: the new clock shows in every
  frame of the replay. The loop is encoded with an empty clock panel (flat colour), which the
  IDR reconstructs exactly, so the P-frames carry no residual in the box that would be added
  on top of the new digits.

`tests/test_demo_video.py` decodes spliced replays and checks all of this pixel by pixel.

The clock therefore steps once per replay (every `loop_s` seconds) and shows the time given
to `cycle`, in WIB (UTC+7, Asia/Jakarta; no daylight saving).
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import av
import cv2
import numpy as np
from av.video.codeccontext import VideoCodecContext

from ingest.h264 import NAL_IDR, NAL_PPS, NAL_SPS, join_annexb, nal_type, split_annexb

WIB = timezone(timedelta(hours=7), "WIB")
MB = 16  # H.264 macroblock size: the clock box is aligned to it
QP = 28  # constant quantiser of P-frames; x264 codes the IDR ~3 lower (ip_ratio 1.4)
FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE = (255, 255, 255)
BALL = (240, 240, 240)
BADGE = (30, 30, 200)  # red, BGR
CLOCK_PANEL = (24, 24, 24)  # BGR; flat, so the loop's IDR reconstructs it exactly
CLOCK_SAMPLE = "00:00:00 WIB"  # widest clock text, used to size the box


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One H.264 access unit in Annex-B form. A keyframe starts with SPS and PPS.

    `index` is the frame's position in the loop: its presentation time is the cycle's start
    plus `index / fps` seconds.
    """

    data: bytes
    keyframe: bool
    index: int


@dataclass(frozen=True, slots=True)
class _Settings:
    """Everything that shapes the bitstream: equal settings give byte-identical SPS/PPS."""

    width: int
    height: int
    fps: int
    gop: int
    qp: int


def _open_encoder(settings: _Settings) -> VideoCodecContext:
    encoder = av.CodecContext.create("libx264", "w")
    assert isinstance(encoder, VideoCodecContext)
    encoder.width = settings.width
    encoder.height = settings.height
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, settings.fps)
    encoder.framerate = Fraction(settings.fps)
    encoder.thread_count = 1  # one thread: deterministic output, no frame delay
    encoder.options = {
        "preset": "ultrafast",  # no deblocking, 16x16 intra only: see the module docstring
        "tune": "zerolatency",  # no lookahead: a frame in, its packet out
        "profile": "baseline",
        "bf": "0",
        "g": str(settings.gop),  # one GOP per loop, so every replay starts with an IDR
        "qp": str(settings.qp),  # constant QP: same picture in, same bits out
    }
    encoder.open()
    return encoder


def _to_frame(i420: np.ndarray, pts: int) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
    frame.pts = pts
    return frame


class _KeyframeEncoders:
    """Long-lived encoders that only encode IDRs, shared by all cameras with equal settings.

    Opening an x264 encoder costs ~2.5 ms, encoding one 480x270 IDR ~0.3 ms: reusing encoders
    keeps the per-replay cost small. An IDR does not depend on earlier frames (ultrafast, no
    lookahead, constant QP), so a reused encoder codes the same picture as the fresh encoder
    that made the loop (the tests compare the decoded pixels). Only the slice header's
    idr_pic_id differs: x264 alternates it 0/1 per encoder, so IDR bytes vary between calls.
    That is harmless: H.264 only requires different ids for back-to-back IDRs, and a loop is at
    least two frames. Every forced keyframe repeats SPS/PPS. One encoder per concurrent caller,
    created on demand and kept (a few MB each).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[_Settings, list[tuple[VideoCodecContext, list[int]]]] = {}

    def encode(self, settings: _Settings, i420: np.ndarray) -> bytes:
        with self._lock:
            idle = self._idle.setdefault(settings, [])
            entry = idle.pop() if idle else None
        if entry is None:
            entry = (_open_encoder(settings), [0])
        encoder, pts = entry
        frame = _to_frame(i420, pts[0])
        pts[0] += 1  # x264 wants increasing timestamps
        frame.pict_type = av.video.frame.PictureType.I  # forced keyframe: an IDR (closed GOP)
        packets = encoder.encode(frame)  # on error the encoder is dropped, not reused
        if len(packets) != 1 or not packets[0].is_keyframe:
            raise RuntimeError("x264 did not return one IDR for a forced keyframe")
        with self._lock:
            self._idle[settings].append(entry)
        return bytes(packets[0])


_KEYFRAME_ENCODERS = _KeyframeEncoders()


def _colour(title: str) -> tuple[int, int, int]:
    """A dark, saturated BGR colour from the title, stable across processes (unlike hash())."""
    hue = int.from_bytes(hashlib.blake2s(title.encode()).digest()[:2], "big") / 65536
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65, 0.55)
    return int(b * 255), int(g * 255), int(r * 255)


def _ascii(text: str) -> str:
    """cv2.putText draws ASCII only: anything else becomes '?'."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _fit_scale(text: str, max_width: int, scale: float, thickness: int) -> float:
    width = cv2.getTextSize(text, FONT, scale, thickness)[0][0]
    return scale if width <= max_width else scale * max_width / width


class DemoVideo:
    """A demo camera's picture as H.264: title, subtitle, a moving ball, a DEMO badge, a clock.

    The loop is encoded once here (~10 ms at 480x270); `cycle` then costs one IDR encode.
    Width and height must be even; `loop_s * fps` must be a whole number of at least 2 frames.
    Thread-safe: `cycle` only reads the object.
    """

    def __init__(self, title: str, subtitle: str, width: int = 480, height: int = 270, fps: int = 10,
                 loop_s: float = 2.0, qp: int = QP):
        frames = round(loop_s * fps)
        if width % 2 or height % 2 or width < 8 * MB or height < 8 * MB:
            raise ValueError("width and height must be even and at least 128")
        if frames < 2 or not math.isclose(frames, loop_s * fps):
            raise ValueError("loop_s * fps must be a whole number of at least 2 frames")
        self.title = _ascii(title)
        self.subtitle = _ascii(subtitle)
        self.width = width
        self.height = height
        self.fps = fps
        self.frame_count = frames
        self._settings = _Settings(width, height, fps, frames, qp)
        self._unit = height / 270  # layout is designed at 270 lines and scaled
        self._colour = _colour(title)
        self.clock_box = self._clock_box()
        if self._ball_band()[1] < self._ball_band()[0]:
            raise ValueError("picture too small for the layout")

        loop = self._encode_loop()  # its IDR is not kept: `cycle` makes a new one each time
        head = split_annexb(loop[0])
        self.extradata = join_annexb([n for n in head if nal_type(n) in (NAL_SPS, NAL_PPS)])
        """SPS and PPS in Annex-B form, identical for every camera with the same settings."""
        self._p_frames = loop[1:]

    @property
    def loop_bytes(self) -> int:
        """Bytes kept per camera (the stored P-frames); the IDR is made anew per replay."""
        return sum(len(p) for p in self._p_frames)

    def cycle(self, now: datetime) -> list[EncodedPacket]:
        """One loop's packets: a fresh IDR (with SPS/PPS) showing `now` in WIB, then the stored
        P-frames. A naive `now` is taken as the system's local time."""
        idr = self._keyframe(self.clock_text(now))
        packets = [EncodedPacket(idr, True, 0)]
        packets += [EncodedPacket(data, False, i) for i, data in enumerate(self._p_frames, start=1)]
        return packets

    @staticmethod
    def clock_text(now: datetime) -> str:
        return now.astimezone(WIB).strftime("%H:%M:%S WIB")

    def _keyframe(self, clock: str | None) -> bytes:
        """Frame 0 with `clock` in the clock box, as an IDR with SPS/PPS in front (x264's SEI,
        which only names the encoder, is dropped)."""
        nals = split_annexb(_KEYFRAME_ENCODERS.encode(self._settings, self.picture(0, clock)))
        headers = join_annexb([n for n in nals if nal_type(n) in (NAL_SPS, NAL_PPS)])
        if headers != self.extradata:
            # The stored P-frames refer to the loop's SPS/PPS; anything else would corrupt them.
            raise RuntimeError("re-encoded IDR has SPS/PPS different from the loop's")
        return headers + join_annexb([n for n in nals if nal_type(n) == NAL_IDR])

    # -- the picture ------------------------------------------------------------------

    def _clock_box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the clock box: macroblock-aligned, touching the right and bottom
        edges (x1, y1 are the picture's width and height)."""
        (text_w, text_h), baseline = cv2.getTextSize(CLOCK_SAMPLE, FONT, self._clock_scale, self._clock_thickness)
        pad = round(8 * self._unit)
        x0 = (self.width - text_w - 2 * pad) // MB * MB
        y0 = (self.height - text_h - baseline - 2 * pad) // MB * MB
        return x0, y0, self.width, self.height

    @property
    def _clock_scale(self) -> float:
        return 0.6 * self._unit

    @property
    def _clock_thickness(self) -> int:
        return max(1, round(self._unit))

    def _ball_centre(self, index: int) -> tuple[int, int]:
        """Left to right once per loop on a sine path; position is periodic, so the loop is
        seamless. Vertically it stays in the middle band, away from the clock box."""
        phase = index / self.frame_count
        top, bottom = self._ball_band()
        centre_y = (top + bottom) / 2
        amplitude = (bottom - top) / 2
        return round(phase * self.width), round(centre_y + amplitude * math.sin(2 * math.pi * phase))

    def _ball_band(self) -> tuple[int, int]:
        """Lowest and highest y of the ball's centre: below the subtitle, and two macroblock rows
        above the clock box, so the macroblocks around the box never move (see the docstring)."""
        radius = self._ball_radius
        return round(96 * self._unit) + radius, self.clock_box[1] - 2 * MB - radius

    @property
    def _ball_radius(self) -> int:
        return round(14 * self._unit)

    def picture(self, index: int, clock: str | None) -> np.ndarray:
        """Frame `index` of the loop as I420 (yuv420p); `clock` None leaves the clock panel empty."""
        u = self._unit
        img = np.empty((self.height, self.width, 3), np.uint8)
        cv2.rectangle(img, (0, 0), (self.width, self.height), self._colour, -1)  # 20x faster than img[:] = colour
        thick = max(1, round(2 * u))
        # DEMO badge, top right.
        badge_scale = 0.5 * u
        (bw, bh), bb = cv2.getTextSize("DEMO", FONT, badge_scale, thick)
        pad = round(5 * u)
        bx1, by0 = self.width - round(8 * u), round(8 * u)
        bx0, by1 = bx1 - bw - 2 * pad, by0 + bh + bb + 2 * pad
        cv2.rectangle(img, (bx0, by0), (bx1, by1), BADGE, -1)
        cv2.putText(img, "DEMO", (bx0 + pad, by1 - pad - bb), FONT, badge_scale, WHITE, thick, cv2.LINE_AA)
        # Title (kecamatan name or TPS), scaled down to fit left of the badge.
        margin = round(12 * u)
        scale = _fit_scale(self.title, bx0 - 2 * margin, 0.8 * u, thick)
        cv2.putText(img, self.title, (margin, round(44 * u)), FONT, scale, WHITE, thick, cv2.LINE_AA)
        # Subtitle (region code) under the title.
        x0, y0, x1, y1 = self.clock_box
        sub_scale = _fit_scale(self.subtitle, x0 - 2 * margin, 0.6 * u, self._clock_thickness)
        cv2.putText(img, self.subtitle, (margin, round(72 * u)), FONT, sub_scale, WHITE, self._clock_thickness, cv2.LINE_AA)
        # The moving ball, drawn twice near the edges so it wraps around smoothly.
        cx, cy = self._ball_centre(index)
        for dx in (-self.width, 0, self.width):
            cv2.circle(img, (cx + dx, cy), self._ball_radius, BALL, -1, cv2.LINE_AA)
        # The clock panel: flat, with the time inside (only in keyframes made by `cycle`).
        cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), CLOCK_PANEL, -1)
        if clock is not None:
            # Never wider than the box: ink outside it would not be carried by the P-frames.
            clock = _ascii(clock)
            clock_scale = _fit_scale(clock, x1 - x0 - 2, self._clock_scale, self._clock_thickness)
            (tw, th), tb = cv2.getTextSize(clock, FONT, clock_scale, self._clock_thickness)
            org = (x0 + (x1 - x0 - tw) // 2, y0 + (y1 - y0 + th - tb) // 2)
            cv2.putText(img, clock, org, FONT, clock_scale, WHITE, self._clock_thickness, cv2.LINE_AA)
        return cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420)

    def _encode_loop(self) -> list[bytes]:
        """The loop with an empty clock panel: IDR then P-frames, one Annex-B packet each."""
        encoder = _open_encoder(self._settings)
        out: list[bytes] = []
        for index in range(self.frame_count):
            out += [bytes(p) for p in encoder.encode(_to_frame(self.picture(index, None), index))]
        out += [bytes(p) for p in encoder.encode(None)]
        if len(out) != self.frame_count:
            raise RuntimeError(f"x264 returned {len(out)} packets for {self.frame_count} frames")
        return out
