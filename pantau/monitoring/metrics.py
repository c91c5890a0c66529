"""`GET /metrics`: what one process knows, in the Prometheus text format (prometheus_client).

Each aiohttp app has its own `NodeMetrics` (a CollectorRegistry of its own, not the library's
global one: tests run several apps in one process). Almost everything is read from the live
state at scrape time by collectors (`ingest/metrics.py`, `relay/api/metrics.py`, `BusCollector`
below), never counted again on the per-packet path: ingest's CPU per camera is a tracked
benchmark. The exceptions are HTTP requests (a middleware, per request) and the relay-added
latency histogram (relay/webrtc/relay_latency.py, per frame sent, where the sample was already taken).

HTTP requests are labelled by the route's canonical path (`/api/cameras/{id}`), never by the
raw path, so a crawler cannot grow the label set. Per-camera series are off by default
(`metrics.per_camera`): with ~31k cameras that is a Prometheus sizing decision.

Who may scrape: an operator or admin token, or the separate `metrics.token` (compared in
constant time), so Prometheus can hold a token that watches no camera.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from pantau import __version__
from pantau.runtime.config import MetricsSettings

# The classic text format every Prometheus reads (prometheus_client's newer default, 1.0.0,
# only Prometheus 3 does); our metric and label names need none of 1.0.0's escaping.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED_ROUTE = "unmatched"  # 404s and 405s: no route, and never the raw path
HTTP_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# No `<name>_created` series beside every counter and histogram: they would double the series
# for nothing a dashboard reads (process-wide; Pantau has no other prometheus_client user).
disable_created_metrics()


class NodeMetrics:
    """One app's metrics: its registry, the HTTP request metrics, and async refreshers that
    gather what cannot be read synchronously at scrape time (Redis)."""

    def __init__(self, settings: MetricsSettings, node: str, role: str):
        self.settings = settings
        self.node = node
        self.role = role  # serve | relay | ingest (the node sets it; read at scrape time)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_NodeInfo(self))
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, process_resident_memory_bytes, ...
        self.http_requests = Counter("pantau_http_requests", "HTTP requests answered, by route (canonical path), method and status",
                                     ["route", "method", "status"], registry=self.registry)
        self.http_duration = Histogram("pantau_http_request_duration_seconds", "Time to answer an HTTP request, by route",
                                       ["route"], buckets=HTTP_DURATION_BUCKETS, registry=self.registry)
        self._refreshers: list[Callable[[], Awaitable[None]]] = []

    @property
    def per_camera(self) -> bool:
        return self.settings.per_camera

    def add(self, collector) -> None:
        self.registry.register(collector)

    def before_scrape(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """Run `refresh` (on the event loop) before each scrape, e.g. to count something in Redis."""
        self._refreshers.append(refresh)

    async def render(self) -> bytes:
        for refresh in self._refreshers:
            await refresh()
        return generate_latest(self.registry)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_duration.labels(route).observe(seconds)


METRICS = web.AppKey("metrics", NodeMetrics)


class _NodeInfo:
    def __init__(self, metrics: NodeMetrics):
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("pantau_node_info", "This process: its node name, role and version (always 1)",
                                 labels=["node", "role", "version"])
        info.add_metric([self._metrics.node, self._metrics.role, __version__], 1)
        yield info


def route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


def metrics_middleware(metrics: NodeMetrics):
    """Outermost: counts what the client got, error responses made by the inner middlewares too."""

    @web.middleware
    async def count_requests(request: web.Request, handler):
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects and anything the error middleware let through
            metrics.observe_request(route_label(request), request.method, exc.status, time.perf_counter() - started)
            raise
        except Exception:
            metrics.observe_request(route_label(request), request.method, 500, time.perf_counter() - started)
            raise
        metrics.observe_request(route_label(request), request.method, response.status, time.perf_counter() - started)
        return response

    return count_requests


def is_metrics_token(settings: MetricsSettings, token: str | None) -> bool:
    """The scrape-only token, compared in constant time."""
    expected = settings.token.get_secret_value() if settings.token is not None else None
    return bool(token and expected) and hmac.compare_digest(token.encode(), expected.encode())


async def metrics_response(request: web.Request) -> web.Response:
    """The answer once the caller is allowed (each app checks that its own way)."""
    body = await request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


def counter(name: str, documentation: str, value: float | None = None, labels: Iterable[str] = (),
            rows: Iterable[tuple] = ()) -> CounterMetricFamily:
    """A counter family: one unlabelled `value`, and/or `rows` of (label values..., value)."""
    family = CounterMetricFamily(name, documentation, labels=list(labels))
    if value is not None:
        family.add_metric([], value)
    for *label_values, row_value in rows:
        family.add_metric(label_values, row_value)
    return family


def gauge(name: str, documentation: str, value: float | None = None, labels: Iterable[str] = (),
          rows: Iterable[tuple] = ()) -> GaugeMetricFamily:
    """A gauge family: one unlabelled `value`, and/or `rows` of (label values..., value)."""
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    if value is not None:
        family.add_metric([], value)
    for *label_values, row_value in rows:
        family.add_metric(label_values, row_value)
    return family
