"""WHEP playback (IETF WHEP): `POST /whep/{id}` with an SDP offer -> 201, the SDP answer (all
ICE candidates in it) and the session's `Location`; `DELETE` on it ends the session; `PATCH`
(trickle ICE) is 405; `OPTIONS` and CORS as the spec says. `?view=unmasked`: an admin watches a
masked camera without its masks, where the camera's exception allows it (relay/access/unmasked_access.py)."""

from __future__ import annotations

import math

from aiohttp import web

from pantau.cameras.camera import ID_PATTERN
from pantau.web.http_errors import ApiError, json_error
from pantau.web.sdp_http import check_offer_headers, no_trickle, preflight, read_offer, with_cors
from relay.access import auth
from relay.access.client_address import client_address
from relay.access.rate_limits import RATE_LIMITS, retry_message
from relay.access.unmasked_access import audit_unmasked_view, check_unmasked_view, unmasked_stream, wanted_view
from relay.context import REGISTRY, SESSIONS
from relay.live.public_windows import refuse_if_hidden
from relay.webrtc.viewer_sessions import BadOffer, CapReached, TooManyPending

routes = web.RouteTableDef()
# A viewer's offer: video (and the audio a browser adds), a few KB.
MAX_OFFER_BYTES = 16 * 1024
MAX_MEDIA_SECTIONS = 4

routes.options("/whep/{id}")(preflight)
routes.options("/whep/{id}/sessions/{session}")(preflight)
routes.patch("/whep/{id}/sessions/{session}")(no_trickle)


@routes.post("/whep/{id}")
async def offer(request: web.Request) -> web.Response:
    camera_id = request.match_info["id"]
    camera = await request.app[REGISTRY].get(camera_id) if ID_PATTERN.fullmatch(camera_id) else None
    caller = await auth.caller(request, changes_state=False)  # watching changes nothing: no CSRF token needed
    if camera is None or not (camera.public or caller is not None):
        raise ApiError(404, f"no public camera with id {camera_id!r}")
    unmasked = wanted_view(request) is not None
    if unmasked:
        check_unmasked_view(camera, caller)
    if caller is None:
        refuse_if_hidden(camera)
    check_offer_headers(request, MAX_OFFER_BYTES)
    if not camera.enabled:
        raise ApiError(409, "kamera ini sedang dinonaktifkan")
    address = client_address(request)
    if caller is None and (seconds := request.app[RATE_LIMITS].wait("offers", address)):
        return with_cors(json_error(429, retry_message(seconds), headers={"Retry-After": str(seconds)}))
    sdp = await read_offer(request, MAX_OFFER_BYTES, MAX_MEDIA_SECTIONS)
    sessions = request.app[SESSIONS]
    try:
        session, answer = await sessions.open(camera.id, sdp, public=caller is None, address=address,
                                              audio=caller is not None or camera.audio_public,  # operators always hear
                                              bus_id=unmasked_stream(camera) if unmasked else None)
    except TooManyPending as exc:
        seconds = str(math.ceil(sessions.settings.connect_timeout_s))
        return with_cors(json_error(429, str(exc), headers={"Retry-After": seconds}))
    except CapReached as exc:
        return with_cors(json_error(503, str(exc), headers={"Retry-After": "30"}))
    except BadOffer as exc:
        raise ApiError(400, str(exc), field="body") from None
    if unmasked:
        try:
            await audit_unmasked_view(request, camera, caller)
        except Exception:
            await sessions.close(session.id)  # not audited: not watched
            raise
    location = f"/whep/{camera.id}/sessions/{session.id}"
    return with_cors(web.Response(status=201, text=answer, content_type="application/sdp", headers={"Location": location}))


@routes.delete("/whep/{id}/sessions/{session}")
async def end(request: web.Request) -> web.Response:
    sessions = request.app[SESSIONS]
    camera_id, session_id = request.match_info["id"], request.match_info["session"]
    session = sessions.sessions.get(session_id)
    if session is not None and session.camera_id == camera_id:
        await sessions.close(session.id)
    elif session is not None or not await sessions.directory.end_elsewhere(session_id, camera_id):
        # (behind a load balancer the session may live on another relay: it is asked to end it)
        raise ApiError(404, "no such session (it may have ended already)")
    return with_cors(web.Response(status=200))
