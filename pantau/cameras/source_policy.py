"""Which addresses a camera source may reach: the guard against sources that point the node at
itself or at cloud metadata (SSRF).

Sources are URLs an admin types, so they can name anything: `rtsp://169.254.169.254/`,
`rtsp://0/`, `whep+http://127.0.0.1:8080/api/admin/cameras`. Always refused: link-local and
metadata addresses, unspecified addresses, and this node's own HTTP ports on any of its
addresses. `source_policy.deny` adds CIDRs (e.g. loopback), `source_policy.allow` makes
exceptions; the most specific matching CIDR decides (deny on a tie), like a routing table, so
`deny: [0.0.0.0/0]` plus `allow: [10.8.0.0/16]` admits one VPN only. Private ranges and loopback
stay allowed by default: cameras sit on private VPNs, and a local RTSP proxy on loopback.

Three places ask, all through this module: validation (`check_literal`: hosts written as
addresses, no DNS), the admin's connection test and ingest (`resolve`: every address a name
resolves to is checked, and the connection is handed the checked address, so a DNS answer that
changes between check and connect cannot slip through). Host forms are read the way the C
resolver that FFmpeg uses reads them (`getaddrinfo` with AI_NUMERICHOST): `2130706433`,
`127.1`, `0x7f.1` are 127.0.0.1 and `0` is 0.0.0.0, where Python's `ipaddress` rejects them all
and would let them through as "names".
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections import Counter
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Refused whatever the configuration says (an `allow` entry can still carve out a narrower range).
BUILT_IN_DENY = {
    "169.254.0.0/16": "link-local, where cloud metadata lives (169.254.169.254)",
    "fe80::/10": "IPv6 link-local",
    "fd00:ec2::254/128": "cloud metadata (IPv6)",
    "0.0.0.0/8": "unspecified address (0, 0.0.0.0: the node itself)",
    "::/128": "unspecified address (::, the node itself)",
}
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "whep+http": 80, "whep+https": 443, "http": 80, "https": 443,
                 "rtmp": 1935, "rtmps": 443}


class SourceRefused(OSError):
    """The source names an address the policy refuses; the message names the rule. An OSError,
    so every source's "cannot connect" handling (status `unreachable`) applies to it."""

    def __init__(self, address: str, rule: str):
        super().__init__(f"the address {address} is refused by the source policy (rule: {rule})")
        self.strerror = str(self)  # what aiohttp's connection errors quote
        self.rule = rule


def _network(cidr: str) -> Network:
    return ipaddress.ip_network(cidr, strict=False)


def _plain(address: Address) -> Address:
    """::ffff:169.254.169.254 is 169.254.169.254 to the kernel: check it as such."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_local(address: Address) -> bool:
    """One of this machine's own addresses (binding to it works only then)."""
    if address.is_loopback or address.is_unspecified:
        return True
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
        return True
    except OSError:
        return False


def numeric_address(host: str) -> Address | None:
    """The address a host written as a number means to the C resolver, or None for a name."""
    try:
        return _plain(ipaddress.ip_address(host))  # the usual forms, without a libc call
    except ValueError:
        pass
    if ":" in host:  # IPv6, possibly with a zone (fe80::1%25eth0)
        try:
            return _plain(ipaddress.ip_address(host.split("%", 1)[0]))
        except ValueError:
            return None
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return _plain(ipaddress.ip_address(infos[0][4][0]))


def host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError("URL has no host")
    return parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in: what a stored secret is tied to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme, 0)


class SourcePolicy:
    def __init__(self, deny: Iterable[str] = (), allow: Iterable[str] = (), deny_own_ports: bool = True,
                 own_ports: Iterable[int] = ()):
        rules = [(_network(c), False, f"{c}, {why}") for c, why in BUILT_IN_DENY.items()]
        rules += [(_network(c), False, f"source_policy.deny {c}") for c in deny]
        rules += [(_network(c), True, f"source_policy.allow {c}") for c in allow]
        # Most specific first; on equal prefixes a deny comes before an allow. Kept as integers:
        # a 31k-row import checks every row.
        rules.sort(key=lambda rule: (-rule[0].prefixlen, rule[1]))
        self._rules = [(n.version, int(n.network_address), int(n.netmask), allowed, rule) for n, allowed, rule in rules]
        self.deny_own_ports = deny_own_ports
        self._own_ports = Counter(p for p in own_ports if p)

    # -- this node's HTTP ports (known once bound: --port 0 picks one) ------------------------
    def add_own_port(self, port: int) -> None:
        self._own_ports[port] += 1

    def remove_own_port(self, port: int) -> None:
        self._own_ports[port] -= 1
        if self._own_ports[port] <= 0:
            del self._own_ports[port]

    # -- the checks ---------------------------------------------------------------------------
    def check_address(self, address: Address, port: int) -> None:
        address = _plain(address)
        version, value = address.version, int(address)
        for rule_version, network, netmask, allowed, rule in self._rules:
            if rule_version == version and value & netmask == network:
                if not allowed:
                    raise SourceRefused(str(address), rule)
                break
        if self.deny_own_ports and port in self._own_ports and is_local(address):
            raise SourceRefused(f"{address} port {port}", "this node's own HTTP port (source_policy.deny_own_ports)")

    def check_literal(self, url: str) -> None:
        """Validation: refuse a URL whose host is written as a refused address. Names pass here
        (they may resolve only where ingest runs) and are checked by `resolve` at connect time."""
        self.check_host(*host_and_port(url))

    def check_host(self, host: str, port: int) -> None:
        address = numeric_address(host)
        if address is not None:
            self.check_address(address, port)

    def _checked(self, infos: list, host: str, port: int) -> list[str]:
        if not infos:
            raise OSError(f"{host} has no address")
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:  # every one: the connection may use any of them
            self.check_address(ipaddress.ip_address(address.split("%", 1)[0]), port)
        return addresses

    def resolve(self, host: str, port: int) -> list[str]:
        """Every address of `host`, all checked (blocking: call from a worker thread)."""
        return self._checked(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM), host, port)

    async def resolve_async(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return self._checked(infos, host, port)

    def pinned_url(self, url: str) -> str:
        """`url` with its host replaced by the checked address it resolves to (blocking).

        FFmpeg would resolve the name again (a DNS answer can change in between), so it is given
        the address literal. Digest auth still works: its digest covers the request URI FFmpeg
        sends, which is this URL, and the realm and nonce come from the camera. RTSPS then sends
        no SNI name; FFmpeg does not verify camera certificates by default anyway.
        """
        parts = urlsplit(url)
        host, port = host_and_port(url)
        address = self.resolve(host, port)[0]
        literal = f"[{address}]" if ":" in address else address
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{literal}:{port}" if userinfo else f"{literal}:{port}"
        return urlunsplit(parts._replace(netloc=netloc))


class CheckingResolver(AbstractResolver):
    """aiohttp's resolver for source requests: aiohttp connects only to addresses this returned,
    so the address checked is the address connected to. (aiohttp skips the resolver for a host
    written as an address: `http_session` checks those first.)"""

    def __init__(self, policy: SourcePolicy):
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = []
        for address in await self.policy.resolve_async(host, port):
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            results.append(ResolveResult(hostname=host, host=str(ip), port=port, proto=0, flags=socket.AI_NUMERICHOST,
                                         family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET))
        return results

    async def close(self) -> None:
        pass


def http_session(url: str, timeout: aiohttp.ClientTimeout) -> aiohttp.ClientSession:
    """A client session for one request to a source's `url` (SourceRefused if it is refused).
    Send with allow_redirects=False: a redirect to an address literal would skip the resolver."""
    policy = current()
    policy.check_literal(url)
    return aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(resolver=CheckingResolver(policy)))


_current = SourcePolicy()


def current() -> SourcePolicy:
    """The process's policy (the built-in rules until `configure` is called at start)."""
    return _current


def configure(settings, own_ports: Iterable[int] = ()) -> SourcePolicy:
    """Set the process's policy from `Settings.source_policy`; returns it."""
    global _current
    _current = SourcePolicy(settings.deny, settings.allow, settings.deny_own_ports, own_ports)
    return _current
