"""Where the NAL units of an H.264 Annex-B access unit start and end: the segmenter cuts every
picture at its start codes (fmp4_segmenter.py) to write it length-prefixed, as MP4 wants it.

Finding the start codes was the largest part of the segmenter's own work (recordings and LL-HLS:
every picture of every camera): a 10 kB 720p picture's units in ~5 µs with `re` (`bytes.split` and
`bytes.find` 8-9 µs), ~1.2 µs in C with the call (start_codes.c, 16 places at a time; memchr for
the start code's 0x01 byte took 2.3: the byte is in ~1 % of a picture), built as the optional
compiled extension `pantau.media._start_codes` by setup.py.
Without a C compiler at install the `re` scan is used: the same bounds, only slower. A NAL unit
never ends in a zero byte (H.264 7.4.1), so zeros before a start code are the next one's (a
4-byte start code) or padding and are not the unit's.
"""

from __future__ import annotations

import logging
import re
import threading

log = logging.getLogger(__name__)

_START_CODE = re.compile(b"\x00\x00\x01")
_ROOM = 16  # units a picture has room for at first (one slice, SPS, PPS, SEI, AUD: a handful)


def python_unit_bounds(annexb: bytes) -> list[int]:
    """begin, end, begin, end, ... of every non-empty NAL unit (the `re` scan)."""
    ends = [match.start() for match in _START_CODE.finditer(annexb)]
    ends.append(len(annexb))
    bounds = []
    for index in range(len(ends) - 1):
        begin, end = ends[index] + 3, ends[index + 1]
        while end > begin and annexb[end - 1] == 0:
            end -= 1
        if end > begin:
            bounds += (begin, end)
    return bounds


def _native():
    try:
        from pantau.media import _start_codes
    except ImportError as exc:
        log.info("pantau.media._start_codes is not built (%s): start codes found with re, slower", exc)
        return None
    ffi, lib = _start_codes.ffi, _start_codes.lib
    find = lib.annexb_unit_bounds
    rooms = threading.local()  # a bounds array per thread (segmenters run in several), made once: ~0.5 µs a call

    def native_unit_bounds(annexb: bytes) -> list[int]:
        """The same as python_unit_bounds, found in C."""
        try:
            room, bounds = rooms.room, rooms.bounds
        except AttributeError:  # this thread's first call
            room, bounds = _ROOM, ffi.new("uint32_t[]", 2 * _ROOM)
            rooms.room, rooms.bounds = room, bounds
        units = find(annexb, len(annexb), bounds, room)
        if units > room:  # more units than ever before in this thread: room for them, and again
            bounds = ffi.new("uint32_t[]", 2 * units)
            rooms.room, rooms.bounds = units, bounds
            find(annexb, len(annexb), bounds, units)
        return ffi.unpack(bounds, 2 * units)

    return native_unit_bounds


native_unit_bounds = _native()  # None when the extension is not built
unit_bounds = native_unit_bounds or python_unit_bounds
