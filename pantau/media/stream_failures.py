"""Map PyAV/FFmpeg/OS failures to the status reasons the wall (and the admin's connection test) shows.

FFmpeg's error text holds the URL (with its password): only the reason leaves this module,
and the detail that is logged goes through `redact` first.
"""

from __future__ import annotations

import av

from pantau.access.redaction import redact
from pantau.cameras.source_policy import SourceRefused

UNREACHABLE = "unreachable"
AUTH_FAILED = "auth_failed"
NO_DATA = "no_data"
UNSUPPORTED = "unsupported_codec"


class UnsupportedSource(Exception):
    """The camera answers but sends nothing we can turn into video."""


def classify(exc: BaseException) -> str:
    if isinstance(exc, UnsupportedSource):
        return UNSUPPORTED
    if isinstance(exc, SourceRefused):
        return UNREACHABLE  # by policy; its text (an address, a rule) is not matched below
    text = str(exc).lower()
    if isinstance(exc, av.error.HTTPUnauthorizedError) or "401" in text or "unauthorized" in text or "authorization failed" in text:
        return AUTH_FAILED
    if isinstance(exc, av.error.HTTPForbiddenError) or "403" in text:
        return AUTH_FAILED
    if isinstance(exc, TimeoutError | av.error.ExitError) or "timed out" in text or "immediate exit" in text:
        return NO_DATA
    if isinstance(exc, av.error.EOFError) or "end of file" in text:
        return NO_DATA
    return UNREACHABLE


def describe(exc: BaseException) -> str:
    """A log-safe one-line description."""
    return redact(f"{type(exc).__name__}: {exc}")
