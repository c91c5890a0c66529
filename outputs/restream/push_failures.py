"""Why a restream failed, in the few words its status shows, and a log-safe description.

A reason names no host and no key (the status reaches every operator). FFmpeg's error text
quotes the URL it was given, stream key included: the description masks the key by value
before the usual redaction (URL passwords, every secret the process knows).
"""

from __future__ import annotations

import errno
import socket

from pantau.access.redaction import MASK, redact
from pantau.cameras.source_policy import SourceRefused

REFUSED = "refused"  # nothing listens there (server down, wrong port)
UNREACHABLE = "unreachable"  # no route, the name does not resolve, or the source policy refuses it
LOST = "connection_lost"  # the server closed or reset the connection (a wrong key, a server restart)
TIMEOUT = "timeout"  # connected, but the RTMP handshake or publish got no answer in time
STALLED = "stalled"  # the server stopped taking data
FAILED = "failed"


def reason_of(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    if isinstance(exc, SourceRefused | socket.gaierror) or code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return UNREACHABLE
    if isinstance(exc, TimeoutError) or code == errno.ETIMEDOUT:
        return TIMEOUT
    if isinstance(exc, ConnectionRefusedError) or code == errno.ECONNREFUSED:
        return REFUSED
    if isinstance(exc, EOFError | ConnectionError) or code in (errno.EPIPE, errno.ECONNRESET, errno.EIO):
        return LOST
    return FAILED


def describe(exc: BaseException, key: str | None) -> str:
    """One line, the stream key masked."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    if key:
        text = text.replace(key, MASK)
    return redact(text)
