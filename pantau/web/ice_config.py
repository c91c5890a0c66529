"""ICE settings for every peer connection (relay viewers, WHIP/WHEP ingest): servers, offered
host addresses, NAT.

aioice gathers host candidates from every interface except loopback, and aiortc has no
option for it, so `apply_host_address_policy` replaces aioice's address lookup process-wide
from configuration: an explicit list, and/or loopback (needed on loopback-only networks such
as CI, where Chromium also needs --allow-loopback-in-peer-connection).

Behind NAT, `announce_address` adds a copy of each host candidate with the public address;
the NAT must forward the UDP ports (aioice binds ephemeral ports: use host networking, or a
TURN server, which then carries all media).
"""

from __future__ import annotations

import re

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

from pantau.runtime.config import IceSettings

_original_get_host_addresses = aioice.ice.get_host_addresses


def apply_host_address_policy(settings: IceSettings) -> None:
    explicit = list(settings.host_addresses)
    loopback = settings.include_loopback

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = explicit or _original_get_host_addresses(use_ipv4, use_ipv6)
        if loopback and use_ipv4 and "127.0.0.1" not in addresses:
            addresses = [*addresses, "127.0.0.1"]
        return [a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses


def rtc_configuration(settings: IceSettings) -> RTCConfiguration:
    servers = [
        RTCIceServer(urls=s.urls, username=s.username, credential=s.credential.get_secret_value() if s.credential else None)
        for s in settings.servers
    ]
    return RTCConfiguration(iceServers=servers)  # explicit, even when empty: no public STUN


_HOST_CANDIDATE = re.compile(r"^a=candidate:(\S+) (\d+) (\S+) (\d+) (\S+) (\d+) typ host(.*)")


def announce(sdp: str, address: str | None) -> str:
    """Add, after each host candidate, the same candidate on the announced public address."""
    if not address:
        return sdp
    out = []
    for line in sdp.splitlines():
        out.append(line)
        match = _HOST_CANDIDATE.fullmatch(line)
        if match and match.group(5) != address:
            foundation, component, transport, priority, _, port, rest = match.groups()
            out.append(f"a=candidate:{foundation}n {component} {transport} {int(priority) - 1} {address} {port} typ host{rest}")
    return "\r\n".join(out) + "\r\n"
