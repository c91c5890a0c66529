"""The compiled send path of the shared fan-out (`relay.fanout_send: native`), and its absence.

Per packet, the Python path spends a header pack, a cffi call into libsrtp with two copies, and
a system call; at ~250 packets a second per 2 Mbit/s viewer that is the whole CPU budget of the
issue 19 goal (bench/relay_packet_cost.py). `relay.webrtc._fastsend` (fastsend.c, built with
cffi by `pip install -e .`) does a frame for every viewer of a camera in one call: header,
`srtp_protect`, one `sendmmsg` per viewer.

SRTP: the viewer's session is the one aiortc's DTLS transport made with pylibsrtp, whose wheel
carries its own libsrtp; Debian's libsrtp2 would be a second copy with its own `srtp_t`. So
nothing links libsrtp: the extension is handed pylibsrtp's own `srtp_protect` as a function
pointer (checked to have libsrtp 2's signature) and the session's `srtp_t`.

Sockets: a viewer's fd is a dup of its ICE socket, closed when the viewer leaves the camera's
fan-out, so a socket aioice closes first (consent lost) can never be reused under our feet.

When the extension is not built (no C compiler at install) or pylibsrtp's signature moved,
`load()` returns None, once logging why, and the relay sends from Python.
"""

from __future__ import annotations

import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

# pylibsrtp 1.x bundles libsrtp 2.x: srtp_err_status_t srtp_protect(srtp_t, void *, int *)
_PROTECT_TYPE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"
_loaded: FastSend | None = None
_tried = False


class FastSend:
    """The loaded extension and pylibsrtp's srtp_protect as the extension sees it."""

    def __init__(self, module, srtp_ffi, srtp_lib):
        self.ffi, self.lib = module.ffi, module.lib
        self._srtp_ffi = srtp_ffi
        address = int(srtp_ffi.cast("uintptr_t", srtp_ffi.addressof(srtp_lib, "srtp_protect")))
        self.protect = self.ffi.cast("fs_protect_fn", address)
        self.slot_size = self.lib.fs_slot_size()
        self.batch_size = self.lib.fs_batch_size()
        self._helper: ThreadPoolExecutor | None = None

    def helper(self) -> ThreadPoolExecutor:
        """One thread that sends part of a large frame beside the event loop's thread (made when
        first needed; a daemon thread of the executor, ended with the process)."""
        if self._helper is None:
            self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fanout-send")
        return self._helper

    def session_pointer(self, session) -> object:
        """A pylibsrtp Session's srtp_t, as the extension's void *."""
        return self.ffi.cast("void *", int(self._srtp_ffi.cast("uintptr_t", session._srtp[0])))

    def fill_viewer(self, viewer, sock: socket.socket, address: tuple, session, header: bytes,
                    abs_offset: int | None, payload_type: int, sequence: int, ts_base: int) -> None:
        """Fill one `struct fs_viewer`; its fd is a dup the caller closes with `release`."""
        family = sock.family
        host = address[0].split("%")[0]
        packed = socket.inet_pton(family, host)
        scope = address[3] if family == socket.AF_INET6 and len(address) > 3 else 0
        if self.lib.fs_set_address(viewer, family, packed, address[1], scope) != 0:
            raise ValueError(f"address family {family} is not sent natively")
        if len(header) > len(viewer.header):
            raise ValueError("RTP header template longer than the extension's")
        viewer.fd = os.dup(sock.fileno())
        viewer.srtp = self.session_pointer(session)
        viewer.ts_base = ts_base & 0xFFFFFFFF
        viewer.seq = sequence & 0xFFFF
        viewer.payload_type = payload_type
        viewer.header_len = len(header)
        self.ffi.memmove(viewer.header, header, len(header))
        viewer.abs_offset = -1 if abs_offset is None else abs_offset
        viewer.packets = viewer.octets = viewer.dropped = viewer.protect_failed = 0

    @staticmethod
    def release(viewer) -> None:
        if viewer.fd >= 0:
            os.close(viewer.fd)
            viewer.fd = -1


def load() -> FastSend | None:
    """The extension, or None (logged once) when it cannot be used here."""
    global _loaded, _tried
    if _tried:
        return _loaded
    _tried = True
    try:
        from relay.webrtc import _fastsend
    except ImportError as exc:
        log.warning("relay.fanout_send: native, but the compiled extension relay.webrtc._fastsend is not built (%s): "
                    "WHEP packets are sent from Python. Build it with a C compiler (Debian: build-essential python3-dev) "
                    "and `pip install -e .`", exc)
        return None
    try:
        from pylibsrtp._binding import ffi as srtp_ffi
        from pylibsrtp._binding import lib as srtp_lib

        found = srtp_ffi.typeof(srtp_ffi.addressof(srtp_lib, "srtp_protect")).cname
        if found != _PROTECT_TYPE:
            raise RuntimeError(f"pylibsrtp's srtp_protect is {found}, not libsrtp 2's {_PROTECT_TYPE}")
        _loaded = FastSend(_fastsend, srtp_ffi, srtp_lib)
    except Exception as exc:  # (an unexpected pylibsrtp: never guess a C signature)
        log.warning("relay.fanout_send: native cannot use this pylibsrtp (%s): WHEP packets are sent from Python", exc)
        return None
    return _loaded
