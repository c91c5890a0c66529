"""At most one enabled recap camera per kecamatan (issue 15, finding 15).

The wall and the kecamatan page show one recap site per kecamatan; with two, which one showed
was an accident of ids (a hidden, offline one took the place of the online one for operators).
So a write may not make a camera an enabled recap camera of a kecamatan that already has one:
create, PUT, PATCH and CSV import are refused (nothing stored), naming the kecamatan and the
camera that holds it. Disabled recap cameras (a standby, a replaced one) may be as many as
wanted; switching is disabling one and enabling the other, in two writes or in one import.

Only what a write *adds* is checked: a registry that already holds two (written before this
rule) keeps working, both stay editable, and the next enabled one is refused.

Called from the registry's write path (pantau/cameras/registry.py `_transact`) on every write, against
the state the write replaces; the CSV import checks first with its line numbers
(pantau/cameras/camera_import.py), so its refusal names lines like any other import error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pantau.cameras.camera import Camera
from pantau.cameras.regions import RegionTree
from pantau.cameras.registry import RegistryError


@dataclass(frozen=True)
class RecapConflict:
    camera: str  # the camera the write would make a second enabled recap camera
    kecamatan: str  # its kecamatan code
    holder: str  # the enabled recap camera already there (or earlier in the same write)

    def reason(self, regions: RegionTree | None = None, holder_line: int | None = None) -> str:
        region = regions.get(self.kecamatan) if regions is not None else None
        place = f"kecamatan {self.kecamatan}" + (f" ({region.name})" if region is not None else "")
        holder = f"{self.holder!r}" + (f" (line {holder_line})" if holder_line is not None else "")
        return (f"{place} already has an enabled recap camera, {holder}: a kecamatan has at most one; "
                f"disable that one first, or register {self.camera!r} disabled")


def _holds(camera: Camera | None) -> str | None:
    """The kecamatan an enabled recap camera holds (its region), else None."""
    return camera.region if camera is not None and camera.kind == "recap" and camera.enabled else None


def held(cameras: Iterable[Camera]) -> set[str]:
    """The kecamatan codes that have an enabled recap camera."""
    return {c.region for c in cameras if _holds(c) is not None}


def conflicts(current: dict[str, Camera], changed: Iterable[Camera]) -> list[RecapConflict]:
    """The cameras in `changed` (in order: the earlier one holds) that would become a second
    enabled recap camera of their kecamatan once `changed` replaces its ids in `current`."""
    changed = list(changed)
    claims = [c for c in changed if _holds(c) is not None and _holds(current.get(c.id)) != _holds(c)]
    if not claims:
        return []
    changed_ids = {c.id for c in changed}
    holders: dict[str, str] = {}  # kecamatan -> the lowest id holding it after the write, claims aside
    claiming = {c.id for c in claims}
    stays = [c for c in current.values() if c.kind == "recap" and c.id not in changed_ids]
    for camera in stays + [c for c in changed if c.id not in claiming]:
        kecamatan = _holds(camera)
        if kecamatan is not None and (kecamatan not in holders or camera.id < holders[kecamatan]):
            holders[kecamatan] = camera.id
    found = []
    for camera in claims:
        kecamatan = _holds(camera)
        if kecamatan in holders:
            found.append(RecapConflict(camera.id, kecamatan, holders[kecamatan]))
        else:
            holders[kecamatan] = camera.id
    return found


def check(current: dict[str, Camera], changed: Iterable[Camera], regions: RegionTree | None = None) -> None:
    """Raise RecapTaken (409) if the write would give a kecamatan a second enabled recap camera."""
    found = conflicts(current, changed)
    if found:
        raise RecapTaken(found, regions)


class RecapTaken(RegistryError):
    status = 409

    def __init__(self, found: list[RecapConflict], regions: RegionTree | None = None):
        self.conflicts = found
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        super().__init__(found[0].reason(regions) + more)
