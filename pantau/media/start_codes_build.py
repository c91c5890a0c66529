"""Builds pantau.media._start_codes (cffi API mode, Debian's C compiler) from start_codes.c.

`pip install -e .` runs it through setup.py (an optional extension: without a compiler the
install goes on and the segmenter finds start codes with `re`, pantau/media/start_codes.py); by
hand: `.venv/bin/python pantau/media/start_codes_build.py` builds it in place.
"""

from __future__ import annotations

from pathlib import Path

from cffi import FFI

SOURCE = Path(__file__).with_name("start_codes.c")

ffibuilder = FFI()
ffibuilder.cdef("size_t annexb_unit_bounds(const char *text, size_t size, uint32_t *bounds, size_t max_units);")
# (set_source takes the C text; the path is relative to wherever setup.py runs, so read it here)
ffibuilder.set_source("pantau.media._start_codes", SOURCE.read_text(), extra_compile_args=["-O2"])

if __name__ == "__main__":
    import os

    os.chdir(Path(__file__).resolve().parents[2])
    ffibuilder.compile(verbose=True)
