"""Decodes keyframes only, to make each camera's tile (a JPEG of its latest keyframe) and to
judge its picture (ok, or black / obstructed / moved / blurred / frozen: ingest/picture/picture_health.py).

Each keyframe gets a fresh one-thread decoder (`skip_frame="NONKEY"`), flushed at once: a
keyframe carries its SPS/PPS, and opening a decoder costs ~0.05 ms more than reusing one,
while a decoder kept per camera holds 1-5 MB of frame buffers (176 demo cameras: ~170 MB).
The work runs on a small shared thread pool, and a camera whose previous keyframe is still
being analysed skips the new one rather than queueing (bounded work).

Cheap on purpose, since every camera pays it every keyframe: the decoder skips the deblocking
filter (half the decode time of a camera's deblocked 720p keyframe; the 480 px tile hides
the difference), and the picture is scaled by area averaging straight into BGR (a third
cheaper than swscale's default bilinear, and without its aliasing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor

import av
import cv2

from ingest.picture.picture_health import HealthThresholds, PictureHealth
from pantau.bus.stream_bus import MediaPacket, StreamBus, Tile
from pantau.media.view_signature import ViewSignature

log = logging.getLogger(__name__)

TILE_WIDTH = 480
JPEG_QUALITY = 70


class KeyframeAnalyzer:
    def __init__(self, camera_id: str, bus: StreamBus, executor: Executor, on_picture: Callable[[str | None, int, int], None],
                 health: HealthThresholds | None = None):
        self.camera_id = camera_id
        self._bus = bus
        self._executor = executor
        self._on_picture = on_picture
        self._health = PictureHealth(health)
        self._busy = threading.Lock()

    @staticmethod
    def decode_keyframe(data: bytes) -> av.VideoFrame | None:
        decoder = av.CodecContext.create("h264", "r")
        decoder.thread_count = 1
        decoder.skip_frame = "NONKEY"
        decoder.options = {"skip_loop_filter": "all"}
        frames = decoder.decode(av.Packet(data)) + decoder.decode(None)
        return frames[-1] if frames else None

    def submit(self, packet: MediaPacket) -> None:
        if not packet.keyframe or not self._busy.acquire(blocking=False):
            return
        try:
            self._executor.submit(self._analyse, packet)
        except RuntimeError:  # executor shut down
            self._busy.release()

    def reset(self) -> None:
        """A new session (reconnect, new mode): start judging afresh."""
        with self._busy:
            self._health.reset()

    def set_reference(self, reference: ViewSignature | None) -> None:
        """The camera's reference view, or None; used from the next keyframe on."""
        self._health.set_reference(reference)

    def _analyse(self, packet: MediaPacket) -> None:
        try:
            frame = self.decode_keyframe(packet.data)
            if frame is None:
                return
            height = max(2, round(frame.height * TILE_WIDTH / frame.width / 2) * 2)
            image = frame.reformat(width=TILE_WIDTH, height=height, format="bgr24", interpolation="AREA").to_ndarray()
            picture = self._health.observe(image)
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if ok:
                captured = packet.received_at or time.time()
                self._bus.put_tile(self.camera_id, Tile(jpeg.tobytes(), captured, TILE_WIDTH, height))
            # The size too: a WebRTC source's size is only known from its decoded frames.
            self._on_picture(picture, frame.width, frame.height)
        except (av.FFmpegError, ValueError) as exc:
            log.debug("keyframe of %s not decodable: %s", self.camera_id, exc)
        finally:
            self._busy.release()
