"""The picture size the fMP4 init segment declares comes from the SPS (pantau/media/sps.py): streams
from FFmpeg's x264 in the sizes and profiles cameras send (1080p needs cropping: 1088 coded)."""

from __future__ import annotations

import subprocess

import pytest

from ingest.h264 import NAL_SPS, nal_type, split_annexb
from pantau.media.sps import picture_size
from tests.support.system_deps import require_binary


@pytest.mark.parametrize("size,profile,pix_fmt", [
    ((1280, 720), "baseline", "yuv420p"), ((1920, 1080), "high", "yuv420p"), ((640, 360), "main", "yuv420p"),
    ((1280, 720), "high444", "yuv444p"), ((854, 480), "high422", "yuv422p")])
def test_picture_size_from_the_sps(size, profile, pix_fmt):
    ffmpeg = require_binary("ffmpeg")
    width, height = size
    stream = subprocess.run([ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate=25",
                             "-frames:v", "1", "-pix_fmt", pix_fmt, "-c:v", "libx264", "-profile:v", profile,
                             "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-"], capture_output=True, check=True, timeout=30).stdout
    sps = next(u for u in split_annexb(stream) if nal_type(u) == NAL_SPS)
    assert picture_size(sps) == size


def test_a_truncated_sps_is_refused():
    with pytest.raises(ValueError):
        picture_size(bytes([0x67, 0x64, 0x00]))
