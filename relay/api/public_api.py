"""Public API (no token): the region tree and public cameras, never a source URL.

A caller with a valid operator or admin token sees every camera through the same routes.
"""

from __future__ import annotations

from aiohttp import web

from pantau.cameras.camera import ID_PATTERN, public_status, public_view
from pantau.web.http_errors import ApiError
from relay.access import auth
from relay.api.query_params import encode_cursor, list_query
from relay.context import LISTING_JSON, REGION_TREES, REGISTRY, SETTINGS, VIEWERS, WALL
from relay.live.public_windows import hide_scheduled
from relay.web.hls_js import MISSING as HLS_JS_MISSING
from relay.web.hls_js import installed as installed_hls_js

routes = web.RouteTableDef()


async def _sees_all(request: web.Request) -> bool:
    return (await auth.caller(request)) is not None


@routes.get("/api/regions")
async def get_regions(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    sees_all = await _sees_all(request)
    table = await registry.readable()
    tree = request.app[REGION_TREES].get(registry.regions, table.cameras, table.revision, sees_all)
    return web.json_response(tree)


@routes.get("/api/wall")
async def get_wall(request: web.Request) -> web.Response:
    """Per kecamatan: the recap camera and its status, and online/total TPS cameras."""
    return web.json_response(await request.app[WALL].wall(await _sees_all(request)))


@routes.get("/api/ice-servers")
async def get_ice_servers(request: web.Request) -> web.Response:
    """What pages give RTCPeerConnection (relay.ice.browser_servers; public by design)."""
    servers = [
        {"urls": s.urls} | ({"username": s.username} if s.username else {})
        | ({"credential": s.credential.get_secret_value()} if s.credential else {})
        for s in request.app[SETTINGS].relay.ice.browser_servers
    ]
    return web.json_response({"iceServers": servers}, headers={"Cache-Control": "no-cache"})


@routes.get("/api/player")
async def get_player(request: web.Request) -> web.Response:
    """How the public station page plays (relay.public_player) and the hls.js this node serves."""
    hls_js = installed_hls_js()
    return web.json_response({"public_player": request.app[SETTINGS].relay.public_player, "hls_js": hls_js,
                              "hls_js_missing": None if hls_js else HLS_JS_MISSING,
                              # The public may play recordings (README "Recordings"): the station page shows them.
                              "public_recordings": request.app[SETTINGS].recording.public_playback},
                             headers={"Cache-Control": "no-cache"})


@routes.get("/api/regions/search")
async def search_regions(request: web.Request) -> web.Response:
    """Find regions by code or name: exact (variants such as Palmerah/Pal Merah accepted), then partial."""
    registry = request.app[REGISTRY]
    text = (request.query.get("q") or "").strip()
    if not text:
        raise ApiError(400, "q is required: a region name or code", field="q")
    level = request.query.get("level") or None
    if level is not None and level not in ("kota", "kecamatan", "kelurahan"):
        raise ApiError(400, "level must be kota, kecamatan or kelurahan", field="level")
    found = [registry.regions.get(text)] if registry.regions.get(text) else registry.regions.search(text, level)
    return web.json_response({"regions": [
        {"code": r.code, "level": r.level, "name": r.name, "path": registry.regions.path(r.code)}
        for r in found if r is not None and (level is None or r.level == level)
    ]})


@routes.get("/api/cameras")
async def list_cameras(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    public_only = not await _sees_all(request)
    query = list_query(request, registry.regions, public_only=public_only)
    page, total, next_id = await registry.list(query)
    statuses = await registry.statuses(page)
    viewers = await request.app[VIEWERS].totals(c.id for c in page)
    if public_only:  # outside their windows: listed as "scheduled", nothing of the picture
        statuses, viewers = hide_scheduled(page, statuses, viewers)
        statuses = {c.id: public_status(c, statuses[c.id]) for c in page}
    return web.json_response(text=request.app[LISTING_JSON].body(page, statuses, viewers, total, encode_cursor(next_id)))


@routes.get("/api/cameras/{id}")
async def get_camera(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    camera_id = request.match_info["id"]
    camera = await registry.get(camera_id) if ID_PATTERN.fullmatch(camera_id) else None
    sees_all = await _sees_all(request)
    if camera is None or not (camera.public or sees_all):
        raise ApiError(404, f"no public camera with id {camera_id!r}")
    statuses = await registry.statuses([camera])
    viewers = await request.app[VIEWERS].totals([camera.id])
    if not sees_all:
        statuses, viewers = hide_scheduled([camera], statuses, viewers)
    return web.json_response(public_view(camera, registry.regions, statuses[camera.id]) | {"viewers": viewers[camera.id]})
