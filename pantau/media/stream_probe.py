"""The admin's connection test ("Tes koneksi"): open an RTSP source the way ingest does, read a
little, and say what ingest would do with it.

Opens the URL with the same options and both timeouts as ingest (`pantau.media.rtsp_open`), in a
worker thread, reads packets until a couple of keyframes have passed or about 3 s, and reports
codec, size, frame rate and whether the camera would pass through (H.264 without B-frames,
seen as pts != dts in the packets) or be transcoded. A failure is one of ingest's reasons
(`unreachable`, `auth_failed`, `no_data`, `unsupported_codec`). The result never holds the URL
or any exception text, so nothing in it can carry the camera's password.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pantau.cameras.source_policy import SourceRefused
from pantau.media.rtsp_open import RtspSettings, open_rtsp, video_stream
from pantau.media.stream_failures import NO_DATA, classify

MAX_CONCURRENT = 4  # each probe holds a thread and a camera connection for a few seconds
_slots = threading.BoundedSemaphore(MAX_CONCURRENT)


class ProbeBusy(Exception):
    """MAX_CONCURRENT probes are already running."""


@dataclass(frozen=True)
class ProbeLimits:
    read_s: float = 3.0  # stop reading after this long...
    keyframes: int = 2  # ...or once this many keyframes have passed (and a GOP between them)


def _fps(pts: list[int], time_base: Fraction | None, fallback) -> float | None:
    distinct = sorted(set(pts))
    if time_base and len(distinct) >= 3 and distinct[-1] > distinct[0]:
        return round((len(distinct) - 1) / float((distinct[-1] - distinct[0]) * time_base), 1)
    return round(float(fallback), 1) if fallback else None


def _result(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"ok": False, "reason": None, "codec": None, "width": None, "height": None, "fps": None,
                            "bframes": None, "mode": None, "transcode_because": [], "keyframes": 0, "packets": 0,
                            "elapsed_s": None}
    return base | fields


def probe_blocking(url: str, transport: str = "tcp", settings: RtspSettings | None = None,
                   limits: ProbeLimits | None = None, force_transcode: bool = False) -> dict[str, Any]:
    """Probe `url` in the calling thread (blocking: run it in a worker thread)."""
    settings = settings or RtspSettings()
    limits = limits or ProbeLimits()
    started = time.monotonic()

    def done(**fields: Any) -> dict[str, Any]:
        return _result(elapsed_s=round(time.monotonic() - started, 2), **fields)

    try:
        container = open_rtsp(url, transport, settings)
    except SourceRefused:
        raise  # not a camera failure: the admin is told which rule refused the address
    except Exception as exc:  # every failure is a reason, never an error page
        return done(reason=classify(exc))
    # Everything read from the stream is copied out before the container closes (its C structs go with it).
    video: dict[str, Any] = {}
    packets = keyframes = 0
    bframes = False
    pts: list[int] = []
    try:
        stream = video_stream(container)
        ctx = stream.codec_context
        video = {"codec": ctx.name, "width": ctx.width or None, "height": ctx.height or None}
        time_base, nominal_rate = stream.time_base, stream.guessed_rate or stream.average_rate
        read_until = time.monotonic() + limits.read_s
        for packet in container.demux(stream):
            if packet.dts is None and packet.pts is None:
                continue  # the demuxer's flush packet
            packets += 1
            if packet.pts is not None:
                pts.append(packet.pts)
                bframes = bframes or (packet.dts is not None and packet.pts != packet.dts)
            keyframes += bool(packet.is_keyframe)
            if keyframes >= limits.keyframes or time.monotonic() >= read_until:
                break
    except Exception as exc:
        return done(reason=classify(exc), **video)
    finally:
        container.close()
    if packets == 0:
        return done(reason=NO_DATA, **video)
    because = [why for why, applies in (("codec", video["codec"] != "h264"), ("bframes", bframes),
                                        ("force_transcode", force_transcode)) if applies]
    return done(ok=True, **video, fps=_fps(pts, time_base, nominal_rate), bframes=bframes,
                mode="transcode" if because else "passthrough", transcode_because=because, keyframes=keyframes,
                packets=packets)


async def probe(url: str, transport: str = "tcp", settings: RtspSettings | None = None,
                limits: ProbeLimits | None = None, force_transcode: bool = False) -> dict[str, Any]:
    """Probe `url` in a worker thread; ProbeBusy when MAX_CONCURRENT probes are running."""
    if not _slots.acquire(blocking=False):
        raise ProbeBusy(f"{MAX_CONCURRENT} connection tests are already running; try again in a few seconds")

    def run() -> dict[str, Any]:
        try:
            return probe_blocking(url, transport, settings, limits, force_transcode)
        finally:
            _slots.release()  # in the thread: a cancelled request still holds its slot until the probe ends

    return await asyncio.to_thread(run)
