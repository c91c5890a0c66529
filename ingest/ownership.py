"""Which cameras this ingest worker takes on a site: leases, spread by rendezvous hashing.

Every live worker (heartbeat in `{pantau}:workers`) ranks every camera the same way
(highest hash of worker + camera id wins), so each camera has one desired owner and the
cameras spread evenly; a worker that joins or leaves moves only its share. Each RENEW_S a
worker renews its leases and:

* takes a free lease of a camera it is the desired owner of (a new camera, or failover: the
  holder's heartbeat stopped, so its lease is taken over at once, fenced);
* for a camera held by another live worker (a rebalance after a join), starts the source
  first ("warming": it connects and caches a GOP but cannot publish), and takes the lease
  over at its first keyframe: the hand-over lands on a keyframe and the picture does not stop;
* gives up a camera when its lease is taken over (its next append is refused by the fence).

WHIP cameras are not spread: the worker that accepts the push takes the lease.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable

from pantau.bus.redis_bus import RedisStreamBus
from pantau.cameras.camera import Camera
from pantau.cameras.registry import Registry
from pantau.runtime.leases import RENEW_S, LeaseStore, worker_of

log = logging.getLogger(__name__)

# After losing a lease, leave the camera alone this long: the worker's reconcile (every 0.5 s)
# stops its source first, so taking it again means a new session, not the stale one.
LOST_COOLDOWN_S = 2 * RENEW_S


def rendezvous(camera_id: str, workers: list[str]) -> str | None:
    """The desired owner: the worker with the highest hash of (worker, camera)."""
    if not workers:
        return None
    return max(workers, key=lambda worker: hashlib.blake2b(f"{worker}\0{camera_id}".encode(), digest_size=8).digest())


class Ownership:
    def __init__(self, leases: LeaseStore, registry: Registry, bus: RedisStreamBus, eligible: Callable[[Camera], bool]):
        self.leases = leases
        self.worker = leases.worker
        self.registry = registry
        self.bus = bus
        self.eligible = eligible  # enabled, a pulled source (not WHIP), and the node's own filter
        self.held: dict[str, str] = {}  # camera -> our lease value "worker:token"
        self.pushed: set[str] = set()  # WHIP cameras whose publisher is connected to us
        self.warming: set[str] = set()
        self._lost_at: dict[str, float] = {}  # camera -> when we lost its lease (its source must restart)
        self.live: dict[str, int] = {}
        self._task: asyncio.Task | None = None
        bus.fence = self.held.get
        bus.on_fenced = self.lost

    # -- what the worker asks ------------------------------------------------------------------
    def wants(self, camera: Camera) -> bool:
        return (camera.id in self.held or camera.id in self.warming) and not self._cooling(camera.id)

    def lost(self, camera_id: str) -> None:
        """Our lease is gone (taken over, or expired while we were paused): stop publishing. The
        worker stops the source; if the camera comes back to us, it starts a new session (a new
        epoch and a fresh GOP), never the old one that another worker's packets followed."""
        if self.held.pop(camera_id, None) is not None:
            self._lost_at[camera_id] = time.monotonic()
            self.warming.discard(camera_id)
            log.info("camera %s: lease lost; another worker has it", camera_id)

    def _cooling(self, camera_id: str) -> bool:
        lost_at = self._lost_at.get(camera_id)
        if lost_at is None:
            return False
        if time.monotonic() - lost_at < LOST_COOLDOWN_S:
            return True
        del self._lost_at[camera_id]
        return False

    async def claim_push(self, camera_id: str) -> bool:
        """A WHIP publisher connects here: take the camera's lease unless another live worker
        holds it (its publisher is connected there: the push is refused with 409)."""
        holder = (await self.leases.holders([camera_id]))[camera_id]
        if self._held_by_another_live_worker(holder):
            return False
        value = await self.leases.acquire(camera_id, expected=holder)
        if value is None:
            return False
        self.held[camera_id] = value
        self.pushed.add(camera_id)
        return True

    async def pushed_elsewhere(self, camera_id: str) -> bool:
        """Is the camera's publisher connected to another live worker?"""
        return self._held_by_another_live_worker((await self.leases.holders([camera_id]))[camera_id])

    def _held_by_another_live_worker(self, holder: str | None) -> bool:
        return holder is not None and worker_of(holder) != self.worker and worker_of(holder) in self.live

    async def release_push(self, camera_id: str) -> None:
        self.pushed.discard(camera_id)
        value = self.held.pop(camera_id, None)
        if value is not None:
            await self.leases.release(camera_id, value)

    # -- the loop ------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ownership")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # A clean stop hands the cameras over at once instead of after the lease expiry.
        for camera_id, value in list(self.held.items()):
            try:
                await self.leases.release(camera_id, value)
            except Exception as exc:  # Redis away: the leases expire by themselves
                log.debug("could not release %s: %s", camera_id, exc)
                break
        self.held.clear()
        try:
            await self.leases.leave()
        except Exception as exc:
            log.debug("could not leave the worker list: %s", exc)

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: keep what runs; leases expire if it stays away
                if asyncio.current_task().cancelling():
                    raise
                log.warning("ownership step failed (%s); retrying", exc)
            await asyncio.sleep(RENEW_S)

    async def step(self) -> None:
        self.live = await self.leases.heartbeat()
        for camera_id in await self.leases.renew(dict(self.held)):
            self.lost(camera_id)
        table = await self.registry.sync()
        cameras = {c.id for c in table.cameras.values() if self.eligible(c)}
        for camera_id in [c for c in self.held if c not in cameras and c not in self.pushed]:  # deleted, disabled, filtered out
            await self.leases.release(camera_id, self.held.pop(camera_id))
        workers = sorted(self.live)
        mine = {camera_id for camera_id in cameras if rendezvous(camera_id, workers) == self.worker}
        self.warming &= mine
        wanted = [camera_id for camera_id in mine if camera_id not in self.held and not self._cooling(camera_id)]
        for camera_id, holder in (await self.leases.holders(wanted)).items():
            owner = worker_of(holder)
            if holder is None or owner == self.worker or owner not in self.live:
                await self._take(camera_id, holder)  # free, ours from before a restart, or its holder died
            elif self.bus.gop(camera_id):
                await self._take(camera_id, holder)  # warmed up: a keyframe is cached, hand over now
            else:
                self.warming.add(camera_id)  # a live worker has it: connect first, take over at our keyframe

    async def _take(self, camera_id: str, holder: str | None) -> None:
        value = await self.leases.acquire(camera_id, expected=holder)
        if value is None:
            return  # someone else was faster; the next step looks again
        self.held[camera_id] = value
        self.warming.discard(camera_id)
        self.bus.resend_gop(camera_id)  # viewers on relays continue from our keyframe
        log.info("camera %s: lease taken%s", camera_id, f" over from {worker_of(holder)}" if holder else "")
