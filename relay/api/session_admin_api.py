"""Sign-in sessions for admins: `GET /api/admin/sessions` lists them (label, role, created, last
seen, client address) by their handle, which cannot be used as a cookie;
`DELETE /api/admin/sessions/{id}` ends one at once (audited)."""

from __future__ import annotations

import re

from aiohttp import web

from pantau.access.signin_sessions import SignInSessions
from pantau.cameras.audit_log import Actor
from pantau.web.http_errors import ApiError
from relay.access import auth

HANDLE = re.compile(r"[0-9a-f]{32}")
routes = web.RouteTableDef()


def _sessions(request: web.Request) -> SignInSessions:
    return SignInSessions(request.app[auth.TOKENS_KEY].redis)


@routes.get("/api/admin/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    await auth.require(request, "admin")
    return web.json_response({"sessions": [s.public_view() for s in await _sessions(request).list()]},
                             headers={"Cache-Control": "no-store"})


@routes.delete("/api/admin/sessions/{id}")
async def end_session(request: web.Request) -> web.Response:
    info = await auth.require(request, "admin")
    handle = request.match_info["id"]
    sessions = _sessions(request)
    signin = await sessions.get(handle) if HANDLE.fullmatch(handle) else None
    if signin is None:
        raise ApiError(404, "no sign-in session with this id (it may have ended already)")
    await sessions.end([signin], Actor(info.label, auth.client_address(request)), "ended_by_admin")
    return web.Response(status=204)
