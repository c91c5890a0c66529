"""The relay's aiohttp application: routes, error handling, body limits."""

from __future__ import annotations

from aiohttp import web

from pantau.access.tokens import TokenStore
from pantau.bus.bus_metrics import BusCollector
from pantau.bus.redis_bus import RedisStreamBus
from pantau.bus.stream_bus import StreamBus
from pantau.cameras.registry import Registry
from pantau.monitoring.metrics import METRICS, NodeMetrics, metrics_middleware
from pantau.runtime.config import Settings
from pantau.runtime.session_directory import SessionDirectory
from pantau.web.http_errors import error_middleware
from pantau.web.http_limits import body_limit_middleware
from pantau.web.ice_config import apply_host_address_policy
from relay.access import auth
from relay.access.auth import ATTEMPTS_KEY, TOKENS_KEY
from relay.access.client_address import PROXIES, TrustedProxies
from relay.access.rate_limits import RATE_LIMITS, RateLimits, rate_limit_middleware
from relay.access.token_attempts import FailedAttempts
from relay.api import admin_api, alerts_api, public_api, push_key_api, session_admin_api
from relay.api.listing_json import ListingJson
from relay.api.metrics import OpenAlerts, RelayCollector, prometheus_metrics
from relay.api.openapi import openapi_document
from relay.api.reference_api import routes as reference_routes
from relay.api.registry_outage import registry_outage_middleware
from relay.context import BUS, LISTING_JSON, REGION_TREES, REGISTRY, SESSIONS, SETTINGS, VIEWERS, WALL
from relay.hls import http as hls_http
from relay.hls.hls_cameras import HlsCameras
from relay.hls.redis_part_log import RedisPartLog
from relay.live import events
from relay.live.events import HUB, EventHub
from relay.live.region_counts import RegionTreeCache
from relay.live.wall_summary import WallSummary
from relay.recordings import recordings_api
from relay.web import fresh_tiles, pages, tiles
from relay.webrtc import whep
from relay.webrtc.viewer_counts import LocalViewerCounts, SiteViewerCounts
from relay.webrtc.viewer_sessions import ViewerSessions


async def healthz(request: web.Request) -> web.Response:
    """Public: up, and the registry reachable; nothing about cameras (their number or the
    registry revision would tell of non-public ones: operators find both in /api/metrics)."""
    registry = request.app[REGISTRY]
    try:
        await registry.redis.ping()
    except Exception:  # any Redis failure means "not healthy"; the detail is in the log
        return web.json_response({"ok": False, "registry": "unreachable"}, status=503)
    return web.json_response({"ok": True, "registry": "ok"})


async def metrics_json(request: web.Request) -> web.Response:
    """Operator view of this node's relay: the registry (cameras, revision), sessions and
    relay-added latency (bus -> RTP sender)."""
    await auth.require(request, "operator")
    table = await request.app[REGISTRY].readable()  # (answers during a registry outage too)
    sessions = request.app[SESSIONS]
    samples = sorted(sessions.latency_samples)

    def percentile(q: float) -> float | None:
        return round(samples[min(len(samples) - 1, int(q * len(samples)))] * 1000, 2) if samples else None

    return web.json_response({
        "registry": {"cameras": len(table.cameras), "revision": table.revision},
        "viewers": len(sessions.sessions), "viewers_per_camera": dict(sessions.per_camera),
        # Session changes made while the registry Redis was away, written when it is back.
        "session_directory_unwritten": sessions.directory.unwritten,
        "relay_latency_ms": {"p50": percentile(0.5), "p99": percentile(0.99), "samples": len(samples)},
        "hls": request.app[hls_http.HLS].summary(),
    })


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


async def _start_background(app: web.Application) -> None:
    app[HUB].start()
    app[VIEWERS].start()


async def _stop_background(app: web.Application) -> None:
    await app[SESSIONS].close_all()
    await app[SESSIONS].directory.close()
    await hls_http.stop(app)
    await app[VIEWERS].stop()
    await app[HUB].stop()


def create_app(settings: Settings, registry: Registry, tokens: TokenStore, bus: StreamBus) -> web.Application:
    # Outermost first: requests are counted as answered (/metrics); errors become JSON; bodies
    # are read within their limits before anyone (the rate limit too) spends time on a request.
    metrics = NodeMetrics(settings.metrics, settings.node_name, "relay")
    app = web.Application(middlewares=[metrics_middleware(metrics), error_middleware, registry_outage_middleware,
                                       body_limit_middleware(settings.http, admin_api.LARGE_BODY_PATHS), rate_limit_middleware],
                          client_max_size=settings.http.max_body_mb * 1024 * 1024)
    apply_host_address_policy(settings.relay.ice)
    wall = WallSummary(registry)
    hub = EventHub(registry, wall)
    app[SETTINGS] = settings
    app[PROXIES] = TrustedProxies(settings.http.trusted_proxies)
    app[RATE_LIMITS] = RateLimits(settings.limits)
    app[REGISTRY] = registry
    app[TOKENS_KEY] = tokens
    app[ATTEMPTS_KEY] = FailedAttempts()
    app[REGION_TREES] = RegionTreeCache()
    app[LISTING_JSON] = ListingJson(registry.regions)
    app[BUS] = bus
    # LL-HLS: on a site one elected relay packages each camera into the bus Redis (relay/hls/).
    part_log = RedisPartLog(bus.redis, settings.node_name) if isinstance(bus, RedisStreamBus) else None
    app[hls_http.HLS] = HlsCameras(bus, settings.hls, part_log,  # sound only where the public may hear it
                                   lambda camera_id: getattr(registry.table.cameras.get(camera_id), "audio_public", False))
    app[HUB] = hub
    app[WALL] = wall
    sessions = ViewerSessions(bus, settings.relay, SessionDirectory(registry.redis, "whep", settings.node_name),
                              on_count=lambda camera_id, count: app[VIEWERS].changed(camera_id, count),
                              pending_per_address=settings.limits.pending_offers_per_address)
    hub.sessions = sessions
    app[SESSIONS] = sessions
    # On a site, viewers of a camera are counted over every relay; embedded, this one is all.
    app[VIEWERS] = (SiteViewerCounts(registry.redis, settings.node_name, sessions.viewers) if settings.uses_redis_bus
                    else LocalViewerCounts(sessions.viewers, hub.publish_viewers))
    hub.viewer_counts = app[VIEWERS]
    app[METRICS] = metrics
    metrics.add(RelayCollector(sessions, hub, registry, settings.metrics.per_camera, app[hls_http.HLS]))
    metrics.add(BusCollector(bus, settings.metrics.per_camera))
    alerts = OpenAlerts(alerts_api.store_of(registry).open_counts)  # open alerts by kind (pantau/monitoring/alerts.py)
    metrics.add(alerts)
    metrics.before_scrape(alerts.refresh)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/metrics", metrics_json)
    app.router.add_get("/metrics", prometheus_metrics)
    app.add_routes(reference_routes)  # /api/admin/cameras/{id}/reference
    app.add_routes(recordings_api.routes)  # /api/cameras/{id}/recordings..., holds, the site key
    for module in (public_api, admin_api, alerts_api, push_key_api, session_admin_api, auth, tiles, fresh_tiles, events, whep, hls_http, pages):
        app.add_routes(module.routes)
    app.on_startup.append(_start_background)
    app.on_shutdown.append(_stop_background)
    return app
