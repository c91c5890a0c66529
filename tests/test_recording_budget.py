"""The recordings' disk budget from a running total (outputs/recording/disk_usage.py): the
directory is walked when recording starts and then only every `rescan_s`, the writers and
retention keep the total in between, and the budget still deletes the oldest first and never a
held range. Real files, a real chain, holds in a real Redis."""

from __future__ import annotations

import os
import time

import redis.asyncio as aioredis

from outputs.recording.chain import CHAIN_FILE, GENESIS, CameraChain, hash_of, iso, line_of, read_entries
from outputs.recording.disk_usage import DiskUsage
from outputs.recording.holds import HoldStore
from outputs.recording.recorders import Recorders
from outputs.recording.retention import present_segments
from outputs.recording.segment_files import SegmentFile
from outputs.recording.site_key import SiteKey
from outputs.recording.verify import verify
from pantau.bus.memory_bus import InProcessBus
from pantau.cameras.audit_log import Actor
from pantau.runtime.config import RecordingSettings

SEGMENT_BYTES = 100_000
START = 1_780_000_000.0  # a fixed clock time: segment names are unique and sorted


def write_segments(root, camera_id: str, count: int, usage: DiskUsage | None) -> list:
    """`count` 10 s segments of filler bytes, chained like the recorder chains them."""
    chain = CameraChain(root, camera_id)
    entries = []
    for index in range(count):
        start = START + 10 * index
        file = SegmentFile(chain.dir, start, b"i" * 1000)
        file.write(bytes([index]) * (SEGMENT_BYTES - 1000))
        sha256 = file.commit()
        entries.append(chain.append("segment", start=iso(start), end=iso(start + 10), file=file.relative, sha256=sha256,
                                    bytes=file.size, init_bytes=file.init_bytes))
        if usage is not None:
            usage.add(file.size)
    return entries


def test_the_total_follows_writes_and_deletions_and_a_walk_only_when_due(tmp_path):
    usage = DiskUsage(tmp_path, rescan_s=3600)
    write_segments(tmp_path, "a", 3, None)  # before recording started: the first walk finds them
    assert usage.total(now=0.0) == 3 * SEGMENT_BYTES and usage.scans == 1
    write_segments(tmp_path, "b", 2, usage)  # written by this worker's recorders: counted as they go
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "other.mp4").write_bytes(b"x" * 50_000)  # another worker's, on a shared volume
    usage.add(-SEGMENT_BYTES)  # retention deleted one
    assert usage.total(now=1800.0) == 4 * SEGMENT_BYTES and usage.scans == 1  # no walk within the hour
    assert usage.total(now=3600.0) == 5 * SEGMENT_BYTES + 50_000 and usage.scans == 2  # the hourly walk corrects it


def age(root, seconds: float) -> None:
    """Every directory under root (and root) as if last changed `seconds` ago."""
    when = time.time() - seconds
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        os.utime(directory, (when, when))


def test_a_later_walk_lists_only_the_directories_that_changed(tmp_path):
    """At 45 days of 44 cameras (~17M files) the hourly walk stat-ed every file (~0.02 CPU-s per
    camera-minute): now only the first does; later ones take the sums of the directories whose
    time did not change and list the rest again."""
    usage = DiskUsage(tmp_path, rescan_s=3600)
    write_segments(tmp_path, "a", 3, None)
    write_segments(tmp_path, "b", 2, None)
    age(tmp_path, 3600)
    assert usage.total(now=0.0) == 5 * SEGMENT_BYTES
    assert usage.sizes.directories_listed == 7  # root, a, a/segments, its day, and b's three
    assert usage.total(now=3600.0) == 5 * SEGMENT_BYTES and usage.scans == 2
    assert usage.sizes.directories_listed == 0, "a walk listed directories that did not change"

    day = next((tmp_path / "a" / "segments").iterdir())
    next(day.iterdir()).unlink()  # removed by hand: its directory's time changes
    write_segments(tmp_path, "c", 1, usage)  # a camera of this worker, counted as it went
    assert usage.total(now=7200.0) == 5 * SEGMENT_BYTES and usage.scans == 3
    assert usage.sizes.directories_listed == 5  # a's day; root and c's three (new)

    usage.add(SEGMENT_BYTES)  # counted twice by mistake: the next walk corrects it
    assert usage.total(now=10800.0) == 5 * SEGMENT_BYTES
    assert usage.sizes.directories_listed == 5, "directories changed within the last seconds are listed again"
    age(tmp_path, 3600)  # every directory's time moves (to an hour ago): all listed once more
    assert usage.total(now=14400.0) == 5 * SEGMENT_BYTES and usage.sizes.directories_listed == 10
    assert usage.total(now=18000.0) == 5 * SEGMENT_BYTES and usage.sizes.directories_listed == 0


async def test_the_budget_from_the_running_total_deletes_the_oldest_and_never_a_held_range(tmp_path, redis_server):
    root = tmp_path / "recordings"
    key = SiteKey.load_or_create(tmp_path / "key.pem")
    settings = RecordingSettings(retention_days=45, budget_gb=4 * SEGMENT_BYTES / 1e9)
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    recorders = Recorders(InProcessBus(), settings, root, key, HoldStore(client), DiskUsage(root, rescan_s=3600))
    try:
        written = write_segments(root, "cam", 6, None)
        held = written[1]
        await recorders.holds.put("cam", held.start + 1, held.end - 1, "sengketa TPS 001", Actor("admin-test"))
        recorders.follow(["cam"])
        assert await recorders.enforce_retention(now=START + 100) == 2  # 6 segments, room for 4: the two oldest unheld
        left = [s.entry.seq for s in present_segments("cam", recorders.running["cam"][0].chain.entries())]
        assert left == [held.seq, *(e.seq for e in written[3:])]
        assert recorders.usage.total() == 4 * SEGMENT_BYTES and recorders.usage.scans == 1

        write_segments(root, "other", 2, recorders.usage)  # two more written: two more of cam's go
        assert await recorders.enforce_retention(now=START + 100) == 2
        assert recorders.usage.scans == 1, "the directory was walked again within the hour"
        left = [s.entry.seq for s in present_segments("cam", recorders.running["cam"][0].chain.entries())]
        assert left == [held.seq, written[5].seq], left  # oldest first, the held one stays
    finally:
        await recorders.stop()
        await client.aclose()
    report = verify(str(root / "cam"))  # the deletions are in cam's chain, signed ("other" is never signed here)
    assert report.ok, report.problems


def chain_of(root, camera_id: str, count: int) -> None:
    """A chain of `count` 10 s segments (lines only, written at once: no segment files needed)."""
    (root / camera_id).mkdir(parents=True)
    previous, lines = GENESIS, []
    for seq in range(count):
        line = line_of({"bytes": SEGMENT_BYTES, "camera": camera_id, "end": iso(START + 10 * seq + 10),
                        "file": f"segments/x/{seq}.mp4", "init_bytes": 1000, "kind": "segment", "prev": previous,
                        "seq": seq, "sha256": "0" * 64, "start": iso(START + 10 * seq)})
        previous = hash_of(line)
        lines.append(line)
    (root / camera_id / CHAIN_FILE).write_bytes(b"\n".join(lines) + b"\n")


async def test_a_retention_check_reads_what_it_deletes_not_the_whole_chain(tmp_path, redis_server):
    """After a day of 10 s segments a check that read the whole chain cost ~0.2 CPU-s per camera,
    every minute: now the chain is read once, then only from the oldest segment still there."""
    root = tmp_path / "recordings"
    chain_of(root, "cam", 3000)
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    recorders = Recorders(InProcessBus(), RecordingSettings(retention_days=1, budget_gb=0), root,
                          SiteKey.load_or_create(tmp_path / "key.pem"), HoldStore(client))
    try:
        hold = await recorders.holds.put("cam", START + 21, START + 29, "sengketa", Actor("admin-test"))  # seq 2
        recorders.follow(["cam"])
        day = 86400
        assert await recorders.enforce_retention(now=START + day + 51) == 4  # seqs 0-4 ended a day ago; 2 is held
        cursor = recorders._cursors["cam"][1]
        first = cursor.lines_read
        assert first >= 3000
        await recorders.holds.lift(hold, Actor("admin-test"))
        assert await recorders.enforce_retention(now=START + day + 101) == 6  # the held one now, and seqs 5-9
        assert cursor.lines_read - first <= 5 + 1 + 1, "the check read more than it deleted, the last entry and the one after"
        present = [s.entry.seq for s in present_segments("cam", read_entries(root / "cam" / CHAIN_FILE))]
        assert present == list(range(10, 3000))
    finally:
        await recorders.stop()
        await client.aclose()
