"""H.264 bitstream helpers for passthrough: Annex-B framing, NAL types, parameter sets.

Browsers (and aiortc's packetizer) need Annex-B with SPS/PPS in front of every keyframe; some
cameras send the parameter sets only once, or only in the SDP (FFmpeg then has them in the
stream's extradata), and some demuxers hand out length-prefixed (AVCC) units.
"""

from __future__ import annotations

import re

START_CODE = b"\x00\x00\x00\x01"
NAL_SLICE = 1  # a slice of a non-IDR picture
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
_START = re.compile(b"\x00\x00\x01")


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units (without start codes) of an Annex-B buffer."""
    positions = [m.end() for m in _START.finditer(data)]
    units = []
    for index, start in enumerate(positions):
        end = positions[index + 1] - 3 if index + 1 < len(positions) else len(data)
        unit = data[start:end]
        # A 4-byte start code leaves its leading zero on the previous unit; trailing zeros are padding.
        units.append(unit.rstrip(b"\x00") if index + 1 < len(positions) else unit)
    return [u for u in units if u]


def is_annexb(data: bytes) -> bool:
    return data.startswith(b"\x00\x00\x01") or data.startswith(START_CODE)


def split_avcc(data: bytes, length_size: int = 4) -> list[bytes] | None:
    """NAL units of a length-prefixed buffer, or None if it is not one."""
    units, position = [], 0
    while position < len(data):
        if position + length_size > len(data):
            return None
        size = int.from_bytes(data[position : position + length_size], "big")
        position += length_size
        if size == 0 or position + size > len(data):
            return None
        units.append(data[position : position + size])
        position += size
    return units


def nal_units(data: bytes) -> list[bytes]:
    if is_annexb(data):
        return split_annexb(data)
    return split_avcc(data) or []


def nal_type(unit: bytes) -> int:
    return unit[0] & 0x1F


def join_annexb(units: list[bytes]) -> bytes:
    return b"".join(START_CODE + u for u in units)


def parameter_sets_from_extradata(extradata: bytes | None) -> list[bytes]:
    """SPS/PPS units from a stream's extradata, Annex-B or avcC (ISO 14496-15) form."""
    if not extradata:
        return []
    if is_annexb(extradata):
        return [u for u in split_annexb(extradata) if nal_type(u) in (NAL_SPS, NAL_PPS)]
    if extradata[0] != 1 or len(extradata) < 7:
        return []
    units, position = [], 5
    for count_mask in (0x1F, 0xFF):  # SPS count (5 bits), then PPS count (8 bits)
        if position >= len(extradata):
            break
        count = extradata[position] & count_mask
        position += 1
        for _ in range(count):
            size = int.from_bytes(extradata[position : position + 2], "big")
            unit = extradata[position + 2 : position + 2 + size]
            if not size or len(unit) < size:
                return units  # empty or cut short: a hostile or broken camera; keep what was whole
            units.append(unit)
            position += 2 + size
    return units


class AnnexBNormalizer:
    """Rewrites each access unit as Annex-B and puts the latest SPS/PPS in front of keyframes."""

    def __init__(self, extradata: bytes | None = None):
        self.sps: bytes | None = None
        self.pps: bytes | None = None
        for unit in parameter_sets_from_extradata(extradata):
            self._remember(unit)

    def _remember(self, unit: bytes) -> None:
        if nal_type(unit) == NAL_SPS:
            self.sps = unit
        elif nal_type(unit) == NAL_PPS:
            self.pps = unit

    @property
    def ready(self) -> bool:
        return self.sps is not None and self.pps is not None

    def normalize(self, data: bytes) -> tuple[bytes, bool]:
        """(Annex-B access unit, is_keyframe). Keyframe = holds an IDR slice."""
        fast = self._pass_through(data)
        if fast is not None:
            return fast
        units = nal_units(data)
        types = [nal_type(u) for u in units]
        for unit in units:
            self._remember(unit)
        keyframe = NAL_IDR in types
        units = [u for u, t in zip(units, types) if t != NAL_AUD]
        if keyframe and not (NAL_SPS in types and NAL_PPS in types) and self.ready:
            body = [u for u in units if nal_type(u) not in (NAL_SPS, NAL_PPS)]
            units = [self.sps, self.pps, *body]
        return join_annexb(units), keyframe

    @staticmethod
    def _pass_through(data: bytes) -> tuple[bytes, bool] | None:
        """The fast path (nearly every packet): an Annex-B non-IDR picture without parameter
        sets, handed on untouched, or minus a leading access unit delimiter (one slice). None
        when the slow path must rebuild it (not Annex-B, a keyframe, parameter sets to
        remember, an AUD elsewhere, no slice).

        Only the NAL headers up to the first slice are read: an AUD, SPS, PPS or SEI after the
        slices of a picture would start the next access unit (H.264 7.4.1.2.3), so the slice
        data, nearly all of the bytes, needs no scan; all slices of an IDR picture are IDR."""
        find = data.find
        position = find(b"\x00\x00\x01")
        if position != 0 and (position != 1 or data[0] != 0):
            return None  # not Annex-B (see is_annexb)
        leading_aud = data[position + 3] & 0x1F == NAL_AUD if position + 3 < len(data) else False
        if leading_aud:
            position = find(b"\x00\x00\x01", position + 4)
        while position != -1 and position + 3 < len(data):
            nal = data[position + 3] & 0x1F
            if nal == NAL_SLICE:
                break
            if nal == NAL_AUD or nal == NAL_SPS or nal == NAL_PPS or NAL_SLICE < nal <= NAL_IDR:
                return None
            position = find(b"\x00\x00\x01", position + 3)
        else:
            return None  # no slice at all
        if not leading_aud:
            return data, False
        # Drop the AUD; keep a 4-byte start code in front, as the slow path writes it.
        second = find(b"\x00\x00\x01", 4)
        return (data[second - 1 :] if data[second - 1] == 0 else b"\x00" + data[second:]), False
