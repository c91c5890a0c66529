"""Server-Sent Events: `GET /api/events` with `event: status`, `event: viewers` and, on request,
`event: kecamatan` (a kecamatan's online/total TPS counts, for the wall) and `event: registry`
(cameras were added, changed or removed: read the wall again; `{revision}`, for the public the
wall's public revision, sent only when a public camera changed).

Filters: `camera=ID` (one camera), `region=CODE` (cameras in a kota/kecamatan/kelurahan),
`kind=tps|recap`, `counts=1` (also send kecamatan counts), `alerts=1` (operators and admins
only, ignored for the public: also `event: alert` when an alert of a camera within the camera
and region filters, whatever its kind, opens, reopens, ends or is acknowledged; pantau/monitoring/alerts.py).

One Redis pub/sub listener per relay receives status changes from every ingest worker; viewer
counts come from this relay's sessions. Each SSE client has a small bounded queue: a client
that cannot keep up loses old events, never the server's memory. The public stream never
mentions a non-public camera, and no public event is sent or moved by one (no `registry` event
for a hidden camera's edit, no `kecamatan` event for a hidden TPS camera's count). Each event
is framed and encoded once, whatever the number of clients it goes to. An anonymous client
address may hold `limits.events_per_address` streams (429 beyond), and the public all
together `limits.events_per_node` (503 beyond); operators and admins are not limited.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pantau.cameras import registry_keys as keys
from pantau.cameras.camera import KINDS, Camera, public_status
from pantau.cameras.registry import Registry, effective_status
from pantau.cameras.visibility import publicly_visible
from pantau.monitoring.alerts import alert_view, in_region
from pantau.runtime.config import LimitSettings
from pantau.web.http_errors import ApiError
from relay.access import auth
from relay.access.client_address import client_address
from relay.api.query_params import bool_param
from relay.context import REGISTRY, SETTINGS
from relay.live.public_windows import refuse_if_hidden
from relay.live.visibility_watch import VisibilityWatch
from relay.live.wall_summary import WallSummary

log = logging.getLogger(__name__)

CLIENT_QUEUE = 512
HEARTBEAT_S = 15.0
# A client that went away is noticed by the next write (at most HEARTBEAT_S later); the hub
# looks for gone connections this often so their places (per-address limits) free sooner.
SWEEP_S = 1.0
GONE = b""  # put in a gone client's queue: its handler ends
REGISTRY_POLL_S = 1.0
routes = web.RouteTableDef()


@dataclass(eq=False)  # hashed by identity: kept in a set
class _Client:
    sees_all: bool
    camera: str | None = None
    region: str | None = None
    kind: str | None = None
    counts: bool = False
    alerts: bool = False  # signed-in clients only
    address: str | None = None  # anonymous clients only: what the per-address limit counts
    protocol: Any = None  # the connection's aiohttp protocol: its transport is None once it is gone
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))

    def wants(self, camera: Camera, visible: bool) -> bool:
        """`visible`: publicly_visible(camera), judged once per event for every client."""
        return ((self.sees_all or visible)
                and (self.camera is None or self.camera == camera.id)
                and (self.kind is None or self.kind == camera.kind)
                and (self.region is None or camera.region == self.region or camera.region.startswith(self.region + ".")))

    def offer(self, item: bytes) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()  # drop the oldest
        self.queue.put_nowait(item)


class EventHub:
    def __init__(self, registry: Registry, wall: WallSummary):
        self.registry = registry
        self.wall = wall
        self.clients: set[_Client] = set()
        self.public_per_address: dict[str, int] = {}
        self.public_clients = 0
        self.viewer_counts = None  # set by the app: site-wide counts arrive as "viewers" messages
        self.sessions = None  # set by the app: "end_whep" messages end our sessions
        self._announced: tuple[int | None, str | None] | None = None  # the wall revisions last announced
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="events-listener"),
                       asyncio.create_task(self._follow_registry(), name="events-registry"),
                       asyncio.create_task(self._sweep_gone_clients(), name="events-sweeper"),
                       asyncio.create_task(VisibilityWatch(self.registry, self).run(), name="visibility-watch")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)

    def publish(self, event: str, camera_id: str, data: dict[str, Any], public_data: dict[str, Any] | None = None) -> None:
        """`public_data`: what clients who do not see all get instead of `data` (statuses)."""
        camera = self.registry.table.cameras.get(camera_id)
        if camera is None:
            return
        frames: dict[bool, bytes] = {}
        visible = publicly_visible(camera)
        for client in self.clients:
            if client.wants(camera, visible):
                sees_all = client.sees_all or public_data is None
                frame = frames.get(sees_all)
                if frame is None:
                    payload = data if sees_all else public_data
                    frame = frames[sees_all] = _frame(event, json.dumps({"id": camera_id, **payload}, separators=(",", ":")))
                client.offer(frame)

    def publish_registry_change(self, audiences: tuple[bool, ...]) -> None:
        """Cameras were added, changed or removed: pages that list them (the wall) read again.
        `audiences` (sees_all values): the public only when a public camera changed."""
        revisions = {True: self.wall.revision, False: self.wall.public_revision}
        frames = {sees_all: _frame("registry", json.dumps({"revision": revisions[sees_all]})) for sees_all in audiences}
        for client in self.clients:
            if client.counts and client.sees_all in frames:
                client.offer(frames[client.sees_all])

    def publish_counts(self, code: str, audiences: tuple[bool, ...] | set[bool] = (False, True)) -> None:
        """A kecamatan's TPS counts, to the audiences (sees_all values) whose counts changed."""
        frames = {sees_all: _frame("kecamatan", json.dumps({"code": code, "tps": self.wall.counts(code, sees_all)}, separators=(",", ":")))
                  for sees_all in audiences}
        for client in self.clients:
            if client.counts and client.sees_all in frames:
                client.offer(frames[client.sees_all])

    def _announce_wall_changes(self) -> None:
        """What the wall summary's reloads changed since the last look, whoever reloaded it (the
        hub, or a request for the wall)."""
        for code, audiences in sorted(self.wall.take_count_changes().items()):
            self.publish_counts(code, audiences)
        now = (self.wall.revision, self.wall.public_revision)
        if self._announced is not None and now != self._announced:
            staff_moved, public_moved = (a != b for a, b in zip(now, self._announced))
            self.publish_registry_change((True,) * staff_moved + (False,) * public_moved)
        self._announced = now

    def publish_viewers(self, camera_id: str, count: int) -> None:
        self.publish("viewers", camera_id, {"viewers": count})

    def publish_alert(self, message: dict[str, Any]) -> None:
        """An alert changed (pantau/monitoring/alerts.py announces it once, from Redis): `event: alert` to
        the signed-in clients that asked for alerts, with {change, ...the alert}."""
        alert = message["alert"]
        frame = None
        for client in self.clients:
            if (client.alerts and client.sees_all and client.camera in (None, alert["camera"])
                    and in_region(alert, client.region)):
                if frame is None:
                    view = {**alert_view(alert, self.registry.regions), "change": message.get("change")}
                    frame = _frame("alert", json.dumps(view, ensure_ascii=False, separators=(",", ":")))
                client.offer(frame)

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
        if message.get("type") == "alert":
            self.publish_alert(message)
            return
        if message.get("type") != "status":
            return
        table = await self.registry.sync()
        for camera_id, reported in message["statuses"].items():
            camera = table.cameras.get(camera_id)
            if camera is not None:
                status = effective_status(camera, reported)
                self.publish("status", camera_id, status, public_status(camera, status))
                changed = self.wall.apply(camera, status)
                if changed:
                    self.publish_counts(*changed)

    async def _sweep_gone_clients(self) -> None:
        """An attribute check per client, no task woken but the gone ones'."""
        while True:
            await asyncio.sleep(SWEEP_S)
            for client in list(self.clients):
                if client.protocol is not None and client.protocol.transport is None:
                    client.offer(GONE)

    async def _follow_registry(self) -> None:
        """Cameras added, disabled or removed change the counts without any status message."""
        while True:
            try:
                await self.wall.refresh()
                self._announce_wall_changes()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: the listener logs it too
                if asyncio.current_task().cancelling():
                    raise
                log.debug("wall summary refresh failed: %s", exc)
            await asyncio.sleep(REGISTRY_POLL_S)


    def admit(self, client: _Client, limits: LimitSettings) -> None:
        """Count a new client in, or refuse it (429: this address has enough; 503: the node)."""
        if client.address is not None:
            if self.public_per_address.get(client.address, 0) >= limits.events_per_address:
                raise ApiError(429, f"Terlalu banyak aliran peristiwa terbuka dari alamat ini (paling banyak {limits.events_per_address}).",
                               headers={"Retry-After": "30"})
            if self.public_clients >= limits.events_per_node:
                raise ApiError(503, "Server ini sedang melayani jumlah aliran peristiwa maksimum. Coba lagi sebentar lagi.",
                               headers={"Retry-After": "30"})
            self.public_per_address[client.address] = self.public_per_address.get(client.address, 0) + 1
            self.public_clients += 1
        self.clients.add(client)

    def leave(self, client: _Client) -> None:
        if client not in self.clients:
            return
        self.clients.discard(client)
        if client.address is not None:
            self.public_clients -= 1
            left = self.public_per_address[client.address] - 1
            if left:
                self.public_per_address[client.address] = left
            else:
                del self.public_per_address[client.address]


def _frame(event: str, payload: str) -> bytes:
    return f"event: {event}\ndata: {payload}\n\n".encode()


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
        if not sees_all:
            refuse_if_hidden(found)
    region = request.query.get("region") or None
    if region is not None and registry.regions.get(region) is None:
        raise ApiError(400, f"{region!r} is not a region code (use the dotted Kemendagri form, e.g. 31.71 or 31.71.01.1001)", field="region")
    kind = request.query.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise ApiError(400, "kind must be 'tps' or 'recap'", field="kind")
    counts = bool_param(request, "counts") or False
    alerts = sees_all and (bool_param(request, "alerts") or False)
    client = _Client(sees_all, camera=camera, region=region, kind=kind, counts=counts, alerts=alerts,
                     address=None if sees_all else client_address(request), protocol=request.protocol)
    hub = request.app[HUB]
    hub.admit(client, request.app[SETTINGS].limits)
    try:
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
        })
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    frame = await client.queue.get()
                if frame is GONE:
                    break
                await response.write(frame)
            except TimeoutError:
                await response.write(b": ping\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.leave(client)
    return response
