"""LL-HLS over HTTP: the media playlist (with blocking reload), parts, segments, init segments.

    GET /hls/{camera}/index.m3u8[?_HLS_msn=M[&_HLS_part=P]]
    GET /hls/{camera}/init-{id}.mp4     GET /hls/{camera}/seg-{msn}.m4s     GET /hls/{camera}/part-{n}.m4s

Cacheable by design: a media URL names immutable bytes (`public, max-age=…, immutable`); the
plain playlist is cacheable for 1 s (the least an HTTP age can say; players without LL-HLS
reload once per target duration and LL players move on to blocking requests at once); a
blocking request is cacheable by its query, since any later playlist answers it too. Errors
and time-outs are `no-store`. A blocking request waits for the part it names and answers 503
(RFC 8216bis 6.2.5.2) after three target durations; a part named before it exists (the
preload hint) is held the same way. So is a first request, until the camera's first segment.

Public access follows the camera's public visibility (pantau.cameras.visibility) on every request: a
public camera outside its windows is a 403 saying from when (new media stop at once; what a
cache already holds is old), a non-public one a 404; operators and admins see every camera.
"""

from __future__ import annotations

import re
import time

from aiohttp import web

from pantau.cameras import visibility
from pantau.cameras.camera import ID_PATTERN, Camera
from pantau.web.http_errors import ApiError, json_error
from relay.access import auth
from relay.context import REGISTRY, SETTINGS
from relay.hls.hls_cameras import HlsCameras
from relay.hls.playlist import LiveWindow
from relay.live.public_windows import refuse_if_hidden

HLS = web.AppKey("hls_cameras", HlsCameras)
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
_ANSWERING = web.RequestKey("hls_camera", object)  # the CameraHls a request keeps alive
ADVANCE_PARTS = 3  # a part may be asked for this far ahead of the newest (it is then waited for)
routes = web.RouteTableDef()


def public_can_watch(camera: Camera) -> bool:
    """The one place HLS asks whether the public may see a camera now."""
    return visibility.publicly_visible(camera)


def _plain(status: int, text: str, **headers: str) -> web.Response:
    """An error in the API's one JSON shape (players only read the status), never cached."""
    return json_error(status, text, headers={"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*", **headers})


class _Refused(Exception):
    def __init__(self, response: web.Response):
        self.response = response


async def _window(request: web.Request) -> LiveWindow:
    camera_id = request.match_info["camera"]
    camera = await request.app[REGISTRY].get(camera_id) if ID_PATTERN.fullmatch(camera_id) else None
    if camera is not None and not public_can_watch(camera) and await auth.caller(request, changes_state=False) is None:
        if camera.public:  # outside its public window: 403 saying from when, like tiles and WHEP
            try:
                refuse_if_hidden(camera)
            except ApiError as refused:
                raise _Refused(_plain(refused.status, str(refused))) from None
        camera = None
    if camera is None:
        raise _Refused(_plain(404, f"no public camera with id {camera_id!r}"))
    if not camera.enabled:
        raise _Refused(_plain(409, "kamera ini sedang dinonaktifkan"))
    camera_hls = request.app[HLS].touch(camera.id)
    camera_hls.begin_request()
    request[_ANSWERING] = camera_hls
    return camera_hls.window


async def _wait(window: LiveWindow, ready, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not ready():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await window.wait_change(left)
    return True


def _unavailable() -> web.Response:
    return _plain(503, "not there yet; ask again", **{"Retry-After": "1"})


def _media(request: web.Request, body: bytes) -> web.Response:
    max_age = request.app[SETTINGS].hls.media_max_age_s
    return web.Response(body=body, content_type="video/mp4", headers={
        "Cache-Control": f"public, max-age={max_age}, immutable", "Access-Control-Allow-Origin": "*"})


def _query_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    if not re.fullmatch(r"\d{1,19}", value):
        raise _Refused(_plain(400, f"{name} must be a whole number"))
    return int(value)


def _handler(inner):
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await inner(request)
        except _Refused as refused:
            return refused.response
        finally:
            if (camera_hls := request.get(_ANSWERING)) is not None:
                camera_hls.end_request()
    return handle


@routes.get("/hls/{camera}/index.m3u8")
@_handler
async def playlist(request: web.Request) -> web.Response:
    window = await _window(request)
    settings = request.app[SETTINGS].hls
    msn, part = _query_int(request, "_HLS_msn"), _query_int(request, "_HLS_part")
    if part is not None and msn is None:
        return _plain(400, "_HLS_part needs _HLS_msn")
    if not await _wait(window, lambda: window.ready, settings.start_timeout_s):
        return _unavailable()
    if msn is None:
        max_age = 1
    else:
        last = window.last_msn()
        if msn > last + 2:  # RFC 8216bis 6.2.5.2: too far ahead
            return _plain(400, f"_HLS_msn {msn} is more than two segments past the last ({last})")
        if not await _wait(window, lambda: window.has_part(msn, part), 3 * window.target_duration()):
            return _unavailable()
        max_age = settings.segments_kept * window.target_duration()
    return web.Response(text=window.render(), content_type=PLAYLIST_TYPE, headers={
        "Cache-Control": f"public, max-age={max_age}", "Access-Control-Allow-Origin": "*"})


@routes.get(r"/hls/{camera}/init-{id:[0-9a-f]{16}}.mp4")
@_handler
async def init_segment(request: web.Request) -> web.Response:
    window = await _window(request)
    init = window.inits.get(request.match_info["id"])
    return _media(request, init) if init is not None else _plain(404, "no such init segment (any more)")


@routes.get(r"/hls/{camera}/seg-{msn:\d{1,19}}.m4s")
@_handler
async def segment(request: web.Request) -> web.Response:
    window = await _window(request)
    msn = int(request.match_info["msn"])
    last = window.last_msn()
    if last is not None and last <= msn <= last + 1:  # the current or next one: wait for it to complete
        await _wait(window, lambda: window.has_part(msn, None), 3 * window.target_duration())
    data = window.segment_bytes(msn)
    return _media(request, data) if data is not None else _plain(404, "no such segment (any more)")


@routes.get(r"/hls/{camera}/part-{number:\d{1,19}}.m4s")
@_handler
async def part(request: web.Request) -> web.Response:
    window = await _window(request)
    number = int(request.match_info["number"])
    upcoming = window.next_part_number()
    if upcoming is not None and upcoming <= number < upcoming + ADVANCE_PARTS:  # the preload hint: hold it
        await _wait(window, lambda: number in window.parts or window.next_part_number() > number,
                    3 * window.target_duration())
    record = window.parts.get(number)
    if record is not None:
        return _media(request, record.data)
    upcoming = window.next_part_number()
    return _unavailable() if upcoming is not None and number >= upcoming else _plain(404, "no such part (any more)")


async def stop(app: web.Application) -> None:
    await app[HLS].stop()

