"""The picture size of an H.264 stream, read from its SPS (ITU-T H.264 7.3.2.1.1).

The fMP4 init segment names the video's width and height (tkhd, avc1) and, for the high profiles,
its chroma format and bit depths (avcC); the bus carries only the bitstream, so they are read
from the sequence parameter set in front of each keyframe: a few exp-Golomb fields, no decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class _Bits:
    def __init__(self, rbsp: bytes):
        self.data = rbsp
        self.position = 0

    def bit(self) -> int:
        byte = self.data[self.position >> 3]  # IndexError on a truncated SPS
        value = (byte >> (7 - (self.position & 7))) & 1
        self.position += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def _rbsp(nal: bytes) -> bytes:
    """Drop the emulation-prevention bytes (00 00 03 -> 00 00)."""
    out, zeros = bytearray(), 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale:
            next_scale = (last + bits.se() + 256) % 256
        last = next_scale or last


@dataclass(frozen=True, slots=True)
class SpsInfo:
    width: int
    height: int
    profile: int
    chroma_format: int  # 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4
    bit_depth_luma: int
    bit_depth_chroma: int


def picture_size(sps_nal: bytes) -> tuple[int, int]:
    """(width, height) in pixels of an SPS NAL unit (header byte included). ValueError if unreadable."""
    info = read_sps(sps_nal)
    return info.width, info.height


def read_sps(sps_nal: bytes) -> SpsInfo:
    """What an MP4 sample entry names of an SPS NAL unit (avc1's size, avcC's high-profile
    fields). ValueError if unreadable."""
    depths = (8, 8)
    try:
        bits = _Bits(_rbsp(sps_nal[1:]))
        profile = bits.bits(8)
        bits.bits(16)  # constraint flags, level
        bits.ue()  # seq_parameter_set_id
        chroma_format = 1
        if profile in HIGH_PROFILES:
            chroma_format = bits.ue()
            if chroma_format == 3:
                bits.bit()  # separate_colour_plane_flag
            depths = (bits.ue() + 8, bits.ue() + 8)
            bits.bit()  # qpprime_y_zero_transform_bypass_flag
            if bits.bit():  # seq_scaling_matrix_present_flag
                for index in range(8 if chroma_format != 3 else 12):
                    if bits.bit():
                        _skip_scaling_list(bits, 16 if index < 6 else 64)
        bits.ue()  # log2_max_frame_num_minus4
        poc_type = bits.ue()
        if poc_type == 0:
            bits.ue()
        elif poc_type == 1:
            bits.bit()
            bits.se()
            bits.se()
            for _ in range(bits.ue()):
                bits.se()
        bits.ue()  # max_num_ref_frames
        bits.bit()  # gaps_in_frame_num_value_allowed_flag
        width_mbs = bits.ue() + 1
        height_map_units = bits.ue() + 1
        frame_mbs_only = bits.bit()
        if not frame_mbs_only:
            bits.bit()  # mb_adaptive_frame_field_flag
        bits.bit()  # direct_8x8_inference_flag
        crop = (0, 0, 0, 0)
        if bits.bit():  # frame_cropping_flag
            crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue())
    except IndexError:
        raise ValueError("truncated SPS") from None
    crop_x = 1 if chroma_format in (0, 3) else 2
    crop_y = (1 if chroma_format in (0, 3) else 2 if chroma_format == 1 else 1) * (2 - frame_mbs_only)
    if chroma_format == 2:
        crop_y = 2 - frame_mbs_only
    width = width_mbs * 16 - crop_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_map_units * 16 - crop_y * (crop[2] + crop[3])
    if width <= 0 or height <= 0:
        raise ValueError("SPS gives no picture size")
    return SpsInfo(width, height, profile, chroma_format, *depths)
