"""Rate limits per client address for anonymous callers: token buckets, 429 + Retry-After.

One anonymous client must not be able to take what the public shares: requests (`api`, every
page and /api/ call), tiles (`tiles`), HLS (`hls`), WHEP offers (`offers`, checked by the WHEP handler).
Signed-in operators and admins are exempt. Buckets live in memory per relay (a site's load
balancer spreads a client over relays, which only makes each relay's share smaller); the least
recently used addresses are forgotten beyond `limits.addresses_tracked`, which bounds memory
whatever the number of addresses seen. Static files under /viewer/ are not counted (cacheable,
and a page needs a dozen of them).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web

from pantau.monitoring.metrics import is_metrics_token
from pantau.runtime.config import LimitSettings, RateLimit
from pantau.web.http_errors import ApiError
from relay.access import auth
from relay.access.client_address import client_address
from relay.context import SETTINGS


class TokenBuckets:
    """`take(key)` spends one token of key's bucket: 0.0 if there was one, else the seconds
    until there will be."""

    def __init__(self, limit: RateLimit, capacity: int, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.capacity = capacity
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def take(self, key: str) -> float:
        now = self.clock()
        tokens, at = self._buckets.pop(key, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - at) * self.limit.per_s)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.limit.per_s
        self._buckets[key] = (tokens, now)  # most recently used last
        while len(self._buckets) > self.capacity:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimits:
    def __init__(self, settings: LimitSettings, clock: Callable[[], float] = time.monotonic):
        self.buckets = {name: TokenBuckets(getattr(settings, name), settings.addresses_tracked, clock)
                        for name in ("api", "tiles", "offers", "hls")}

    def wait(self, name: str, address: str) -> int:
        """0 when `address` may go on (a token of its `name` bucket is spent), else the whole
        seconds to wait (for Retry-After)."""
        wait = self.buckets[name].take(address)
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def check(self, name: str, address: str) -> None:
        """Raise 429 with Retry-After when `address` has spent its `name` bucket."""
        if seconds := self.wait(name, address):
            raise ApiError(429, retry_message(seconds), headers={"Retry-After": str(seconds)})


def retry_message(seconds: int) -> str:
    return f"Terlalu banyak permintaan dari alamat ini. Coba lagi dalam {seconds} detik."


RATE_LIMITS = web.AppKey("rate_limits", RateLimits)


async def signed_in(request: web.Request) -> bool:
    """Whether the caller is an operator or admin. A GET resolves its credentials here (cached
    for the handler: no CSRF check applies to it); other methods are not resolved here, since
    the handler's own check must see the CSRF rule: they count as signed in when they carry
    credentials, and those handlers refuse wrong ones."""
    has_credentials = bool(request.headers.get("Authorization") or request.cookies.get(auth.COOKIE))
    if not has_credentials:
        return False
    if request.path == "/metrics" and SETTINGS in request.app and is_metrics_token(request.app[SETTINGS].metrics, auth.bearer_token(request)):
        return True  # Prometheus with the scrape-only token (not a token auth.caller knows)
    if request.method in ("GET", "HEAD"):
        if request.path.startswith("/whip/"):
            return False  # its bearer is a push key (or a token) that ingest/sources/whip_http.py checks: limited as anyone
        return await auth.caller(request, changes_state=False) is not None
    return True


def _bucket(path: str) -> str:
    """HLS has its own bucket: a LL-HLS player asks ~10 times a second (parts and blocking
    playlist reloads), more than `api` allows, and nginx in front answers most of it."""
    if path.startswith("/hls/"):
        return "hls"
    return "tiles" if path.endswith("/tile.jpg") else "api"


@web.middleware
async def rate_limit_middleware(request: web.Request, handler):
    limits = request.app.get(RATE_LIMITS)
    if limits is None or request.method == "OPTIONS" or request.path.startswith("/viewer/"):
        return await handler(request)
    if not await signed_in(request):
        limits.check(_bucket(request.path), client_address(request))
    return await handler(request)
