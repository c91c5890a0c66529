"""The one compiled part of Pantau: relay.webrtc._fastsend (relay/webrtc/fastsend_build.py).

Metadata is in pyproject.toml; this file only adds the cffi extension, marked optional: without
a C compiler (Debian: build-essential, python3-dev) the install goes on and the relay's WHEP
fan-out sends from Python, naming the missing extension in its log.
"""

import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).parent / "relay" / "webrtc"))
from fastsend_build import ffibuilder  # noqa: E402

extension = ffibuilder.distutils_extension()
extension.optional = True
setup(ext_modules=[extension])
