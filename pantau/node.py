"""Running a node, the composition root: open the registry, seed the demo set, mint the first
admin token, start ingest (sources -> stream bus) and the relay (HTTP), run until SIGTERM or
SIGINT, then shut down in order: HTTP, sources, embedded Redis last.

This is the one place that knows both `ingest` and `relay`; they never import each other."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from pantau.config import Settings
from pantau.demo_set import seed_demo_once
from pantau.ice_config import announce, apply_host_address_policy, rtc_configuration
from pantau.push_keys import PushKeys
from pantau.redis_client import open_redis
from pantau.regions import dki_regions
from pantau.registry import Registry
from pantau.tokens import TokenStore

log = logging.getLogger(__name__)


def token_store(settings: Settings, redis) -> TokenStore:
    secrets = {"admin": settings.admin_token, "operator": settings.operator_token}
    return TokenStore(redis, {role: token.get_secret_value() for role, token in secrets.items() if token})


def webrtc_settings(settings: Settings):
    """WebRTC for ingest (WHIP publishers, WHEP sources): the same ICE settings as the relay's."""
    from ingest.whip_source import WebRtcSettings

    ice = settings.relay.ice
    return WebRtcSettings(rtc_configuration(ice), lambda sdp: announce(sdp, ice.announce_address), settings.relay.connect_timeout_s)


async def run_node(settings: Settings, ready: asyncio.Event | None = None) -> None:
    from ingest.whip_http import add_whip_routes

    from ingest.worker import IngestWorker
    from pantau.memory_bus import InProcessBus
    from relay.app import create_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    handle = await open_redis(settings)
    runner: web.AppRunner | None = None
    worker = None
    try:
        registry = Registry(handle.client, dki_regions())
        await registry.sync()
        tokens = token_store(settings, handle.client)
        if settings.seed_demo:
            added = await seed_demo_once(registry)
            if added:
                log.info("seeded the demo set: %d cameras", added)
        first_token = await tokens.ensure_admin()
        if first_token:
            print(f"\nAdmin token (shown only this once; stored hashed): {first_token}\n"
                  "Create another later with: pantau token create --label NAME\n", flush=True)

        bus = InProcessBus()
        apply_host_address_policy(settings.relay.ice)
        if settings.ingest.enabled:
            worker = IngestWorker(registry, bus, settings.ingest, webrtc=webrtc_settings(settings))
            await worker.start()
        app = create_app(settings, registry, tokens, bus)
        if worker is not None:
            add_whip_routes(app, worker, PushKeys(handle.client))
        # A bounded wait for open requests at shutdown: a stop must not hang on a slow client.
        runner = web.AppRunner(app, access_log=logging.getLogger("pantau.access"), handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, settings.http.host, settings.http.port, reuse_address=True)
        await site.start()
        host, port = runner.addresses[0][:2]
        mode = "embedded Redis in " + str(settings.data_dir) if settings.embedded else "registry Redis (site)"
        cameras = len((await registry.sync()).cameras)
        print(f"Pantau is running at http://{host}:{port}/  ({cameras} cameras, {mode})", flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("stopping")
    finally:
        if runner is not None:
            await runner.cleanup()
        if worker is not None:
            await worker.stop()
        await handle.close()
