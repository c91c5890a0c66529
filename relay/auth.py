"""Who is asking: public (no credentials), operator (every camera, read-only) or admin.

Credentials come in an `Authorization: Bearer <token>` header, or in a session cookie set by
signing in (`POST /api/session` with the token); never in a URL. The cookie holds a random
session id (the token itself is never stored in the browser); state-changing requests that
rely on the cookie must echo the session's CSRF value in `X-CSRF-Token`.
"""

from __future__ import annotations

import hmac
import json
import secrets

from aiohttp import web

from pantau import registry_keys as keys
from pantau.http_errors import ApiError, read_json
from pantau.tokens import TokenInfo, TokenStore

TOKENS_KEY = web.AppKey("tokens", TokenStore)
COOKIE = "pantau_session"
SESSION_TTL_S = 12 * 3600
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
routes = web.RouteTableDef()
_CALLER = web.RequestKey("caller", object)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _session_key(session_id: str) -> str:
    return f"{keys.PREFIX}:session:{session_id}"


async def _cookie_session(request: web.Request) -> dict | None:
    session_id = request.cookies.get(COOKIE)
    if not session_id or len(session_id) > 100:
        return None
    raw = await request.app[TOKENS_KEY].redis.get(_session_key(session_id))
    return json.loads(raw) if raw else None


async def caller(request: web.Request, changes_state: bool = True) -> TokenInfo | None:
    """The caller's role, or None for the public. A wrong token is refused, not downgraded.

    A signed-in (cookie) caller must send X-CSRF-Token on unsafe methods, except for a POST
    that changes nothing (`changes_state=False`: starting to watch over WHEP); the cookie is
    SameSite=Strict, so other sites cannot send it anyway."""
    if _CALLER in request:
        return request[_CALLER]
    info = None
    token = bearer_token(request)
    if token is not None:
        info = await request.app[TOKENS_KEY].verify(token)
        if info is None:
            raise ApiError(401, "the token is not valid", headers={"WWW-Authenticate": 'Bearer realm="pantau", error="invalid_token"'})
    elif request.headers.get("Authorization"):
        raise ApiError(401, "use 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": 'Bearer realm="pantau"'})
    else:
        session = await _cookie_session(request)
        if session is not None:
            if changes_state and request.method not in SAFE_METHODS and not hmac.compare_digest(request.headers.get("X-CSRF-Token", ""), session["csrf"]):
                raise ApiError(403, "missing or wrong X-CSRF-Token for a signed-in session")
            info = TokenInfo(session["label"], session["role"])
    request[_CALLER] = info
    return info


async def require(request: web.Request, role: str) -> TokenInfo:
    info = await caller(request)
    if info is None:
        raise ApiError(401, f"this needs an {role} token: 'Authorization: Bearer <token>' or sign in", headers={"WWW-Authenticate": 'Bearer realm="pantau"'})
    if not info.allows(role):
        raise ApiError(403, f"the token labelled {info.label!r} is a {info.role} token; this needs {role}")
    return info


@routes.post("/api/session")
async def sign_in(request: web.Request) -> web.Response:
    """Body {"token": "..."} -> a session cookie (HttpOnly, SameSite=Strict) and the CSRF value."""
    body = await read_json(request)
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ApiError(400, "send {\"token\": \"<admin or operator token>\"}", field="token")
    info = await request.app[TOKENS_KEY].verify(token)
    if info is None:
        raise ApiError(401, "the token is not valid")
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    await request.app[TOKENS_KEY].redis.set(
        _session_key(session_id), json.dumps({"label": info.label, "role": info.role, "csrf": csrf}), ex=SESSION_TTL_S)
    response = web.json_response({"label": info.label, "role": info.role, "csrf_token": csrf})
    response.set_cookie(COOKIE, session_id, max_age=SESSION_TTL_S, httponly=True, samesite="Strict", path="/",
                        secure=request.secure)
    return response


@routes.get("/api/session")
async def current_session(request: web.Request) -> web.Response:
    session = await _cookie_session(request)
    if session is None:
        raise ApiError(401, "not signed in")
    return web.json_response({"label": session["label"], "role": session["role"], "csrf_token": session["csrf"]})


@routes.delete("/api/session")
async def sign_out(request: web.Request) -> web.Response:
    await caller(request)  # CSRF check for cookie sessions
    session_id = request.cookies.get(COOKIE)
    if session_id:
        await request.app[TOKENS_KEY].redis.delete(_session_key(session_id))
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response
