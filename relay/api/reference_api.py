"""A camera's reference view ("Tetapkan tampilan acuan"), admin only:

    GET    /api/admin/cameras/{id}/reference   {camera_id, reference: null | {set_at, set_by, captured_at, width, height, picture}}
    POST   /api/admin/cameras/{id}/reference   201: the current tile becomes the reference; 409 if the camera has no picture now
    DELETE /api/admin/cameras/{id}/reference   204: cleared (moved and blurred are then not judged)

The reference is taken from the tile the admin sees (the latest keyframe, 480 px JPEG) and
stored as a `ViewSignature` of a few KB (pantau/cameras/reference_views.py); setting and clearing are
audited. The ingest worker that owns the camera applies it within a second.
"""

from __future__ import annotations

import asyncio
import time

import cv2
import numpy as np
from aiohttp import web

from pantau.bus.stream_bus import Tile
from pantau.cameras.audit_log import Actor, now_iso
from pantau.cameras.camera import ID_PATTERN, Camera
from pantau.cameras.reference_views import ReferenceView, ReferenceViews
from pantau.media.view_signature import ViewSignature, thumbnail
from pantau.web.http_errors import ApiError
from relay.access import auth
from relay.access.client_address import client_address
from relay.context import BUS, REGISTRY

routes = web.RouteTableDef()

TILE_WAIT_S = 3.0  # on a site the tile is published once a relay asks: up to a keyframe away
TILE_MAX_AGE_S = 30.0  # an older tile is not "the current picture"


async def _camera(request: web.Request) -> tuple[Camera, Actor]:
    info = await auth.require(request, "admin")
    camera_id = request.match_info["id"]
    camera = await request.app[REGISTRY].get(camera_id) if ID_PATTERN.fullmatch(camera_id) else None
    if camera is None:
        raise ApiError(404, f"no camera with id {camera_id!r}")
    return camera, Actor(info.label, client_address(request))


def _store(request: web.Request) -> ReferenceViews:
    return ReferenceViews(request.app[REGISTRY].redis)


async def _current_tile(request: web.Request, camera: Camera) -> Tile:
    """The camera's latest tile if it shows a picture now, else 409."""
    status = (await request.app[REGISTRY].statuses([camera]))[camera.id]
    if status["state"] != "online":
        raise ApiError(409, f"the camera is {status['state']}: it has no picture to take as the reference now")
    if status.get("picture") == "black":
        raise ApiError(409, "the camera's picture is black: nothing to take as the reference")
    bus = request.app[BUS]
    deadline = time.monotonic() + TILE_WAIT_S
    tile = await bus.tile(camera.id)
    while tile is None and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        tile = await bus.tile(camera.id)
    if tile is None or time.time() - tile.captured_at > TILE_MAX_AGE_S:
        raise ApiError(409, "the camera has no current picture to take as the reference (no keyframe lately)")
    return tile


def _signature_of(jpeg: bytes) -> ViewSignature:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("the tile is not a readable JPEG")
    return ViewSignature.of(thumbnail(image))


@routes.get("/api/admin/cameras/{id}/reference")
async def get_reference(request: web.Request) -> web.Response:
    camera, _ = await _camera(request)
    reference = await _store(request).get(camera.id)
    return web.json_response({"camera_id": camera.id, "reference": reference.info() if reference else None},
                             headers={"Cache-Control": "no-store"})


@routes.post("/api/admin/cameras/{id}/reference")
async def set_reference(request: web.Request) -> web.Response:
    camera, actor = await _camera(request)
    tile = await _current_tile(request, camera)
    try:
        signature = await asyncio.to_thread(_signature_of, tile.jpeg)  # ~1 ms of OpenCV: off the event loop
    except ValueError as exc:
        raise ApiError(409, f"the camera's current picture cannot be read: {exc}") from None
    reference = ReferenceView(signature, now_iso(), actor.label, tile.captured_at, tile.width, tile.height)
    await _store(request).set(camera.id, reference, actor)
    return web.json_response({"camera_id": camera.id, "reference": reference.info()}, status=201,
                             headers={"Location": f"/api/admin/cameras/{camera.id}/reference"})


@routes.delete("/api/admin/cameras/{id}/reference")
async def clear_reference(request: web.Request) -> web.Response:
    camera, actor = await _camera(request)
    await _store(request).clear(camera.id, actor)
    return web.Response(status=204)
