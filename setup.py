"""The compiled parts of Pantau: relay.webrtc._fastsend (relay/webrtc/fastsend_build.py) and
pantau.media._start_codes (pantau/media/start_codes_build.py).

Metadata is in pyproject.toml; this file only adds the cffi extensions, marked optional: without
a C compiler (Debian: build-essential, python3-dev) the install goes on, the relay's WHEP
fan-out sends from Python, naming the missing extension in its log, and the fMP4 segmenter
finds start codes with `re`.
"""

import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).parent / "relay" / "webrtc"))
sys.path.insert(0, str(Path(__file__).parent / "pantau" / "media"))
from fastsend_build import ffibuilder  # noqa: E402
from start_codes_build import ffibuilder as start_codes_ffibuilder  # noqa: E402

extensions = [ffibuilder.distutils_extension(), start_codes_ffibuilder.distutils_extension()]
for extension in extensions:
    extension.optional = True
setup(ext_modules=extensions)
