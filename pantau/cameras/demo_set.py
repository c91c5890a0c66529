"""The demo set: one recap camera per kecamatan (44) and 3 TPS cameras in each (132), all with
the `demo` source. Seeded once per registry; an admin who deletes demo cameras keeps them
deleted (a marker key records that seeding happened). A kecamatan that already has an enabled
recap camera keeps it and gets no demo one (one per kecamatan: pantau/cameras/recap_rule.py)."""

from __future__ import annotations

from pantau.cameras import recap_rule
from pantau.cameras import registry_keys as keys
from pantau.cameras.audit_log import SYSTEM
from pantau.cameras.camera import Camera, default_id
from pantau.cameras.regions import RegionTree
from pantau.cameras.registry import Registry

TPS_PER_KECAMATAN = 3


def demo_cameras(regions: RegionTree) -> list[Camera]:
    cameras = []
    for kecamatan in sorted(regions.at_level("kecamatan"), key=lambda r: r.code):
        cameras.append(Camera(
            id=default_id("recap", kecamatan.code, None), kind="recap", region=kecamatan.code, tps=None,
            name=f"Rekap Kecamatan {kecamatan.name}", source="demo", tags=["demo"], record=True,
        ))
        kelurahan = regions.children(kecamatan.code)
        for index in range(TPS_PER_KECAMATAN):
            # Spread over the kecamatan's kelurahan: TPS 1 in the first, 2nd, 3rd kelurahan...
            place = kelurahan[index % len(kelurahan)]
            number = 1 + index // len(kelurahan)
            cameras.append(Camera(
                id=default_id("tps", place.code, number), kind="tps", region=place.code, tps=number,
                name=f"TPS {number:03d} {place.name}", source="demo", tags=["demo"],
            ))
    return cameras


async def seed_demo_once(registry: Registry) -> int:
    """Add the demo set unless this registry was seeded before; returns how many were added."""
    cameras = demo_cameras(registry.regions)

    def plan(current):
        held = recap_rule.held(current.values())
        new = [c for c in cameras if c.id not in current and not (c.kind == "recap" and c.region in held)]
        return new, {"demo_cameras": len(new)}, len(new)

    added = await registry.write_batch(plan, SYSTEM, "seed_demo", once_key=keys.DEMO_SEEDED)
    return added or 0
