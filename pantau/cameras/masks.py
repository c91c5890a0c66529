"""Privacy masks on a camera: polygons (picture-relative, 0..1) that ingest burns into the
picture before anything leaves it, each `blur` or `fill` (solid).

Why validate so strictly: a mask is the only thing between a voting booth and the public
(PKPU 25/2023), so a polygon that does not say what area it covers (fewer than 3 corners, no
area, edges that cross) is refused with the mask named, never guessed at. Coordinates are
relative so a mask survives a camera changing its resolution.

The same list in JSON, in the audit log and (compact) in CSV: masks separated by `;`, each
`kind:x,y x,y x,y ...`, e.g. `fill:0.7,0 1,0 1,0.3 0.7,0.3;blur:0,0.5 0.2,0.5 0.2,1`.
"""

from __future__ import annotations

import math
from typing import Any

KINDS = ("blur", "fill")
MAX_MASKS = 16
MAX_POINTS = 32
PRECISION = 4  # decimal places kept: 1/10000 of the picture, finer than any pixel here
MIN_AREA = 1e-4  # of the picture: a polygon smaller than this covers nothing (degenerate)


class MaskInvalid(ValueError):
    """`field` names the mask (`masks[1].points`) so the admin page can point at it."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def normalize_masks(value: Any) -> list[dict[str, Any]]:
    """Check a camera's `masks` (a JSON list, or the CSV text form) and return the stored form:
    `[{"kind": "fill", "points": [[x, y], ...]}, ...]`, coordinates rounded to PRECISION."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = parse_compact(value)
    if not isinstance(value, list):
        raise MaskInvalid("masks", "must be a list of {kind: blur|fill, points: [[x, y], ...]}")
    if len(value) > MAX_MASKS:
        raise MaskInvalid("masks", f"at most {MAX_MASKS} masks per camera")
    return [_normalize_mask(index, mask) for index, mask in enumerate(value)]


def _normalize_mask(index: int, mask: Any) -> dict[str, Any]:
    name = f"masks[{index}]"
    if not isinstance(mask, dict):
        raise MaskInvalid(name, "must be an object {kind: blur|fill, points: [[x, y], ...]}")
    unknown = sorted(set(mask) - {"kind", "points"})
    if unknown:
        raise MaskInvalid(f"{name}.{unknown[0]}", "unknown field; a mask has kind and points")
    if mask.get("kind") not in KINDS:
        raise MaskInvalid(f"{name}.kind", "must be 'blur' or 'fill'")
    points = mask.get("points")
    field = f"{name}.points"
    if not isinstance(points, list):
        raise MaskInvalid(field, "must be a list of [x, y] pairs")
    if len(points) < 3:
        raise MaskInvalid(field, f"a polygon needs at least 3 points; this one has {len(points)}")
    if len(points) > MAX_POINTS:
        raise MaskInvalid(field, f"at most {MAX_POINTS} points per mask; this one has {len(points)}")
    corners: list[tuple[float, float]] = []
    for number, point in enumerate(points):
        x, y = _coordinates(point)
        if x is None or y is None:
            raise MaskInvalid(field, f"point {number} must be [x, y] with two finite numbers")
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise MaskInvalid(field, f"point {number} ({x:g}, {y:g}) is outside the picture: x and y go from 0 to 1")
        corners.append((round(x, PRECISION), round(y, PRECISION)))
    problem = polygon_problem(corners)
    if problem:
        raise MaskInvalid(field, problem)
    return {"kind": mask["kind"], "points": [list(c) for c in corners]}


def _coordinates(point: Any) -> tuple[float | None, float | None]:
    if not isinstance(point, list | tuple) or len(point) != 2:
        return None, None
    out = []
    for c in point:
        if isinstance(c, bool) or not isinstance(c, int | float):
            return None, None
        try:
            value = float(c)  # an int of 400 digits does not fit
        except OverflowError:
            return None, None
        if not math.isfinite(value):
            return None, None
        out.append(value)
    return out[0], out[1]


def polygon_problem(corners: list[tuple[float, float]]) -> str | None:
    """Why a closed polygon is unusable as a mask, or None: repeated corners, no area, edges
    that cross or fold back (O(n²) over at most MAX_POINTS edges)."""
    n = len(corners)
    for i in range(n):
        if corners[i] == corners[(i + 1) % n]:
            return f"points {i} and {(i + 1) % n} are the same corner"
    edges = [(corners[i], corners[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            adjacent = j == i + 1 or (i == 0 and j == n - 1)
            if adjacent:
                shared = edges[i][1] if j == i + 1 else edges[i][0]
                if _folds_back(edges[i], edges[j], shared):
                    return f"edges {i} and {j} fold back onto each other"
            elif _segments_touch(*edges[i], *edges[j]):
                return f"edges {i} and {j} cross (the polygon crosses itself)"
    if abs(signed_area(corners)) < MIN_AREA:
        return "the polygon encloses (almost) no area"
    return None


def signed_area(corners: list[tuple[float, float]]) -> float:
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(corners, corners[1:] + corners[:1])) / 2


def _cross(o, a, b) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _on_segment(p, q, r) -> bool:
    """r, collinear with p-q, lies on it."""
    return min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(p[1], q[1])


def _segments_touch(p1, p2, q1, q2) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if ((d1 > 0) != (d2 > 0)) and d1 != 0 and d2 != 0 and ((d3 > 0) != (d4 > 0)) and d3 != 0 and d4 != 0:
        return True
    return ((d1 == 0 and _on_segment(q1, q2, p1)) or (d2 == 0 and _on_segment(q1, q2, p2))
            or (d3 == 0 and _on_segment(p1, p2, q1)) or (d4 == 0 and _on_segment(p1, p2, q2)))


def _folds_back(edge_a, edge_b, shared) -> bool:
    """Two edges meeting at `shared` that run back along the same line (a spike of no width)."""
    a = edge_a[0] if edge_a[1] == shared else edge_a[1]
    b = edge_b[0] if edge_b[1] == shared else edge_b[1]
    if _cross(shared, a, b) != 0:
        return False
    return (a[0] - shared[0]) * (b[0] - shared[0]) + (a[1] - shared[1]) * (b[1] - shared[1]) > 0


def parse_compact(text: str) -> list[dict[str, Any]]:
    """The CSV form (`fill:0.7,0 1,0 1,0.3;blur:...`) as the JSON list (checked afterwards)."""
    masks = []
    for index, part in enumerate(p.strip() for p in text.split(";")):
        if not part:
            continue
        kind, sep, rest = part.partition(":")
        if not sep:
            raise MaskInvalid(f"masks[{index}]", "write each mask as kind:x,y x,y x,y (e.g. fill:0.7,0 1,0 1,0.3)")
        points = []
        for number, pair in enumerate(rest.split()):
            try:
                x, y = (float(c) for c in pair.split(","))
            except ValueError:
                raise MaskInvalid(f"masks[{index}].points", f"point {number} {pair!r} is not x,y") from None
            points.append([x, y])
        masks.append({"kind": kind.strip(), "points": points})
    return masks


def to_compact(masks: list[dict[str, Any]]) -> str:
    """The CSV form of stored masks (round-trips through parse_compact)."""
    return ";".join(f"{m['kind']}:" + " ".join(f"{x:g},{y:g}" for x, y in m["points"]) for m in masks)
