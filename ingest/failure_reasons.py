"""The failure reasons of a camera source; they live in `pantau.stream_failures`, shared with the
relay's connection test (`pantau.stream_probe`)."""

from pantau.stream_failures import AUTH_FAILED, NO_DATA, UNREACHABLE, UNSUPPORTED, UnsupportedSource, classify, describe

__all__ = ["AUTH_FAILED", "NO_DATA", "UNREACHABLE", "UNSUPPORTED", "UnsupportedSource", "classify", "describe"]
