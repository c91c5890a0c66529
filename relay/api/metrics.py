"""The relay in /metrics (pantau/monitoring/metrics.py): viewers, the relay-added latency histogram, event
streams, the registry's size and open alerts, read at scrape time; and the `/metrics` route.

Viewers are WHEP sessions (`protocol="whep"`). LL-HLS has no sessions to count (plain HTTP
requests, and the site's nginx caches them): its requests are in `pantau_http_requests_total`
under the /hls/ routes, and the cameras it serves and packages are gauges here. Open alerts are site-wide (the registry's), so every
relay reports the same numbers: a dashboard takes `max`, not `sum`, over relays.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client.core import HistogramMetricFamily, Metric

from pantau.cameras.registry import Registry
from pantau.monitoring.metrics import gauge, is_metrics_token, metrics_response
from relay.access import auth
from relay.context import SETTINGS
from relay.live.events import EventHub
from relay.webrtc.viewer_sessions import ViewerSessions

if TYPE_CHECKING:
    from relay.hls.hls_cameras import HlsCameras

log = logging.getLogger(__name__)

OpenAlertCount = Callable[[], Awaitable[dict[str, int]]]


class RelayCollector:
    def __init__(self, sessions: ViewerSessions, hub: EventHub, registry: Registry, per_camera: bool = False,
                 hls: HlsCameras | None = None):
        self.sessions = sessions
        self.hls = hls
        self.hub = hub
        self.registry = registry
        self.per_camera = per_camera

    def collect(self) -> Iterator[Metric]:
        sessions = list(self.sessions.sessions.values())
        watching = Counter("public" if s.public else "staff" for s in sessions if s.connected)
        yield gauge("pantau_relay_viewers", "Viewers connected to this relay, by protocol and audience (public, or staff: operators and admins)",
                    labels=["protocol", "audience"], rows=[("whep", audience, watching[audience]) for audience in ("public", "staff")])
        yield gauge("pantau_relay_pending_sessions", "WHEP sessions answered and not connected yet",
                    sum(1 for s in sessions if not s.connected))
        yield gauge("pantau_relay_watched_cameras", "Cameras with at least one viewer on this relay", len(self.sessions.per_camera))
        latency = self.sessions.latency_samples
        buckets = latency.cumulative_buckets()
        yield HistogramMetricFamily("pantau_relay_latency_seconds", "Relay-added latency, one sample per viewer and live frame: "
                                    "ingest receive -> that viewer's packets handed to the kernel", buckets=buckets, sum_value=latency.total_s)
        if self.hls is not None:
            yield gauge("pantau_relay_hls_cameras", "Cameras this relay answers LL-HLS requests for now (asked within hls.linger_s)",
                        len(self.hls.cameras))
            yield gauge("pantau_relay_hls_packaging_cameras", "Cameras this relay packages into LL-HLS (on a site: those it was elected for)",
                        len(self.hls.packaging()))
        yield gauge("pantau_relay_event_streams", "Open Server-Sent Events streams (pages following statuses)", len(self.hub.clients))
        yield gauge("pantau_registry_cameras", "Cameras in the registry (this relay's mirror of it)", len(self.registry.table.cameras))
        if self.per_camera:
            yield gauge("pantau_camera_viewers", "Viewers of the camera on this relay", labels=["camera"],
                        rows=sorted(self.sessions.per_camera.items()))


class OpenAlerts:
    """Open alerts by kind, counted before each scrape. `count` is the alerts module's cheap
    count (see `relay.app.open_alert_count`); without one, the family is there with no series."""

    def __init__(self, count: OpenAlertCount | None = None):
        self.count = count
        self.by_kind: dict[str, int] = {}

    async def refresh(self) -> None:
        if self.count is None:
            return
        try:
            self.by_kind = await self.count()
        except Exception as exc:  # Redis away: the last numbers stand, the scrape still answers
            log.warning("could not count open alerts: %s", exc)

    def collect(self) -> Iterator[Metric]:
        yield gauge("pantau_alerts_open", "Open alerts on the site by kind (the same on every relay: take max, not sum)",
                    labels=["kind"], rows=sorted(self.by_kind.items()))


async def prometheus_metrics(request: web.Request) -> web.Response:
    """GET /metrics: the metrics token, or an operator or admin token (bearer or signed in)."""
    if not is_metrics_token(request.app[SETTINGS].metrics, auth.bearer_token(request)):
        await auth.require(request, "operator")
    return await metrics_response(request)
