"""Restream on a site of two `pantau ingest` workers (leases, no static split): exactly one pusher
per camera, in the worker that holds the camera's lease; when that worker is SIGKILLed the other
one takes the lease and the restream with it, and the RTMP server gets the camera again."""

from __future__ import annotations

import asyncio
import signal
import time

import psutil
import pytest

from tests.support.rtmp_server import RtmpServer
from tests.support.rtsp_camera import Mount
from tests.test_failover import SMALL, build_site, owners, wait_owners  # noqa: F401 (build_site: a fixture)
from tests.test_restream import read_back

pytestmark = pytest.mark.timeout(240)
CAMERAS = ["cam00", "cam01", "cam02"]


def pushers_by_worker(workers) -> dict[str, list[int]]:
    """worker -> the pids of its running pusher processes."""
    found = {}
    for name, node in workers.items():
        found[name] = []
        if node.process.poll() is not None:
            continue
        for child in psutil.Process(node.process.pid).children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "outputs.restream.flv_pusher" in " ".join(child.cmdline()):
                    found[name].append(child.pid)
            except psutil.Error:
                pass
    return found


def wait_live(relay, camera_ids: list[str], timeout: float = 30.0, since_after: dict | None = None) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        restreams = {c: relay.status(c).get("restream") or {} for c in camera_ids}
        if all(r.get("state") == "live" and (since_after is None or r["since"] != since_after[c]) for c, r in restreams.items()):
            return {c: r["since"] for c, r in restreams.items()}
        assert time.monotonic() < deadline, f"restreams not live: {restreams}"
        time.sleep(0.2)


async def test_one_pusher_per_camera_in_the_lease_owner_and_it_moves_on_failover(build_site, tmp_path):  # noqa: F811
    relay, workers, _, bus = build_site([Mount(path="/cam", **SMALL)], {camera_id: "/cam" for camera_id in CAMERAS})
    rtmp = RtmpServer(tmp_path / "rtmp").start()
    try:
        for camera_id in CAMERAS:
            status, body = relay.request("PATCH", f"/api/admin/cameras/{camera_id}",
                                         {"restream_url": rtmp.url, "restream_key": f"key-{camera_id}"}, relay.admin_token)
            assert status == 200, body
        live = await asyncio.to_thread(wait_live, relay, CAMERAS)
        held = await owners(bus.url, CAMERAS)
        assert set(held.values()) <= set(workers) and None not in held.values()
        pushers = pushers_by_worker(workers)
        assert sum(len(p) for p in pushers.values()) == len(CAMERAS)  # one per camera on the whole site
        for name in workers:
            assert len(pushers[name]) == list(held.values()).count(name)  # each in its camera's lease owner

        victim = held["cam00"]
        workers[victim].stop(signal.SIGKILL)
        survivor = next(name for name in workers if name != victim)
        await wait_owners(bus.url, lambda current: set(current.values()) == {survivor}, 30, CAMERAS)
        moved = [c for c, owner in held.items() if owner == victim]
        await asyncio.to_thread(wait_live, relay, moved, 40, live)
        assert len(pushers_by_worker(workers)[survivor]) == len(CAMERAS)
        got = await asyncio.to_thread(read_back, f"{rtmp.url}/key-cam00", 3, tmp_path / "after.flv")
        assert got["codec"] == "h264" and got["frames"] >= 50
    finally:
        rtmp.stop()
