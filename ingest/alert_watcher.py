"""Turns the statuses an ingest worker reports into alert records (pantau/monitoring/alerts.py).

Runs in the worker that owns the camera, so each camera is judged once on a site, from the
status its owner knows first-hand (ingest/status_reporter.py), every `alerts.check_s`:

* a picture signal: the camera is online and its `picture` is anything but "ok" (black, frozen,
  and whatever new detector names it: moved, blurred, obstructed, ...), the same signal for
  `tamper_after_s` -> an alert of that kind. It ends once the picture was seen fine (another
  value, "ok" or another signal) for `clear_after_s`;
* an outage: the camera went offline (or a WHIP camera waits for its push) and has not been
  online since, for `offline_after_s` -> an `offline` alert (retries through "connecting" do not
  restart the clock). It ends the moment the camera is online again: that is the camera coming
  back, announced as the alert's `ended`;
* only cameras that are enabled and (with `public_only`) inside their public window (public, and
  within its visibility windows: pantau/cameras/visibility.py) raise alerts, and only time inside the
  window counts: a camera covered or offline before its window opens raises its alert once the
  window has been open `tamper_after_s` / `offline_after_s` (`started` still says since when).
  An alert of a camera deleted, disabled or outside its window meanwhile ends.

Raising is idempotent in Redis (one current alert per camera and kind), so after an owner
change the new owner raising again changes nothing, and it ends what the old owner raised: the
alerts still active are read from Redis every REFRESH_S. The evidence is the keyframe tile at
the moment the signal was first seen (for an outage: the last picture before it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pantau.bus.stream_bus import StreamBus, Tile
from pantau.cameras import visibility
from pantau.cameras.camera import Camera
from pantau.cameras.registry import Registry
from pantau.monitoring.alerts import OFFLINE, AlertStore
from pantau.runtime.clock import iso_utc
from pantau.runtime.config import AlertSettings

log = logging.getLogger(__name__)

DOWN_STATES = ("offline", "waiting")
REFRESH_S = 5.0

# camera id -> (camera, the status to judge it by) for every camera this worker answers for.
Duty = Callable[[], Awaitable[dict[str, tuple[Camera, dict[str, Any]]]]]


@dataclass
class _Signal:
    """A condition seen since `since` (monotonic) that may become an alert."""

    kind: str
    since: float
    started: str  # wall-clock time of the first sighting: the alert's `started`
    tile: Tile | None  # evidence; dropped once raised


class AlertWatcher:
    def __init__(self, registry: Registry, store: AlertStore, bus: StreamBus, settings: AlertSettings, duty: Duty):
        self.registry = registry
        self.store = store
        self.bus = bus
        self.settings = settings
        self.duty = duty
        self._down: dict[str, _Signal] = {}
        self._picture: dict[str, _Signal] = {}
        self._fine_since: dict[tuple[str, str], float] = {}
        self._alertable_since: dict[str, float] = {}  # inside its public window since (monotonic)
        self._active: dict[str, set[str]] = {}  # camera -> kinds with an alert that has not ended
        self._refresh_at = 0.0

    def alertable(self, camera: Camera) -> bool:
        return camera.enabled and (not self.settings.public_only or visibility.publicly_visible(camera))

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: the next step tries again; nothing is lost meanwhile
                if asyncio.current_task().cancelling():
                    raise
                log.warning("alert watch failed (%s); retrying", exc)
            await asyncio.sleep(self.settings.check_s)

    async def step(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now >= self._refresh_at:
            await self._refresh()
            self._refresh_at = now + REFRESH_S
        duty = await self.duty()
        for camera, status in duty.values():
            await self._judge(camera, status, now)
        for table in (self._down, self._picture, self._alertable_since):
            for camera_id in [c for c in table if c not in duty]:
                del table[camera_id]  # another worker answers for it now (or it is gone)
        for slot in [s for s in self._fine_since if s[0] not in duty]:
            del self._fine_since[slot]

    async def _refresh(self) -> None:
        """Which alerts are active, site-wide; end those of cameras that may no longer raise any."""
        table = await self.registry.sync()  # up to date: a camera missing here is really gone
        active: dict[str, set[str]] = {}
        for alert in await self.store.current():
            if alert["ended"] is not None:
                continue
            camera = table.cameras.get(alert["camera"])
            if camera is None or not self.alertable(camera):
                await self._end(alert["camera"], alert["kind"], "camera deleted, disabled or outside its public window")
                continue
            active.setdefault(alert["camera"], set()).add(alert["kind"])
        self._active = active

    async def _judge(self, camera: Camera, status: dict[str, Any], now: float) -> None:
        camera_id = camera.id
        state, picture = status.get("state"), status.get("picture")
        online = state == "online"
        if online:
            self._down.pop(camera_id, None)
        elif state in DOWN_STATES and camera_id not in self._down:
            self._down[camera_id] = await self._signal(camera_id, OFFLINE, now)
        signal = picture if online and picture not in (None, "ok") else None
        seen = self._picture.get(camera_id)
        if signal is None:
            self._picture.pop(camera_id, None)
        elif seen is None or seen.kind != signal:
            self._picture[camera_id] = await self._signal(camera_id, signal, now)

        alertable = self.alertable(camera)
        active = self._active.get(camera_id, set())
        if alertable:
            window_since = self._alertable_since.setdefault(camera_id, now)
            down = self._down.get(camera_id)
            if down is not None and now - max(down.since, window_since) >= self.settings.offline_after_s and OFFLINE not in active:
                await self._raise(camera, down)
            seen = self._picture.get(camera_id)
            if seen is not None and now - max(seen.since, window_since) >= self.settings.tamper_after_s and seen.kind not in active:
                await self._raise(camera, seen)
        else:
            self._alertable_since.pop(camera_id, None)
        for kind in list(self._active.get(camera_id, ())):
            if not alertable:
                await self._end(camera_id, kind, "camera disabled or outside its public window")
            elif kind == OFFLINE:
                if online:
                    await self._end(camera_id, kind, "back online")
            elif online and picture is not None and picture != kind:
                fine_since = self._fine_since.setdefault((camera_id, kind), now)
                if now - fine_since >= self.settings.clear_after_s:
                    await self._end(camera_id, kind, f"picture {picture}")
            else:
                self._fine_since.pop((camera_id, kind), None)

    async def _signal(self, camera_id: str, kind: str, now: float) -> _Signal:
        return _Signal(kind, now, iso_utc(), await self.bus.tile(camera_id))

    async def _raise(self, camera: Camera, signal: _Signal) -> None:
        tile = signal.tile
        change, alert = await self.store.raise_alert(
            camera, signal.kind, signal.started, iso_utc(), evidence=tile.jpeg if tile else None,
            evidence_at=iso_utc(tile.captured_at) if tile else None)
        signal.tile = None  # kept in Redis now (or by the alert raised before)
        self._active.setdefault(camera.id, set()).add(signal.kind)
        if change != "unchanged":
            log.info("camera %s: alert %s %s (%s)", camera.id, alert["id"], signal.kind, change)

    async def _end(self, camera_id: str, kind: str, why: str) -> None:
        change, alert = await self.store.end_alert(camera_id, kind, iso_utc())
        kinds = self._active.get(camera_id)
        if kinds is not None:
            kinds.discard(kind)
            if not kinds:
                del self._active[camera_id]
        self._fine_since.pop((camera_id, kind), None)
        if change == "ended":
            log.info("camera %s: alert %s %s ended: %s", camera_id, alert["id"], kind, why)
