"""The camera registry on Redis: the one place that says which cameras exist.

Writes are Redis transactions (WATCH on the revision key, MULTI/EXEC) that store the camera,
bump the revision, note the change on a stream and append the audit entry together; with the
append-only file on, an acknowledged change survives any process crash.

Reads come from an in-memory mirror (`CameraTable`) that every process keeps: before each
read the process compares one revision number and applies only the changes since its last
look (or reloads when it fell too far behind), so listings of 31k cameras stay in
milliseconds and still see every write made by any process on the same Redis.

While the Redis is unreachable (restarting, failing over), reads answer from the mirror and
the statuses as last seen, and `unreachable_since` says since when: a page keeps showing the
last known state instead of an error. Writes still fail (503 at the API): nothing is accepted
that cannot be stored.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import inspect
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from pantau.access.redaction import known_secrets
from pantau.cameras import audit_log
from pantau.cameras import registry_keys as keys
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import Camera, default_status
from pantau.cameras.regions import RegionTree
from pantau.runtime import heap

log = logging.getLogger(__name__)

CHANGES_MAXLEN = 10_000
# A change touching more cameras than this is announced as "reload everything".
CHANGE_IDS_MAX = 200
WRITE_CHUNK = 5_000


class RegistryError(Exception):
    status = 400


class CameraNotFound(RegistryError):
    status = 404


class CameraExists(RegistryError):
    status = 409


@dataclass
class CameraTable:
    """In-memory mirror of the cameras hash, with the indexes listings need."""

    cameras: dict[str, Camera] = field(default_factory=dict)
    revision: int = 0
    last_change_id: str = "0-0"
    loaded: bool = False
    _sorted_ids: list[str] | None = None
    _by_area: dict[str, list[str]] | None = None

    def put(self, camera: Camera) -> None:
        self.cameras[camera.id] = camera
        known_secrets_from(camera)
        self._invalidate()

    def merged_with(self, cameras: list[Camera]) -> dict[str, Camera]:
        """A new id -> camera dict with `cameras` added (safe to build in a worker thread while
        the loop reads the current one; the caller swaps it in with replace_all)."""
        for camera in cameras:
            known_secrets_from(camera)
        return {**self.cameras, **{c.id: c for c in cameras}}

    def remove(self, camera_id: str) -> None:
        if self.cameras.pop(camera_id, None) is not None:
            self._invalidate()

    def replace_all(self, cameras: dict[str, Camera]) -> None:
        self.cameras = cameras
        self._invalidate()

    def _invalidate(self) -> None:
        self._sorted_ids = None
        self._by_area = None

    def sorted_ids(self) -> list[str]:
        if self._sorted_ids is None:
            self._sorted_ids = sorted(self.cameras)
        return self._sorted_ids

    def ids_in_area(self, code: str) -> list[str]:
        """Sorted ids of cameras whose region is `code` or lies below it."""
        if self._by_area is None:
            by_area: dict[str, list[str]] = {}
            for camera_id in self.sorted_ids():
                region = self.cameras[camera_id].region
                parts = region.split(".")
                for depth in range(1, len(parts) + 1):
                    by_area.setdefault(".".join(parts[:depth]), []).append(camera_id)
            self._by_area = by_area
        return self._by_area.get(code, [])


def known_secrets_from(camera: Camera) -> None:
    """Teach the log redactor this camera's secrets, so no log line can carry them."""
    for secret in camera.secrets():
        known_secrets.add(secret)


async def _off_loop_if_large(count: int, work):
    return await asyncio.to_thread(work) if count > 500 else work()


def _encode(camera: Camera) -> str:
    return json.dumps(camera.to_stored(), ensure_ascii=False, separators=(",", ":"))


def _decode(raw: str) -> Camera:
    return Camera.from_stored(json.loads(raw))


def _encode_all(cameras: list[Camera]) -> list[tuple[str, str]]:
    return [(c.id, _encode(c)) for c in cameras]


def _decode_all(raw_cameras: dict[str, str]) -> dict[str, Camera]:
    cameras = {}
    for raw in raw_cameras.values():
        camera = _decode(raw)
        known_secrets_from(camera)
        cameras[camera.id] = camera
    return cameras


def effective_status(camera: Camera, reported: dict[str, Any] | None) -> dict[str, Any]:
    """What ingest reported over the defaults; a disabled camera is `disabled` whatever was said."""
    status = default_status(camera)
    if reported:
        status.update(reported)
    if not camera.enabled:
        status.update(state="disabled", reason=None)
    if "restream" in status and not (camera.enabled and camera.restream_url):
        # What the last pusher said is stale once nothing restreams the camera (the worker that
        # stopped it may have lost the lease and cannot say so).
        if camera.restream_url:
            status["restream"] = {"state": "off", "reason": None, "since": None}
        else:
            del status["restream"]
    return status


@dataclass
class ListQuery:
    area: str | None = None  # a region code: kota, kecamatan or kelurahan
    kind: str | None = None
    text: str | None = None  # matches id or name, case-insensitive
    public: bool | None = None  # True for public callers: they never see the others
    enabled: bool | None = None
    source_type: str | None = None
    limit: int = 1000
    after: str | None = None  # cursor: the last id of the previous page


class Registry:
    def __init__(self, redis: aioredis.Redis, regions: RegionTree):
        self.redis = redis
        self.regions = regions
        self.table = CameraTable()
        self._sync_lock = asyncio.Lock()
        self.unreachable_since: float | None = None  # wall time a read first found the Redis unreachable
        self._last_statuses: dict[str, str] = {}  # camera id -> its status as last read (raw JSON)

    # -- following the stored state -------------------------------------------------
    async def sync(self) -> CameraTable:
        """Bring the mirror up to date with Redis (one GET when nothing changed)."""
        revision = int(await self.redis.get(keys.REVISION) or 0)
        if revision == self.table.revision and self.table.loaded:
            return self.table
        async with self._sync_lock:
            await self._catch_up()
        return self.table

    async def readable(self) -> CameraTable:
        """For reads: the mirror brought up to date, or as last seen while the Redis is unreachable."""
        try:
            table = await self.sync()
        except (RedisConnectionError, RedisTimeoutError):
            if not self.table.loaded:
                raise
            self._note_unreachable()
            return self.table
        self._note_reachable()
        return table

    def _note_unreachable(self) -> None:
        if self.unreachable_since is None:
            self.unreachable_since = time.time()
            log.warning("registry Redis unreachable: reads answer from the last known state")

    def _note_reachable(self) -> None:
        if self.unreachable_since is not None:
            log.info("registry Redis reachable again after %.1f s", time.time() - self.unreachable_since)
            self.unreachable_since = None

    async def _catch_up(self) -> None:
        table = self.table
        if not table.loaded:
            await self._reload()
            return
        changes = await self.redis.xrange(keys.CHANGES, min=f"({table.last_change_id}", max="+")
        expected = table.revision + 1
        if not changes or int(changes[0][1]["rev"]) != expected:
            await self._reload()  # trimmed away or never seen: start over
            return
        for change_id, change in changes:
            if int(change["rev"]) != expected or change["ids"] == "*":
                await self._reload()
                return
            ids = change["ids"].split(",") if change["ids"] else []
            if ids:
                for camera_id, raw in zip(ids, await self.redis.hmget(keys.CAMERAS, ids)):
                    if raw is None:
                        table.remove(camera_id)
                    else:
                        table.put(_decode(raw))
            table.revision = expected
            table.last_change_id = change_id
            expected += 1

    async def _reload(self) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(keys.REVISION)
            pipe.hgetall(keys.CAMERAS)
            pipe.xrevrange(keys.CHANGES, count=1)
            revision, raw_cameras, last = await pipe.execute()
        cameras = await asyncio.to_thread(_decode_all, raw_cameras)
        self.table.replace_all(cameras)
        self.table.revision = int(revision or 0)
        self.table.last_change_id = last[0][0] if last else "0-0"
        self.table.loaded = True
        if len(cameras) >= heap.SETTLE_FROM_CAMERAS:
            heap.settle()
        log.debug("registry mirror reloaded: %d cameras at revision %d", len(cameras), self.table.revision)

    # -- reads ----------------------------------------------------------------------
    async def get(self, camera_id: str) -> Camera | None:
        return (await self.readable()).cameras.get(camera_id)

    async def require(self, camera_id: str) -> Camera:
        camera = await self.get(camera_id)
        if camera is None:
            raise CameraNotFound(f"no camera with id {camera_id!r}")
        return camera

    async def list(self, query: ListQuery) -> tuple[list[Camera], int, str | None]:
        """One page of matching cameras (sorted by id), the total that match, the next cursor."""
        table = await self.readable()
        ids = table.ids_in_area(query.area) if query.area else table.sorted_ids()
        text = query.text.lower() if query.text else None

        def matches(camera: Camera) -> bool:
            return not (
                (query.public is not None and camera.public != query.public)
                or (query.kind and camera.kind != query.kind)
                or (query.enabled is not None and camera.enabled != query.enabled)
                or (query.source_type and camera.source_type != query.source_type)
                or (text and text not in camera.id.lower() and text not in camera.name.lower())
            )

        filtered = any((query.public is not None, query.kind, query.enabled is not None, query.source_type, text))
        if filtered:
            selected = [c for c in (table.cameras[i] for i in ids) if matches(c)]
            total = len(selected)
            start = bisect.bisect_right([c.id for c in selected], query.after) if query.after else 0
            page = selected[start : start + query.limit]
        else:
            total = len(ids)
            start = bisect.bisect_right(ids, query.after) if query.after else 0
            page = [table.cameras[i] for i in ids[start : start + query.limit]]
        next_cursor = page[-1].id if page and start + len(page) < total else None
        return page, total, next_cursor

    async def all_cameras(self) -> list[Camera]:
        return list((await self.readable()).cameras.values())

    async def statuses(self, cameras: list[Camera]) -> dict[str, dict[str, Any]]:
        """Live status of each camera (the default for cameras ingest has not reported yet)."""
        if not cameras:
            return {}
        ids = [c.id for c in cameras]
        try:
            raw = await self.redis.hmget(keys.STATUS, ids)
        except (RedisConnectionError, RedisTimeoutError):
            self._note_unreachable()
            raw = [self._last_statuses.get(camera_id) for camera_id in ids]
        else:
            for camera_id, value in zip(ids, raw):
                if value:
                    self._last_statuses[camera_id] = value
                else:
                    self._last_statuses.pop(camera_id, None)
        return {camera.id: effective_status(camera, json.loads(value) if value else None) for camera, value in zip(cameras, raw)}

    # -- writes ---------------------------------------------------------------------
    async def _transact(self, plan, actor: Actor, action: str, audit_camera: str | None = None, once_key: str | None = None):
        """Run `plan(current_cameras) -> (writes, deletes, audit_details, result)` atomically.

        `plan` (sync or async) sees a snapshot of a fresh mirror; if any other writer moves the
        revision before EXEC, Redis refuses the transaction and the plan runs again on the new
        state. With `once_key`, nothing is written if that key exists, and it is set with the
        writes (a run-once marker).
        """
        for _ in range(50):
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    await pipe.watch(keys.REVISION, *([once_key] if once_key else []))
                    if once_key and await pipe.exists(once_key):
                        await pipe.unwatch()
                        return None
                    table = await self.sync()
                    revision = int(await pipe.get(keys.REVISION) or 0)
                    if revision != table.revision:
                        continue  # someone wrote between sync and watch
                    current = dict(table.cameras)
                    outcome = plan(current)
                    if inspect.isawaitable(outcome):
                        outcome = await outcome
                    writes, deletes, details, result, *camera_entries = outcome  # entries: audit_log.batch_entries
                    from pantau.cameras import recap_rule  # here, not at the top: its error is a RegistryError

                    recap_rule.check(current, writes, self.regions)  # one enabled recap camera per kecamatan: 409
                    if not writes and not deletes and not once_key:
                        await pipe.unwatch()
                        return result
                    pipe.multi()
                    if once_key:
                        pipe.set(once_key, audit_log.now_iso())
                    # Encoding 30k cameras takes ~0.4 s: off the event loop for big batches.
                    encoded = await _off_loop_if_large(len(writes), functools.partial(_encode_all, writes))
                    for start in range(0, len(encoded), WRITE_CHUNK):
                        pipe.hset(keys.CAMERAS, mapping=dict(encoded[start : start + WRITE_CHUNK]))
                    if deletes:
                        pipe.hdel(keys.CAMERAS, *deletes)
                        pipe.hdel(keys.STATUS, *deletes)
                    if camera_entries:
                        audit_log.add_entries(pipe, camera_entries[0])  # before the summary entry (newest)
                    changed = [c.id for c in writes] + list(deletes)
                    ids = ",".join(changed) if len(changed) <= CHANGE_IDS_MAX else "*"
                    pipe.set(keys.REVISION, revision + 1)
                    pipe.xadd(keys.CHANGES, {"rev": revision + 1, "ids": ids}, maxlen=CHANGES_MAXLEN, approximate=True)
                    audit_log.add_to(pipe, actor, action, audit_camera, details)
                    results = await pipe.execute()
                    await self._apply_own_write(writes, deletes, revision, change_id=results[-2])
                    return result
            except WatchError:
                continue
        raise RegistryError("the registry is too busy right now; try again")

    async def _apply_own_write(self, writes: list[Camera], deletes: list[str], revision: int, change_id: str) -> None:
        """Put what we just stored into our own mirror, instead of reloading it from Redis."""
        async with self._sync_lock:
            table = self.table
            if table.revision != revision:
                return  # the mirror moved meanwhile: the next sync() catches up normally
            if deletes:
                for camera_id in deletes:
                    table.remove(camera_id)
            table.replace_all(await _off_loop_if_large(len(writes), lambda: table.merged_with(writes)))
            table.revision = revision + 1
            table.last_change_id = change_id
        if len(writes) >= heap.SETTLE_FROM_CAMERAS:
            heap.settle()

    async def create(self, camera: Camera, actor: Actor) -> Camera:
        def plan(current: dict[str, Camera]):
            if camera.id in current:
                raise CameraExists(f"a camera with id {camera.id!r} already exists")
            return [camera], [], {"changes": audit_log.camera_changes(None, camera)}, camera

        return await self._transact(plan, actor, "create", camera.id)

    async def replace(self, camera: Camera, actor: Actor, expected: Camera) -> Camera:
        """Store `camera` over `expected` (the version the caller validated against)."""

        def plan(current: dict[str, Camera]):
            stored = current.get(camera.id)
            if stored is None:
                raise CameraNotFound(f"no camera with id {camera.id!r}")
            if stored != expected:
                raise CameraExists(f"camera {camera.id!r} was changed by someone else meanwhile; reload and retry")
            if camera == stored:
                return [], [], {}, stored  # nothing changes: no write, no revision, no audit entry
            return [camera], [], {"changes": audit_log.camera_changes(stored, camera)}, camera

        return await self._transact(plan, actor, "update", camera.id)

    async def delete(self, camera_id: str, actor: Actor) -> Camera:
        def plan(current: dict[str, Camera]):
            stored = current.get(camera_id)
            if stored is None:
                raise CameraNotFound(f"no camera with id {camera_id!r}")
            return [], [camera_id], {"changes": audit_log.camera_changes(stored, None)}, stored

        return await self._transact(plan, actor, "delete", camera_id)

    async def write_batch(self, plan, actor: Actor, action: str, once_key: str | None = None):
        """Store a batch in one transaction (all or nothing).

        `plan(current) -> (cameras, audit_details, result[, per_camera_audit_entries])` may be
        async and is re-run if another writer got in first, so its checks always hold against
        what it replaces.
        """

        async def full_plan(current: dict[str, Camera]):
            outcome = plan(current)
            if inspect.isawaitable(outcome):
                outcome = await outcome
            cameras, details, result, *camera_entries = outcome
            return cameras, [], details, result, *camera_entries

        return await self._transact(full_plan, actor, action, once_key=once_key)

    async def set_status(self, camera_id: str, status: dict[str, Any]) -> None:
        await self.redis.hset(keys.STATUS, camera_id, json.dumps(status, separators=(",", ":")))
