"""Who is asking: public (no credentials), operator (every camera, read-only) or admin.

Credentials come in an `Authorization: Bearer <token>` header, or in a session cookie set by
signing in (`POST /api/session` with the token); never in a URL. The cookie holds a random
session id (the token itself is never stored in the browser); state-changing requests that
rely on the cookie must echo the session's CSRF value in `X-CSRF-Token`. A session lasts
while its token does (see pantau/access/signin_sessions.py). Sign-ins and refused tokens are audited
(the address, never the token) and refused tokens are slowed down (relay/access/token_attempts.py).
"""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from pantau.access.signin_sessions import SESSION_TTL_S, SignIn, SignInSessions
from pantau.access.tokens import TokenInfo, TokenStore, hash_token
from pantau.cameras import audit_log
from pantau.cameras.audit_log import SYSTEM, Actor
from pantau.web.http_errors import ApiError, read_json
from relay.access.client_address import came_over_https, client_address
from relay.access.token_attempts import FailedAttempts
from relay.context import SETTINGS

TOKENS_KEY = web.AppKey("tokens", TokenStore)
ATTEMPTS_KEY = web.AppKey("failed_token_attempts", FailedAttempts)
COOKIE = "pantau_session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
routes = web.RouteTableDef()
_CALLER = web.RequestKey("caller", object)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def _verify(request: web.Request, token: str, via: str, headers: dict | None = None) -> TokenInfo:
    """The token's role, or 401 after a short delay (audited); 429 while the address is blocked."""
    tokens, attempts, address = request.app[TOKENS_KEY], request.app[ATTEMPTS_KEY], client_address(request)
    wait = attempts.retry_after(address)
    if wait is not None:  # not even checked: a blocked address learns nothing about its guesses
        raise ApiError(429, f"too many wrong tokens from this address; try again in {wait} s", headers={"Retry-After": str(wait)})
    info = await tokens.verify(token)
    if info is not None:
        return info
    details = {"via": via}
    if attempts.failed(address):
        details["blocked_s"] = int(attempts.window_s)
    if attempts.may_audit():
        async with tokens.redis.pipeline(transaction=False) as pipe:
            audit_log.add_to(pipe, Actor("anonymous", address), "token_refused", None, details)
            await pipe.execute()
    await asyncio.sleep(attempts.delay_s)
    raise ApiError(401, "the token is not valid", headers=headers)


async def _cookie_session(request: web.Request) -> tuple[SignIn, TokenInfo] | None:
    """The caller's sign-in session and its token's role; None for no, an unreadable or a dead
    session (its token revoked), which then counts as the public."""
    tokens = request.app[TOKENS_KEY]
    sessions = SignInSessions(tokens.redis)
    signin = await sessions.find(request.cookies.get(COOKIE))
    if signin is None:
        return None
    info = await tokens.verify_digest(signin.token_digest)
    if info is None:  # opened while its token was being revoked: end it now
        await sessions.end([signin], SYSTEM, "token_revoked")
        return None
    await sessions.touch(signin, client_address(request))
    return signin, info


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
        info = await _verify(request, token, "bearer", {"WWW-Authenticate": 'Bearer realm="pantau", error="invalid_token"'})
    elif request.headers.get("Authorization"):
        raise ApiError(401, "use 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": 'Bearer realm="pantau"'})
    else:
        session = await _cookie_session(request)
        if session is not None:
            signin, info = session
            if changes_state and request.method not in SAFE_METHODS and not hmac.compare_digest(request.headers.get("X-CSRF-Token", ""), signin.csrf):
                raise ApiError(403, "missing or wrong X-CSRF-Token for a signed-in session")
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
    info = await _verify(request, token, "sign_in")
    sessions = SignInSessions(request.app[TOKENS_KEY].redis)
    if (previous := await sessions.find(request.cookies.get(COOKIE))) is not None:  # this browser's old session
        await sessions.end([previous], Actor(previous.label, client_address(request)), "replaced")
    session_id, signin = await sessions.open(info.label, info.role, hash_token(token), client_address(request))
    response = web.json_response({"label": info.label, "role": info.role, "csrf_token": signin.csrf}, headers={"Cache-Control": "no-store"})
    response.set_cookie(COOKIE, session_id, max_age=SESSION_TTL_S, httponly=True, samesite="Strict", path="/",
                        secure=_cookie_secure(request))
    return response


@routes.get("/api/session")
async def current_session(request: web.Request) -> web.Response:
    session = await _cookie_session(request)
    if session is None:
        raise ApiError(401, "not signed in")
    signin, info = session
    return web.json_response({"label": info.label, "role": info.role, "csrf_token": signin.csrf}, headers={"Cache-Control": "no-store"})


@routes.delete("/api/session")
async def sign_out(request: web.Request) -> web.Response:
    info = await caller(request)  # CSRF check for cookie sessions
    sessions = SignInSessions(request.app[TOKENS_KEY].redis)
    signin = await sessions.find(request.cookies.get(COOKIE))
    if signin is not None:
        await sessions.end([signin], Actor(info.label if info else signin.label, client_address(request)), "signed_out")
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


def _cookie_secure(request: web.Request) -> bool:
    """Secure when the browser reached us over HTTPS (directly or per a trusted proxy), unless
    the site forces it with http.cookie_secure."""
    forced = request.app[SETTINGS].http.cookie_secure if SETTINGS in request.app else None
    return came_over_https(request) if forced is None else forced
