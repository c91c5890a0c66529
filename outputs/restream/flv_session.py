"""One RTMP(S) session: bus packets muxed into FLV by PyAV and sent to the destination.

No decoding, no encoding: the bus carries Annex-B H.264 with SPS/PPS in front of every keyframe.
FFmpeg's FLV muxer writes the AVC sequence header (avcC) from the extradata and turns each
Annex-B access unit into length-prefixed NAL units itself, so the extradata is the first
keyframe's SPS/PPS in Annex-B (as the fMP4 packaging does). Timestamps come from the
subscription's continuous 90 kHz clock, shifted so every session starts at 0.

Blocking C code: runs on the restreamer's own thread, its calls bounded by the stall guard
(outputs/restream/stall_guard.py).
"""

from __future__ import annotations

from fractions import Fraction

import av

from ingest.h264 import NAL_PPS, NAL_SPS, join_annexb, nal_type, split_annexb
from pantau.bus.stream_bus import CLOCK_RATE, TimedPacket

CLOCK = Fraction(1, CLOCK_RATE)


class NeedsNewSession(Exception):
    """The camera's parameter sets changed (new resolution, new encoder): FLV announces them once,
    in the header, so the session must start again with the new ones."""


def parameter_sets(data: bytes) -> bytes:
    """SPS and PPS of an Annex-B access unit, in Annex-B."""
    return join_annexb([u for u in split_annexb(data) if nal_type(u) in (NAL_SPS, NAL_PPS)])


class FlvSession:
    def __init__(self, url: str, first: TimedPacket):
        """Connects to `url` (the stream key in it) and sends the header; `first` must be a
        keyframe. Raises what FFmpeg raises (its text may hold the URL: callers redact it)."""
        if not first.packet.keyframe:
            raise ValueError("an FLV session starts at a keyframe")
        self.parameter_sets = parameter_sets(first.packet.data)
        if not any(nal_type(u) == NAL_SPS for u in split_annexb(self.parameter_sets)):
            raise ValueError("keyframe without SPS (the bus puts SPS/PPS in front of every keyframe)")
        self.origin = first.dts
        self._last_dts = -1
        self.sent_bytes = 0
        # A live socket cannot seek back to fill in duration and size. No timeouts here: PyAV
        # passes none to an output URL (the restreamer's stall guard bounds these calls).
        self._out = av.open(url, mode="w", format="flv", options={"flvflags": "no_duration_filesize"})
        try:
            self._stream = self._out.add_stream("h264")
            self._stream.time_base = CLOCK
            self._stream.codec_context.extradata = self.parameter_sets
            self.send(first)  # the header goes out with the first packet
        except BaseException:
            self.close()
            raise

    def send(self, timed: TimedPacket) -> None:
        data = timed.packet.data
        if timed.packet.keyframe and self._last_dts >= 0 and parameter_sets(data) != self.parameter_sets:
            raise NeedsNewSession
        dts = timed.dts - self.origin
        if dts <= self._last_dts:  # FLV's millisecond clock must not go back (the bus never does)
            return
        packet = av.Packet(data)
        packet.dts = dts
        packet.pts = max(timed.pts - self.origin, dts)
        packet.time_base = CLOCK
        packet.stream = self._stream
        packet.is_keyframe = timed.packet.keyframe
        self._out.mux(packet)
        self._last_dts = dts
        self.sent_bytes += len(data)

    def close(self) -> None:
        out, self._out = self._out, None
        if out is not None:
            try:
                out.close()
            except (av.FFmpegError, OSError):
                pass  # the server is gone; nothing left to tell it
