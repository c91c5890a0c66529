"""Server-Sent Events: `GET /api/events` with `event: status`, `event: viewers` and, on request,
`event: kecamatan` (a kecamatan's online/total TPS counts, for the wall) and `event: registry`
(cameras were added, changed or removed: read the wall again).

Filters: `camera=ID` (one camera), `region=CODE` (cameras in a kota/kecamatan/kelurahan),
`kind=tps|recap`, `counts=1` (also send kecamatan counts).

One Redis pub/sub listener per relay receives status changes from every ingest worker; viewer
counts come from this relay's sessions. Each SSE client has a small bounded queue: a client
that cannot keep up loses old events, never the server's memory. The public stream never
mentions a non-public camera.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pantau import registry_keys as keys
from pantau.camera import KINDS, Camera
from pantau.http_errors import ApiError
from pantau.registry import Registry, effective_status
from relay import auth
from relay.context import REGISTRY
from relay.query_params import bool_param
from relay.wall_summary import WallSummary

log = logging.getLogger(__name__)

CLIENT_QUEUE = 512
HEARTBEAT_S = 15.0
REGISTRY_POLL_S = 1.0
routes = web.RouteTableDef()


@dataclass(eq=False)  # hashed by identity: kept in a set
class _Client:
    sees_all: bool
    camera: str | None = None
    region: str | None = None
    kind: str | None = None
    counts: bool = False
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))

    def wants(self, camera: Camera) -> bool:
        return ((self.sees_all or camera.public)
                and (self.camera is None or self.camera == camera.id)
                and (self.kind is None or self.kind == camera.kind)
                and (self.region is None or camera.region == self.region or camera.region.startswith(self.region + ".")))

    def offer(self, item: tuple[str, str]) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()  # drop the oldest
        self.queue.put_nowait(item)


class EventHub:
    def __init__(self, registry: Registry, wall: WallSummary):
        self.registry = registry
        self.wall = wall
        self.clients: set[_Client] = set()
        self.viewer_counts = None  # set by the app: site-wide counts arrive as "viewers" messages
        self.sessions = None  # set by the app: "end_whep" messages end our sessions
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="events-listener"),
                       asyncio.create_task(self._follow_registry(), name="events-registry")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)

    def publish(self, event: str, camera_id: str, data: dict[str, Any]) -> None:
        camera = self.registry.table.cameras.get(camera_id)
        if camera is None:
            return
        payload = json.dumps({"id": camera_id, **data}, separators=(",", ":"))
        for client in self.clients:
            if client.wants(camera):
                client.offer((event, payload))

    def publish_registry_change(self) -> None:
        """Cameras were added, changed or removed: pages that list them (the wall) read again."""
        payload = json.dumps({"revision": self.wall.revision})
        for client in self.clients:
            if client.counts:
                client.offer(("registry", payload))

    def publish_counts(self, code: str) -> None:
        payloads = {sees_all: json.dumps({"code": code, "tps": self.wall.counts(code, sees_all)}, separators=(",", ":"))
                    for sees_all in (False, True)}
        for client in self.clients:
            if client.counts:
                client.offer(("kecamatan", payloads[client.sees_all]))

    def publish_viewers(self, camera_id: str, count: int) -> None:
        self.publish("viewers", camera_id, {"viewers": count})

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self.registry.redis.pubsub()
                await pubsub.subscribe(keys.EVENTS)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    await self._on_message(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: retry; clients stay connected
                if asyncio.current_task().cancelling():
                    raise  # the Redis client turned our cancellation into an error: stop anyway
                log.warning("event listener lost Redis (%s); retrying", exc)
                await asyncio.sleep(1.0)

    async def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("type") == "end_whep" and self.sessions is not None:
            session = self.sessions.sessions.get(message.get("session"))
            if session is not None and session.camera_id == message.get("camera"):
                await self.sessions.close(session.id)  # a DELETE for it reached another relay
            return
        if message.get("type") == "viewers" and self.viewer_counts is not None:
            total = await self.viewer_counts.announced(message["id"])  # another relay's viewers changed
            if total is not None:
                self.publish_viewers(message["id"], total)
            return
        if message.get("type") != "status":
            return
        table = await self.registry.sync()
        for camera_id, reported in message["statuses"].items():
            camera = table.cameras.get(camera_id)
            if camera is not None:
                status = effective_status(camera, reported)
                self.publish("status", camera_id, status)
                changed = self.wall.apply(camera, status)
                if changed:
                    self.publish_counts(changed)

    async def _follow_registry(self) -> None:
        """Cameras added, disabled or removed change the counts without any status message."""
        while True:
            try:
                revision = self.wall.revision
                for code in await self.wall.refresh():
                    self.publish_counts(code)
                if revision is not None and self.wall.revision != revision:
                    self.publish_registry_change()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: the listener logs it too
                if asyncio.current_task().cancelling():
                    raise
                log.debug("wall summary refresh failed: %s", exc)
            await asyncio.sleep(REGISTRY_POLL_S)


HUB = web.AppKey("event_hub", EventHub)


@routes.get("/api/events")
async def events(request: web.Request) -> web.StreamResponse:
    sees_all = await auth.caller(request) is not None
    registry = request.app[REGISTRY]
    camera = request.query.get("camera") or None
    if camera is not None:
        found = await registry.get(camera)
        if found is None or not (found.public or sees_all):
            raise ApiError(404, f"no public camera with id {camera!r}")
    region = request.query.get("region") or None
    if region is not None and registry.regions.get(region) is None:
        raise ApiError(400, f"{region!r} is not a region code (use the dotted Kemendagri form, e.g. 31.71 or 31.71.01.1001)", field="region")
    kind = request.query.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise ApiError(400, "kind must be 'tps' or 'recap'", field="kind")
    counts = bool_param(request, "counts") or False
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    client = _Client(sees_all, camera=camera, region=region, kind=kind, counts=counts)
    hub = request.app[HUB]
    hub.clients.add(client)
    try:
        await response.write(b"retry: 2000\n\n")
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    event, payload = await client.queue.get()
                await response.write(f"event: {event}\ndata: {payload}\n\n".encode())
            except TimeoutError:
                await response.write(b": ping\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.clients.discard(client)
    return response
