"""The little an MP4 muxer needs to know of a sound track, from the packets themselves.

The bus carries AAC as ADTS frames (each with a 7-byte header naming profile, rate and
channels, as cameras send it over RTSP and HLS players expect in TS) and Opus as bare packets.
MP4 (LL-HLS parts, recordings) wants AAC without the ADTS header plus the AudioSpecificConfig,
and Opus with an OpusHead: both made here, so ingest and the muxers agree on one reading. An
Opus packet's duration comes from its own first byte (`opus_packet_samples`): ingest encodes
60 ms packets, a WHIP or WHEP sender chooses its own (Chromium: 20 ms), and a muxer must time
each as it is.
"""

from __future__ import annotations

import struct

# ADTS sampling_frequency_index (ISO 14496-3, 1.6.3.4)
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
AAC_FRAME_SAMPLES = 1024
OPUS_RATE = 48_000
OPUS_PRE_SKIP = 312  # libopus's encoder delay at 48 kHz
# RFC 6716 3.1: a TOC byte's config (its top 5 bits) names the mode and the frame size; in
# samples at 48 kHz: SILK 10/20/40/60 ms, Hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
_OPUS_FRAME_SAMPLES = (480, 960, 1920, 2880) * 3 + (480, 960) * 2 + (120, 240, 480, 960) * 4
OPUS_MAX_PACKET_SAMPLES = 5760  # 120 ms: RFC 6716 3.2.5


def adts_header(config: bytes, payload_size: int) -> bytes:
    """The 7-byte ADTS header (no CRC) for one raw AAC frame of the stream whose
    AudioSpecificConfig is `config`."""
    object_type = config[0] >> 3
    rate_index = ((config[0] & 0x07) << 1) | (config[1] >> 7)
    channels = (config[1] >> 3) & 0x0F
    length = payload_size + 7
    profile = object_type - 1  # ADTS carries the profile as object type - 1 (LC: 1)
    return bytes((
        0xFF, 0xF1,  # sync word, MPEG-4, layer 0, no CRC
        (profile << 6) | (rate_index << 2) | (channels >> 2),
        ((channels & 3) << 6) | (length >> 11),
        (length >> 3) & 0xFF,
        ((length & 7) << 5) | 0x1F,
        0xFC,  # buffer fullness 0x7FF (variable), one raw data block
    ))


def split_adts(frame: bytes) -> tuple[bytes, bytes, int] | None:
    """(AudioSpecificConfig, raw AAC payload, sample rate) of one ADTS frame; None if it is not one."""
    if len(frame) < 7 or frame[0] != 0xFF or frame[1] & 0xF0 != 0xF0:
        return None
    header_size = 7 if frame[1] & 0x01 else 9  # protection_absent: no CRC
    profile = frame[2] >> 6
    rate_index = (frame[2] >> 2) & 0x0F
    channels = ((frame[2] & 0x01) << 2) | (frame[3] >> 6)
    if rate_index >= len(AAC_RATES):
        return None
    object_type = profile + 1
    config = bytes(((object_type << 3) | (rate_index >> 1), ((rate_index & 1) << 7) | (channels << 3)))
    return config, frame[header_size:], AAC_RATES[rate_index]


def opus_head(channels: int = 1) -> bytes:
    """The OpusHead (RFC 7845 5.1) an MP4 'dOps' box is made from: version 1, no gain, mapping 0."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, OPUS_PRE_SKIP, OPUS_RATE, 0, 0)


def opus_packet_samples(packet: bytes) -> int:
    """How many 48 kHz samples an Opus packet holds (RFC 6716 3.1: its TOC byte's frame size
    times its frame count: code 0 one frame, 1 and 2 two, 3 the count in the next byte);
    0 for an empty or malformed packet."""
    if not packet:
        return 0
    toc = packet[0]
    frame = _OPUS_FRAME_SAMPLES[toc >> 3]
    code = toc & 0x03
    if code == 0:
        return frame
    if code < 3:
        return 2 * frame
    if len(packet) < 2:
        return 0
    samples = frame * (packet[1] & 0x3F)
    return samples if samples <= OPUS_MAX_PACKET_SAMPLES else 0
