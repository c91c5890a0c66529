"""The relay's aiohttp application: routes, error handling, body limits."""

from __future__ import annotations

from aiohttp import web

from pantau.config import Settings
from pantau.paths import VIEWER_DIR
from pantau.registry import Registry
from pantau.tokens import TokenStore
from relay import admin_api, public_api
from relay.auth import TOKENS_KEY
from relay.context import REGION_TREES, REGISTRY, SETTINGS
from relay.http_errors import error_middleware
from relay.openapi import openapi_document
from relay.region_counts import RegionTreeCache


async def healthz(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    try:
        await registry.redis.ping()
    except Exception:  # any Redis failure means "not healthy"; the detail is in the log
        return web.json_response({"ok": False, "registry": "unreachable"}, status=503)
    table = await registry.sync()
    return web.json_response({"ok": True, "registry": "ok", "cameras": len(table.cameras), "revision": table.revision})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(VIEWER_DIR / "index.html")


def create_app(settings: Settings, registry: Registry, tokens: TokenStore) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.http.max_body_mb * 1024 * 1024)
    app[SETTINGS] = settings
    app[REGISTRY] = registry
    app[TOKENS_KEY] = tokens
    app[REGION_TREES] = RegionTreeCache()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/openapi.json", openapi)
    app.add_routes(public_api.routes)
    app.add_routes(admin_api.routes)
    app.router.add_get("/", index)
    return app
