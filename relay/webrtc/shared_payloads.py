"""H.264 RTP payloads made once per camera, whatever the number of viewers.

Splitting an access unit into NAL units and those into FU-A fragments / STAP-A aggregates
does not depend on the viewer: only the RTP header (SSRC, sequence number, timestamp, payload
type, extensions) and the SRTP keys do. So every viewer of a camera asks this cache for the
payloads of the bus packet it is about to send, and the first one to ask packetizes it with
aiortc's own H.264 packetizer (`H264Encoder._packetize`, the same FU-A/STAP-A split and MTU as
aiortc's per-viewer sender, so the bytes on the wire are the same). The bus hands the very same
`MediaPacket` object to every subscriber, so identity is the key.

Per camera the cache keeps the payloads of the last `frames_kept` packets (first in, first
out): enough for the GOP cache a new viewer starts with and for NACK repairs of the last
second; a camera's cache is dropped when its last viewer leaves.
"""

from __future__ import annotations

from collections import OrderedDict

from aiortc.codecs.h264 import H264Encoder

from pantau.bus.stream_bus import MediaPacket

FRAMES_KEPT = 150  # 6 s at 25 fps: a 4 s GOP's catch-up plus NACK history


class SharedPayloads:
    def __init__(self, frames_kept: int = FRAMES_KEPT):
        self.frames_kept = frames_kept
        self._cameras: dict[str, OrderedDict[int, tuple[MediaPacket, tuple[bytes, ...]]]] = {}
        self.packetized = 0  # bus packets split into payloads (tests and metrics: once per camera)

    def payloads(self, camera_id: str, packet: MediaPacket) -> tuple[bytes, ...]:
        cache = self._cameras.get(camera_id)
        if cache is None:
            cache = self._cameras[camera_id] = OrderedDict()
        entry = cache.get(id(packet))
        if entry is not None and entry[0] is packet:  # (an id can be reused once its packet is gone)
            return entry[1]
        payloads = tuple(H264Encoder._packetize(H264Encoder._split_bitstream(packet.data)))
        self.packetized += 1
        cache[id(packet)] = (packet, payloads)
        if len(cache) > self.frames_kept:
            cache.popitem(last=False)
        return payloads

    def release(self, camera_id: str) -> None:
        """The camera's last viewer left: nothing of it is kept."""
        self._cameras.pop(camera_id, None)

    def cameras(self) -> int:
        return len(self._cameras)
