"""`POST /api/admin/cameras/{id}/push-key` -> 201 {"push_key": "…"}: the WHIP camera's key, shown
this once (stored hashed); calling again rotates it, and the old key stops working."""

from __future__ import annotations

from aiohttp import web

from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import ID_PATTERN
from pantau.cameras.push_keys import PushKeys
from pantau.web.http_errors import ApiError
from relay.access import auth
from relay.context import REGISTRY

routes = web.RouteTableDef()


@routes.post("/api/admin/cameras/{id}/push-key")
async def create_push_key(request: web.Request) -> web.Response:
    info = await auth.require(request, "admin")
    camera_id = request.match_info["id"]
    registry = request.app[REGISTRY]
    camera = await registry.get(camera_id) if ID_PATTERN.fullmatch(camera_id) else None
    if camera is None:
        raise ApiError(404, f"no camera with id {camera_id!r}")
    if camera.source_type != "whip":
        raise ApiError(409, "only a camera whose source is 'whip' takes a push key", field="source")
    key = await PushKeys(registry.redis).rotate(camera.id, Actor(info.label, request.remote))
    return web.json_response({"push_key": key}, status=201, headers={"Cache-Control": "no-store"})
