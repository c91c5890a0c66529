"""Recordings (issue 18 parts 1 and 2) from a real node: a GStreamer RTSP camera with `record` on,
segments that ffmpeg decodes, decode times running on from file to file, /metrics counting them,
a `kill -9` mid-segment that loses at most that segment and leaves a gap entry, and `pantau verify` passing on the untouched recording and
failing, naming the segment, on a changed byte, a deleted segment, two swapped, a replaced
signature; retention deletes the oldest outside a hold and a held range survives."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import av
import pytest

from outputs.recording.chain import CameraChain, append_line, iso, read_entries
from outputs.recording.holds import HoldStore
from outputs.recording.recorders import Recorders
from outputs.recording.site_key import SiteKey
from outputs.recording.verify import verify
from pantau.bus.memory_bus import InProcessBus
from pantau.cameras.audit_log import Actor
from pantau.runtime.config import RecordingSettings
from tests.conftest import PANTAU
from tests.support.system_deps import require_binary
from tests.test_hls import camera  # noqa: F401 (fixture: a 640x360 25 fps camera with 1 s GOPs at /cam)
from tests.test_metrics import scrape, wait_for

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
def recording_node(make_relay_node, camera):  # noqa: F811
    node = make_relay_node(recording__segment_s="2", recording__sign_every_s="2", recording__retention_check_s="1")
    node.add_camera("cam", camera.url("/cam"), record=True)
    node.data_dir = Path(node.node.args[node.node.args.index("--data-dir") + 1])
    node.recordings = node.data_dir / "recordings"
    return node


def test_two_writers_appending_in_turn_keep_one_chain(tmp_path):
    """At a change of lease owner the old owner may still chain its last segment while the new one
    starts: each append reads what the other wrote first (under an flock), so the links hold."""
    old_owner, new_owner = CameraChain(tmp_path, "cam"), CameraChain(tmp_path, "cam")
    for index in range(6):
        writer = old_owner if index % 2 == 0 else new_owner
        writer.append("gap", start=iso(1000.0 + index), end=iso(1001.0 + index), reason="test")
    key = SiteKey.load_or_create(tmp_path / "key.pem")
    key.publish(tmp_path)
    append_line(new_owner.dir / "signatures.jsonl", key.sign_line(new_owner.last, 2000.0))
    report = verify(str(tmp_path))
    assert report.ok and report.entries == 6 and report.signatures == 1, report.problems


def segments(root: Path, camera_id: str = "cam") -> list:
    return [e for e in read_entries(root / camera_id / "chain.jsonl") if e.kind == "segment"]


def test_a_recorded_camera_plays_with_ffmpeg_and_a_kill_mid_segment_loses_at_most_that_segment(recording_node):
    ffmpeg = require_binary("ffmpeg")
    root = recording_node.recordings
    wait_for(lambda: len(segments(root)) >= 3, 40, "three segments")
    written = segments(root)
    for before, after in zip(written, written[1:]):  # one run: each segment starts where the one before ended
        # (within ingest's receive jitter on a loaded machine: starts are wall-clock receive times)
        assert abs(after.start - before.end) < 1.0, (before.fields, after.fields)
    last_dts = None
    for entry in written[:3]:
        path = root / "cam" / entry.fields["file"]
        run = subprocess.run([ffmpeg, "-hide_banner", "-v", "error", "-i", str(path), "-f", "null", "-"],
                             capture_output=True, text=True, timeout=30)
        assert run.returncode == 0 and not run.stderr.strip(), run.stderr
        with av.open(str(path)) as segment:  # decode times run on from one file to the next, a frame apart
            stream = segment.streams.video[0]
            times = [float(p.dts * stream.time_base) for p in segment.demux(stream) if p.size]
        assert len(times) >= 25 and times == sorted(times), entry.fields
        if last_dts is not None:
            assert 0 < times[0] - last_dts <= 0.2, (last_dts, times[0], entry.fields)
        last_dts = times[-1]

    # /metrics counts what was written (scraped first: the chain may only have grown since)
    scraped = scrape(recording_node.url, recording_node.admin_token)
    chained = segments(root)
    written_n = int(scraped.value("pantau_recording_segments_written_total"))
    assert scraped.value("pantau_recording_cameras") == 1 and 3 <= written_n <= len(chained)
    assert scraped.value("pantau_recording_bytes_written_total") == sum(e.fields["bytes"] for e in chained[:written_n])
    assert scraped.value("pantau_recording_disk_bytes") >= scraped.value("pantau_recording_bytes_written_total")
    assert 0 < scraped.value("pantau_recording_cpu_seconds_total") < 2 * written_n  # 2 s segments: less than a core

    # kill -9 while a segment is being written: 1 s into a 2 s segment
    previous = len(segments(root))
    wait_for(lambda: len(segments(root)) > previous, 10, "a segment to be committed")
    time.sleep(1.0)
    committed = len(segments(root))
    killed_at = time.time()
    recording_node.node.stop(signal.SIGKILL)
    recording_node.node.start()
    wait_for(lambda: len(segments(root)) >= committed + 2, 40, "two segments after the restart")
    recording_node.node.stop(signal.SIGTERM)

    entries = read_entries(root / "cam" / "chain.jsonl")
    gaps = [e for e in entries if e.kind == "gap"]
    assert len(gaps) == 1 and "restart" in gaps[0].fields["reason"], [e.fields for e in entries]
    gap = gaps[0]
    last_before = entries[gap.seq - 1]
    assert last_before.kind == "segment" and gap.start == last_before.end and gap.start <= killed_at <= gap.end
    assert gap.start > killed_at - 2 - 1.5, "more than the segment being written was lost"
    report = verify(str(root))
    assert report.ok, report.problems
    assert report.segments_checked == len(segments(root)) and report.signatures >= 1 and not report.warnings


def _pantau_verify(target: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PANTAU, "verify", str(target)], capture_output=True, text=True, timeout=60)


def test_verify_names_a_changed_byte_a_deleted_segment_a_swap_and_a_replaced_signature(recording_node, tmp_path):
    root = recording_node.recordings
    wait_for(lambda: len(segments(root)) >= 4, 40, "four segments")
    recording_node.node.stop(signal.SIGTERM)
    run = _pantau_verify(root)
    assert run.returncode == 0 and run.stdout.strip().startswith("OK"), run.stdout

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(root, target)
        return target

    first, second, third = segments(root)[:3]

    changed = copy("changed")
    path = changed / "cam" / second.fields["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    run = _pantau_verify(changed)
    assert run.returncode == 1
    assert f"PROBLEM cam seq {second.seq} ({second.fields['file']}" in run.stdout and "changed or replaced" in run.stdout, run.stdout

    deleted = copy("deleted")
    (deleted / "cam" / third.fields["file"]).unlink()
    run = _pantau_verify(deleted)
    assert run.returncode == 1 and f"cam seq {third.seq} ({third.fields['file']}" in run.stdout and "missing" in run.stdout, run.stdout

    swapped = copy("swapped")
    a, b = swapped / "cam" / first.fields["file"], swapped / "cam" / second.fields["file"]
    a_bytes = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(a_bytes)
    run = _pantau_verify(swapped)
    assert run.returncode == 1
    assert f"seq {first.seq} ({first.fields['file']}" in run.stdout and f"holds the bytes of seq {second.seq}" in run.stdout, run.stdout
    assert f"seq {second.seq} ({second.fields['file']}" in run.stdout and f"holds the bytes of seq {first.seq}" in run.stdout, run.stdout

    resigned = copy("resigned")
    signatures = resigned / "cam" / "signatures.jsonl"
    lines = signatures.read_bytes().splitlines()
    record = json.loads(lines[0])
    forged = SiteKey.load_or_create(tmp_path / "other.pem")  # a key that is not the site's
    record["signature"] = base64.b64encode(forged._private.sign(b"something else")).decode()
    signatures.write_bytes(b"\n".join([json.dumps(record).encode(), *lines[1:]]) + b"\n")
    run = _pantau_verify(resigned)
    assert run.returncode == 1
    assert f"cam signature line 1 (of seq {record['seq']}): the signature does not verify" in run.stdout, run.stdout

    edited = copy("edited")  # the chain itself rewritten: an entry's times changed
    chain = edited / "cam" / "chain.jsonl"
    lines = chain.read_bytes().splitlines()
    lines[1] = lines[1].replace(b'"start":"', b'"start":"1', 1)
    chain.write_bytes(b"\n".join(lines) + b"\n")
    run = _pantau_verify(edited)
    assert run.returncode == 1 and "seq 2: its prev hash is not the hash of the line before it" in run.stdout, run.stdout


@pytest.mark.parametrize("limit", ["age", "budget"])
async def test_retention_deletes_the_oldest_outside_a_hold_and_the_held_range_survives(recording_node, redis_server, limit):
    import redis.asyncio as aioredis

    root = recording_node.recordings
    await asyncio.to_thread(wait_for, lambda: len(segments(root)) >= 5, 40, "five segments")
    recording_node.node.stop(signal.SIGTERM)
    written = segments(root)
    held, newest = written[2], written[-2:]
    if limit == "age":
        settings, later = RecordingSettings(retention_days=1), 2 * 86400
    else:  # room for the held segment and the newest two: the rest goes, oldest first
        room = sum(e.fields["bytes"] for e in [held, *newest])
        settings, later = RecordingSettings(retention_days=45, budget_gb=room / 1e9), 0
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    try:
        holds = HoldStore(client)
        await holds.put("cam", held.start + 0.1, held.end - 0.1, "sengketa TPS 001", Actor("admin-test"))
        key = SiteKey.load_or_create(recording_node.data_dir / "keys" / "site-ed25519.pem")
        recorders = Recorders(InProcessBus(), settings, root, key, holds)
        recorders.follow(["cam"])  # the writer of the camera: only it deletes the camera's files
        try:
            if limit == "age":
                assert await recorders.enforce_retention(now=time.time()) == 0  # nothing is a day old yet
            deleted = await recorders.enforce_retention(now=time.time() + later)
        finally:
            await recorders.stop()
        audit = await client.xrange("{pantau}:audit")
    finally:
        await client.aclose()
    left = {e.seq for e in segments(root) if (root / "cam" / e.fields["file"]).exists()}
    assert held.seq in left, "the held segment was deleted"
    assert recorders.usage.deleted == deleted  # what /metrics counts as pantau_recording_segments_deleted
    assert written[0].seq not in left and written[1].seq not in left
    if limit == "age":
        assert written[3].seq not in left and deleted == len(written) - 1
    else:
        assert left == {held.seq, *(e.seq for e in newest)} and deleted == len(written) - 3, (left, deleted)
    entries = read_entries(root / "cam" / "chain.jsonl")
    assert any(e.kind == "deleted" and e.fields["reason"] == ("retention" if limit == "age" else "budget") for e in entries)
    report = verify(str(root))
    assert report.ok, report.problems  # deletions are in the chain: not a missing segment
    assert any(fields["action"] == "recording-hold" for _, fields in audit)
