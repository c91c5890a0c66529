"""Enforces visibility windows on what is already open, once a second, on every relay.

Requests are judged as they come (relay/live/public_windows.py); this is for what outlives a
request. Each check:

- ends every public WHEP session of a camera the public may no longer see (its window closed,
  or it was made non-public or removed): the viewer's picture stops within a second; and every
  admin's unmasked view of a camera that no longer publishes one (its officials' exception
  turned off or its masks removed: pantau/cameras/unmasked_view.py);
- tells public SSE clients when a camera they follow changes sides: its status becomes
  `scheduled` (with `public_from`), or its real status again, so pages swap the picture for
  "Tayang publik mulai 13.00 WIB" and back without a reload. A client of one camera (the station
  page) is judged on its own (what it was last told against now); clients of a region or of
  every camera hear of the cameras whose visibility flipped by the clock since the last check
  (a window opened or closed); the wall recounts.

A check costs one registry sync, one look at each public session and each one-camera client,
and one judgment per distinct schedule (the site's defaults and each distinct window list), not
per camera: cameras are grouped by their windows when the registry revision moves. Region
clients are indexed by their filters, so 10,000 TPS cameras opening at 13:00 cost a few
dictionary lookups each. A moved test clock (pantau/runtime/clock.py) is noticed by the next check, as
a real boundary is. Edits (a camera made non-public, a window changed) end sessions the same
way; pages learn of them from the `registry` event and their next listing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from pantau.cameras import visibility
from pantau.cameras.camera import Camera, public_status
from pantau.cameras.unmasked_view import publishes_unmasked

if TYPE_CHECKING:
    from pantau.cameras.registry import Registry

log = logging.getLogger(__name__)

CHECK_S = 1.0
GroupKey = tuple[str, ...]  # a camera's windows, or ("", kind) for the site's default


def _group_key(camera: Camera) -> GroupKey:
    return tuple(camera.public_windows) or ("", camera.kind)


def _group_visible(key: GroupKey, judge: visibility.Judge) -> bool:
    if key[0] == "":
        return judge.default_for(key[1])
    return visibility.compile_windows(key).contains(judge.t)


class VisibilityWatch:
    def __init__(self, registry: Registry, hub: Any):
        self.registry = registry
        self.hub = hub  # relay.live.events.EventHub: its clients, sessions and wall
        self._revision: int | None = None
        self._groups: dict[GroupKey, list[str]] = {}  # public cameras by their windows
        self._states: dict[GroupKey, bool] = {}
        # Public clients of one camera (station pages) -> what they were last told: visible
        # (they were let in), or not. Judged per client, so a window that opened and closed
        # between two checks still reaches a page that connected meanwhile.
        self._told: dict[Any, bool] = {}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_S)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: the next check tries again
                if asyncio.current_task().cancelling():
                    raise
                log.warning("visibility check failed: %s", exc)

    async def check(self) -> None:
        table = await self.registry.readable()  # windows close on time even while the registry Redis is away
        judge = visibility.Judge()
        await self._end_hidden_sessions(table.cameras, judge)
        flipped = self._flipped(table, judge)
        if flipped:
            log.info("visibility windows: %d camera(s) now %s", len(flipped),
                     ", ".join(sorted({"public" if judge(c) else "hidden" for c in flipped})))
            self.hub.wall.invalidate()  # public counts and recap cameras follow within a second
            await self._announce(flipped, judge)
        await self._tell_camera_clients(table.cameras, judge)

    async def _end_hidden_sessions(self, cameras: dict[str, Camera], judge: visibility.Judge) -> None:
        sessions = self.hub.sessions
        if sessions is None:
            return
        for session in list(sessions.sessions.values()):
            camera = cameras.get(session.camera_id)
            if session.public and (camera is None or not judge(camera)):
                log.info("public viewer of %s ended: the camera is outside its public window", session.camera_id)
                await sessions.close(session.id)
            elif session.bus_id != session.camera_id and (camera is None or not publishes_unmasked(camera)):
                log.info("unmasked viewer of %s ended: the officials' exception is off", session.camera_id)
                await sessions.close(session.id)

    def _flipped(self, table, judge: visibility.Judge) -> list[Camera]:
        if table.revision != self._revision:
            groups: dict[GroupKey, list[str]] = {}
            for camera in table.cameras.values():
                if camera.public:
                    groups.setdefault(_group_key(camera), []).append(camera.id)
            self._groups, self._revision = groups, table.revision
        states = {key: _group_visible(key, judge) for key in self._groups}
        flipped = [table.cameras[i] for key, ids in self._groups.items()
                   if key in self._states and self._states[key] != states[key] for i in ids if i in table.cameras]
        self._states = states
        return flipped

    async def _statuses(self, cameras: list[Camera], judge: visibility.Judge) -> dict[str, bytes]:
        """The `status` frame the public gets for each camera now: its real status if visible,
        else `scheduled`."""
        opened = [c for c in cameras if judge(c)]
        real = await self.registry.statuses(opened) if opened else {}
        frames = {}
        for camera in cameras:
            status = public_status(camera, real[camera.id]) if camera.id in real else visibility.scheduled_status(camera, judge.t)
            frames[camera.id] = f"event: status\ndata: {json.dumps({'id': camera.id, **status}, separators=(',', ':'))}\n\n".encode()
        return frames

    async def _announce(self, flipped: list[Camera], judge: visibility.Judge) -> None:
        """`status` events to the public clients of a region (or of all cameras) whose filters
        take each flipped camera."""
        by_filter: dict[tuple[str | None, str | None], list] = {}
        for client in self.hub.clients:
            if not client.sees_all and client.camera is None:
                by_filter.setdefault((client.region, client.kind), []).append(client)
        if not by_filter:
            return
        frames = await self._statuses(flipped, judge)
        for camera in flipped:
            parts = camera.region.split(".")
            for region in (None, *(".".join(parts[:depth]) for depth in range(1, len(parts) + 1))):
                for kind in (None, camera.kind):
                    for client in by_filter.get((region, kind), ()):
                        client.offer(frames[camera.id])

    async def _tell_camera_clients(self, cameras: dict[str, Camera], judge: visibility.Judge) -> None:
        told, changed = {}, []
        for client in self.hub.clients:
            if client.sees_all or client.camera is None:
                continue
            camera = cameras.get(client.camera)
            visible = camera is not None and judge(camera)
            if camera is not None and visible != self._told.get(client, True):
                changed.append((client, camera))
            told[client] = visible
        self._told = told
        if changed:
            frames = await self._statuses(list({c.id: c for _, c in changed}.values()), judge)
            for client, camera in changed:
                client.offer(frames[camera.id])
