"""`GET /api/cameras/{id}/tile.jpg`: the latest keyframe as JPEG, or a placeholder that shows
the camera's state. ETag + `Cache-Control: no-cache`: pages revalidate each second and get a
304 until the next keyframe changes the picture."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import cv2
import numpy as np
from aiohttp import web

from pantau.cameras.camera import ID_PATTERN
from pantau.web.http_errors import ApiError
from relay.access import auth
from relay.context import BUS, REGISTRY
from relay.live.public_windows import refuse_if_hidden

routes = web.RouteTableDef()

STATE_LABELS = {
    "connecting": "MENYAMBUNG", "offline": "TERPUTUS", "disabled": "NONAKTIF", "waiting": "MENUNGGU KIRIMAN",
    "online": "MEMUAT GAMBAR",
}
REASON_LABELS = {
    "unreachable": "kamera tidak terjangkau", "auth_failed": "kata sandi kamera salah",
    "no_data": "tidak ada gambar", "unsupported_codec": "format video tidak didukung",
}


@lru_cache(maxsize=512)
def placeholder(label: str, detail: str, name: str) -> bytes:
    """A 480x270 JPEG saying what the camera's state is (ASCII text: OpenCV's fonts)."""
    image = np.full((270, 480, 3), (40, 34, 30), np.uint8)
    cv2.rectangle(image, (0, 0), (479, 269), (90, 90, 90), 2)
    for text, y, scale, thickness in ((label, 125, 1.0, 2), (detail, 165, 0.6, 1), (name, 240, 0.5, 1)):
        text = text.encode("ascii", "replace").decode()[:48]
        width = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0]
        cv2.putText(image, text, ((480 - width) // 2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (230, 230, 230), thickness, cv2.LINE_AA)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


def _jpeg_response(request: web.Request, body: bytes, etag: str) -> web.Response:
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="image/jpeg", headers=headers)


@routes.get("/api/cameras/{id}/tile.jpg")
async def tile(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    camera_id = request.match_info["id"]
    camera = await registry.get(camera_id) if ID_PATTERN.fullmatch(camera_id) else None
    sees_all = await auth.caller(request) is not None
    if camera is None or not (camera.public or sees_all):
        raise ApiError(404, f"no public camera with id {camera_id!r}")
    if not sees_all:
        refuse_if_hidden(camera)
    status = (await registry.statuses([camera]))[camera.id]
    latest = await request.app[BUS].tile(camera.id)
    if status["state"] == "online" and latest is not None:
        return _jpeg_response(request, latest.jpeg, f'"{camera.id}-{int(latest.captured_at * 1000)}"')
    label = STATE_LABELS.get(status["state"], status["state"].upper())
    body = placeholder(label, REASON_LABELS.get(status["reason"] or "", ""), camera.name)
    return _jpeg_response(request, body, '"p-' + hashlib.sha1(body).hexdigest()[:16] + '"')
