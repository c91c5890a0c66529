"""The failure reasons of a camera source; they live in `pantau.media.stream_failures`, shared with the
relay's connection test (`pantau.media.stream_probe`)."""

from pantau.media.stream_failures import AUTH_FAILED, NO_DATA, UNREACHABLE, UNSUPPORTED, UnsupportedSource, classify, describe

__all__ = ["AUTH_FAILED", "NO_DATA", "UNREACHABLE", "UNSUPPORTED", "UnsupportedSource", "classify", "describe"]
