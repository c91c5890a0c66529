"""The DKI Jakarta region tree (Kemendagri codes): lookups by code and by name.

Levels: provinsi (31) > kota (31.71) > kecamatan (31.71.01) > kelurahan (31.71.01.1001).
Name lookups ignore case, spaces, punctuation and administrative prefixes, so the common
variants match (Pal Merah/Palmerah, Pulo Gadung/Pulogadung, Kramat Jati/Kramatjati,
Setia Budi/Setiabudi, Taman Sari/Tamansari, "Jakarta Pusat"/"Kota Administrasi Jakarta Pusat").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pantau.runtime.paths import CONFIGS_DIR

LEVELS = ("provinsi", "kota", "kecamatan", "kelurahan")
_PREFIXES = re.compile(
    r"^(kota administrasi|kabupaten administrasi|kota adm\.?|kab\.? adm\.?|kota|kabupaten|"
    r"kecamatan|kec\.?|kelurahan|kel\.?)\s+"
)


def name_key(name: str) -> str:
    """Normalise a region name for matching: lower case, prefix dropped, letters/digits only."""
    text = " ".join(name.lower().split())
    text = _PREFIXES.sub("", text)
    return re.sub(r"[^a-z0-9]", "", text)


@dataclass(frozen=True)
class Region:
    code: str
    level: str
    name: str
    parent: str | None
    children: tuple[str, ...] = field(default=(), compare=False)

    @property
    def compact_code(self) -> str:
        """The code without dots, as used in KPU TPS ids (31.71.01.1001 -> 3171011001)."""
        return self.code.replace(".", "")


class RegionTree:
    def __init__(self, rows: list[dict]):
        children: dict[str, list[str]] = {}
        for row in rows:
            if row["parent"]:
                children.setdefault(row["parent"], []).append(row["code"])
        self._by_code = {
            row["code"]: Region(
                row["code"], row["level"], row["name"], row["parent"], tuple(children.get(row["code"], ()))
            )
            for row in rows
        }
        self._by_name: dict[str, list[Region]] = {}
        for region in self._by_code.values():
            self._by_name.setdefault(name_key(region.name), []).append(region)

    def get(self, code: str) -> Region | None:
        return self._by_code.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def at_level(self, level: str) -> list[Region]:
        return [r for r in self._by_code.values() if r.level == level]

    def children(self, code: str) -> list[Region]:
        region = self._by_code.get(code)
        return [self._by_code[c] for c in region.children] if region else []

    def find(self, name: str, level: str | None = None) -> list[Region]:
        """Regions whose name matches `name` (variants accepted), optionally of one level."""
        found = self._by_name.get(name_key(name), [])
        return [r for r in found if level is None or r.level == level]

    def search(self, text: str, level: str | None = None, limit: int = 50) -> list[Region]:
        """Exact name matches (variants accepted) first, then names containing `text`."""
        key = name_key(text)
        if not key:
            return []
        exact = self.find(text, level)
        partial = sorted((r for k, regions in self._by_name.items() if key in k and k != key for r in regions
                          if level is None or r.level == level), key=lambda r: (LEVELS.index(r.level), r.name))
        return (exact + partial)[:limit]

    def lookup(self, code_or_name: str, level: str | None = None) -> Region | None:
        """A code, or a name that matches exactly one region (of `level` if given).

        Many kelurahan share their kecamatan's name (Gambir, Palmerah): without a level the
        highest level with a single match wins, so "Gambir" is the kecamatan.
        """
        region = self._by_code.get(code_or_name.strip())
        if region and (level is None or region.level == level):
            return region
        found = self.find(code_or_name, level)
        for candidate_level in LEVELS:
            at_level = [r for r in found if r.level == candidate_level]
            if at_level:
                return at_level[0] if len(at_level) == 1 else None
        return None

    def ancestors(self, code: str) -> list[Region]:
        """The region and its parents, from the region itself up to the provinsi."""
        chain = []
        region = self._by_code.get(code)
        while region:
            chain.append(region)
            region = self._by_code.get(region.parent) if region.parent else None
        return chain

    def path(self, code: str) -> dict[str, dict[str, str]]:
        """{"kota": {...}, "kecamatan": {...}, "kelurahan": {...}} for a code (levels above it)."""
        return {
            r.level: {"code": r.code, "name": r.name} for r in self.ancestors(code) if r.level != "provinsi"
        }


def load_regions(path: Path | None = None) -> RegionTree:
    path = path or CONFIGS_DIR / "regions-dki.json"
    return RegionTree(json.loads(path.read_text(encoding="utf-8"))["regions"])


@lru_cache(maxsize=1)
def dki_regions() -> RegionTree:
    return load_regions()
