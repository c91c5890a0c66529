"""What the wall shows per kecamatan: its recap camera and how many of its TPS cameras are online.

Kept in memory per relay and updated from the status events every ingest worker publishes, so
the wall never makes the relay read 31k statuses per page load. A full reload (one HMGET of all
statuses) happens only when the registry revision moves (cameras added, changed or removed).
Two audiences: the public sees public cameras only; operators and admins see all. Nothing the
public gets moves with a non-public camera: its `revision` is a digest of the public cameras'
listed fields (not the registry revision, which every hidden edit moves), and a count change
is reported per audience. A kecamatan with several recap cameras shows the enabled one (there
is at most one, pantau/cameras/recap_rule.py), else the lowest id.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

from pantau.cameras import visibility
from pantau.cameras.camera import Camera
from pantau.cameras.registry import Registry

AUDIENCES = (False, True)  # sees_all


@dataclass(frozen=True)
class TpsCount:
    online: int = 0
    total: int = 0

    def as_json(self) -> dict[str, int]:
        return {"online": self.online, "total": self.total}


def _outside_windows(cameras: list[Camera]) -> str:
    """Part of the public wall's revision: which public recap cameras are outside their windows
    (the public wall shows them as scheduled), so it moves when a window opens or closes."""
    judge = visibility.Judge()
    hidden = sorted(c.id for c in cameras if c.kind == "recap" and c.public and not judge(c))
    return "-w" + hashlib.blake2b(repr(hidden).encode(), digest_size=6).hexdigest() if hidden else ""


def _scheduled(camera: Camera) -> dict[str, Any]:
    """A recap camera outside its public window, as the public wall shows it: when it opens."""
    status = visibility.scheduled_status(camera)
    return {"state": status["state"], "reason": None, "picture": None, "public_from": status["public_from"]}


def _kecamatan_of(camera: Camera) -> str:
    return ".".join(camera.region.split(".")[:3])


def public_revision(cameras: dict[str, Camera], sorted_ids: list[str]) -> str:
    """A digest of what the public lists of each public camera (status aside, which has its own
    events): moves when a public camera is added, removed, changed or made non-public, never
    with a non-public one. The same on every relay of a site."""
    rows = [(c.id, c.kind, c.region, c.tps, c.name, c.enabled, tuple(c.tags))
            for c in (cameras[i] for i in sorted_ids) if c.public]
    return "p-" + hashlib.blake2b(repr(rows).encode(), digest_size=8).hexdigest()


def _short_status(status: dict[str, Any]) -> dict[str, Any]:
    return {"state": status.get("state"), "reason": status.get("reason"), "picture": status.get("picture")}


class WallSummary:
    def __init__(self, registry: Registry):
        self.registry = registry
        self._revision: int | None = None
        self._public_revision: str | None = None
        self._states: dict[str, str] = {}  # camera id -> effective state
        self._recap_status: dict[str, dict[str, Any]] = {}  # recap camera id -> short status
        self._counts: dict[bool, dict[str, TpsCount]] = {audience: {} for audience in AUDIENCES}
        # Count changes found by a reload, until the event hub takes them (a reload may happen
        # in a request for the wall, between two looks of the hub).
        self._changed_counts: dict[str, set[bool]] = {}
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Reload if the registry changed; the TPS counts that changed wait in take_count_changes()."""
        table = await self.registry.readable()
        if table.revision == self._revision:
            return
        async with self._lock:
            table = await self.registry.readable()
            if table.revision == self._revision:
                return
            cameras = list(table.cameras.values())
            statuses = await self.registry.statuses(cameras)
            before = self._counts
            self._states = {camera_id: status["state"] for camera_id, status in statuses.items()}
            self._recap_status = {c.id: _short_status(statuses[c.id]) for c in cameras if c.kind == "recap"}
            self._counts = {audience: self._count(table.cameras, audience) for audience in AUDIENCES}
            self._public_revision = public_revision(table.cameras, table.sorted_ids()) + _outside_windows(cameras)
            self._revision = table.revision
            for audience in AUDIENCES:
                for code in set(before[audience]) | set(self._counts[audience]):
                    if before[audience].get(code) != self._counts[audience].get(code):
                        self._changed_counts.setdefault(code, set()).add(audience)

    def take_count_changes(self) -> dict[str, set[bool]]:
        """Kecamatan codes whose TPS counts a reload changed, each with the audiences (sees_all)
        whose counts changed; forgotten once taken."""
        changed, self._changed_counts = self._changed_counts, {}
        return changed

    def invalidate(self) -> None:
        """Visibility windows opened or closed (relay/live/visibility_watch.py): the public counts and
        recap cameras change without a registry edit, so the next refresh reloads."""
        self._revision = None

    @property
    def revision(self) -> int | None:
        """The registry revision the summary was last built from (operators' wall revision)."""
        return self._revision

    @property
    def public_revision(self) -> str | None:
        """The public wall's revision: moves only when a public camera's listed fields do."""
        return self._public_revision

    def _count(self, cameras: dict[str, Camera], sees_all: bool) -> dict[str, TpsCount]:
        online: dict[str, int] = {}
        total: dict[str, int] = {}
        visible = visibility.Judge()  # the public counts cameras inside their public windows only
        for camera in cameras.values():
            if camera.kind != "tps" or not (sees_all or visible(camera)):
                continue
            code = _kecamatan_of(camera)
            total[code] = total.get(code, 0) + 1
            if self._states.get(camera.id) == "online":
                online[code] = online.get(code, 0) + 1
        return {code: TpsCount(online.get(code, 0), count) for code, count in total.items()}

    def apply(self, camera: Camera, status: dict[str, Any]) -> tuple[str, tuple[bool, ...]] | None:
        """Take one camera's new status; returns its kecamatan code and the audiences (sees_all)
        whose TPS count changed, if one did."""
        if camera.kind == "recap":
            self._recap_status[camera.id] = _short_status(status)
        # Registry changes since the last reload (a camera added, moved, made public) are not in
        # the totals yet: the next reload counts from the stored statuses, within a second.
        current = self._revision == self.registry.table.revision
        was_online = self._states.get(camera.id) == "online"
        self._states[camera.id] = status["state"]
        now_online = status["state"] == "online"
        if camera.kind != "tps" or was_online == now_online or not current or camera.id not in self.registry.table.cameras:
            return None
        code = _kecamatan_of(camera)
        step = 1 if now_online else -1
        audiences = tuple(audience for audience in AUDIENCES if audience or visibility.publicly_visible(camera))
        for audience in audiences:
            count = self._counts[audience].get(code, TpsCount())
            self._counts[audience][code] = TpsCount(max(0, count.online + step), count.total)
        return code, audiences

    def counts(self, code: str, sees_all: bool) -> dict[str, int]:
        return self._counts[sees_all].get(code, TpsCount()).as_json()

    async def wall(self, sees_all: bool) -> dict[str, Any]:
        """Every kota with its kecamatan: name, code, recap camera (or null) and TPS counts."""
        await self.refresh()
        regions = self.registry.regions
        recap_by_kecamatan: dict[str, Camera] = {}
        recaps = (c for c in self.registry.table.cameras.values() if c.kind == "recap" and (sees_all or c.public))
        for camera in sorted(recaps, key=lambda c: (not c.enabled, c.id)):
            recap_by_kecamatan.setdefault(camera.region, camera)  # the enabled one first
        province = regions.at_level("provinsi")[0]
        kota_out = []
        for kota in sorted(regions.children(province.code), key=lambda r: r.code):
            kecamatan_out = []
            for kecamatan in sorted(regions.children(kota.code), key=lambda r: r.code):
                recap = recap_by_kecamatan.get(kecamatan.code)
                kecamatan_out.append({
                    "code": kecamatan.code, "name": kecamatan.name,
                    "recap": None if recap is None else {
                        "id": recap.id, "name": recap.name,
                        "status": self._recap_status.get(recap.id, {"state": "connecting", "reason": None, "picture": None})
                        if sees_all or visibility.publicly_visible(recap) else _scheduled(recap),
                    },
                    "tps": self.counts(kecamatan.code, sees_all),
                })
            kota_out.append({"code": kota.code, "name": kota.name, "kecamatan": kecamatan_out})
        return {"revision": self._revision if sees_all else self._public_revision, "kota": kota_out}
