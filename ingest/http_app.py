"""The HTTP side of a `pantau ingest` process (only with --port): `/healthz`, `/api/metrics`
(operator or admin), `/metrics` (Prometheus; the metrics token, operator or admin) and, added by
the node, `/whip/` for the WHIP cameras it ingests."""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from ingest.metrics import IngestCollector
from ingest.worker import IngestWorker
from pantau.access.tokens import TokenStore
from pantau.bus.bus_metrics import BusCollector
from pantau.bus.redis_bus import RedisStreamBus
from pantau.bus.stream_bus import StreamBus
from pantau.cameras.registry import Registry
from pantau.monitoring.metrics import METRICS, NodeMetrics, is_metrics_token, metrics_middleware, metrics_response
from pantau.runtime.config import Settings
from pantau.web.http_errors import ApiError, error_middleware
from pantau.web.http_limits import body_limit_middleware

REGISTRY = web.AppKey("ingest_registry", Registry)
WORKER = web.AppKey("ingest_worker_metrics", IngestWorker)
BUS = web.AppKey("ingest_bus", StreamBus)
TOKENS = web.AppKey("ingest_tokens", TokenStore)
SETTINGS = web.AppKey("ingest_settings", Settings)


async def healthz(request: web.Request) -> web.Response:
    """Public: up, and the registry reachable. How many sources (hidden cameras among them) is
    in /api/metrics, for operators."""
    registry = request.app[REGISTRY]
    try:
        await registry.redis.ping()
    except Exception:  # any Redis failure means "not healthy"
        return web.json_response({"ok": False, "registry": "unreachable"}, status=503)
    return web.json_response({"ok": True, "registry": "ok"})


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


async def _require_operator(request: web.Request, what: str = "an operator or admin token") -> None:
    token = _bearer(request)
    if (await request.app[TOKENS].verify(token) if token else None) is None:
        raise ApiError(401, f"this needs {what}: 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": 'Bearer realm="pantau"'})


async def metrics(request: web.Request) -> web.Response:
    await _require_operator(request)
    worker = request.app[WORKER]
    states = Counter(worker.status.current(camera_id).get("state") or "connecting" for camera_id in worker.sources)
    body = {"sources": len(worker.sources), "states": dict(states)}
    bus = request.app[BUS]
    if isinstance(bus, RedisStreamBus):
        body["bus"] = {"published_packets": bus.counters.published_packets, "published_bytes": bus.counters.published_bytes,
                       "demanded_cameras": len(bus.demanded())}
    return web.json_response(body)


async def prometheus_metrics(request: web.Request) -> web.Response:
    if not is_metrics_token(request.app[SETTINGS].metrics, _bearer(request)):
        await _require_operator(request, "the metrics token, or an operator or admin token")
    return await metrics_response(request)


def create_ingest_app(settings: Settings, registry: Registry, tokens: TokenStore, worker: IngestWorker, bus: StreamBus) -> web.Application:
    node_metrics = NodeMetrics(settings.metrics, settings.node_name, "ingest")
    node_metrics.add(IngestCollector(worker, settings.metrics.per_camera))
    node_metrics.add(BusCollector(bus, settings.metrics.per_camera))
    app = web.Application(middlewares=[metrics_middleware(node_metrics), error_middleware, body_limit_middleware(settings.http)])
    app[METRICS] = node_metrics
    app[SETTINGS] = settings
    app[REGISTRY] = registry
    app[WORKER] = worker
    app[BUS] = bus
    app[TOKENS] = tokens
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/metrics", metrics)
    app.router.add_get("/metrics", prometheus_metrics)
    return app
