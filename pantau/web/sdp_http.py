"""What WHEP (relay) and WHIP (ingest) endpoints share: CORS as both specs ask, the preflight,
reading an SDP offer with clear 4xx for a wrong type, size or body, and the 405 for trickle."""

from __future__ import annotations

from aiohttp import web

from pantau.web.http_errors import ApiError, json_error

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, Accept-Post, ETag, Retry-After",
}


def with_cors(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.update(CORS)
    return response


async def preflight(request: web.Request) -> web.Response:
    return with_cors(web.Response(status=204, headers={"Accept-Post": "application/sdp"}))


async def no_trickle(request: web.Request) -> web.Response:
    return with_cors(json_error(405, "trickle ICE is not supported: the answer carries all candidates",
                                headers={"Allow": "DELETE, OPTIONS"}))


def check_offer_headers(request: web.Request, max_bytes: int) -> None:
    if request.content_type != "application/sdp":
        raise ApiError(415, "send the SDP offer with Content-Type: application/sdp")
    if (request.content_length or 0) > max_bytes:
        raise ApiError(413, f"the SDP offer is too large (at most {max_bytes // 1024} KB here)")


async def read_offer(request: web.Request, max_bytes: int, max_media_sections: int) -> str:
    """The SDP offer of a POST (headers checked first with `check_offer_headers`), refused
    before aiortc parses it when it is larger or has more media sections (`m=` lines) than the
    endpoint serves: aiortc's parse grows with them (an offer of 180 bundled sections took
    0.55 s of the event loop, where a normal one takes 0.01 s)."""
    body = await request.read()  # already read, within the node's body limits (pantau/web/http_limits.py)
    if len(body) > max_bytes:
        raise ApiError(413, f"the SDP offer is too large (at most {max_bytes // 1024} KB here)")
    sdp = body.decode("utf-8", "replace")
    if not sdp.startswith("v=0"):
        raise ApiError(400, "the body is not an SDP offer", field="body")
    sections = sum(1 for line in sdp.splitlines() if line.startswith("m="))
    if sections > max_media_sections:
        raise ApiError(400, f"the offer has {sections} media sections; this endpoint takes at most {max_media_sections}", field="body")
    return sdp
