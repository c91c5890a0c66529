"""The unmasked picture of a masked camera, for the officials' exception (issue 17;
pantau/cameras/unmasked_view.py): while the camera's `unmasked_for_officials` is on, its
pipeline hands this publisher the source's own packets (before the transcoder), and they go on
the bus under the camera's second bus id, `<id>~unmasked`. No second encode: a camera whose
masked picture is a transcode of plain H.264 pays only the bus packets.

Only H.264 without B-frames can be passed on as it is (the bus carries what WebRTC plays); for
a source that needs a transcode anyway (H.265, MJPEG, B-frames) the transcoder encodes the
frame a second time before painting (ingest/transcoder.py), while the exception is on, and
those frames come here (`publish_encoded`). A change between the two (B-frames found) starts
the stream again.

Publishing starts at a source keyframe. Turned off (or the masks removed), it stops at once,
not at a keyframe: the stream's cache is dropped (`forget`: on a site its Redis stream is
deleted), so nobody can start watching it afterwards, and live unmasked viewers get no new
frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction

import av

from ingest.h264 import AnnexBNormalizer
from ingest.transcoder import OUTPUT_TIME_BASE, EncodedFrame
from pantau.bus.stream_bus import MediaPacket, StreamBus
from pantau.cameras.unmasked_view import unmasked_bus_id

log = logging.getLogger(__name__)


class UnmaskedPublisher:
    def __init__(self, camera_id: str, bus: StreamBus, ask_source_for_keyframe: Callable[[], None]):
        self.camera_id = camera_id
        self.bus_id = unmasked_bus_id(camera_id)
        self.bus = bus
        self._ask_source_for_keyframe = ask_source_for_keyframe
        self._normalizer: AnnexBNormalizer | None = None
        self._waiting_for_keyframe = True
        self.publishing = False  # packets went out since the last stop (the bus has a channel)
        self._encoded: bool | None = None  # what is published: the transcoder's frames, or the source's

    def start_session(self, extradata: bytes | None) -> None:
        self.stop()
        self._normalizer = AnnexBNormalizer(extradata)

    def publish(self, packet: av.Packet, time_base: Fraction, epoch: int, now: float) -> bool:
        """Pass one source packet on; False if it cannot be (B-frames: the caller stops)."""
        dts = packet.dts
        pts = dts if packet.pts is None else packet.pts
        if pts != dts:
            log.info("camera %s sends B-frames: its unmasked stream is encoded", self.camera_id)
            self.stop()
            return False
        self._publish(bytes(packet), pts, dts, time_base, epoch, now, encoded=False)
        return True

    def publish_encoded(self, frame: EncodedFrame, epoch: int, now: float) -> None:
        """Pass on one frame of the transcoder's unmasked encode."""
        self._publish(frame.data, frame.pts, frame.pts, OUTPUT_TIME_BASE, epoch, now, encoded=True)

    def _publish(self, data: bytes, pts: int, dts: int, time_base: Fraction, epoch: int, now: float, encoded: bool) -> None:
        if self._encoded is not None and encoded != self._encoded:
            self.stop()  # another timeline and other parameter sets: a new stream
        self._encoded = encoded
        if not self.publishing:
            self.publishing = True
            # Viewers of this id ask the source (WHIP) for keyframes: only it can make an unmasked one.
            self.bus.on_keyframe_request(self.bus_id, self._ask_source_for_keyframe)
            self._ask_source_for_keyframe()
        data, keyframe = self._normalizer.normalize(data)
        if self._waiting_for_keyframe:
            if not keyframe:
                return
            self._waiting_for_keyframe = False
        self.bus.publish(self.bus_id, MediaPacket(data, pts, dts, time_base, keyframe, epoch, now))

    def stop(self) -> None:
        self._waiting_for_keyframe = True
        self._encoded = None
        if self.publishing:
            self.publishing = False
            self.bus.end_stream(self.bus_id)
            self.bus.forget(self.bus_id)
