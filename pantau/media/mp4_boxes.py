"""Fragmented MP4 (ISO/IEC 14496-12, CMAF-shaped) written by hand: the init segment (ftyp+moov
with the sample entries) and fragments (moof+mdat), for the segmenter (fmp4_segmenter.py).

Why not PyAV's mp4 muxer: it cost 150-300 µs per 720p packet (an AVPacket, a copy and FFmpeg's
bookkeeping for each), most of what recording and LL-HLS packaging spend. A fragment here is a few
`struct.pack` calls over lists the segmenter fills: the samples' own bytes are joined once, when
the fragment is written. The layout follows what FFmpeg's movenc writes with
`empty_moov+default_base_moof` (one moof for all tracks, tfdt version 1, the decode time of each
fragment's first sample), checked box by box against it; MediaMTX's mediacommon fmp4 package
and hls.js's mp4-generator write the same boxes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pantau.media.audio_config import OPUS_PRE_SKIP
from pantau.media.sps import HIGH_PROFILES, read_sps

# trun sample flags (14496-12 8.8.3.1): a sync sample depends on nothing; the rest depend on others
# and are not sync samples.
SYNC_SAMPLE = 0x02000000
NON_SYNC_SAMPLE = 0x01010000
_TRUN_DATA_OFFSET, _TRUN_DURATION, _TRUN_SIZE, _TRUN_FLAGS, _TRUN_CTS = 0x1, 0x100, 0x200, 0x400, 0x800
_TFHD_DEFAULT_BASE_IS_MOOF = 0x020000
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
VIDEO_TRACK, AUDIO_TRACK = 1, 2


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


@dataclass(frozen=True)
class VideoTrack:
    sps: bytes  # NAL units without start codes
    pps: bytes
    timescale: int

    def sample_entry(self) -> tuple[bytes, int, int]:
        """avc1 (with avcC), width, height."""
        info = read_sps(self.sps)
        avcc = bytes((1, self.sps[1], self.sps[2], self.sps[3], 0xFF, 0xE1)) + struct.pack(">H", len(self.sps)) + self.sps
        avcc += b"\x01" + struct.pack(">H", len(self.pps)) + self.pps
        if info.profile in HIGH_PROFILES:  # 14496-15 5.3.3.1.2: what FFmpeg writes for these profiles
            avcc += bytes((0xFC | info.chroma_format, 0xF8 | (info.bit_depth_luma - 8), 0xF8 | (info.bit_depth_chroma - 8), 0))
        entry = box(b"avc1", bytes(6), struct.pack(">H", 1), bytes(16), struct.pack(">HH", info.width, info.height),
                    struct.pack(">IIIH", 0x480000, 0x480000, 0, 1), bytes(32), struct.pack(">Hh", 0x18, -1),
                    box(b"avcC", avcc))
        return entry, info.width, info.height


@dataclass(frozen=True)
class AudioTrack:
    codec: str  # "aac" | "opus"
    rate: int  # also the track's timescale
    channels: int
    config: bytes = b""  # AAC's AudioSpecificConfig

    def sample_entry(self) -> bytes:
        fields = bytes(6) + struct.pack(">H", 1) + bytes(8) + struct.pack(">HHHHI", self.channels, 16, 0, 0, self.rate << 16)
        if self.codec == "aac":
            return box(b"mp4a", fields, full_box(b"esds", 0, 0, _es_descriptor(self.config)))
        dops = struct.pack(">BBHIhB", 0, self.channels, OPUS_PRE_SKIP, self.rate, 0, 0)  # RFC 7845's OpusHead, big-endian
        return box(b"Opus", fields, box(b"dOps", dops))


def _descriptor(tag: int, body: bytes) -> bytes:
    return bytes((tag, len(body))) + body  # bodies here stay under 128 bytes: a one-byte length


def _es_descriptor(config: bytes) -> bytes:
    decoder_config = struct.pack(">BBBHII", 0x40, 0x15, 0, 0, 0, 0) + _descriptor(0x05, config)  # MPEG-4 audio stream
    return _descriptor(0x03, struct.pack(">HB", AUDIO_TRACK, 0) + _descriptor(0x04, decoder_config) + _descriptor(0x06, b"\x02"))


def init_segment(video: VideoTrack, audio: AudioTrack | None) -> bytes:
    """ftyp + moov: the sample entries, no samples (they come in fragments), trex per track."""
    ftyp = box(b"ftyp", b"iso5", struct.pack(">I", 512), b"iso5iso6mp41")
    entry, width, height = video.sample_entry()
    traks = [_trak(VIDEO_TRACK, video.timescale, b"vide", b"VideoHandler", entry, full_box(b"vmhd", 0, 1, bytes(8)),
                   width, height)]
    if audio is not None:
        traks.append(_trak(AUDIO_TRACK, audio.rate, b"soun", b"SoundHandler", audio.sample_entry(),
                           full_box(b"smhd", 0, 0, bytes(4)), 0, 0))
    track_ids = [VIDEO_TRACK] + ([AUDIO_TRACK] if audio is not None else [])
    mvhd = full_box(b"mvhd", 0, 0, struct.pack(">IIIIIH", 0, 0, 1000, 0, 0x10000, 0x100), bytes(10), _MATRIX, bytes(24),
                    struct.pack(">I", len(track_ids) + 1))
    mvex = box(b"mvex", *(full_box(b"trex", 0, 0, struct.pack(">IIIII", t, 1, 0, 0, 0)) for t in track_ids))
    return ftyp + box(b"moov", mvhd, *traks, mvex)


def _trak(track_id: int, timescale: int, handler: bytes, name: bytes, entry: bytes, media_header: bytes,
          width: int, height: int) -> bytes:
    sound = handler == b"soun"
    tkhd = full_box(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, track_id, 0, 0), bytes(8),
                    struct.pack(">hhHH", 0, 1 if sound else 0, 0x100 if sound else 0, 0), _MATRIX,
                    struct.pack(">II", width << 16, height << 16))
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, 0x55C4, 0))  # language 'und'
    hdlr = full_box(b"hdlr", 0, 0, bytes(4), handler, bytes(12), name + b"\x00")
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    stbl = box(b"stbl", full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry), full_box(b"stts", 0, 0, bytes(4)),
               full_box(b"stsc", 0, 0, bytes(4)), full_box(b"stsz", 0, 0, bytes(8)), full_box(b"stco", 0, 0, bytes(4)))
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, box(b"minf", media_header, dinf, stbl)))


@dataclass
class TrackRun:
    """One track's samples in a fragment, filled as they come: their bytes (length-prefixed access
    units, or raw audio frames) as pieces written out as they are (bytes, or views into the bus's
    packets: no copy until the fragment is joined or written), and per sample its duration, size,
    flags and composition offset."""

    track_id: int
    decode_time: int  # of the first sample, in the track's timescale
    data: list[bytes | memoryview] = field(default_factory=list)  # the samples' bytes, in order, in pieces
    table: list[int] = field(default_factory=list)  # duration, size, flags, cts offset: four per sample
    size: int = 0
    samples: int = 0
    has_cts: bool = False

    def add(self, sample: bytes, duration: int, flags: int, cts_offset: int = 0) -> None:
        self.add_pieces((sample,), len(sample), duration, flags, cts_offset)

    def add_pieces(self, pieces, size: int, duration: int, flags: int, cts_offset: int = 0) -> None:
        """One sample of `size` bytes, given as pieces that follow each other."""
        self.data += pieces
        self.size += size
        self.samples += 1
        self.table += (duration, size, flags, cts_offset)
        if cts_offset:
            self.has_cts = True


def fragment(sequence: int, runs: list[TrackRun]) -> bytes:
    """moof + mdat of the runs that hold samples, their data in that order in one mdat."""
    return b"".join(fragment_pieces(sequence, runs))


def fragment_pieces(sequence: int, runs: list[TrackRun]) -> list[bytes | memoryview]:
    """The fragment as pieces in order (moof, the mdat header, the samples' pieces): a writer
    writes and hashes them without joining them first."""
    runs = [r for r in runs if r.samples]
    tables = []
    for run in runs:
        if run.has_cts:  # trun version 1: signed offsets
            tables.append(struct.pack(f">{len(run.table)}i", *run.table))
        else:
            del run.table[3::4]
            tables.append(struct.pack(f">{len(run.table)}I", *run.table))
    # Every size is known before writing: moof's own, then each run's data after the ones before it.
    offset = 8 + 16 + sum(8 + 16 + 20 + 20 + len(table) for table in tables) + 8
    boxes = [full_box(b"mfhd", 0, 0, struct.pack(">I", sequence))]
    for run, table in zip(runs, tables, strict=True):
        flags = _TRUN_DATA_OFFSET | _TRUN_DURATION | _TRUN_SIZE | _TRUN_FLAGS | (_TRUN_CTS if run.has_cts else 0)
        boxes.append(box(b"traf", full_box(b"tfhd", 0, _TFHD_DEFAULT_BASE_IS_MOOF, struct.pack(">I", run.track_id)),
                         full_box(b"tfdt", 1, 0, struct.pack(">Q", run.decode_time)),
                         full_box(b"trun", 1, flags, struct.pack(">Ii", run.samples, offset), table)))
        offset += run.size
    pieces = [box(b"moof", *boxes), struct.pack(">I4s", 8 + sum(r.size for r in runs), b"mdat")]
    for run in runs:
        pieces += run.data
    return pieces
