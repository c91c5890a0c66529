"""Bus packets -> CMAF fMP4: an init segment, and parts of about `part_target_s` grouped into
segments that start at keyframes. No decoding, no encoding: PyAV's mp4 muxer only re-frames
the Annex-B access units (the way Home Assistant's stream worker packages LL-HLS).

One muxer per segment, writing into memory: `empty_moov` puts ftyp+moov (the init segment)
first, `frag_duration` makes the muxer close a fragment (moof+mdat: one part) when the next
packet would take it past the part target, whatever the camera's GOP, and closing the muxer
at the next segment's keyframe writes the segment's last part. `frag_discont` keeps the real
decode time in every fragment (tfdt), so segments from separate muxers join into one timeline.
Measured here (a shared 2-core machine): 60 µs per packet at 320x240, 150-300 µs at 720p25
2 Mbps (~0.4-0.7 % of a core per packaged camera): up to ~1.5 ms per part, so its users run it
in a thread, never on the event loop. One mux, two outputs: LL-HLS (relay/hls/packager.py) and
recordings (outputs/recording/recorder.py).

A new epoch (camera reconnect or new owner), a jump in time or new parameter sets end the
segment; the next one is marked as a discontinuity and may carry a new init segment.

Sound (`audio=True`, the caller subscribed to the audio tracks): a segment gets the camera's
AAC (its own frames, ADTS header off, AudioSpecificConfig from it) or, without AAC, its Opus
(with an OpusHead), whichever was seen before the segment's keyframe. The first segment waits
one frame for the sound that comes with its keyframe, so a player that starts there gets the
sound too (players set their tracks up from the first segment). Sound that starts or stops
later, or a caller that turns `audio` off, changes the track list at the next segment: a new
init segment after a discontinuity, where players set up again. Only video keyframes and gaps
decide where segments and parts end.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction

import av

from ingest.h264 import NAL_PPS, NAL_SPS, join_annexb, nal_type, split_annexb
from pantau.bus.stream_bus import CLOCK_RATE, VIDEO, TimedPacket
from pantau.media.audio_config import AAC_FRAME_SAMPLES, OPUS_RATE, opus_head, split_adts
from pantau.media.sps import picture_size

CLOCK = Fraction(1, CLOCK_RATE)
MAX_STEP = CLOCK_RATE  # a dts step above 1 s is a gap (the subscription skipped): a discontinuity
MOVFLAGS = "empty_moov+default_base_moof+frag_discont+negative_cts_offsets+skip_trailer"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One finished part."""

    data: bytes  # moof+mdat
    duration: float  # seconds
    independent: bool  # starts with a keyframe
    new_segment: bool  # the first part of a segment
    discontinuity: bool  # (first part only) the segment follows a discontinuity
    init: bytes  # the init segment (ftyp+moov) its segment plays with
    program_date_time: float  # wall time (time.time()) ingest received the segment's first frame


class Fmp4Segmenter:
    def __init__(self, part_target_s: float, segment_target_s: float, audio: bool = False):
        self.audio = audio  # segments opened from now on carry the sound (may change any time)
        self.part_target_s = part_target_s
        self.segment_target = round(segment_target_s * CLOCK_RATE)
        self.fragments = 0  # fragment_index: mfhd sequence numbers keep growing across muxers
        self._out: av.container.OutputContainer | None = None
        self._stream = None
        self._buffer = io.BytesIO()
        self._written = 0  # bytes of _buffer already handed out
        self._init = b""
        self._parameter_sets = b""
        self._epoch: int | None = None
        self._last_dts: int | None = None
        self._segment_start = 0
        self._part_start = 0
        self._part_has_keyframe = False
        self._segment_opened = False  # the current segment's first part is not out yet
        self._segment_discontinuity = False
        self._segment_time = 0.0
        self._need_discontinuity = False
        self._audio_stream = None
        self._audio_track: str | None = None  # the track muxed into the open segment
        self._aac: tuple[bytes, int] | None = None  # AudioSpecificConfig and rate, once seen
        self._opus_seen = False
        self._held: TimedPacket | None = None  # the first keyframe, waiting a frame for its sound
        self._held_audio: list[TimedPacket] = []
        self._segments = 0
        self._last_audio_track: str | None = None  # of the previous segment

    def feed(self, timed: TimedPacket) -> list[Chunk]:
        packet = timed.packet
        if packet.track != VIDEO:
            return self._feed_audio(timed)
        chunks: list[Chunk] = []
        if self._held is not None:
            held, self._held = self._held, None
            chunks += self._start_segment(held)
            for audio in self._held_audio:
                chunks += self._feed_audio(audio)
            self._held_audio = []
        if self._out is not None:
            parameter_sets = _parameter_sets(packet.data) if packet.keyframe else b""
            broken = (packet.epoch != self._epoch or timed.dts - self._last_dts > MAX_STEP
                      or (parameter_sets and parameter_sets != self._parameter_sets))
            if broken or (packet.keyframe and timed.dts - self._segment_start >= self.segment_target):
                end = timed.dts if timed.dts - self._last_dts <= MAX_STEP else self._last_dts + CLOCK_RATE // 25
                chunks += self._close_segment(end)
                self._need_discontinuity = self._need_discontinuity or broken
        if self._out is None:
            if not packet.keyframe:
                self._need_discontinuity = self._need_discontinuity or self._epoch not in (None, packet.epoch)
                return chunks  # a segment starts at a keyframe
            if self._segments == 0 and self.audio and self._aac is None and not self._opus_seen:
                self._held = timed  # see the module docstring
                return chunks
            return chunks + self._start_segment(timed)
        self._mux(timed)
        chunks += self._written_parts(timed.dts)
        self._part_has_keyframe |= packet.keyframe
        self._last_dts = timed.dts
        return chunks

    def _start_segment(self, keyframe: TimedPacket) -> list[Chunk]:
        self._open_segment(keyframe)
        self._mux(keyframe)
        self._part_has_keyframe = True
        self._last_dts = keyframe.dts
        return self._written_parts(keyframe.dts)

    def wants(self, timed: TimedPacket) -> bool:
        """Whether `feed` would use the packet (callers skip the rest before handing it over):
        video; sound only with `audio`, and Opus only while no AAC was seen."""
        track = timed.packet.track
        return track == VIDEO or (self.audio and (track == "aac" or self._aac is None))

    def _written_parts(self, dts: int) -> list[Chunk]:
        if self._buffer.tell() == self._written:
            return []
        if not self._init:
            self._init = self._buffer.getvalue()  # the muxer's first write: ftyp+moov
            self._written = self._buffer.tell()
            return []
        return [self._part(dts)]  # a fragment was written: every packet before this one

    def _feed_audio(self, timed: TimedPacket) -> list[Chunk]:
        packet = timed.packet
        if packet.track == "aac":
            parsed = split_adts(packet.data)
            if parsed is None:
                return []
            config, payload, rate = parsed
            self._aac = (config, rate)
        else:
            self._opus_seen = True
            payload = packet.data
        if self._held is not None:
            self._held_audio.append(timed)
            return []
        if self._audio_stream is None or packet.track != self._audio_track or self._last_dts is None:
            return []
        if timed.dts < self._segment_start:
            return []  # sound from before the segment's first picture
        av_packet = av.Packet(payload)
        av_packet.dts = av_packet.pts = timed.dts
        av_packet.time_base = CLOCK
        av_packet.duration = round(CLOCK_RATE * (AAC_FRAME_SAMPLES / self._aac[1] if packet.track == "aac" else 0.02))
        av_packet.stream = self._audio_stream
        self._out.mux(av_packet)
        return self._written_parts(self._last_dts)

    def finish(self) -> list[Chunk]:
        """End the open segment now (the camera went quiet, or the output stops): its last part.
        The next keyframe starts a new segment, marked as a discontinuity."""
        if self._out is None:
            return []
        self._need_discontinuity = True
        return self._close_segment(self._last_dts + CLOCK_RATE // 25)

    def _open_segment(self, timed: TimedPacket) -> None:
        parameter_sets = _parameter_sets(timed.packet.data)
        sps = next((u for u in split_annexb(parameter_sets) if nal_type(u) == NAL_SPS), None)
        if sps is None:
            raise ValueError("keyframe without SPS (the bus puts SPS/PPS in front of every keyframe)")
        width, height = picture_size(sps)
        self._buffer = io.BytesIO()
        self._written = 0
        self._init = b""
        self._out = av.open(self._buffer, mode="w", format="mp4", options={
            "movflags": MOVFLAGS, "frag_duration": str(round(self.part_target_s * 1e6)),
            "fragment_index": str(self.fragments + 1), "video_track_timescale": str(CLOCK_RATE)})
        self._stream = self._out.add_stream("h264")
        self._stream.width, self._stream.height = width, height
        self._stream.time_base = CLOCK
        self._stream.codec_context.extradata = parameter_sets
        self._add_audio_stream()
        if self._segments and self._audio_track != self._last_audio_track:
            self._need_discontinuity = True  # players set their tracks up again
        self._last_audio_track = self._audio_track
        self._segments += 1
        self._parameter_sets = parameter_sets
        self._epoch = timed.packet.epoch
        self._segment_start = self._part_start = timed.dts
        self._part_has_keyframe = False
        self._segment_opened = True
        self._segment_discontinuity = self._need_discontinuity
        self._need_discontinuity = False
        self._segment_time = timed.packet.received_at

    def _add_audio_stream(self) -> None:
        self._audio_stream = self._audio_track = None
        if not self.audio:
            return
        if self._aac is not None:
            config, rate = self._aac
            stream = self._out.add_stream("aac", rate=rate)
            stream.codec_context.extradata = config
            self._audio_track = "aac"
        elif self._opus_seen:
            stream = self._out.add_stream("opus", rate=OPUS_RATE)
            stream.codec_context.extradata = opus_head()
            self._audio_track = "opus"
        else:
            return
        stream.layout = "stereo" if self._audio_track == "aac" and (self._aac[0][1] >> 3) & 0x0F == 2 else "mono"
        stream.time_base = Fraction(1, stream.codec_context.sample_rate)
        self._audio_stream = stream

    def _mux(self, timed: TimedPacket) -> None:
        packet = av.Packet(timed.packet.data)
        packet.dts = timed.dts
        packet.pts = max(timed.pts, timed.dts)
        packet.time_base = CLOCK
        packet.stream = self._stream
        if timed.packet.keyframe:
            packet.is_keyframe = True
        self._out.mux(packet)

    def _part(self, end_dts: int) -> Chunk:
        self._buffer.seek(self._written)
        data = self._buffer.read()
        self._written = self._buffer.tell()
        self.fragments += 1
        chunk = Chunk(data, (end_dts - self._part_start) / CLOCK_RATE, self._part_has_keyframe, self._segment_opened,
                      self._segment_discontinuity, self._init, self._segment_time)
        self._segment_opened = False
        self._part_start = end_dts
        self._part_has_keyframe = False
        return chunk

    def _close_segment(self, end_dts: int) -> list[Chunk]:
        self._out.close()  # writes the buffered packets as the segment's last fragment
        self._out = self._stream = self._audio_stream = None
        return [self._part(end_dts)] if self._buffer.tell() != self._written else []


def _parameter_sets(data: bytes) -> bytes:
    return join_annexb([u for u in split_annexb(data) if nal_type(u) in (NAL_SPS, NAL_PPS)])
