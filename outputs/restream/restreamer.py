"""One camera's restream: the stream bus -> a pusher process -> RTMP(S), reconnecting by itself.

The restreamer reads the bus on the event loop and writes each packet to its pusher's stdin
(outputs/restream/flv_pusher.py: PyAV muxes FLV and sends it; a process of its own because
PyAV opens an output URL holding the GIL, with no timeout). Every session subscribes afresh, so
it starts at once from the cached GOP's keyframe and never sends what queued while it waited.

Deadlines, since FFmpeg has none here: the pusher must say `live` within `connect_s`, and once
live it must keep taking data: a pipe that stays unread for `io_s` is a stalled destination.
Either way the pusher is killed and the session failed. When the pusher falls behind (a slow
uplink), packets are dropped up to the next keyframe, so the destination never gets a broken
picture and memory stays bounded. Failed sessions are retried on ingest's reconnect schedule
(ingest/sources/backoff.py).

Status goes to the camera's status as `restream`: {state: connecting|live|error, reason, since}.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ingest.sources.backoff import Backoff
from outputs.restream import push_failures
from outputs.restream.flv_pusher import encode
from pantau.access.redaction import redact
from pantau.bus.stream_bus import StreamBus
from pantau.cameras import source_policy
from pantau.runtime.clock import iso_utc

log = logging.getLogger(__name__)

POLL_S = 0.25  # how often the deadlines are looked at
BATCH_S = 0.1  # packets go to the pusher this often
MAX_UNSENT_BYTES = 4 * 1024 * 1024  # more than this waiting for the pusher: skip to a keyframe


@dataclass(frozen=True)
class Destination:
    url: str  # rtmp(s)://host[:port]/app, no secret
    key: str | None


@dataclass(frozen=True)
class RestreamTimeouts:
    connect_s: float = 10.0  # pusher start, TCP connect, RTMP handshake, publish
    io_s: float = 10.0


DEFAULT_TIMEOUTS = RestreamTimeouts()


class SessionFailed(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


async def check_destination(url: str) -> None:
    """Every address the destination's name resolves to must pass the source policy (the URL
    was checked when stored, but a name can resolve anywhere)."""
    parts = urlsplit(url)
    await source_policy.current().resolve_async(parts.hostname, parts.port or source_policy.DEFAULT_PORTS[parts.scheme.lower()])


class Restreamer:
    def __init__(self, camera_id: str, destination: Destination, bus: StreamBus, report: Callable[..., None],
                 backoff: Backoff, timeouts: RestreamTimeouts = DEFAULT_TIMEOUTS):
        """`report(camera_id, restream={...})`: the camera's status."""
        self.camera_id = camera_id
        self.destination = destination
        self.bus = bus
        self._report = report
        self.backoff = backoff
        self.timeouts = timeouts
        self.sessions = 0  # sessions that went live
        self.skips = 0  # times the pusher fell behind and packets were dropped to a keyframe
        self.state: str | None = None
        self.pusher: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task | None = None
        self._live = False  # the current session's pusher said `live`

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"restream-{self.camera_id}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._set_state("connecting")
            started = time.monotonic()
            try:
                await check_destination(self.destination.url)
                await self._session()  # returns only by raising
            except SessionFailed as failed:
                reason, detail = failed.reason, str(failed)
            except OSError as exc:  # resolving (socket.gaierror), or the source policy
                reason, detail = push_failures.reason_of(exc), push_failures.describe(exc, self.destination.key)
            self._set_state("error", reason)
            log.warning("camera %s: restream to %s failed (%s): %s", self.camera_id, self.destination.url, reason,
                        redact(detail))
            self.backoff.connected_for(time.monotonic() - started)
            await asyncio.sleep(self.backoff.next_delay(None))

    async def _session(self) -> None:
        """One pusher process, fed until it fails or misses a deadline (raises SessionFailed)."""
        pusher = self.pusher = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "outputs.restream.flv_pusher", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        self._live = False
        try:
            pusher.stdin.write(json.dumps({"url": self.destination.url, "key": self.destination.key}).encode() + b"\n")
            with self.bus.subscribe(self.camera_id) as subscription:
                parts = [asyncio.create_task(self._forward(pusher, subscription)), asyncio.create_task(self._listen(pusher)),
                         asyncio.create_task(self._supervise(pusher))]
                try:
                    done, _ = await asyncio.wait(parts, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for part in parts:
                        part.cancel()
                    await asyncio.gather(*parts, return_exceptions=True)
                for part in done:
                    part.result()  # the failure that ended the session
                raise SessionFailed(push_failures.LOST, "the session ended")
        finally:
            with contextlib.suppress(ProcessLookupError):
                pusher.kill()
            await pusher.wait()

    async def _forward(self, pusher, subscription) -> None:
        """Bus -> the pusher's stdin, in batches of BATCH_S: a reader that is not waiting is not
        woken by every packet, and one write carries several (RTMP viewers are seconds behind
        anyway). The pipe's unsent bytes tell how far behind the pusher is."""
        transport = pusher.stdin.transport
        need_keyframe = False
        while True:
            batch = [await subscription.get()]
            while subscription.pending():
                batch.append(await subscription.get())
            if transport.get_write_buffer_size() > MAX_UNSENT_BYTES and not need_keyframe:
                need_keyframe = True  # falling behind: drop up to the next keyframe
                self.skips += 1
            chunks = []
            for timed in batch:
                if need_keyframe and not timed.packet.keyframe:
                    continue
                need_keyframe = False
                chunks.append(encode(timed))
            if chunks:
                pusher.stdin.write(b"".join(chunks))
            await asyncio.sleep(BATCH_S)

    async def _listen(self, pusher) -> None:
        """What the pusher says: `live`, or `error <reason> <detail>` before it exits."""
        while line := (await pusher.stdout.readline()).decode(errors="replace").strip():
            if line == "live":
                self._live = True
                self.sessions += 1
                self._set_state("live")
                log.info("camera %s: restreaming to %s", self.camera_id, self.destination.url)
            elif line.startswith("error "):
                reason, _, detail = line[6:].partition(" ")
                raise SessionFailed(reason, detail)
        raise SessionFailed(push_failures.LOST, f"the pusher exited ({await pusher.wait()})")

    async def _supervise(self, pusher) -> None:
        """The deadlines FFmpeg does not keep here: live within connect_s, then never a pipe left
        unread for io_s."""
        transport = pusher.stdin.transport
        connect_by = time.monotonic() + self.timeouts.connect_s
        progress_at = time.monotonic()  # when the pipe was last found drained
        while True:
            await asyncio.sleep(POLL_S)
            now = time.monotonic()
            if transport.get_write_buffer_size() == 0:
                progress_at = now
            if not self._live and now > connect_by:
                raise SessionFailed(push_failures.TIMEOUT, f"not live after {self.timeouts.connect_s:g} s")
            if self._live and now - progress_at > self.timeouts.io_s:
                raise SessionFailed(push_failures.STALLED, f"no data taken for {self.timeouts.io_s:g} s")

    def _set_state(self, state: str, reason: str | None = None) -> None:
        if self.state == state and reason is None:
            return
        self.state = state
        self._report(self.camera_id, restream={"state": state, "reason": reason, "since": iso_utc()})

