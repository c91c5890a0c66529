"""Build configs/regions-dki.json from the Kemendagri CSV (../shared/data/dki-wilayah.csv).

Run once when the source list changes; the JSON is committed so the product never needs
../shared at run time:  python tools/build_regions.py [CSV] [OUT]
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "dki-wilayah.csv"
DEFAULT_OUT = ROOT / "configs" / "regions-dki.json"
EXPECTED = {"provinsi": 1, "kota": 6, "kecamatan": 44, "kelurahan": 267}


def build(csv_path: Path) -> dict:
    regions = []
    with csv_path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            regions.append(
                {
                    "code": row["kode"].strip(),
                    "level": row["level"].strip(),
                    "name": " ".join(row["nama"].split()),
                    "parent": row["induk"].strip() or None,
                }
            )
    counts = {level: sum(r["level"] == level for r in regions) for level in EXPECTED}
    if counts != EXPECTED:
        raise SystemExit(f"unexpected region counts {counts}, expected {EXPECTED}")
    return {
        "source": "Kemendagri codes (Kepmendagri No 300.2.2-2138 Tahun 2025) via cahyadsn/wilayah, MIT",
        "regions": regions,
    }


def main() -> None:
    csv_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CSV
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_OUT
    out.write_text(json.dumps(build(csv_path), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
