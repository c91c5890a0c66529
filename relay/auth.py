"""Who is asking: a bearer token (Authorization header) resolved to a role.

Tokens are never accepted in URLs. The session cookie sign-in comes with the admin page.
"""

from __future__ import annotations

from aiohttp import web

from pantau.tokens import TokenInfo, TokenStore
from relay.http_errors import ApiError

TOKENS_KEY = web.AppKey("tokens", TokenStore)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def caller(request: web.Request) -> TokenInfo | None:
    """The caller's token info, or None for the public. A wrong token is refused, not downgraded."""
    token = bearer_token(request)
    if token is None:
        if request.headers.get("Authorization"):
            raise ApiError(401, "use 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": 'Bearer realm="pantau"'})
        return None
    info = await request.app[TOKENS_KEY].verify(token)
    if info is None:
        raise ApiError(401, "the token is not valid", headers={"WWW-Authenticate": 'Bearer realm="pantau", error="invalid_token"'})
    return info


async def require(request: web.Request, role: str) -> TokenInfo:
    info = await caller(request)
    if info is None:
        raise ApiError(401, f"this needs an {role} token: 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": 'Bearer realm="pantau"'})
    if not info.allows(role):
        raise ApiError(403, f"the token labelled {info.label!r} is a {info.role} token; this needs {role}")
    return info
