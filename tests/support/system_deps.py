"""The system binaries the tests use, each named with the Debian package that has it.

A fixture that needs one calls `require_binary` first, so a machine without it fails at once with
the package to install, instead of a test waiting on a server that never answers (a fresh machine
once failed 30+ tests that way: the test cameras' `clockoverlay` lives in `gstreamer1.0-x`, which
no script installed). GStreamer elements are checked by the camera server itself, which runs under
Debian's Python (`rtsp_camera_server.GSTREAMER_ELEMENT_PACKAGES`). `scripts/test.sh` installs
every package named here.
"""

from __future__ import annotations

import os
import shutil

import pytest

# binary -> Debian package. Paths are absolute where the tests must use Debian's own build.
DEBIAN_BINARIES = {
    "redis-server": "redis-server",
    "/usr/bin/python3": "python3",  # the camera server: Debian's interpreter has the `gi` bindings
    "/usr/bin/chromium": "chromium",
    "ffmpeg": "ffmpeg",
    "ffprobe": "ffmpeg",
    "nginx": "nginx",
    "janus": "janus",
    "openssl": "openssl",  # an export's proof checked with standard tools (tests/test_recording_playback.py)
    "sha256sum": "coreutils",
}


def missing_binary(binary: str) -> str | None:
    """None when `binary` is there; else a message naming the Debian package to install."""
    found = os.access(binary, os.X_OK) if binary.startswith("/") else shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin")
    if found:
        return None
    package = DEBIAN_BINARIES.get(binary, "?")
    return f"{binary} is missing: install the Debian package {package} (scripts/test.sh does: apt-get install {package})"


def require_binary(binary: str) -> str:
    """The binary's path, or fail the test at once naming the Debian package."""
    if message := missing_binary(binary):
        pytest.fail(message, pytrace=False)
    return binary if binary.startswith("/") else (shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin"))


def require_playwright() -> None:
    """Playwright for Python (the test extras) drives Debian's Chromium; both must be there."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.fail("Playwright for Python is missing: install the test extras (scripts/test.sh: pip install -e '.[test]')", pytrace=False)
    require_binary("/usr/bin/chromium")
