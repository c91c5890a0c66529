"""The recordings of one ingest worker: a `Recorder` for every camera with `record` on whose
lease this worker holds (the worker says which, on every reconcile), and retention for them.

Exactly one writer per camera on a site: the recorder starts and stops with the lease, so after a
failover the new owner continues the same chain (a gap entry covers the hand-over) and the old
one has stopped writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from outputs.recording.chain import CameraChain, iso
from outputs.recording.chain_cursor import ChainCursor
from outputs.recording.disk_usage import DiskUsage
from outputs.recording.holds import Hold, HoldStore
from outputs.recording.recorder import WRITERS, Recorder
from outputs.recording.retention import Present, held
from outputs.recording.segment_files import remove_unrecorded
from outputs.recording.site_key import SiteKey
from pantau.bus.stream_bus import StreamBus
from pantau.runtime.config import RecordingSettings

log = logging.getLogger(__name__)


class Recorders:
    def __init__(self, bus: StreamBus, settings: RecordingSettings, root: Path, key: SiteKey, holds: HoldStore | None,
                 usage: DiskUsage | None = None):
        self.bus = bus
        self.usage = usage or DiskUsage(root)  # for the budget: a running total, not a walk per check
        self.settings = settings
        self.root = root
        self.key = key
        self.holds = holds
        self.running: dict[str, tuple[Recorder, asyncio.Task]] = {}
        self._cursors: dict[str, tuple[Recorder, ChainCursor]] = {}  # retention's, per camera (chores thread)
        self._retention: asyncio.Task | None = None
        # The camera's sound codec as ingest reports it (the node wires the worker's status in): which
        # sound track each recorder takes (Recorder.sound_track).
        self.sound_codec_of: Callable[[str], str | None] = lambda camera_id: None
        key.publish(root)

    def follow(self, camera_ids: Iterable[str]) -> None:
        """Record exactly these cameras from now on."""
        wanted = set(camera_ids)
        for camera_id in [c for c in self.running if c not in wanted]:
            self.running.pop(camera_id)[1].cancel()
            log.info("camera %s: recording stopped", camera_id)
        for camera_id in wanted - self.running.keys():
            recorder = Recorder(self.bus, camera_id, CameraChain(self.root, camera_id), self.key, self.settings, self.usage,
                                self.sound_codec_of)
            task = asyncio.get_running_loop().create_task(self._run(recorder), name=f"record-{camera_id}")
            self.running[camera_id] = (recorder, task)
            log.info("camera %s: recording to %s", camera_id, recorder.chain.dir)
        if self._retention is None:
            self._retention = asyncio.get_running_loop().create_task(self._retention_loop(), name="recording-retention")

    async def _run(self, recorder: Recorder) -> None:
        try:
            await recorder.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # a full disk, a broken volume: say so, the next reconcile starts it again
            log.exception("recording of %s failed", recorder.camera_id)
            if self.running.get(recorder.camera_id, (None,))[0] is recorder:
                del self.running[recorder.camera_id]

    async def stop(self) -> None:
        tasks = [task for _, task in self.running.values()]
        if self._retention:
            tasks.append(self._retention)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        self.running.clear()

    async def _retention_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.retention_check_s)
            try:
                await self.enforce_retention()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away (holds unknown): delete nothing this time
                log.warning("recording retention skipped: %s", exc)

    async def enforce_retention(self, now: float | None = None) -> int:
        """Delete what is past retention or over the budget, never a held range; the count deleted."""
        if not self.running:
            return 0
        holds = await self.holds.all() if self.holds is not None else []
        recorders = {camera_id: recorder for camera_id, (recorder, _) in self.running.items()}
        return await asyncio.get_running_loop().run_in_executor(
            WRITERS, self._delete, recorders, holds, time.time() if now is None else now)

    def _cursors_of(self, recorders: dict[str, Recorder]) -> dict[str, ChainCursor]:
        """Each recorder's cursor, made at its first check (chain_cursor.py: the whole chain is read
        then, and only what a check needs after). Its first check also removes what a crash or the
        previous lease owner left half-written (settled since: the clean-up at start leaves a file
        the old owner may still be finishing); later checks have nothing of that kind to find."""
        for camera_id in [c for c, (recorder, _) in self._cursors.items() if recorders.get(c) is not recorder]:
            del self._cursors[camera_id]
        for camera_id, recorder in recorders.items():
            if camera_id not in self._cursors:
                remove_unrecorded(recorder.chain)
                self._cursors[camera_id] = (recorder, ChainCursor(camera_id, recorder.chain.path))
        return {camera_id: cursor for camera_id, (_, cursor) in self._cursors.items()}

    def _delete(self, recorders: dict[str, Recorder], holds: list[Hold], now: float) -> int:
        cursors = self._cursors_of(recorders)
        doomed: dict[str, list[Present]] = {camera_id: [] for camera_id in cursors}

        def delete_unless_held(cursor: ChainCursor, segment: Present) -> bool:
            if held(segment, holds):
                cursor.kept_back(segment)
                return False
            cursor.deleted(segment)
            doomed[segment.camera].append(segment)
            return True

        cutoff = now - self.settings.retention_days * 86400
        for cursor in cursors.values():
            for segment in cursor.oldest():
                if segment.entry.end >= cutoff:
                    break
                delete_unless_held(cursor, segment)
        if self.settings.budget_gb:  # then the oldest of all this worker's cameras until the directory fits
            budget = int(self.settings.budget_gb * 1e9)
            used = self.usage.total() - sum(s.size for found in doomed.values() for s in found)
            oldest = heapq.merge(*(cursor.oldest() for cursor in cursors.values()), key=lambda s: s.entry.start)
            for segment in oldest:
                if used <= budget:
                    break
                if delete_unless_held(cursors[segment.camera], segment):
                    used -= segment.size
        count = 0
        for camera_id, found in doomed.items():
            if found:
                try:
                    count += self._delete_segments(recorders[camera_id], found, now, cutoff)
                except OSError:
                    del self._cursors[camera_id]  # not written: the next check reads the chain again
                    raise
        if count:
            log.info("recording retention deleted %d segment(s)", count)
        return count

    def _delete_segments(self, recorder: Recorder, found: list[Present], now: float, cutoff: float) -> int:
        chain = recorder.chain
        reason = "retention" if all(s.entry.end < cutoff for s in found) else "budget"
        chain.append("deleted", seqs=sorted(s.entry.seq for s in found), reason=reason, at=iso(now),
                     start=iso(min(s.entry.start for s in found)), end=iso(max(s.entry.end for s in found)))
        for segment in found:
            with contextlib.suppress(FileNotFoundError):
                (chain.dir / segment.entry.fields["file"]).unlink()
                self.usage.add(-segment.size)
        recorder.sign_head()
        return len(found)


def recorders_for(settings, bus: StreamBus, redis) -> Recorders:
    """The node's recordings (`settings`: pantau.runtime.config.Settings): its directory, the site key, holds."""
    key = SiteKey.load_or_create(site_key_path(settings))
    return Recorders(bus, settings.recording, settings.recordings_dir, key, HoldStore(redis))


def site_key_path(settings) -> Path:
    return settings.recording.key_file or settings.data_dir / "keys" / "site-ed25519.pem"
