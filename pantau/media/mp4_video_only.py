"""An fMP4 file without its sound: the same bytes of the picture, the sound track taken out at
the box level (no decoding, no remux), for those who may see a camera but not hear it (the
public, where the camera's `audio_public` is off: a TPS microphone also hears voters).

The init segment loses the sound's trak and trex; each fragment loses the sound's traf, its
mdat keeps only the picture's samples, and the picture's trun data offset is moved to match.
Written for the fragments fmp4_segmenter.py makes (one moof per fragment, per-sample sizes,
offsets from the moof); a file without a sound track comes back unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from pantau.media.mp4_boxes import box

_HEADER = struct.Struct(">I4s")


def boxes(data: bytes | memoryview, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(kind, start of the box, end of the box) of each box in data[start:end]; ValueError if broken."""
    end = len(data) if end is None else end
    position = start
    while position < end:
        if end - position < 8:
            raise ValueError(f"truncated box header at byte {position}")
        size, kind = _HEADER.unpack_from(data, position)
        if size == 1:
            size = struct.unpack_from(">Q", data, position + 8)[0]
        elif size == 0:
            size = end - position
        if size < 8 or position + size > end:
            raise ValueError(f"box {kind!r} at byte {position} runs past its container")
        yield kind, position, position + size
        position += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in boxes(data, start + 8, end) if k == kind), None)


def _path(data: bytes, start: int, end: int, *kinds: bytes) -> tuple[int, int] | None:
    found: tuple[int, int] | None = (start, end)
    for kind in kinds:
        found = _child(data, *found, kind) if found else None
    return found


def sound_track_ids(init: bytes) -> set[int]:
    """Track ids of the init segment's sound tracks (hdlr 'soun')."""
    moov = next(((s, e) for k, s, e in boxes(init) if k == b"moov"), None)
    found = set()
    if moov is None:
        return found
    for kind, start, end in boxes(init, moov[0] + 8, moov[1]):
        if kind != b"trak":
            continue
        hdlr = _path(init, start, end, b"mdia", b"hdlr")
        if hdlr and init[hdlr[0] + 16:hdlr[0] + 20] == b"soun":
            found.add(_track_id(init, start, end, b"tkhd"))
    return found


def video_only(data: bytes, init_size: int) -> tuple[bytes, bytes]:
    """(init, fragments) of a segment file (`init_size`: its init segment's length) without sound."""
    init, media = data[:init_size], data[init_size:]
    sound = sound_track_ids(init)
    if not sound:
        return init, media
    return _init_without(init, sound), _fragments_without(media, sound)


def _init_without(init: bytes, sound: set[int]) -> bytes:
    out = []
    for kind, start, end in boxes(init):
        if kind != b"moov":
            out.append(init[start:end])
            continue
        children = []
        for child, child_start, child_end in boxes(init, start + 8, end):
            if child == b"trak" and _track_id(init, child_start, child_end, b"tkhd") in sound:
                continue
            if child == b"mvex":
                trexes = [init[s:e] for k, s, e in boxes(init, child_start + 8, child_end)
                          if not (k == b"trex" and struct.unpack_from(">I", init, s + 12)[0] in sound)]
                children.append(box(b"mvex", *trexes))
                continue
            children.append(init[child_start:child_end])
        out.append(box(b"moov", *children))
    return b"".join(out)


def _track_id(data: bytes, start: int, end: int, header: bytes) -> int:
    """The track id in a trak's tkhd or a traf's tfhd."""
    found = _child(data, start, end, header)
    if found is None:
        raise ValueError(f"{header.decode()} missing")
    if header == b"tfhd":
        offset = 12
    else:  # tkhd: after its creation and modification times, 4 or 8 bytes each by version
        offset = 20 if data[found[0] + 8] == 0 else 28
    return struct.unpack_from(">I", data, found[0] + offset)[0]


def _fragments_without(media: bytes, sound: set[int]) -> bytes:
    out = []
    moof: tuple[int, int] | None = None
    for kind, start, end in boxes(media):
        if kind == b"moof":
            moof = (start, end)
        elif kind == b"mdat" and moof is not None:
            out.append(_fragment_without(media, moof, (start, end), sound))
            moof = None
        else:
            out.append(media[start:end])
    return b"".join(out)


def _fragment_without(media: bytes, moof: tuple[int, int], mdat: tuple[int, int], sound: set[int]) -> bytes:
    kept, samples = [], []  # the moof's children kept; (traf start, trun start, data start, data size) of each kept traf
    for kind, start, end in boxes(media, moof[0] + 8, moof[1]):
        if kind != b"traf":
            kept.append(media[start:end])
            continue
        if _track_id(media, start, end, b"tfhd") in sound:
            continue
        trun = _child(media, start, end, b"trun")
        if trun is None:
            raise ValueError("traf without trun")
        offset, size = _trun_data(media, trun[0])
        samples.append((len(b"".join(kept)) + 8, trun[0] - start, moof[0] + offset, size))
        kept.append(media[start:end])
    moof_size = 8 + sum(len(k) for k in kept)
    new = bytearray(box(b"moof", *kept))
    data, position = [], moof_size + 8
    for traf_at, trun_in_traf, data_start, size in samples:
        struct.pack_into(">i", new, traf_at + trun_in_traf + 16, position)  # the trun's data_offset
        data.append(media[data_start:data_start + size])
        position += size
    payload = b"".join(data)
    if mdat[0] != moof[1]:
        raise ValueError("a fragment's mdat does not follow its moof")
    return bytes(new) + _HEADER.pack(8 + len(payload), b"mdat") + payload


def _trun_data(media: bytes, trun: int) -> tuple[int, int]:
    """(data offset from the moof, bytes of its samples) of the trun at `trun`."""
    flags = struct.unpack_from(">I", media, trun + 8)[0] & 0xFFFFFF
    count = struct.unpack_from(">I", media, trun + 12)[0]
    if not flags & 0x1 or not flags & 0x200:
        raise ValueError("trun without data offset or sample sizes")
    offset = struct.unpack_from(">i", media, trun + 16)[0]
    fields_at = trun + 20 + (4 if flags & 0x4 else 0)
    per_sample = sum(4 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
    size_at = fields_at + (4 if flags & 0x100 else 0)
    sizes = struct.unpack_from(f">{count * (per_sample // 4)}I", media, fields_at)
    first = (size_at - fields_at) // 4
    return offset, sum(sizes[first::per_sample // 4])
