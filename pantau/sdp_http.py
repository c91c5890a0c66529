"""What WHEP (relay) and WHIP (ingest) endpoints share: CORS as both specs ask, the preflight,
reading an SDP offer with clear 4xx for a wrong type, size or body, and the 405 for trickle."""

from __future__ import annotations

from aiohttp import web

from pantau.http_errors import ApiError, json_error

MAX_OFFER_BYTES = 64 * 1024
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


def check_offer_headers(request: web.Request) -> None:
    if request.content_type != "application/sdp":
        raise ApiError(415, "send the SDP offer with Content-Type: application/sdp")
    if (request.content_length or 0) > MAX_OFFER_BYTES:
        raise ApiError(413, "the SDP offer is too large")


async def read_offer(request: web.Request) -> str:
    """The SDP offer of a POST (headers checked first with `check_offer_headers`)."""
    body = await request.content.read(MAX_OFFER_BYTES + 1)
    if len(body) > MAX_OFFER_BYTES:
        raise ApiError(413, "the SDP offer is too large")
    sdp = body.decode("utf-8", "replace")
    if not sdp.startswith("v=0"):
        raise ApiError(400, "the body is not an SDP offer", field="body")
    return sdp
