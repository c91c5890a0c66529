"""The region tree with camera counts per node, cached per registry revision."""

from __future__ import annotations

from typing import Any

from pantau.cameras.camera import Camera
from pantau.cameras.regions import RegionTree


def region_tree(regions: RegionTree, cameras: list[Camera]) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {}
    for camera in cameras:
        parts = camera.region.split(".")
        for depth in range(1, len(parts) + 1):
            node = counts.setdefault(".".join(parts[:depth]), {"cameras": 0, "tps": 0, "recap": 0})
            node["cameras"] += 1
            node[camera.kind] += 1

    def node(code: str) -> dict[str, Any]:
        region = regions.get(code)
        out: dict[str, Any] = {"code": region.code, "name": region.name, "level": region.level}
        out.update(counts.get(code, {"cameras": 0, "tps": 0, "recap": 0}))
        return out

    province = regions.at_level("provinsi")[0]
    kota_nodes = []
    for kota in sorted(regions.children(province.code), key=lambda r: r.code):
        kecamatan_nodes = []
        for kecamatan in sorted(regions.children(kota.code), key=lambda r: r.code):
            kelurahan_nodes = [node(k.code) for k in sorted(regions.children(kecamatan.code), key=lambda r: r.code)]
            kecamatan_nodes.append({**node(kecamatan.code), "kelurahan": kelurahan_nodes})
        kota_nodes.append({**node(kota.code), "kecamatan": kecamatan_nodes})
    return {
        **node(province.code),
        "totals": {level: len(regions.at_level(level)) for level in ("kota", "kecamatan", "kelurahan")},
        "kota": kota_nodes,
    }


class RegionTreeCache:
    """Keeps the last built tree per audience; rebuilt only when the registry revision moves."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, bool], dict[str, Any]] = {}

    def get(self, regions: RegionTree, cameras: dict[str, Camera], revision: int, sees_all: bool) -> dict[str, Any]:
        key = (revision, sees_all)
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[0] == revision}
            visible = [c for c in cameras.values() if sees_all or c.public]
            self._cache[key] = region_tree(regions, visible)
        return self._cache[key]
