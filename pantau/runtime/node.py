"""Running a node, the composition root. Three roles share this code:

* `serve`  — ingest and relay in one process (the embedded default: a private Redis and the
  in-process bus; with --redis-url, a member of a site);
* `ingest` — sources only, publishing to the site's stream bus; HTTP (/healthz, /api/metrics,
  /metrics, /whip/) only with --port. On a site, cameras are spread over the live workers by leases
  (ingest/ownership.py) unless --cameras splits them statically;
* `relay`  — every HTTP endpoint `serve` has except /whip/ (WHIP is taken by the node that
  ingests the camera), no sources.

Open the registry, seed the demo set, mint the first admin token, start what the role runs,
wait for SIGTERM or SIGINT, then shut down in order: HTTP, sources, the bus, Redis last.

This is the one place that knows both `ingest` and `relay`; they never import each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import redis.asyncio as aioredis
from aiohttp import web

from pantau.access.redaction import known_secrets
from pantau.access.tokens import TokenStore
from pantau.bus.memory_bus import InProcessBus
from pantau.bus.redis_bus import RedisStreamBus
from pantau.bus.stream_bus import StreamBus
from pantau.cameras import source_policy, visibility
from pantau.cameras.camera_selector import camera_selector
from pantau.cameras.demo_set import seed_demo_once
from pantau.cameras.push_keys import PushKeys
from pantau.cameras.regions import dki_regions
from pantau.cameras.registry import Registry
from pantau.monitoring.metrics import METRICS
from pantau.runtime import clock, native_memory, redis_pools
from pantau.runtime.config import Settings
from pantau.runtime.leases import LeaseStore
from pantau.runtime.redis_client import open_redis
from pantau.web.http_limits import runner_options
from pantau.web.ice_config import announce, apply_host_address_policy, rtc_configuration

log = logging.getLogger(__name__)

ROLES = ("serve", "ingest", "relay")
BUS_MAX_CONNECTIONS = 4096


def token_store(settings: Settings, redis) -> TokenStore:
    secrets = {"admin": settings.admin_token, "operator": settings.operator_token}
    return TokenStore(redis, {role: token.get_secret_value() for role, token in secrets.items() if token})


def webrtc_settings(settings: Settings):
    """WebRTC for ingest (WHIP publishers, WHEP sources): the same ICE settings as the relay's."""
    from ingest.sources.whip_source import WebRtcSettings

    ice = settings.relay.ice
    return WebRtcSettings(rtc_configuration(ice), lambda sdp: announce(sdp, ice.announce_address), settings.relay.connect_timeout_s)


async def open_bus(settings: Settings) -> tuple[StreamBus, aioredis.Redis | None]:
    """The in-process bus for the embedded default; Redis Streams on a site."""
    if not settings.uses_redis_bus:
        return InProcessBus(), None
    # Bytes (video), and room for a blocking XREAD per camera a relay reads (redis-py's pool
    # stops at 100 connections by default: a relay with viewers on 100 cameras would starve).
    client = aioredis.from_url(settings.bus_redis_url or settings.redis_url, health_check_interval=30,
                               max_connections=BUS_MAX_CONNECTIONS)
    return RedisStreamBus(client), client


async def run_node(settings: Settings, role: str = "serve", ready: asyncio.Event | None = None, serve_http: bool = True) -> None:
    from ingest.http_app import create_ingest_app
    from ingest.metrics import IngestCollector
    from ingest.ownership import Ownership
    from ingest.sources.whip_http import add_whip_routes
    from ingest.worker import IngestWorker
    from outputs.recording.recorders import recorders_for
    from relay.app import create_app

    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    # Camera sources may not reach this node's HTTP port, configured or (with port 0) bound.
    policy = source_policy.configure(settings.source_policy, own_ports=[settings.http.port])
    visibility.configure(settings.visibility)  # the site's default public windows
    clock.warn_if_test_clock()
    native_memory.limit_arenas(settings.memory)
    trimming = asyncio.create_task(native_memory.trim_periodically(settings.memory), name="malloc-trim")
    if settings.metrics.token is not None:
        known_secrets.add(settings.metrics.token.get_secret_value())
    handle = await open_redis(settings)
    runner: web.AppRunner | None = None
    worker = None
    bus = bus_client = idle_connections = None
    try:
        registry = Registry(handle.client, dki_regions())
        await registry.sync()
        tokens = token_store(settings, handle.client)
        if settings.seed_demo and role != "ingest":
            added = await seed_demo_once(registry)
            if added:
                log.info("seeded the demo set: %d cameras", added)
        if role != "ingest":
            first_token = await tokens.ensure_admin()
            if first_token:
                print(f"\nAdmin token (shown only this once; stored hashed): {first_token}\n"
                      "Create another later with: pantau token create --label NAME\n", flush=True)

        bus, bus_client = await open_bus(settings)
        idle_connections = asyncio.create_task(redis_pools.close_idle_periodically([c for c in (handle.client, bus_client) if c]),
                                               name="redis-idle-connections")
        apply_host_address_policy(settings.relay.ice)
        if role != "relay" and settings.ingest.enabled:
            worker = IngestWorker(registry, bus, settings.ingest, selects=camera_selector(settings.ingest.cameras),
                                  webrtc=webrtc_settings(settings), alerts=settings.alerts)
            if isinstance(bus, RedisStreamBus) and settings.ingest.cameras is None:
                # A site without a static split: cameras are spread over the live workers by leases.
                worker.ownership = Ownership(LeaseStore(bus_client, settings.node_name), registry, bus,
                                             eligible=lambda camera: worker.eligible(camera) and camera.source_type != "whip")
            worker.recorders = recorders_for(settings, bus, registry.redis)
            worker.recorders.sound_codec_of = lambda camera_id: worker.status.current(camera_id).get("audio_codec")
            await worker.start()
        app = None
        if role != "ingest":
            app = create_app(settings, registry, tokens, bus)
            app[METRICS].role = role
            if worker is not None:  # serve: this process's /metrics tells of its ingest too
                app[METRICS].add(IngestCollector(worker, settings.metrics.per_camera))
        elif serve_http:
            app = create_ingest_app(settings, registry, tokens, worker, bus)
        if app is not None and worker is not None:
            add_whip_routes(app, worker, PushKeys(handle.client), settings.node_name, tokens)
        if app is not None:
            # A bounded wait for open requests at shutdown: a stop must not hang on a slow client.
            runner = web.AppRunner(app, access_log=logging.getLogger("pantau.access"), handle_signals=False, shutdown_timeout=2.0,
                                   **runner_options(settings.http))
            await runner.setup()
            site = web.TCPSite(runner, settings.http.host, settings.http.port, reuse_address=True)
            await site.start()
            policy.add_own_port(runner.addresses[0][1])
        cameras = len((await registry.sync()).cameras)
        mode = "embedded Redis in " + str(settings.data_dir) if settings.embedded else "registry Redis (site)"
        bus_kind = "Redis Streams bus" if settings.uses_redis_bus else "in-process bus"
        name = "" if role == "serve" else f" {role}"
        if runner is not None:
            host, port = runner.addresses[0][:2]
            print(f"Pantau{name} is running at http://{host}:{port}/  ({cameras} cameras, {mode}, {bus_kind})", flush=True)
        else:
            print(f"Pantau{name} is running without HTTP  ({cameras} cameras, {mode}, {bus_kind})", flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("stopping")
    finally:
        trimming.cancel()
        if idle_connections is not None:
            idle_connections.cancel()
        if runner is not None:
            await runner.cleanup()
        if worker is not None:
            await worker.stop()
        if isinstance(bus, RedisStreamBus):
            with contextlib.suppress(Exception):
                await bus.close()
        if bus_client is not None:
            await bus_client.aclose()
        await handle.close()
