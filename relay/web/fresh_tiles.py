"""`GET /api/admin/cameras/{id}/fresh-tile.jpg`: a tile made after the request, for drawing
masks on ("Ambil gambar baru" on the admin page), admin only.

The ordinary tile is the camera's latest keyframe, up to a GOP old (1-2 s, or much more for a
camera with a long GOP). Here the relay asks the camera's publisher for a keyframe through the
bus (the path WHEP viewers' picture-loss reports take: relay/webrtc/picture_loss.py) and
answers with the first tile captured after the request. A masked (transcoded) camera makes
that keyframe at once; a WHIP publisher is asked for one; an RTSP camera in passthrough cannot
be asked, so its next own keyframe is the freshest there is. Past `wait` seconds (default 5)
the latest tile is sent as it is, marked `X-Tile-Fresh: false`. `X-Tile-Captured-At` says when
the picture was taken (UTC). 409 while the camera has no picture at all.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from pantau.bus.stream_bus import Tile
from pantau.cameras.camera import ID_PATTERN
from pantau.runtime.clock import iso_utc
from pantau.web.http_errors import ApiError
from relay.access import auth
from relay.context import BUS, REGISTRY

routes = web.RouteTableDef()

DEFAULT_WAIT_S = 5.0
MAX_WAIT_S = 15.0
LOOK_EVERY_S = 0.1
ASK_AGAIN_S = 1.0  # a keyframe the tile maker skipped (busy) or a request lost on the way: ask again


def _wait_s(request: web.Request) -> float:
    raw = request.query.get("wait")
    if raw in (None, ""):
        return DEFAULT_WAIT_S
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not 0.5 <= wait <= MAX_WAIT_S:  # (also refuses nan)
        raise ApiError(400, f"wait must be a number of seconds from 0.5 to {MAX_WAIT_S:g}", field="wait")
    return wait


async def tile_after(bus, camera_id: str, asked_at: float, wait_s: float) -> Tile | None:
    """The first tile captured at or after `asked_at`, asking for keyframes meanwhile; after
    `wait_s` the latest tile (older), or None if there is none."""
    deadline = time.monotonic() + wait_s
    next_ask = 0.0
    while True:
        now = time.monotonic()
        if now >= next_ask:
            bus.request_keyframe(camera_id)
            next_ask = now + ASK_AGAIN_S
        tile = await bus.tile(camera_id)
        if (tile is not None and tile.captured_at >= asked_at) or now >= deadline:
            return tile
        await asyncio.sleep(LOOK_EVERY_S)


@routes.get("/api/admin/cameras/{id}/fresh-tile.jpg")
async def fresh_tile(request: web.Request) -> web.Response:
    await auth.require(request, "admin")
    camera_id = request.match_info["id"]
    camera = await request.app[REGISTRY].get(camera_id) if ID_PATTERN.fullmatch(camera_id) else None
    if camera is None:
        raise ApiError(404, f"no camera with id {camera_id!r}")
    wait_s = _wait_s(request)
    asked_at = time.time()
    tile = await tile_after(request.app[BUS], camera.id, asked_at, wait_s)
    if tile is None:
        raise ApiError(409, "kamera ini belum punya gambar (the camera has no picture yet)")
    headers = {"Cache-Control": "no-store", "X-Tile-Captured-At": iso_utc(tile.captured_at),
               "X-Tile-Fresh": "true" if tile.captured_at >= asked_at else "false"}
    return web.Response(body=tile.jpeg, content_type="image/jpeg", headers=headers)
