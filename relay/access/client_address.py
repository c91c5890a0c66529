"""Who is on the other end of a request: the client's address, and whether it came over HTTPS.

Behind the site's reverse proxy (configs/nginx-site.conf) every request comes from the proxy;
its `X-Forwarded-For` and `X-Forwarded-Proto` say who and how. Anyone can send those headers,
so they are believed only from `http.trusted_proxies`: the client is the nearest address in
the X-Forwarded-For chain that is not a trusted proxy. Rate limits, the audit log and the
session cookie's `Secure` flag all read these answers.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, proxies: list[str]):
        try:
            self.networks: list[_Network] = [ipaddress.ip_network(p.strip(), strict=False) for p in proxies]
        except ValueError as exc:
            raise ValueError(f"http.trusted_proxies: {exc}") from None

    def trusts(self, address: str | None) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.networks)

    def client(self, request: web.Request) -> str:
        remote = request.remote or "unknown"
        if not self.networks or not self.trusts(remote):
            return remote
        chain = [hop.strip() for value in request.headers.getall("X-Forwarded-For", []) for hop in value.split(",")]
        for hop in reversed([h for h in chain if h]):
            if _ip(hop) is None:
                return remote  # garbage in the chain: the proxy's own view is all we can vouch for
            if not self.trusts(hop):
                return hop
        return remote

    def came_over_https(self, request: web.Request) -> bool:
        if request.secure:
            return True
        if not self.trusts(request.remote):
            return False
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return proto == "https"


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((text or "").strip().strip("[]"))
    except ValueError:
        return None


PROXIES = web.AppKey("trusted_proxies", TrustedProxies)
_ADDRESS = web.RequestKey("client_address", str)


def client_address(request: web.Request) -> str:
    """The client's address (per the trusted proxies), computed once per request."""
    if _ADDRESS not in request:
        proxies = request.app.get(PROXIES)
        request[_ADDRESS] = proxies.client(request) if proxies else (request.remote or "unknown")
    return request[_ADDRESS]


def came_over_https(request: web.Request) -> bool:
    proxies = request.app.get(PROXIES)
    return proxies.came_over_https(request) if proxies else request.secure
