"""Server-Sent Events: `GET /api/events[?camera=ID]` with `event: status` and `event: viewers`.

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
from pantau.registry import Registry, effective_status
from relay import auth
from relay.context import REGISTRY

log = logging.getLogger(__name__)

CLIENT_QUEUE = 512
HEARTBEAT_S = 15.0
routes = web.RouteTableDef()


@dataclass(eq=False)  # hashed by identity: kept in a set
class _Client:
    sees_all: bool
    camera: str | None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))

    def offer(self, item: tuple[str, str]) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()  # drop the oldest
        self.queue.put_nowait(item)


class EventHub:
    def __init__(self, registry: Registry):
        self.registry = registry
        self.clients: set[_Client] = set()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="events-listener")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=2)

    def publish(self, event: str, camera_id: str, data: dict[str, Any]) -> None:
        camera = self.registry.table.cameras.get(camera_id)
        if camera is None:
            return
        payload = json.dumps({"id": camera_id, **data}, separators=(",", ":"))
        for client in self.clients:
            if (client.camera is None or client.camera == camera_id) and (client.sees_all or camera.public):
                client.offer((event, payload))

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
                log.warning("event listener lost Redis (%s); retrying", exc)
                await asyncio.sleep(1.0)

    async def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("type") != "status":
            return
        table = await self.registry.sync()
        for camera_id, reported in message["statuses"].items():
            camera = table.cameras.get(camera_id)
            if camera is not None:
                self.publish("status", camera_id, effective_status(camera, reported))


HUB = web.AppKey("event_hub", EventHub)


@routes.get("/api/events")
async def events(request: web.Request) -> web.StreamResponse:
    sees_all = await auth.caller(request) is not None
    camera = request.query.get("camera") or None
    if camera is not None:
        found = await request.app[REGISTRY].get(camera)
        if found is None or not (found.public or sees_all):
            raise web.HTTPNotFound(reason=f"no public camera with id {camera!r}")
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    client = _Client(sees_all, camera)
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
