"""Recordings on a site (issue 18): two `pantau ingest` workers with leases share one recordings
volume and one site key; each camera is recorded only by its lease owner (segments never
overlap), and when the owner is SIGKILLed the new owner continues the same chain after a
restart gap, so the whole directory still verifies."""

from __future__ import annotations

import asyncio
import signal

import pytest

from outputs.recording.chain import read_entries
from outputs.recording.recorder import GAP_RESTART
from outputs.recording.verify import verify
from tests.conftest import RedisServer, RelayNode
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.test_failover import owners, wait_owners
from tests.test_metrics import wait_for

pytestmark = pytest.mark.timeout(240)
CAMERAS = ["rec-a", "rec-b", "rec-c"]


def segments(root, camera_id):
    return [e for e in read_entries(root / camera_id / "chain.jsonl") if e.kind == "segment"]


async def test_the_lease_owner_records_and_a_failover_continues_the_chain(start_node, tmp_path, node_env):
    registry, bus = RedisServer(tmp_path), RedisServer(tmp_path / "bus", persistent=False)
    (tmp_path / "bus").mkdir()
    camera = RtspCameraServer([Mount(path="/cam", width=640, height=360, bitrate_kbps=600, gop_seconds=1)], log_dir=tmp_path / "camera")
    root = tmp_path / "recordings"
    env = {**node_env, "PANTAU_RECORDING__DIR": str(root), "PANTAU_RECORDING__KEY_FILE": str(tmp_path / "site-key.pem"),
           "PANTAU_RECORDING__SEGMENT_S": "2", "PANTAU_RECORDING__SIGN_EVERY_S": "2"}
    try:
        for part in (registry, bus, camera):
            part.start()
        site = ["--redis-url", registry.url, "--bus-redis-url", bus.url]
        relay = RelayNode(start_node(*site, "--data-dir", str(tmp_path / "relay"), env=env, command="relay"), node_env["PANTAU_ADMIN_TOKEN"])
        workers = {name: start_node(*site, "--data-dir", str(tmp_path / name), "--node-id", name, env=env, command="ingest")
                   for name in ("ingest-a", "ingest-b")}
        for n, camera_id in enumerate(CAMERAS):
            relay.add_camera(camera_id, camera.url("/cam"), tps=n + 1, record=True)
        await asyncio.to_thread(wait_for, lambda: all(len(segments(root, c)) >= 2 for c in CAMERAS), 60, "two segments per camera")

        held = await owners(bus.url, CAMERAS)
        victim = held[CAMERAS[0]]
        moved = [c for c in CAMERAS if held[c] == victim]
        before = {c: len(segments(root, c)) for c in moved}
        workers[victim].stop(signal.SIGKILL)
        await wait_owners(bus.url, lambda current: all(current[c] not in (None, victim) for c in moved), 30, CAMERAS)
        await asyncio.to_thread(wait_for, lambda: all(len(segments(root, c)) >= before[c] + 2 for c in moved), 60,
                                "two segments by the new owner")
        for worker in workers.values():
            worker.stop(signal.SIGTERM)
    finally:
        for part in (camera, bus, registry):
            part.stop()

    for camera_id in CAMERAS:
        written = segments(root, camera_id)
        for earlier, later in zip(written, written[1:]):  # one writer at a time: segments never overlap
            assert later.start >= earlier.end - 1.0, (camera_id, earlier.fields, later.fields)
    for camera_id in moved:
        gaps = [e for e in read_entries(root / camera_id / "chain.jsonl") if e.kind == "gap"]
        # Before and after the killed owner's last GOP (which the new owner records from the bus's cache).
        assert gaps and all(g.fields["reason"] == GAP_RESTART for g in gaps), (camera_id, gaps)
    report = verify(str(root))
    assert report.ok and report.cameras == len(CAMERAS), report.problems
