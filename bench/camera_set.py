"""The benchmark's camera set: Pemilu 2024-sized TPS cameras spread over DKI's kelurahan.

Deterministic (fixed seed), so two runs import the same file. Built from the region file
directly rather than through `pantau`, so the benchmark treats the product as a black box.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REGIONS_FILE = REPO / "configs" / "regions-dki.json"

PEMILU_2024_TPS = 30_766  # TPS in DKI Jakarta, Pemilu 2024
PUBLIC_SHARE = 0.9
MAX_TPS = 999
SEED = 2024
# The camera JSON fields, in the order pantau stores them (see pantau.cameras.camera.FIELDS).
COLUMNS = ("id", "kind", "region", "tps", "name", "source", "transport", "source_token", "public", "enabled", "tags")
TAGS = ("pemilu2024", "bench")


@dataclass(frozen=True)
class Kelurahan:
    code: str
    name: str
    kecamatan: str


@dataclass
class CameraSet:
    csv_bytes: bytes
    # id -> the stored JSON the registry should write for it (the raw-write baseline's payload)
    stored: dict[str, str]
    public_by_kecamatan: Counter[str]
    by_kecamatan: Counter[str]  # all cameras, public or not
    kecamatan_codes: list[str]
    kelurahan_count: int

    @property
    def total(self) -> int:
        return len(self.stored)

    @property
    def public_total(self) -> int:
        return sum(self.public_by_kecamatan.values())

    @property
    def largest_kecamatan(self) -> str:
        """The kecamatan with the most public cameras: the biggest public listing."""
        return max(self.kecamatan_codes, key=lambda code: (self.public_by_kecamatan[code], code))


def load_kelurahan(path: Path = REGIONS_FILE) -> tuple[list[Kelurahan], list[str]]:
    regions = json.loads(path.read_text(encoding="utf-8"))["regions"]
    kelurahan = [Kelurahan(r["code"], r["name"], r["parent"]) for r in regions if r["level"] == "kelurahan"]
    kecamatan = sorted(r["code"] for r in regions if r["level"] == "kecamatan")
    return kelurahan, kecamatan


def tps_counts(kelurahan: list[Kelurahan], total: int, rng: random.Random) -> dict[str, int]:
    """How many TPS each kelurahan gets: uneven like the real map (the Kepulauan Seribu
    islands have few), summing exactly to `total`.

    The weights are per kelurahan, so a kecamatan's share follows its number of kelurahan (3
    to 11 in the region file): at 30,766 cameras the 44 kecamatan hold ~700 on average and
    the largest, 31.73.04 with 11 kelurahan, ~1,300 (~1,180 public), the size of the biggest
    real ones (the issue measured 920 in 31.75.03), not a uniform ~700 each."""
    if total < len(kelurahan):
        raise ValueError(f"need at least one camera per kelurahan ({len(kelurahan)})")
    weights = {k.code: rng.uniform(0.5, 1.5) * (0.3 if k.code.startswith("31.01.") else 1.0) for k in kelurahan}
    scale = total / sum(weights.values())
    shares = {code: w * scale for code, w in weights.items()}
    counts = {code: max(1, int(share)) for code, share in shares.items()}
    # Largest remainder: the kelurahan closest to one more TPS get the leftover ones.
    by_remainder = sorted(shares, key=lambda code: shares[code] - int(shares[code]), reverse=True)
    for code in by_remainder[: max(0, total - sum(counts.values()))]:
        counts[code] += 1
    while sum(counts.values()) > total:  # only when max(1, …) rounded tiny shares up
        counts[max(counts, key=counts.get)] -= 1
    if max(counts.values()) > MAX_TPS:
        raise ValueError(f"{total} cameras would put more than {MAX_TPS} TPS in one kelurahan")
    return counts


def _source(n: int) -> str:
    # A distinct host and password per camera: the registry learns each password as a secret.
    return f"rtsp://admin:benchpw-{n}@10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}:554/stream1"


def _stored_json(kelurahan: Kelurahan, tps: int, source: str, public: bool) -> tuple[str, str]:
    """(id, JSON) as pantau stores the camera the CSV row describes (default id and name)."""
    camera_id = f"{kelurahan.code.replace('.', '')}{tps:03d}"
    stored = {
        "id": camera_id, "kind": "tps", "region": kelurahan.code, "tps": tps,
        "name": f"TPS {tps:03d} {kelurahan.name}", "source": source, "transport": "tcp",
        "source_token": None, "public": public, "enabled": True, "tags": list(TAGS),
    }
    return camera_id, json.dumps(stored, ensure_ascii=False, separators=(",", ":"))


def build_camera_set(total: int = PEMILU_2024_TPS, seed: int = SEED) -> CameraSet:
    """The CSV (id and name left empty for the registry to derive) and what it should yield."""
    rng = random.Random(seed)
    kelurahan, kecamatan = load_kelurahan()
    counts = tps_counts(kelurahan, total, rng)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    stored: dict[str, str] = {}
    public_by_kecamatan: Counter[str] = Counter()
    by_kecamatan: Counter[str] = Counter()
    n = 0
    for kel in kelurahan:
        for tps in range(1, counts[kel.code] + 1):
            n += 1
            public = rng.random() < PUBLIC_SHARE
            source = _source(n)
            writer.writerow(["", "tps", kel.code, tps, "", source, "tcp", "", "true" if public else "false", "true", ";".join(TAGS)])
            camera_id, stored[camera_id] = _stored_json(kel, tps, source, public)
            public_by_kecamatan[kel.kecamatan] += public
            by_kecamatan[kel.kecamatan] += 1
    return CameraSet(out.getvalue().encode(), stored, public_by_kecamatan, by_kecamatan, kecamatan, len(kelurahan))
