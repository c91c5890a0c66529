"""Which cameras an ingest worker takes, when a site splits them statically (`--cameras`).

A comma-separated list of patterns; a camera matches if any pattern does:
  * a region code or its prefix in the dotted Kemendagri form: `31.71` (Jakarta Pusat),
    `31.71.01` (kecamatan Gambir), `31.71.01.1001` (one kelurahan);
  * otherwise a glob on the camera id: `rekap-*`, `317101*`, `cam-??`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

from pantau.cameras.camera import Camera

_REGION = re.compile(r"[0-9]{2}(\.[0-9]{2}(\.[0-9]{2}(\.[0-9]{4})?)?)?")


class SelectorError(ValueError):
    pass


def camera_selector(spec: str | None) -> Callable[[Camera], bool]:
    if spec is None or not spec.strip():
        return lambda camera: True
    patterns = [p.strip() for p in spec.split(",")]
    if any(not p for p in patterns):
        raise SelectorError(f"--cameras {spec!r}: an empty pattern (two commas, or a trailing comma)")
    regions = [p for p in patterns if _REGION.fullmatch(p)]
    globs = [p for p in patterns if not _REGION.fullmatch(p)]

    def selects(camera: Camera) -> bool:
        return (any(camera.region == r or camera.region.startswith(r + ".") for r in regions)
                or any(fnmatch.fnmatchcase(camera.id, g) for g in globs))

    return selects
