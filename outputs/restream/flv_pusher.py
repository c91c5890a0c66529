"""The restream's child process: packets on stdin -> FLV over RTMP(S) with PyAV.

Why a process of its own: PyAV opens an output URL (`avio_open`: TCP connect, RTMP handshake,
connect and publish) holding the GIL, without FFmpeg's interrupt callback and without options
(no `rw_timeout`). In the ingest worker a slow destination would freeze every camera for the
handshake, and one that stops answering would freeze the worker for good. Here only this
process waits; the restreamer (outputs/restream/restreamer.py) kills it when it makes no
progress in time and starts another.

Protocol. stdin: one JSON line {"url": the application URL, "key": the stream key} (never argv,
which `ps` shows), then packets, each a `FRAME` header (keyframe, pts, dts on the 90 kHz bus clock, size)
and the Annex-B bytes. stdout: `live` when a session has connected and sent its header,
`error <reason> <detail>` before exiting 1 (the detail with the key masked). EOF on stdin ends
the session cleanly. FFmpeg's own messages are not printed (they quote the URL).
"""

from __future__ import annotations

import contextlib
import json
import struct
import sys
from fractions import Fraction
from typing import BinaryIO

from outputs.restream.flv_session import FlvSession, NeedsNewSession
from outputs.restream.push_failures import describe, reason_of
from pantau.bus.stream_bus import CLOCK_RATE, MediaPacket, TimedPacket
from pantau.cameras.restream_target import push_url

FRAME = struct.Struct("!?qqI")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
CLOCK = Fraction(1, CLOCK_RATE)


def encode(timed: TimedPacket) -> bytes:
    data = timed.packet.data
    return FRAME.pack(timed.packet.keyframe, timed.pts, timed.dts, len(data)) + data


def read_packet(stream: BinaryIO) -> TimedPacket | None:
    header = stream.read(FRAME.size)
    if len(header) < FRAME.size:
        return None
    keyframe, pts, dts, size = FRAME.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return TimedPacket(MediaPacket(data, pts, dts, CLOCK, keyframe, 0), pts, dts)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def push(url: str, packets: BinaryIO) -> None:
    session = None
    try:
        while (timed := read_packet(packets)) is not None:
            if session is not None:
                try:
                    session.send(timed)
                    continue
                except NeedsNewSession:  # new parameter sets: a new session from this keyframe
                    session.close()
                    session = None
            session = FlvSession(url, timed)
            say("live")
    finally:
        if session is not None:
            session.close()


def main() -> int:
    stdin = sys.stdin.buffer
    destination = json.loads(stdin.readline())
    key = destination.get("key")
    try:
        push(push_url(destination["url"], key), stdin)
    except Exception as exc:
        say(f"error {reason_of(exc)} {describe(exc, key)}")
        return 1
    return 0


def die_with_parent() -> None:
    """A worker killed with -9 leaves no publisher behind (it would keep the stream name taken at
    the RTMP server from the worker that takes the camera over): Linux's parent-death signal."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


if __name__ == "__main__":
    import av.logging

    die_with_parent()
    av.logging.set_level(None)  # FFmpeg's messages quote the URL, key and all
    sys.exit(main())
