"""Says so when an answer comes from the last known state: while the registry Redis is
unreachable (restarting, failing over), the registry answers reads from its mirror and the
statuses as last seen (pantau/cameras/registry.py), and every response of this relay carries
`Pantau-Registry: unreachable since <time>; last known state`, so a page or a script can tell
"nothing changed" from "nothing could be read". Writes meanwhile get 503 + Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from relay.context import REGISTRY

HEADER = "Pantau-Registry"


@web.middleware
async def registry_outage_middleware(request: web.Request, handler):
    response = await handler(request)
    since = request.app[REGISTRY].unreachable_since
    if since is not None and not response.prepared:  # a stream (SSE, a long download) has sent its headers already
        stamp = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        response.headers[HEADER] = f"unreachable since {stamp}; last known state"
    return response
