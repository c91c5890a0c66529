"""The HTTP side of a `pantau ingest` process (only with --port): `/healthz`, `/api/metrics`
(operator or admin) and, added by the node, `/whip/` for the WHIP cameras it ingests."""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from ingest.worker import IngestWorker
from pantau.config import Settings
from pantau.http_errors import ApiError, error_middleware
from pantau.http_limits import body_limit_middleware
from pantau.redis_bus import RedisStreamBus
from pantau.registry import Registry
from pantau.stream_bus import StreamBus
from pantau.tokens import TokenStore

REGISTRY = web.AppKey("ingest_registry", Registry)
WORKER = web.AppKey("ingest_worker_metrics", IngestWorker)
BUS = web.AppKey("ingest_bus", StreamBus)
TOKENS = web.AppKey("ingest_tokens", TokenStore)


async def healthz(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    try:
        await registry.redis.ping()
    except Exception:  # any Redis failure means "not healthy"
        return web.json_response({"ok": False, "registry": "unreachable"}, status=503)
    return web.json_response({"ok": True, "registry": "ok", "sources": len(request.app[WORKER].sources)})


async def metrics(request: web.Request) -> web.Response:
    header = request.headers.get("Authorization", "")
    info = await request.app[TOKENS].verify(header[7:].strip()) if header[:7].lower() == "bearer " else None
    if info is None:
        raise ApiError(401, "this needs an operator or admin token: 'Authorization: Bearer <token>'",
                       headers={"WWW-Authenticate": 'Bearer realm="pantau"'})
    worker = request.app[WORKER]
    states = Counter(worker.status.current(camera_id).get("state") or "connecting" for camera_id in worker.sources)
    body = {"sources": len(worker.sources), "states": dict(states)}
    bus = request.app[BUS]
    if isinstance(bus, RedisStreamBus):
        body["bus"] = {"published_packets": bus.counters.published_packets, "published_bytes": bus.counters.published_bytes,
                       "demanded_cameras": len(bus.demanded())}
    return web.json_response(body)


def create_ingest_app(settings: Settings, registry: Registry, tokens: TokenStore, worker: IngestWorker, bus: StreamBus) -> web.Application:
    app = web.Application(middlewares=[error_middleware, body_limit_middleware(settings.http)])
    app[REGISTRY] = registry
    app[WORKER] = worker
    app[BUS] = bus
    app[TOKENS] = tokens
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/metrics", metrics)
    return app
