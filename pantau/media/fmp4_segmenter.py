"""Bus packets -> CMAF fMP4: an init segment, and parts of about `part_target_s` grouped into
segments that start at keyframes. No decoding, no encoding: the Annex-B access units are
re-framed (start codes -> 4-byte lengths) and written into boxes by hand (mp4_boxes.py), the
way FFmpeg's mp4 muxer with `empty_moov+default_base_moof+frag_discont` wrote them before.

Each segment opens with its init segment (ftyp+moov: avc1 from the keyframe's SPS/PPS, and the
sound's sample entry). A part (moof+mdat: one fragment) closes when the next video packet would
take it to the part target or beyond, whatever the camera's GOP; the next segment's keyframe
closes the segment's last part. Every fragment carries the real decode time of its first sample
(tfdt), so segments join into one timeline. A sample's duration is the distance to the next
one of its track; the last picture of a part lasts until the packet that closed it, the last
sound frame its own duration (AAC: 1024 samples; Opus: what its TOC byte says, so ingest's
60 ms packets and a WHIP sender's 20 ms ones, even mixed, stay exact). Measured here
(bench/segmenter.py, 720p25 2 Mbit/s, 2026-12-07): 13-21 µs per picture against 24-45 µs for
PyAV's muxer packaging the same packets, most of it finding the start codes (start_codes.py,
in C when built). A picture's NAL units are copied out of the bus's packet once (not views into
it: a recording holds a segment's pieces until the segment closes, and views kept every packet of
10 s alive, ~2.5 MB a camera; with the copy, recording measured cheaper in its own threads and
in the whole process: README "Recordings", Cost); a part is handed over in pieces
(`Chunk.pieces`): a recording writes and hashes them as they are, LL-HLS joins them once
(`Chunk.data`). One mux, two outputs: LL-HLS (relay/hls/packager.py) and recordings
(outputs/recording/recorder.py), both run it in a thread.

A new epoch (camera reconnect or new owner), a jump in time or new parameter sets end the
segment; the next one is marked as a discontinuity and may carry a new init segment.

Sound (`audio=True`, the caller subscribed to the audio tracks): a segment gets the camera's
AAC (its own frames, ADTS header off, AudioSpecificConfig from it) or, without AAC, its Opus
(with an OpusHead), whichever was seen before the segment's keyframe. The first segment waits
for sound, up to SOUND_WAIT_S of arrival time, so a player that starts there gets the sound too
(players set their tracks up from the first segment): the sound that comes with its keyframe,
or Opus that ingest starts encoding only once a reader asks for it (ingest/audio_pipeline.py),
a moment after the GOP cache handed over the keyframe. Sound that starts or stops
later, or a caller that turns `audio` off, changes the track list at the next segment: a new
init segment after a discontinuity, where players set up again. Only video keyframes and gaps
decide where segments and parts end.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

from ingest.h264 import NAL_PPS, NAL_SPS, join_annexb, nal_type, split_annexb
from pantau.bus.stream_bus import CLOCK_RATE, VIDEO, TimedPacket
from pantau.media.audio_config import AAC_FRAME_SAMPLES, OPUS_RATE, opus_packet_samples, split_adts
from pantau.media.mp4_boxes import (
    AUDIO_TRACK,
    NON_SYNC_SAMPLE,
    SYNC_SAMPLE,
    VIDEO_TRACK,
    AudioTrack,
    TrackRun,
    VideoTrack,
    fragment_pieces,
    init_segment,
)
from pantau.media.start_codes import unit_bounds

MAX_STEP = CLOCK_RATE  # a dts step above 1 s is a gap (the subscription skipped): a discontinuity
WEBRTC_OPUS_SAMPLES = 960  # an Opus packet whose TOC byte cannot be read: 20 ms, as WebRTC sends
_LENGTH = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One finished part."""

    pieces: tuple[bytes | memoryview, ...]  # moof+mdat, in pieces (views into the bus's packets among them)
    duration: float  # seconds
    independent: bool  # starts with a keyframe
    new_segment: bool  # the first part of a segment
    discontinuity: bool  # (first part only) the segment follows a discontinuity
    init: bytes  # the init segment (ftyp+moov) its segment plays with
    program_date_time: float  # wall time (time.time()) ingest received the segment's first frame
    audio: str | None = None  # the sound track of its segment ("aac", "opus"), None: the picture only

    @property
    def data(self) -> bytes:
        """moof+mdat as one bytes (a copy: a writer that can take the pieces writes those)."""
        return b"".join(self.pieces)


# How long (wall clock, while packets arrive) the first segment waits for the camera's sound:
# on-demand Opus starts ~50-100 ms after a subscription; a camera without sound costs its first
# segment this much delay.
SOUND_WAIT_S = 1.0


class Fmp4Segmenter:
    def __init__(self, part_target_s: float, segment_target_s: float, audio: bool = False):
        self.audio = audio  # segments opened from now on carry the sound (may change any time)
        self.part_target = round(part_target_s * CLOCK_RATE)
        self.segment_target = round(segment_target_s * CLOCK_RATE)
        self.fragments = 0  # mfhd sequence numbers keep growing across segments
        self._open = False
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
        self._video: TrackRun | None = None  # the open part's pictures
        self._pending: tuple | None = None  # the last picture: its pieces, size, dts, flags, cts (its duration comes with the next)
        self._sound: TrackRun | None = None  # the open part's sound frames
        self._sound_pending: tuple[bytes, int, int] | None = None  # the last sound frame, its time and duration (track timescale)
        self._sound_rate = 0
        self._audio_track: str | None = None  # the track in the open segment
        self._aac: tuple[bytes, int] | None = None  # AudioSpecificConfig and rate, once seen
        self._opus_seen = False
        self._held: list[TimedPacket] = []  # from the first keyframe on, while it waits for its sound
        self._held_since = 0.0  # time.monotonic() the wait started
        self._waited_for_sound = False
        self._segments = 0
        self._last_audio_track: str | None = None  # of the previous segment

    def feed(self, timed: TimedPacket) -> list[Chunk]:
        packet = timed.packet
        if self._held:
            self._held.append(timed)
            if packet.track != VIDEO:
                self._note_sound(timed)
            if packet.track != VIDEO or (not self._sound_seen() and time.monotonic() - self._held_since < SOUND_WAIT_S):
                return []
            held, self._held = self._held, []
            return [chunk for timed_packet in held for chunk in self.feed(timed_packet)]
        if packet.track != VIDEO:
            return self._feed_audio(timed)
        chunks: list[Chunk] = []
        if self._open:
            parameter_sets = _parameter_sets(packet.data) if packet.keyframe else b""
            broken = (packet.epoch != self._epoch or timed.dts - self._last_dts > MAX_STEP
                      or (parameter_sets and parameter_sets != self._parameter_sets))
            if broken or (packet.keyframe and timed.dts - self._segment_start >= self.segment_target):
                end = timed.dts if timed.dts - self._last_dts <= MAX_STEP else self._last_dts + CLOCK_RATE // 25
                chunks += self._close_segment(end)
                self._need_discontinuity = self._need_discontinuity or broken
        if not self._open:
            if not packet.keyframe:
                self._need_discontinuity = self._need_discontinuity or self._epoch not in (None, packet.epoch)
                return chunks  # a segment starts at a keyframe
            if self._segments == 0 and self.audio and not self._sound_seen() and not self._waited_for_sound:
                self._waited_for_sound = True  # see the module docstring
                self._held, self._held_since = [timed], time.monotonic()
                return chunks
            self._open_segment(timed)
        elif timed.dts - self._part_start >= self.part_target:
            chunks.append(self._part(timed.dts))
        self._add_picture(timed)
        return chunks

    def wants(self, timed: TimedPacket) -> bool:
        """Whether `feed` would use the packet (callers skip the rest before handing it over):
        video; sound only with `audio`, and Opus only while no AAC was seen."""
        track = timed.packet.track
        return track == VIDEO or (self.audio and (track == "aac" or self._aac is None))

    def finish(self) -> list[Chunk]:
        """End the open segment now (the camera went quiet, or the output stops): its last part.
        The next keyframe starts a new segment, marked as a discontinuity."""
        if not self._open:
            return []
        self._need_discontinuity = True
        return self._close_segment(self._last_dts + CLOCK_RATE // 25)

    def _add_picture(self, timed: TimedPacket) -> None:
        if self._pending is not None:
            pieces, size, dts, flags, cts = self._pending
            self._video.add_pieces(pieces, size, timed.dts - dts, flags, cts)
        if self._video is None:
            self._video = TrackRun(VIDEO_TRACK, timed.dts)
        keyframe = timed.packet.keyframe
        self._pending = (*_length_prefixed(timed.packet.data), timed.dts, SYNC_SAMPLE if keyframe else NON_SYNC_SAMPLE,
                         max(timed.pts, timed.dts) - timed.dts)
        self._part_has_keyframe |= keyframe
        self._last_dts = timed.dts

    def _sound_seen(self) -> bool:
        return self._aac is not None or self._opus_seen

    def _note_sound(self, timed: TimedPacket) -> bytes | None:
        """Learn the sound's kind from a packet; its payload (None: unusable)."""
        packet = timed.packet
        if packet.track == "aac":
            parsed = split_adts(packet.data)
            if parsed is None:
                return None
            config, payload, rate = parsed
            self._aac = (config, rate)
            return payload
        self._opus_seen = True
        return packet.data

    def _feed_audio(self, timed: TimedPacket) -> list[Chunk]:
        packet = timed.packet
        payload = self._note_sound(timed)
        if payload is None:
            return []
        if not self._open or packet.track != self._audio_track or timed.dts < self._segment_start:
            return []  # not this segment's sound, or sound from before its first picture
        time = timed.dts * self._sound_rate // CLOCK_RATE
        if self._sound_pending is not None:
            sample, previous, _ = self._sound_pending
            self._sound.add(sample, max(1, time - previous), SYNC_SAMPLE)
        if self._sound is None:
            self._sound = TrackRun(AUDIO_TRACK, time)
        duration = AAC_FRAME_SAMPLES if packet.track == "aac" else opus_packet_samples(payload) or WEBRTC_OPUS_SAMPLES
        self._sound_pending = (payload, time, duration)
        return []

    def _open_segment(self, timed: TimedPacket) -> None:
        parameter_sets = _parameter_sets(timed.packet.data)
        units = split_annexb(parameter_sets)
        sps = next((u for u in units if nal_type(u) == NAL_SPS), None)
        pps = next((u for u in units if nal_type(u) == NAL_PPS), None)
        if sps is None or pps is None:
            raise ValueError("keyframe without SPS/PPS (the bus puts them in front of every keyframe)")
        sound = self._sound_track()
        self._init = init_segment(VideoTrack(sps, pps, CLOCK_RATE), sound)
        self._audio_track = sound.codec if sound else None
        if self._segments and self._audio_track != self._last_audio_track:
            self._need_discontinuity = True  # players set their tracks up again
        self._last_audio_track = self._audio_track
        self._segments += 1
        self._open = True
        self._parameter_sets = parameter_sets
        self._epoch = timed.packet.epoch
        self._segment_start = self._part_start = timed.dts
        self._part_has_keyframe = False
        self._segment_opened = True
        self._segment_discontinuity = self._need_discontinuity
        self._need_discontinuity = False
        self._segment_time = timed.packet.received_at

    def _sound_track(self) -> AudioTrack | None:
        if not self.audio:
            return None
        if self._aac is not None:
            config, rate = self._aac
            self._sound_rate = rate
            return AudioTrack("aac", rate, 2 if (config[1] >> 3) & 0x0F == 2 else 1, config)
        if self._opus_seen:
            self._sound_rate = OPUS_RATE
            return AudioTrack("opus", OPUS_RATE, 1)
        return None

    def _part(self, end_dts: int) -> Chunk:
        """The open part up to `end_dts` (where the next picture starts, or the segment ends)."""
        if self._pending is not None:
            pieces, size, dts, flags, cts = self._pending
            self._video.add_pieces(pieces, size, max(1, end_dts - dts), flags, cts)
            self._pending = None
        if self._sound_pending is not None:
            sample, _, duration = self._sound_pending
            self._sound.add(sample, duration, SYNC_SAMPLE)
            self._sound_pending = None
        self.fragments += 1
        pieces = fragment_pieces(self.fragments, [run for run in (self._video, self._sound) if run is not None])
        self._video = self._sound = None
        chunk = Chunk(tuple(pieces), (end_dts - self._part_start) / CLOCK_RATE, self._part_has_keyframe, self._segment_opened,
                      self._segment_discontinuity, self._init, self._segment_time, self._audio_track)
        self._segment_opened = False
        self._part_start = end_dts
        self._part_has_keyframe = False
        return chunk

    def _close_segment(self, end_dts: int) -> list[Chunk]:
        chunks = [self._part(end_dts)] if self._video is not None or self._pending is not None else []
        self._open = False
        self._audio_track = None
        return chunks


def _parameter_sets(data: bytes) -> bytes:
    return join_annexb([u for u in split_annexb(data) if nal_type(u) in (NAL_SPS, NAL_PPS)])


def _length_prefixed(annexb: bytes) -> tuple[list[bytes], int]:
    """An Annex-B access unit as MP4 wants it, in pieces, and its size: each NAL unit (a copy, so
    the bus packet is freed at once: module docstring) behind its 4-byte length. Finding the units
    is most of the cost (start_codes.py: in C when built)."""
    bounds = unit_bounds(annexb)
    data = bytes(annexb)  # (a no-op for the bus's bytes) slices of bytes are copies
    pieces: list[bytes] = []
    size = 0
    for index in range(0, len(bounds), 2):
        begin, end = bounds[index], bounds[index + 1]
        pieces += (_LENGTH.pack(end - begin), data[begin:end])
        size += 4 + end - begin
    return pieces, size
