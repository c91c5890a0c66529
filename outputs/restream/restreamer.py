"""One camera's restream: the stream bus -> FLV over RTMP(S), reconnecting by itself.

The bus is read on the event loop (a subscription must be); packets go through a bounded queue
to the restream's own thread, where PyAV connects and muxes (blocking C code). When the
destination is slower than the camera the queue is emptied and sending resumes at the next
keyframe: memory stays bounded and the destination never gets a broken picture. A failed or
lost connection is retried on ingest's reconnect schedule (ingest/sources/backoff.py), and the
session starts again at a keyframe.

Status goes to the camera's status as `restream`: {state: connecting|live|error, reason, since}.
The stream key is in the URL FFmpeg gets, and FFmpeg puts that URL in its error text: nothing
from FFmpeg is logged or reported unless the key has been masked out of it first.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ingest.sources.backoff import Backoff
from outputs.restream.flv_session import FlvSession, NeedsNewSession
from pantau.access.redaction import MASK, redact
from pantau.bus.stream_bus import StreamBus, TimedPacket
from pantau.cameras import source_policy
from pantau.cameras.restream_target import push_url
from pantau.runtime.clock import iso_utc

log = logging.getLogger(__name__)

QUEUE_PACKETS = 250  # ~10 s at 25 fps between the bus and the sending thread
POLL_S = 0.25  # how often the thread looks at its stop flag while waiting

# Reasons shown in the status (short, no host, no key).
REFUSED = "refused"  # nothing listens there (server down, wrong port)
UNREACHABLE = "unreachable"  # no route, name does not resolve, or the source policy refuses it
LOST = "connection_lost"  # the server closed or reset the connection (wrong key, server restart)
TIMEOUT = "timeout"
FAILED = "failed"


@dataclass(frozen=True)
class Destination:
    url: str  # rtmp(s)://host[:port]/app, no secret
    key: str | None

    @property
    def push_url(self) -> str:
        return push_url(self.url, self.key)


@dataclass(frozen=True)
class RestreamTimeouts:
    connect_s: float = 5.0
    io_s: float = 10.0


DEFAULT_TIMEOUTS = RestreamTimeouts()


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, source_policy.SourceRefused | socket.gaierror):
        return UNREACHABLE
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return REFUSED
    if getattr(exc, "errno", None) in (errno.EPIPE, errno.ECONNRESET, errno.EIO) or isinstance(exc, EOFError | ConnectionError):
        return LOST
    if getattr(exc, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return UNREACHABLE
    return FAILED


def safe_text(text: str, destination: Destination) -> str:
    """`text` with the stream key masked out (FFmpeg quotes the URL it was given)."""
    if destination.key:
        text = text.replace(destination.key, MASK)
    return redact(text)


def check_reachable(url: str, timeout_s: float) -> None:
    """Resolve the destination (every address checked by the source policy) and open a TCP
    connection to it with a deadline: FFmpeg's RTMP client, opened for writing, has no connect
    timeout of its own (PyAV arms its interrupt callback for inputs only)."""
    parts = urlsplit(url)
    port = parts.port or source_policy.DEFAULT_PORTS[parts.scheme.lower()]
    addresses = source_policy.current().resolve(parts.hostname, port)
    last: OSError | None = None
    for address in addresses:
        try:
            socket.create_connection((address, port), timeout=timeout_s).close()
            return
        except OSError as exc:
            last = exc
    raise last or OSError(errno.EHOSTUNREACH, "no address")


class Restreamer:
    def __init__(self, camera_id: str, destination: Destination, bus: StreamBus, report: Callable[..., None],
                 backoff: Backoff, timeouts: RestreamTimeouts = DEFAULT_TIMEOUTS):
        """`report(camera_id, restream={...})`: the camera's status (any thread)."""
        self.camera_id = camera_id
        self.destination = destination
        self.bus = bus
        self._report = report
        self.backoff = backoff
        self.timeouts = timeouts
        self.sessions = 0  # sessions that connected
        self.state: str | None = None
        self._queue: queue.Queue[TimedPacket] = queue.Queue(QUEUE_PACKETS)
        self._need_keyframe = True  # the reader side: after an overflow, resume at a keyframe
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._send_loop, name=f"restream-{camera_id}", daemon=True)
        self._reader: asyncio.Task | None = None

    # -- lifecycle (event loop) ---------------------------------------------------------------
    def start(self) -> None:
        self._set_state("connecting")
        self._reader = asyncio.get_running_loop().create_task(self._read_bus(), name=f"restream-read-{self.camera_id}")
        self._thread.start()

    async def stop(self, timeout_s: float = 5.0) -> None:
        self._stopped.set()
        if self._reader:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await asyncio.to_thread(self._thread.join, timeout_s)

    async def _read_bus(self) -> None:
        with self.bus.subscribe(self.camera_id) as subscription:
            while True:
                timed = await subscription.get()
                if self._need_keyframe and not timed.packet.keyframe:
                    continue
                try:
                    self._queue.put_nowait(timed)
                    self._need_keyframe = False
                except queue.Full:  # the destination is slower than the camera: skip to a keyframe
                    self._drain()
                    self._need_keyframe = True

    # -- sending (own thread) -----------------------------------------------------------------
    def _send_loop(self) -> None:
        first: TimedPacket | None = None
        while not self._stopped.is_set():
            self._set_state("connecting")
            first = first if first is not None else self._next_keyframe()
            if first is None:
                return
            started = time.monotonic()
            try:
                first = self._session(first)
                continue  # new parameter sets: a new session at once, from that keyframe
            except Exception as exc:
                first = None
                if self._stopped.is_set():
                    return
                reason = reason_of(exc)
                self._set_state("error", reason)
                log.warning("camera %s: restream to %s failed (%s): %s", self.camera_id, self.destination.url, reason,
                            safe_text(f"{type(exc).__name__}: {exc}", self.destination))
            self.backoff.connected_for(time.monotonic() - started)
            if self._stopped.wait(self.backoff.next_delay(None)):
                return
            self._drain()  # what queued while waiting is stale: start again at a fresh keyframe

    def _session(self, first: TimedPacket) -> TimedPacket:
        """Connect and send until stopped (returns None) or until a keyframe brings new parameter
        sets (returns that keyframe); raises on a connection failure."""
        check_reachable(self.destination.url, self.timeouts.connect_s)
        session = FlvSession(self.destination.push_url, first, self.timeouts.connect_s, self.timeouts.io_s)
        try:
            self.sessions += 1
            self._set_state("live")
            log.info("camera %s: restreaming to %s", self.camera_id, self.destination.url)
            while not self._stopped.is_set():
                try:
                    timed = self._queue.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                try:
                    session.send(timed)
                except NeedsNewSession:
                    return timed
            return None
        finally:
            session.close()

    def _next_keyframe(self) -> TimedPacket | None:
        while not self._stopped.is_set():
            with contextlib.suppress(queue.Empty):
                timed = self._queue.get(timeout=POLL_S)
                if timed.packet.keyframe:
                    return timed
        return None

    def _drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()

    def _set_state(self, state: str, reason: str | None = None) -> None:
        if self.state == state and reason is None:
            return
        self.state = state
        self._report(self.camera_id, restream={"state": state, "reason": reason, "since": iso_utc()})
