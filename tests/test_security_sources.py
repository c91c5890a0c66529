"""Issue 15, findings 3, 7 and 14: where camera sources may point and what is audited about them.

- 3: a stored password (or `?password=`, or a WHEP `source_token`) sent back as `***` is kept
  only for the same scheme, host and port; a probe of a camera at another host never sends it
  (a trap RTSP server on another port records what arrives), and probes are audited.
- 7: a CSV upsert is audited camera by camera with the same field diff as a PATCH.
- 14: sources naming link-local, metadata or unspecified addresses, or this node's HTTP port,
  are refused by validation, the connection test and ingest, with the rule named; numeric host
  forms (`2130706433`, `0`) are read as the C resolver reads them.

Real parts: Redis (both backends), GStreamer's RTSP camera, a real `pantau serve` process.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging
import re
import socket

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pantau.access.tokens import TokenStore
from pantau.bus.memory_bus import InProcessBus
from pantau.cameras import audit_log, source_policy
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import CameraInvalid, apply_patch, validate_camera
from pantau.cameras.camera_import import import_csv
from pantau.cameras.regions import dki_regions
from pantau.cameras.source_policy import SourcePolicy, SourceRefused
from pantau.media.rtsp_open import RtspSettings, open_rtsp
from pantau.runtime.config import load_settings
from relay.app import create_app
from relay.context import REGISTRY
from tests.conftest import free_port
from tests.support.log_lines import redacted_log_lines
from tests.support.rtsp_camera import Mount
from tests.support.rtsp_fixtures import rtsp_camera_factory  # noqa: F401

pytestmark = pytest.mark.timeout(120)
REGIONS = dki_regions()
ADMIN_TOKEN = "admin-token-security-4410-abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "Cam-secret-7731"
NEW_PASSWORD = "Cam-secret-new-9902"
TOKEN = "whep-token-secret-6620"
SECRETS = [PASSWORD, NEW_PASSWORD, TOKEN, ADMIN_TOKEN]
SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 800, "gop_seconds": 1}


def tps(number: int, source: str, **extra) -> dict:
    return {"kind": "tps", "region": "31.71.01.1001", "tps": number, "source": source, **extra}


@pytest.fixture
def policy(monkeypatch):
    """Install a source policy for the test (the process default is restored afterwards)."""

    def install(**rules) -> SourcePolicy:
        made = SourcePolicy(**rules)
        monkeypatch.setattr(source_policy, "_current", made)
        return made

    install()
    return install


class Api:
    def __init__(self, client: TestClient, port: int):
        self.client, self.port, self.bodies = client, port, []

    async def call(self, method: str, path: str, expect: int, **kwargs):
        async with self.client.request(method, path, headers=ADMIN, **kwargs) as response:
            text = await response.text()
            self.bodies.append(text)
            assert response.status == expect, (method, path, response.status, text)
            return json.loads(text) if response.content_type == "application/json" else text

    async def audit(self) -> list[dict]:
        return (await self.call("GET", "/api/admin/audit?limit=1000", 200))["entries"]


@pytest.fixture
async def api(registry, tmp_path, caplog, policy):
    """The relay's admin API on a known port, which the source policy knows as this node's own."""
    caplog.set_level(logging.DEBUG)
    port = free_port()
    settings = load_settings(data_dir=tmp_path, http={"port": port})
    source_policy.configure(settings.source_policy, own_ports=[port])  # as pantau/runtime/node.py does
    tokens = TokenStore(registry.redis, {"admin": ADMIN_TOKEN})
    client = TestClient(TestServer(create_app(settings, registry, tokens, InProcessBus()), port=port))
    await client.start_server()
    recorder = Api(client, port)
    yield recorder
    await client.close()
    lines = redacted_log_lines(caplog)
    assert lines, "no log record was captured: the scan below would prove nothing"
    everything = "\n".join(recorder.bodies + lines)
    for secret in SECRETS:
        assert secret not in everything, f"a secret leaked: {secret[:4]}…"


class TrapRtspServer:
    """A host an attacker controls: answers every RTSP request with a Basic challenge (so a client
    sends its credentials in clear) and keeps every byte that arrives."""

    def __init__(self):
        self.received = bytearray()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> TrapRtspServer:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                self.received += head
                cseq = re.search(rb"CSeq:\s*(\d+)", head, re.I)
                writer.write(b"RTSP/1.0 401 Unauthorized\r\nCSeq: " + (cseq.group(1) if cseq else b"1")
                             + b'\r\nWWW-Authenticate: Basic realm="trap"\r\nContent-Length: 0\r\n\r\n')
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def credentials(self) -> str:
        """Everything that arrived, with Basic credentials decoded."""
        decoded = [base64.b64decode(b).decode(errors="replace") for b in re.findall(rb"Authorization:\s*Basic\s+(\S+)", self.received, re.I)]
        return self.received.decode(errors="replace") + "\n" + "\n".join(decoded)

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


# ---- finding 3: a stored secret goes only where it went before -----------------------------------

async def test_a_stored_password_is_never_sent_to_a_new_host(api, rtsp_camera_factory):  # noqa: F811
    camera = rtsp_camera_factory([Mount(path="/auth", auth=("digest",), user="op", password=PASSWORD, **SMALL)])
    trap = await TrapRtspServer().start()
    try:
        # "localhost": ingest and the probe hand FFmpeg the checked address (127.0.0.1); Digest still works.
        source = f"rtsp://op:{PASSWORD}@localhost:{camera.port}/auth"
        await api.call("POST", "/api/admin/cameras", 201, json=tps(1, source, id="cam-a", enabled=False))
        masked_here = f"rtsp://op:***@localhost:{camera.port}/auth"
        result = await api.call("POST", "/api/admin/probe", 200, json={"camera_id": "cam-a", "source": masked_here})
        assert result["ok"] and result["codec"] == "h264", result

        # The attack: the stored password, pointed at a host the attacker controls.
        masked_there = f"rtsp://op:***@127.0.0.1:{trap.port}/auth"
        refused = await api.call("PATCH", "/api/admin/cameras/cam-a", 422, json={"source": masked_there})
        assert refused["errors"][0]["field"] == "source" and "type the password again" in refused["errors"][0]["reason"]
        refused = await api.call("POST", "/api/admin/probe", 422, json={"camera_id": "cam-a", "source": masked_there})
        assert refused["errors"] == [{"field": "source", "reason": refused["message"]}] and "host" in refused["message"]
        for moved in (f"rtsps://op:***@localhost:{camera.port}/auth", f"rtsp://op:***@localhost:{trap.port}/auth"):
            await api.call("PATCH", "/api/admin/cameras/cam-a", 422, json={"source": moved})  # scheme or port
        assert (await api.client.app[REGISTRY].get("cam-a")).source == source  # nothing changed

        # Control: the trap does catch a password that is sent (typed again by the admin, which
        # is allowed): so it would have caught the stored one had it been sent.
        typed = await api.call("POST", "/api/admin/probe", 200, json={"source": f"rtsp://op:{NEW_PASSWORD}@127.0.0.1:{trap.port}/x"})
        assert typed["reason"] == "auth_failed", typed
        arrived = trap.credentials()
        assert NEW_PASSWORD in arrived and PASSWORD not in arrived

        # Every probe is audited: who, which camera, the URL masked, the outcome.
        entries = await api.audit()
        probes = [e for e in entries if e["action"] == "probe"]
        assert [(e["camera"], e["details"]["result"]) for e in reversed(probes)] == [
            ("cam-a", "ok"), ("cam-a", "refused: the host changed"), (None, "auth_failed")]
        creator = next(e["actor"] for e in entries if e["action"] == "create")  # the admin token's label
        assert all(e["actor"] == creator and e["client"] == "127.0.0.1" for e in probes), probes
        assert probes[1]["details"]["source"] == masked_there and probes[0]["details"]["source"].startswith("rtsp://op:***@")
    finally:
        await trap.stop()


def test_password_parameters_and_whep_tokens_stay_with_their_host():
    stored = validate_camera(tps(1, f"rtsp://10.0.0.5/live?user=op&password={PASSWORD}"), REGIONS)
    same = validate_camera(apply_patch(stored, {"source": "rtsp://10.0.0.5:554/other?password=***&user=op"}), REGIONS, stored=stored)
    assert same.source.endswith(f"password={PASSWORD}&user=op")
    with pytest.raises(CameraInvalid) as info:
        validate_camera(apply_patch(stored, {"source": "rtsp://10.0.0.5:8554/live?user=op&password=***"}), REGIONS, stored=stored)
    assert [e.field for e in info.value.errors] == ["source"] and PASSWORD not in str(info.value)

    whep = validate_camera(tps(2, "whep+https://media.example/whep/a", source_token=TOKEN), REGIONS)
    kept = validate_camera(apply_patch(whep, {"source": "whep+https://MEDIA.example:443/whep/b"}), REGIONS, stored=whep)
    assert kept.source_token == TOKEN  # same scheme, host (case aside) and port
    for elsewhere in ("whep+https://evil.example/whep/a", "whep+http://media.example/whep/a", "whep+https://media.example:8443/whep/a"):
        with pytest.raises(CameraInvalid) as info:
            validate_camera(apply_patch(whep, {"source": elsewhere}), REGIONS, stored=whep)
        assert [e.field for e in info.value.errors] == ["source_token"], elsewhere
        assert "type the token again" in info.value.errors[0].reason
    retyped = validate_camera(apply_patch(whep, {"source": "whep+https://evil.example/whep/a", "source_token": NEW_PASSWORD}), REGIONS, stored=whep)
    assert retyped.source_token == NEW_PASSWORD


# ---- finding 7: a CSV upsert is audited camera by camera ----------------------------------------

async def test_csv_upsert_audits_each_changed_camera_like_a_patch(registry):
    admin = Actor("admin", "127.0.0.1")
    header = "id,kind,region,tps,source,public\n"
    await import_csv(registry, (header + f"cam-1,tps,31.71.01.1001,1,rtsp://op:{PASSWORD}@10.0.0.1/s,false\n"
                                "cam-2,tps,31.71.01.1001,2,rtsp://10.0.0.2/s,true\n").encode(), admin)
    before = await registry.get("cam-1")
    # cam-1 becomes public with a new password; cam-2 is sent back unchanged; cam-3 is new.
    body = (header + f"cam-1,tps,31.71.01.1001,1,rtsp://op:{NEW_PASSWORD}@10.0.0.1/s,true\n"
            "cam-2,tps,31.71.01.1001,2,rtsp://10.0.0.2/s,true\n"
            "cam-3,tps,31.71.01.1001,3,demo,true\n").encode()
    result = await import_csv(registry, body, admin, upsert=True)
    assert (result.created, result.updated) == (1, 2)
    entries, _ = await audit_log.read(registry.redis, limit=10)
    summary, *per_camera = entries[:3]
    assert summary["action"] == "import" and summary["details"] == {
        "rows": 3, "created": 1, "updated": 2, "changed": 2, "mode": "upsert"}
    by_camera = {e["camera"]: e for e in per_camera}
    assert set(by_camera) == {"cam-1", "cam-3"}  # the unchanged camera has no entry
    update = by_camera["cam-1"]
    assert update["action"] == "update" and update["actor"] == "admin" and update["client"] == "127.0.0.1"
    # The very diff a PATCH of the same change is audited with (one piece of code).
    assert update["details"] == {"changes": audit_log.camera_changes(before, await registry.get("cam-1")),
                                 "via": "import (upsert)"}
    assert update["details"]["changes"] == {"public": [False, True], "source": ["password changed", "password changed"]}
    assert by_camera["cam-3"]["action"] == "create" and by_camera["cam-3"]["details"]["changes"]["public"] == [None, True]
    raw = json.dumps(entries)
    assert PASSWORD not in raw and NEW_PASSWORD not in raw


async def test_import_audit_entries_are_one_bounded_entry_per_camera(registry):
    rows = "".join(f"tps,31.71.01.1001,{n},rtsp://u:{PASSWORD}@10.0.{n // 250}.{n % 250}/a-long-path/stream{n}?channel=1,{n % 2}\n"
                   for n in range(1, 1000))
    await import_csv(registry, ("kind,region,tps,source,public\n" + rows).encode(), Actor("admin"))
    entries, _ = await audit_log.read(registry.redis, limit=1000)
    assert entries[0]["action"] == "import" and len(entries) == 1000
    sizes = [len(json.dumps(e)) for e in entries[1:]]
    assert {e["action"] for e in entries[1:]} == {"create"} and max(sizes) < 1024, max(sizes)


# ---- finding 14: where sources may point ----------------------------------------------------------

REFUSED_BY_DEFAULT = [
    ("rtsp://169.254.169.254/latest/meta-data", "169.254.0.0/16"),
    ("whep+http://169.254.169.254/whep/x", "169.254.0.0/16"),
    ("rtsp://[::ffff:169.254.169.254]/x", "169.254.0.0/16"),  # IPv4-mapped: the same address to the kernel
    ("rtsp://[fe80::1]/x", "fe80::/10"),
    ("rtsp://[fe80::1%25eth0]/x", "fe80::/10"),
    ("rtsp://[fd00:ec2::254]/x", "fd00:ec2::254/128"),
    ("rtsp://0/", "0.0.0.0/8"),
    ("rtsp://0.0.0.0:8554/x", "0.0.0.0/8"),
    ("rtsp://0x0/", "0.0.0.0/8"),
    ("rtsp://[::]:8554/x", "::/128"),
]
ALLOWED_BY_DEFAULT = ["rtsp://10.8.0.5/s", "rtsp://192.168.1.64:554/s", "rtsp://172.16.0.9/s", "rtsp://127.0.0.1:8554/s",
                      "rtsp://[::1]:8554/s", "rtsp://2130706433:8554/s", "rtsp://[fd12:3456::5]/s", "rtsp://cam.example.id/s",
                      "whep+https://media.example.id/whep/a"]


async def test_validation_refuses_metadata_unspecified_and_own_port_sources_naming_the_rule(api):
    for number, (source, rule) in enumerate(REFUSED_BY_DEFAULT, start=1):
        refused = await api.call("POST", "/api/admin/cameras", 422, json=tps(number, source))
        [error] = refused["errors"]
        assert error["field"] == "source" and f"rule: {rule}" in error["reason"], (source, error)
    own = [f"whep+http://127.0.0.1:{api.port}/api/admin/cameras", f"rtsp://[::1]:{api.port}/", f"rtsp://2130706433:{api.port}/"]
    for number, source in enumerate(own, start=50):
        refused = await api.call("POST", "/api/admin/cameras", 422, json=tps(number, source))
        assert "this node's own HTTP port" in refused["errors"][0]["reason"], source
    for number, source in enumerate(ALLOWED_BY_DEFAULT, start=100):
        await api.call("POST", "/api/admin/cameras", 201, json=tps(number, source))
    # A CSV import is validated the same way, line by line.
    refused = await api.call("POST", "/api/admin/cameras/import", 422,
                             data=b"kind,region,tps,source\ntps,31.71.01.1002,1,rtsp://169.254.169.254/x\n")
    assert refused["errors"][0]["line"] == 2 and refused["errors"][0]["field"] == "source"


def test_numeric_host_forms_are_read_as_the_c_resolver_reads_them(policy):
    # Python's ipaddress does not take these; getaddrinfo (what FFmpeg uses) reads them as addresses.
    for host, meant in (("2130706433", "127.0.0.1"), ("127.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"),
                        ("017700000001", "127.0.0.1"), ("0", "0.0.0.0")):
        with pytest.raises(ValueError):
            ipaddress.ip_address(host)
        assert socket.getaddrinfo(host, 554, type=socket.SOCK_STREAM)[0][4][0] == meant
        assert str(source_policy.numeric_address(host)) == meant
    assert source_policy.numeric_address("cam.example.id") is None
    strict = policy(deny=["127.0.0.0/8", "::1/128"])  # a site that keeps cameras off loopback
    for source in ("rtsp://2130706433/", "rtsp://127.1/", "rtsp://0x7f.1/", "rtsp://017700000001/", "rtsp://[::1]/",
                   "rtsp://[::ffff:127.0.0.1]/"):
        with pytest.raises(SourceRefused, match="source_policy.deny"):
            strict.check_literal(source)
    with pytest.raises(CameraInvalid) as info:
        validate_camera(tps(1, "rtsp://2130706433:8554/"), REGIONS)
    assert "rule: source_policy.deny 127.0.0.0/8" in info.value.errors[0].reason


def test_the_most_specific_rule_decides():
    vpn_only = SourcePolicy(deny=["0.0.0.0/0", "::/0"], allow=["10.8.0.0/16"])
    vpn_only.check_address(ipaddress.ip_address("10.8.3.4"), 554)
    for other in ("10.9.0.1", "192.168.1.1", "2001:db8::1"):
        with pytest.raises(SourceRefused):
            vpn_only.check_address(ipaddress.ip_address(other), 554)
    zeroconf = SourcePolicy(allow=["169.254.10.0/24"])  # a site whose cameras use link-local addresses
    zeroconf.check_address(ipaddress.ip_address("169.254.10.7"), 554)
    with pytest.raises(SourceRefused, match="169.254.0.0/16"):
        zeroconf.check_address(ipaddress.ip_address("169.254.169.254"), 80)
    with pytest.raises(SourceRefused):  # a deny wins a tie
        SourcePolicy(deny=["10.0.0.0/8"], allow=["10.0.0.0/8"]).check_address(ipaddress.ip_address("10.1.1.1"), 554)


async def test_probe_resolves_names_and_names_the_rule(api, policy, rtsp_camera_factory):  # noqa: F811
    refused = await api.call("POST", "/api/admin/probe", 422, json={"source": "rtsp://169.254.169.254/latest"})
    assert refused["errors"][0]["field"] == "source" and "rule: 169.254.0.0/16" in refused["message"]
    camera = rtsp_camera_factory([Mount(path="/cam", **SMALL)])
    policy(deny=["127.0.0.0/8", "::1/128"])
    # A name passes validation (it may resolve only where ingest runs) but is checked where it is opened.
    refused = await api.call("POST", "/api/admin/probe", 422, json={"source": f"rtsp://localhost:{camera.port}/cam"})
    assert "rule: source_policy.deny" in refused["message"]
    assert camera.connections == 0  # nothing was opened
    results = [e["details"]["result"] for e in await api.audit() if e["action"] == "probe"]
    assert results == ["refused: source_policy.deny 127.0.0.0/8", "refused: 169.254.0.0/16, link-local, where cloud metadata lives (169.254.169.254)"]


def test_rtsp_ingest_connects_to_the_checked_address_only(policy, rtsp_camera_factory):  # noqa: F811
    """open_rtsp (ingest's RtspSource and the probe) resolves, checks every address, and hands FFmpeg
    the checked one; Digest auth works against the address literal."""
    camera = rtsp_camera_factory([Mount(path="/auth", auth=("digest",), user="op", password=PASSWORD, **SMALL)])
    container = open_rtsp(f"rtsp://op:{PASSWORD}@localhost:{camera.port}/auth", "tcp", RtspSettings())
    try:
        assert container.streams.video[0].codec_context.name == "h264"
    finally:
        container.close()
    connections = camera.connections
    policy(deny=["127.0.0.0/8", "::1/128"])
    with pytest.raises(SourceRefused):
        open_rtsp(f"rtsp://op:{PASSWORD}@localhost:{camera.port}/auth", "tcp", RtspSettings())
    assert camera.connections == connections


async def test_whep_requests_check_every_address_they_connect_to(policy):
    """What WhepPullSource sends its offer and DELETE through (pantau.cameras.source_policy.http_session)."""
    hits = []

    async def handler(request):
        hits.append(request.path)
        return web.Response(status=201, text="v=0")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        timeout = aiohttp.ClientTimeout(total=5)
        async with source_policy.http_session(f"http://localhost:{port}/whep/a", timeout) as http, \
                http.post(f"http://localhost:{port}/whep/a", allow_redirects=False) as response:
            assert response.status == 201
        policy(deny=["127.0.0.0/8", "::1/128"])
        with pytest.raises(aiohttp.ClientConnectorError) as info:  # a name: refused by the resolver
            async with source_policy.http_session(f"http://localhost:{port}/whep/b", timeout) as http, \
                    http.post(f"http://localhost:{port}/whep/b"):
                pass
        assert isinstance(info.value.os_error, SourceRefused)
        with pytest.raises(SourceRefused):  # an address literal: refused before any connection
            source_policy.http_session(f"http://2130706433:{port}/whep/c", timeout)
        policy(own_ports=[port])
        with pytest.raises(SourceRefused, match="own HTTP port"):
            source_policy.http_session(f"http://127.0.0.1:{port}/api/admin/cameras", timeout)
        assert hits == ["/whep/a"]
    finally:
        await runner.cleanup()


def test_a_node_refuses_sources_aimed_at_its_own_port(relay_node):
    """`pantau serve --port 0`: the port it bound is its own, for validation and for ingest."""
    port = int(relay_node.url.rsplit(":", 1)[1])
    body = tps(1, f"whep+http://127.0.0.1:{port}/api/admin/cameras?ssrf=1")
    status, refused = relay_node.request("POST", "/api/admin/cameras", body, relay_node.admin_token)
    assert status == 422 and "this node's own HTTP port" in refused["errors"][0]["reason"], refused
    # A name passes validation; ingest resolves it, refuses it and never sends the request.
    relay_node.add_camera("self-pull", f"whep+http://localhost:{port}/api/admin/cameras?ssrf=2")
    status = relay_node.wait_state("self-pull", "offline")
    assert status["reason"] == "unreachable"
    output = relay_node.node.output()
    assert not re.search(r'"POST /api/admin/cameras\?ssrf=2', output), output[-2000:]
    assert "this node's own HTTP port" in output, [line for line in output.splitlines() if "self-pull" in line and "GET" not in line]
