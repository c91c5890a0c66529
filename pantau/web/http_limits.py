"""Bounds on what one HTTP request may cost, shared by the relay's and ingest's servers.

Bodies: every POST/PUT/PATCH body is read here, before any handler, within
`http.body_timeout_s` and at most `http.max_small_body_kb` (JSON and SDP are a few KB), except
the routes given a large limit (the admin's CSV import: `http.max_body_mb`). A declared
Content-Length over the limit is refused before a byte is read; a chunked body is refused as
soon as it passes the limit. Handlers then read the body as usual (`request.read()`,
`text()`), from memory. Heads: aiohttp closes a connection that has not sent a whole request
head within its keep-alive timeout (it is armed at connect and after each answer, and bytes
trickling in do not re-arm it), so `runner_options` sets that to `http.header_timeout_s`.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from pantau.runtime.config import HttpSettings
from pantau.web.http_errors import ApiError

_METHODS_WITH_BODY = ("POST", "PUT", "PATCH")


def runner_options(settings: HttpSettings) -> dict:
    """Options for web.AppRunner: the slow-header bound (see the module docstring)."""
    return {"keepalive_timeout": settings.header_timeout_s}


def body_limit_middleware(settings: HttpSettings, large_body_paths: frozenset[str] = frozenset()):
    small, large = settings.max_small_body_kb * 1024, settings.max_body_mb * 1024 * 1024

    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.method in _METHODS_WITH_BODY and request.body_exists:
            limit = large if request.path in large_body_paths else small
            await _read_body(request, limit, settings.body_timeout_s)
        return await handler(request)

    return middleware


async def _read_body(request: web.Request, limit: int, timeout_s: float) -> None:
    if (request.content_length or 0) > limit:
        raise ApiError(413, f"the request body is larger than this endpoint accepts ({_size(limit)})")
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            while chunk := await request.content.readany():
                body += chunk
                if len(body) > limit:
                    raise ApiError(413, f"the request body is larger than this endpoint accepts ({_size(limit)})")
    except TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {timeout_s:g} s", headers={"Connection": "close"}) from None
    # aiohttp's read()/text()/json() return this once set, instead of reading the (now empty)
    # stream again; it is the attribute BaseRequest.read() caches its result in.
    request._read_bytes = bytes(body)


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
