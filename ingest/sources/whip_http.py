"""WHIP ingest over HTTP (RFC 9725), served by the node that ingests the camera.

    GET    /whip/{camera_id}                 {id, enabled} of a WHIP camera, else 404 (for /kirim);
                                             a non-public one only with its push key or a staff token
    POST   /whip/{camera_id}                 Authorization: Bearer <push key>, SDP offer
           -> 201, SDP answer (all candidates), Location: /whip/{id}/sessions/{session}
    DELETE /whip/{camera_id}/sessions/{sid}  ends the publish (404 if it already ended)
    PATCH  …/sessions/{sid}                  405: no trickle ICE, the answer has every candidate
    OPTIONS                                  CORS preflight, Accept-Post: application/sdp

A non-public camera is answered exactly like an id that does not exist (same 404, same body,
same work done) unless the caller shows its push key (`Authorization: Bearer <push key>`, for
GET also an operator or admin token): the public learns nothing of it, not even that it
exists. For a public camera a wrong or missing key is 401; refusals are logged without the key.
A second publisher while one is live is 409 (on a site: also while its publisher is connected
to another ingest node, which holds the camera's lease); malformed or unusable offers are 400
with the reason. A DELETE that reaches another ingest node still ends the session
(pantau/runtime/session_directory.py).
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from ingest.sources.whip_source import BadOffer, PublisherConflict
from ingest.worker import IngestWorker
from pantau.access.tokens import TokenStore
from pantau.cameras import registry_keys as keys
from pantau.cameras.camera import ID_PATTERN
from pantau.cameras.push_keys import PushKeys
from pantau.runtime.session_directory import SessionDirectory
from pantau.web.http_errors import ApiError
from pantau.web.sdp_http import check_offer_headers, no_trickle, preflight, read_offer, with_cors

log = logging.getLogger(__name__)

WORKER = web.AppKey("ingest_worker", IngestWorker)
PUSH_KEYS = web.AppKey("push_keys", PushKeys)
TOKENS = web.AppKey("whip_tokens", TokenStore)
DIRECTORY = web.AppKey("whip_sessions", SessionDirectory)
LISTENER = web.AppKey("whip_end_listener", asyncio.Task)
routes = web.RouteTableDef()
# A sender's offer: a browser's audio and video (with all its codecs and simulcast lines).
MAX_OFFER_BYTES = 32 * 1024
MAX_MEDIA_SECTIONS = 4


def _camera_id(request: web.Request) -> str:
    camera_id = request.match_info["id"]
    if not ID_PATTERN.fullmatch(camera_id):
        raise ApiError(404, "no WHIP camera with that id")
    return camera_id


def _not_found(camera_id: str) -> ApiError:
    """The one answer for an unknown id, a camera that takes no push and a non-public camera
    whose key was not shown."""
    return ApiError(404, f"no WHIP camera with id {camera_id!r} (a camera that is not public is found only with its push key)")


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() != "bearer ":
        return None
    return header[7:].strip() or None


routes.options("/whip/{id}")(preflight)
routes.options("/whip/{id}/sessions/{session}")(preflight)
routes.patch("/whip/{id}/sessions/{session}")(no_trickle)


async def _whip_camera(request: web.Request, staff_too: bool):
    """The WHIP camera in the path and whether the caller showed its push key; 404 (the same as
    for an unknown id) for a non-public camera unless the key, or with `staff_too` an operator
    or admin token, was shown. A bearer is checked whatever the id names, so an unknown id
    takes the same path as a hidden camera."""
    camera_id = _camera_id(request)
    key = _bearer(request)
    key_shown = await request.app[PUSH_KEYS].verify(camera_id, key) if key else False
    staff = bool(key and not key_shown and staff_too and TOKENS in request.app
                 and await request.app[TOKENS].verify(key) is not None)
    camera = await request.app[WORKER].registry.get(camera_id)
    if camera is None or camera.source_type != "whip":
        raise _not_found(camera_id)
    if not (camera.public or key_shown or staff):
        if request.method == "POST":
            log.warning("WHIP push to %s (not public) refused: %s push key (from %s)", camera_id, "wrong" if key else "no", request.remote)
        raise _not_found(camera_id)
    return camera, key_shown


@routes.get("/whip/{id}")
async def describe(request: web.Request) -> web.Response:
    """For the push page: does this camera take a push, is it on? A public camera is described
    to anyone; a non-public one only with its push key (or an operator/admin token)."""
    camera, _ = await _whip_camera(request, staff_too=True)
    return with_cors(web.json_response({"id": camera.id, "enabled": camera.enabled}))


@routes.post("/whip/{id}")
async def publish(request: web.Request) -> web.Response:
    camera, key_shown = await _whip_camera(request, staff_too=False)
    camera_id = camera.id
    worker = request.app[WORKER]
    if not key_shown:  # a public camera: it is known to exist, so the key is what is wrong
        log.warning("WHIP push to %s refused: %s push key (from %s)", camera_id, "wrong" if _bearer(request) else "no", request.remote)
        raise ApiError(401, "push key missing or wrong (Authorization: Bearer <push key>)",
                       headers={"WWW-Authenticate": 'Bearer realm="pantau-whip"'})
    check_offer_headers(request, MAX_OFFER_BYTES)
    sdp = await read_offer(request, MAX_OFFER_BYTES, MAX_MEDIA_SECTIONS)
    if not camera.enabled:
        raise ApiError(409, "kamera ini sedang dinonaktifkan")
    source = worker.whip_source(camera_id)
    if source is None and worker.selects(camera):
        await worker.reconcile()  # registered moments ago: start its source now, not at the next poll
        source = worker.whip_source(camera_id)
    if source is None:
        raise ApiError(503, "this camera is starting; try again in a second", headers={"Retry-After": "1"})
    try:
        session_id, answer = await source.accept(sdp)
    except PublisherConflict as exc:
        raise ApiError(409, str(exc)) from None
    except BadOffer as exc:
        raise ApiError(400, str(exc), field="body") from None
    await request.app[DIRECTORY].register(session_id)
    location = f"/whip/{camera_id}/sessions/{session_id}"
    return with_cors(web.Response(status=201, text=answer, content_type="application/sdp", headers={"Location": location}))


@routes.delete("/whip/{id}/sessions/{session}")
async def end(request: web.Request) -> web.Response:
    camera_id, session_id = _camera_id(request), request.match_info["session"]
    source = request.app[WORKER].whip_source(camera_id)
    directory = request.app[DIRECTORY]
    if source is not None and await source.end(session_id):
        await directory.forget(session_id)
    elif not await directory.end_elsewhere(session_id, camera_id):  # held by another ingest node?
        raise ApiError(404, "no such publish session (it may have ended already)")
    return with_cors(web.Response(status=200))


async def _follow_end_requests(app: web.Application) -> None:
    """A DELETE for one of our publish sessions reached another ingest node: end it here."""
    worker, directory = app[WORKER], app[DIRECTORY]
    while True:
        try:
            pubsub = worker.registry.redis.pubsub()
            await pubsub.subscribe(keys.EVENTS)
            async for message in pubsub.listen():
                if message.get("type") != "message" or '"end_whip"' not in message["data"]:
                    continue
                request = json.loads(message["data"])
                source = worker.whip_source(str(request.get("camera")))
                if source is not None and await source.end(str(request.get("session"))):
                    await directory.forget(str(request.get("session")))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis away: retry
            if asyncio.current_task().cancelling():
                raise
            log.warning("WHIP end-request listener lost Redis (%s); retrying", exc)
            await asyncio.sleep(1.0)


def add_whip_routes(app: web.Application, worker: IngestWorker, push_keys: PushKeys, node: str,
                    tokens: TokenStore | None = None) -> None:
    """`tokens`: operator and admin tokens, which may ask about a non-public camera (GET)."""
    app[WORKER] = worker
    app[PUSH_KEYS] = push_keys
    if tokens is not None:
        app[TOKENS] = tokens
    app[DIRECTORY] = SessionDirectory(worker.registry.redis, "whip", node)
    app.add_routes(routes)

    async def start_listener(app: web.Application) -> None:
        app[LISTENER] = asyncio.get_running_loop().create_task(_follow_end_requests(app), name="whip-end-requests")

    async def stop_listener(app: web.Application) -> None:
        app[LISTENER].cancel()
        await asyncio.gather(app[LISTENER], return_exceptions=True)
        await app[DIRECTORY].close()

    app.on_startup.append(start_listener)
    app.on_shutdown.append(stop_listener)
