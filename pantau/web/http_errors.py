"""One JSON error shape for every failure: {"error": code, "message": text, "errors": [...]}.

Known failures map to 4xx with a reason a person can act on, an unreachable Redis to 503 with
Retry-After; anything unexpected is a 500 whose log line (redacted) carries the detail and whose
body carries none.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.exceptions
from aiohttp import web

from pantau.access.redaction import redact
from pantau.cameras.camera import CameraInvalid
from pantau.cameras.camera_csv import ImportInvalid
from pantau.cameras.registry import RegistryError
from pantau.web.json_body import JsonBodyInvalid, decode_json

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          408: "timeout", 409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid",
          429: "too_many_requests", 503: "unavailable"}


def json_error(status: int, message: str, errors: list[dict] | None = None, headers: dict | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"error": _CODES.get(status, "error"), "message": redact(message)}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return web.json_response(body, status=status, headers=headers)


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.field = field
        self.headers = headers


async def read_json(request: web.Request) -> Any:
    if request.content_type not in ("application/json", "") and not request.content_type.endswith("+json"):
        raise ApiError(415, f"send JSON with Content-Type: application/json (got {request.content_type})")
    try:
        return decode_json(await request.read(), request.charset)
    except JsonBodyInvalid as exc:
        raise ApiError(exc.status, str(exc), field="body" if exc.status == 400 else None) from None


_API_PREFIXES = ("/api/", "/whep/", "/whip/", "/healthz")
_NOT_FOUND_PAGE = """<!doctype html><html lang="id"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Halaman tidak ditemukan — Pantau</title>
<link rel="stylesheet" href="/viewer/css/pantau.css">
<main style="max-width:40rem;margin:4rem auto;padding:0 1rem"><h1>Halaman tidak ditemukan</h1>
<p>Alamat ini tidak ada di Pantau. Periksa kembali tautannya.</p>
<p><a href="/">Cari kamera TPS</a> · <a href="/wall">Layar 44 kecamatan</a></p></main></html>
"""


def _is_page_visit(request: web.Request) -> bool:
    """A person's browser opening an address (not an API client): it gets a page, not JSON."""
    return (request.method == "GET" and "text/html" in request.headers.get("Accept", "")
            and not request.path.startswith(_API_PREFIXES))


def _page_not_found() -> web.Response:
    return web.Response(status=404, text=_NOT_FOUND_PAGE, content_type="text/html")


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as exc:
        errors = [{"field": exc.field, "reason": str(exc)}] if exc.field else None
        return json_error(exc.status, str(exc), errors, headers=exc.headers)
    except CameraInvalid as exc:
        return json_error(422, "the camera is not valid", [{"field": e.field, "reason": e.reason} for e in exc.errors])
    except ImportInvalid as exc:
        listed = f" (the first {len(exc.errors)} are listed)" if exc.not_listed else ""
        return json_error(422, f"the CSV was refused whole; nothing was stored. {exc}{listed}", exc.to_json(),
                          error_count=exc.total, errors_not_listed=exc.not_listed)
    except RegistryError as exc:
        return json_error(exc.status, str(exc))
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        # The registry (or bus) Redis restarting or failing over: a moment's outage, not a bug.
        log.warning("Redis unreachable on %s %s: %s", request.method, request.path, exc)
        return json_error(503, "the site's Redis is unreachable for a moment; try again", headers={"Retry-After": "2"})
    except web.HTTPRequestEntityTooLarge as exc:
        return json_error(413, f"the body is larger than this server accepts ({exc.text or 'limit exceeded'})")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404 and _is_page_visit(request):
            return _page_not_found()
        return json_error(exc.status, exc.reason or exc.text or "request refused", headers={k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")})
    except Exception as exc:
        if isinstance(exc, ConnectionResetError) and _client_gone(request):
            # A client that hangs up mid-body: one short line, no traceback (a flood costs it nothing).
            log.info("client closed the connection during %s %s", request.method, request.path)
            return json_error(400, "the connection closed before the body was complete")
        log.exception("unexpected error on %s %s", request.method, request.path)
        return json_error(500, "internal error; the server log has the detail")
