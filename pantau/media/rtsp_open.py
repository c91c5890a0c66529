"""Opening an RTSP camera with PyAV, shared by ingest's `RtspSource` and the admin's connection
test (`pantau.media.stream_probe`).

A dead camera must never hang a thread: FFmpeg's RTSP socket timeout (`timeout`, microseconds,
FFmpeg 5+) is always set, and PyAV's interrupt callback bounds the open
(`av.open(..., timeout=(open_s, read_s))`). Long-running readers (ingest) leave PyAV's *read*
timeout off: armed, its callback takes the GIL on every FFmpeg I/O poll, which with many
cameras costs more CPU than the demux; the socket timeout alone ends a read from a silent
camera (measured ~8 s with the 4 s default). Opening skips most probing (`analyzeduration=0`,
`probesize=32`): size and SPS/PPS come from the SDP, ~0.12 s instead of ~1.2 s; so do an audio
track's codec, rate and AAC config, so sound costs the open nothing. The host is
resolved and checked here (`pantau.cameras.source_policy`) and FFmpeg is given the checked address.
Blocking C code: call these from a worker thread, never from the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import av

from pantau.cameras import source_policy
from pantau.media.stream_failures import UnsupportedSource


@dataclass(frozen=True)
class RtspSettings:
    open_timeout_s: float = 4.0
    read_timeout_s: float = 4.0


def open_options(transport: str, settings: RtspSettings, audio: bool = False) -> dict[str, str]:
    return {
        "rtsp_transport": transport,
        "timeout": str(int(settings.read_timeout_s * 1_000_000)),
        "analyzeduration": "0",
        "probesize": "32",
        "fflags": "nobuffer",
        "allowed_media_types": "video+audio" if audio else "video",
    }


def open_rtsp(url: str, transport: str, settings: RtspSettings, arm_read_timeout: bool = True, audio: bool = False):
    """The opened container (close it when done); raises what PyAV raises (see stream_failures.classify),
    or SourceRefused when the source policy refuses the address the host resolves to."""
    read_timeout = settings.read_timeout_s if arm_read_timeout else None
    pinned = source_policy.current().pinned_url(url)  # FFmpeg connects to the address checked here
    return av.open(pinned, options=open_options(transport, settings, audio), timeout=(settings.open_timeout_s, read_timeout))


def video_stream(container) -> av.video.stream.VideoStream:
    """The first video stream, if PyAV can decode it; else UnsupportedSource."""
    if not container.streams.video:
        raise UnsupportedSource("the stream has no video")
    stream = container.streams.video[0]
    if stream.codec_context.codec is None:
        raise UnsupportedSource(f"no decoder for {stream.codec_context.name}")
    return stream


def audio_stream(container) -> av.audio.stream.AudioStream | None:
    """The first audio stream PyAV can decode, or None (a camera without sound, or one we
    cannot read: the picture goes on without it)."""
    for stream in container.streams.audio:
        if stream.codec_context.codec is not None:
            return stream
    return None
