"""One camera's Opus encoder: 48 kHz mono float samples in, one Opus packet per call out.

Why not PyAV's encoder: its `encode` pushes every frame through a filter graph (abuffer ->
aformat -> abuffersink, to cut frames to the codec's frame size) and wraps each input and
output in Python objects; for a camera's 60 ms frames that was about as much CPU as libopus
itself (bench/audio_cost.py). Here libopus is called through ctypes on a numpy buffer
(`opus_encode_float`): no copy, no graph, one C call a frame. The library is the system's
(Debian's libopus0, which ffmpeg brings: 1.3.1, 0.048 CPU-s per camera-minute in a bare loop
of 60 ms frames here) or else the copy PyAV's wheel ships (1.6.1, already loaded by PyAV's own
libavcodec: 0.064 in the same loop; PyAV's encode on it 0.079); without either a camera's
sound is turned off for the session, with one log line (ingest/audio_pipeline.py).

The settings are those libavcodec's libopus wrapper sets for OPUS_OPTIONS-like options
(application, bitrate, complexity, bandwidth, VBR), so ffmpeg with the same options is a fair
baseline.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import logging
from pathlib import Path

import av
import numpy as np

log = logging.getLogger(__name__)

# opus_defines.h
OPUS_APPLICATION = {"voip": 2048, "audio": 2049, "lowdelay": 2051}
_SET_BITRATE, _SET_MAX_BANDWIDTH, _SET_VBR, _SET_COMPLEXITY, _SET_VBR_CONSTRAINT, _GET_LOOKAHEAD = 4002, 4004, 4006, 4010, 4020, 4027
BANDWIDTH_WIDEBAND = 1103  # 8 kHz of audio band: all of speech
MAX_PACKET_BYTES = 1500  # RFC 6716 recommends buffers of this size; a 60 ms packet at 32 kbit/s is ~240


def _load_libopus() -> ctypes.CDLL | None:
    system = ctypes.util.find_library("opus")
    bundled = sorted(glob.glob(str(Path(av.__file__).resolve().parent.parent / "av.libs" / "libopus*.so*")))
    for name in [*([system] if system else []), *bundled]:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.opus_encoder_create.restype = ctypes.c_void_p
        lib.opus_encoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        lib.opus_encode_float.restype = ctypes.c_int32
        lib.opus_encode_float.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int32]
        lib.opus_encoder_ctl.restype = ctypes.c_int
        lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
        return lib
    return None


_LIBOPUS = _load_libopus()


class OpusEncoder:
    """Mono 48 kHz; `frame_samples` per packet (2.5-60 ms, what libopus allows)."""

    def __init__(self, frame_samples: int, bitrate: int, application: str, complexity: int, wideband: bool):
        self.frame_samples = frame_samples
        self._out = ctypes.create_string_buffer(MAX_PACKET_BYTES)
        self._state = None
        if _LIBOPUS is None:
            raise RuntimeError("no libopus to load (Debian: libopus0)")
        error = ctypes.c_int()
        self._state = _LIBOPUS.opus_encoder_create(48_000, 1, OPUS_APPLICATION[application], ctypes.byref(error))
        if error.value or not self._state:
            raise RuntimeError(f"opus_encoder_create failed ({error.value})")
        for request, value in ((_SET_BITRATE, bitrate), (_SET_COMPLEXITY, complexity), (_SET_VBR, 1), (_SET_VBR_CONSTRAINT, 0),
                               *([(_SET_MAX_BANDWIDTH, BANDWIDTH_WIDEBAND)] if wideband else [])):
            self._ctl(request, value)
        lookahead = ctypes.c_int32()
        self._ctl(_GET_LOOKAHEAD, ctypes.byref(lookahead))
        self.delay = lookahead.value  # what libavcodec takes off the timestamps (initial_padding)

    def _ctl(self, request: int, argument) -> None:
        """opus_encoder_ctl with an int (a setting) or a pointer (a reading)."""
        if isinstance(argument, int):
            argument = ctypes.c_int32(argument)
        if _LIBOPUS.opus_encoder_ctl(ctypes.c_void_p(self._state), ctypes.c_int(request), argument) != 0:
            raise RuntimeError(f"opus_encoder_ctl({request}) failed")

    def encode(self, samples: np.ndarray) -> bytes:
        """One packet of `frame_samples` float32 samples (a C-contiguous view is not copied)."""
        if samples.dtype != np.float32 or not samples.flags.c_contiguous or samples.size < self.frame_samples:
            raise ValueError("a whole frame of contiguous float32 samples")  # libopus reads frame_samples of them
        size = _LIBOPUS.opus_encode_float(self._state, samples.ctypes.data, self.frame_samples, self._out, MAX_PACKET_BYTES)
        if size < 0:
            raise RuntimeError(f"opus_encode_float failed ({size})")
        return ctypes.string_at(self._out, size)

    def close(self) -> None:
        if self._state:
            _LIBOPUS.opus_encoder_destroy(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()
