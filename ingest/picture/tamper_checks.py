"""Tamper checks of one keyframe against the camera's reference view and its recent past:
`moved` (turned away), `blurred` (focus gone), `obstructed` (a large part suddenly uniform) and
a covered lens that still shows the camera's clock (`black`).

All of them compare `ViewSignature`s (pantau/media/view_signature.py) on a 16x9 grid of cells:

- **moved** (needs a reference): per cell, the normalised correlation of the structure (edge
  strength at 160x90) with the reference's. A cell the reference has edges in *matches* when it
  correlates above `matched_ncc`; the view is another one when fewer than `moved_below` of those
  cells match. Light changes scale gradients (the correlation ignores the scale); a person walking
  through changes the cells they cover, and a person in the reference tile the cells they left
  (a quarter of the picture each way still leaves > 50 % matching). A camera turned a little
  keeps lines along the turn (a floor, a table edge) and can keep ~40 % matching, so when fewer
  than `shift_checked_below` match, phase correlation estimates how far the structure moved as a
  whole: if that is `shift_px` to `shift_max_px` (2 to 25 of 160 px) and shifting back
  makes at least `shift_gain` more of the cells match, the camera turned. A moving person can pull
  the estimate their way, but shifting the picture back does not make the room match again.
  Edge maps cost ~0.03 ms here, phase correlation ~0.15 ms; ORB on the 480 px thumbnail costs a
  few ms and finds few stable corners in flat scenes.
- **blurred** (needs a reference): in the cells that match, the fine detail over the coarse
  structure (`cell_sharpness`) against the reference's; the median ratio below `blurred_below`
  is a lost focus. Only cells with fine detail in the reference count (a sharp edge's coarse
  gradient reaches into the next cell, its fine detail does not); a camera's sharp clock
  overlay covers only a few cells, and the median ignores them.
- **obstructed** and **covered**: the largest connected area of flat cells of about one grey
  level (`uniform_region`). It counts when at least `new_share` of its cells were not such an
  area before (textured, or of other levels): from `obstructed_from` of the picture it is
  `obstructed`, from `covered_from` a covered lens (`black`, whatever the clock overlay draws on
  top). With a reference, the rest of the picture must still match it (as for `moved`, but below
  `rest_moved_below`: a person in the little that is left covers much of it; and without the top
  and bottom rows, where overlays sit unchanged whatever the lens sees); if it does not, the
  camera was turned to something uniform, a wall: `moved`. "Before" is the camera's learned
  view (`LearnedView`: per cell, how often flat and at which level, over its recent ok
  keyframes, so lights dimmed over minutes and people passing are not new), or the reference
  until it has one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pantau.media.view_signature import GRID, SMALL_EDGES, SMALL_SIZE, ViewSignature, cell_means, cell_spread


@dataclass(frozen=True)
class TamperLimits:
    flat_std: float = 4.0  # a cell whose grey spread (at 160x90) is below this is flat
    level_step: float = 10.0  # flat cells within this many grey levels of each other are one area
    structured_var: float = 25.0  # a cell has structure if its gradient magnitude varies this much
    matched_ncc: float = 0.5  # a structured cell matches when it correlates at least this well
    judged_cells: int = 14  # moved/blurred need this many structured cells (10 % of the grid)
    moved_below: float = 0.45  # moved: fewer than this share of the reference's structured cells match
    rest_moved_below: float = 0.25  # ...of those outside a new uniform area (fewer cells: a person covers more of them)
    rest_cells: int = 8  # ...judged when at least this many are left
    shift_checked_below: float = 0.8  # ...or fewer than this, and the view is the reference shifted:
    shift_px: float = 2.0  # by at least this (at 160x90)...
    shift_max_px: float = 25.0  # ...and at most this (further, little of the view is left to match)
    shift_gain: float = 0.25  # with this much more of the cells matching once shifted back
    blurred_below: float = 0.35  # blurred: the median detail ratio of matching cells fell below this
    sharpness_cells: int = 8  # ...over at least this many cells
    detail_floor: float = 0.002  # ...that had fine detail in the reference (not just an edge's blur reaching in)
    obstructed_from: float = 0.3  # a new uniform area of this share of the picture obstructs it
    covered_from: float = 0.85  # ...and of this share covers the lens (reported as black)
    new_share: float = 0.5  # an area is new when at least this share of its cells were not like it
    learn_rate: float = 0.05  # the learned view follows ok keyframes at this rate (~20 keyframes)
    learned_after: int = 3  # ok keyframes before the learned view is used


@dataclass(frozen=True)
class UniformRegion:
    cells: np.ndarray  # bool 9x16
    share: float  # of the picture
    new: float  # share of its cells that were not part of one such area before


@dataclass(frozen=True)
class CellLevels:
    """Per cell: grey level and spread (what `uniform_region` compares with)."""

    cell_mean: np.ndarray
    cell_std: np.ndarray


NO_REGION = UniformRegion(np.zeros((GRID[1], GRID[0]), bool), 0.0, 0.0)
# The top and bottom rows of cells, where cameras draw their overlays (time, name). An overlay
# stays in place whatever the lens sees, so these rows do not count when only the part of the
# picture outside a uniform area is left to tell a camera turned to a wall from one obstructed.
OVERLAY_ROWS = np.zeros((GRID[1], GRID[0]), bool)
OVERLAY_ROWS[[0, -1], :] = True


def median(values: np.ndarray) -> float:
    """The (upper) median of a few dozen numbers: a sort, without np.median's overhead."""
    return float(np.sort(values, axis=None)[values.size // 2])


def correlations(current: ViewSignature, reference: ViewSignature) -> np.ndarray:
    """Normalised correlation of the structure, per cell (9x16)."""
    return _correlate(current.structure, current.structure_cells, reference.structure, reference.structure_cells)


def _correlate(a: np.ndarray, a_cells: tuple[np.ndarray, np.ndarray], b: np.ndarray, b_cells: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    (mean_a, var_a), (mean_b, var_b) = a_cells, b_cells
    covariance = cell_means(cv2.integral(cv2.multiply(a, b), sdepth=cv2.CV_64F)) - mean_a * mean_b
    return covariance / np.sqrt(np.maximum(var_a, 1e-3) * np.maximum(var_b, 1e-3))


_WINDOW = cv2.createHanningWindow(SMALL_SIZE, cv2.CV_32F)


def shifted_match(current: ViewSignature, reference: ViewSignature, cells: np.ndarray, limits: TamperLimits) -> tuple[float, float] | None:
    """(how far, in px of 160x90, the structure moved as a whole; the share of `cells` that match
    once the current picture is shifted back), or None if it did not move by `shift_px` to
    `shift_max_px`. (The cap also keeps a repeating pattern, bars of a test card, from matching
    itself a period further.)"""
    (dx, dy), _ = cv2.phaseCorrelate(reference.structure, current.structure, _WINDOW)
    distance = float(np.hypot(dx, dy))
    if not limits.shift_px <= distance <= limits.shift_max_px:
        return None
    moved_back = cv2.warpAffine(current.structure, np.float32([[1, 0, -dx], [0, 1, -dy]]), SMALL_SIZE)  # at x: current at x + dx
    rows, cols = SMALL_EDGES.rows, SMALL_EDGES.cols
    inside = np.outer((rows[:-1] >= -dy) & (rows[1:] <= SMALL_SIZE[1] - dy), (cols[:-1] >= -dx) & (cols[1:] <= SMALL_SIZE[0] - dx))
    judged = cells & inside
    if not judged.any():
        return None
    matched = _correlate(moved_back, cell_spread(moved_back), reference.structure, reference.structure_cells) > limits.matched_ncc
    return distance, float((matched & judged).sum()) / int(judged.sum())


def structured(view: ViewSignature, limits: TamperLimits) -> np.ndarray:
    return view.structure_cells[1] > limits.structured_var


def uniform_region(current: ViewSignature, before: ViewSignature | CellLevels, limits: TamperLimits) -> UniformRegion:
    """The largest connected area of flat cells within `level_step` of one grey level, and how
    much of it is new against `before`. Searched only when enough cells are flat and enough of
    those became flat or changed level since `before` for such an area to count (a still scene
    with flat walls costs a few comparisons of 144 numbers)."""
    flat = current.cell_std < limits.flat_std
    if np.count_nonzero(flat) < limits.obstructed_from * flat.size:
        return NO_REGION  # the common case, at no cost
    changed = flat & ((before.cell_std >= limits.flat_std) | (np.abs(current.cell_mean - before.cell_mean) > limits.level_step))
    if np.count_nonzero(changed) < limits.obstructed_from * limits.new_share * changed.size:
        return NO_REGION
    levels = current.cell_mean
    seen = np.zeros((GRID[1] + 2, GRID[0] + 2), np.uint8)
    seen[1:-1, 1:-1][~flat] = 1  # floodFill does not enter cells marked in its mask
    best = NO_REGION.cells
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (2 << 8)
    for y, x in zip(*np.nonzero(flat)):
        if seen[y + 1, x + 1]:
            continue
        mask = seen.copy()
        cv2.floodFill(levels, mask, (int(x), int(y)), 0, limits.level_step, limits.level_step, flags)
        area = mask[1:-1, 1:-1] == 2
        seen[1:-1, 1:-1][area] = 1
        if area.sum() > best.sum():
            best = area
    count = int(best.sum())
    if not count:
        return NO_REGION
    # Dimmer light also brings grey levels closer: areas that differed before may now be within
    # `level_step`. Their difference before is judged at the contrast the rest of the picture lost.
    rest = ~best
    gain = 1.0
    if rest.sum() >= 4:
        gain = float(np.clip(levels[rest].std() / max(float(before.cell_mean[rest].std()), 1e-3), 0.25, 1.0))
    before_levels = before.cell_mean[best]
    alike = (before.cell_std[best] < limits.flat_std) & (np.abs(before_levels - median(before_levels)) <= limits.level_step / gain)
    return UniformRegion(best, count / best.size, 1.0 - np.count_nonzero(alike) / count)


class LearnedView:
    """What the camera showed recently, over its ok keyframes: per cell how often it was flat, at
    which grey level when flat, and its level and spread otherwise. A change within seconds
    stands out against it, a change over minutes does not, and a person passing through a flat
    area does not make that area "textured before": a cell flat most of the time counts as flat,
    at the level it has when flat."""

    def __init__(self, limits: TamperLimits):
        self.limits = limits
        self.count = 0
        self._flat_rate = self._flat_level = self._level = self._std = None
        self._view: CellLevels | None = None

    @property
    def ready(self) -> bool:
        return self.count >= self.limits.learned_after

    def learn(self, view: ViewSignature) -> None:
        flat = view.cell_std < self.limits.flat_std
        if self._flat_rate is None:
            self._flat_rate, self._flat_level = flat.astype(np.float32), view.cell_mean.copy()
            self._level, self._std = view.cell_mean.copy(), view.cell_std.copy()
            self.count = 1
        else:  # running averages, in numpy: 144 numbers each
            self.count += 1
            rate = max(1.0 / self.count, self.limits.learn_rate)
            self._flat_rate += rate * (flat - self._flat_rate)
            self._flat_level[flat] += rate * (view.cell_mean[flat] - self._flat_level[flat])
            self._level += rate * (view.cell_mean - self._level)
            self._std += rate * (view.cell_std - self._std)
        self._view = None

    def view(self) -> CellLevels:
        if self._view is None:
            mostly_flat = self._flat_rate >= 0.5
            self._view = CellLevels(np.where(mostly_flat, self._flat_level, self._level).astype(np.float32),
                                    np.where(mostly_flat, 0.0, self._std).astype(np.float32))
        return self._view


class TamperChecks:
    """Judges keyframes of one camera; `reference` is set and cleared from the registry."""

    def __init__(self, limits: TamperLimits | None = None):
        self.limits = limits or TamperLimits()
        self.reference: ViewSignature | None = None
        self.learned = LearnedView(self.limits)

    def judge(self, current: ViewSignature) -> str | None:
        """"black" (a covered lens), "obstructed", "moved", "blurred", or None: in that order of
        priority, each check only when the ones before found nothing."""
        limits, reference = self.limits, self.reference
        before = self.learned.view() if self.learned.ready else reference
        if before is not None:
            region = uniform_region(current, before, limits)
            if region.share >= limits.obstructed_from and region.new >= limits.new_share:
                if region.share >= limits.covered_from:
                    return "black"
                if reference is None:
                    return "obstructed"  # whether the rest is still the view needs a reference
                rest = structured(reference, limits) & ~region.cells & ~OVERLAY_ROWS
                if rest.sum() < limits.rest_cells or not self._moved(current, reference, rest, below=limits.rest_moved_below):
                    return "obstructed"  # the rest of the picture is still the view
        if reference is None:
            return None
        cells = structured(reference, limits)
        if cells.sum() < limits.judged_cells:
            return None  # a reference without structure (a dark, empty view) cannot tell
        matched = self._matched(current, reference, cells)
        if self._moved(current, reference, cells, matched):
            return "moved"
        sharp = matched & structured(current, limits) & (reference.cell_sharpness >= limits.detail_floor)
        if sharp.sum() >= limits.sharpness_cells:
            ratio = median(current.cell_sharpness[sharp] / np.maximum(reference.cell_sharpness[sharp], 1e-6))
            if ratio < limits.blurred_below:
                return "blurred"
        return None

    def _matched(self, current: ViewSignature, reference: ViewSignature, cells: np.ndarray) -> np.ndarray:
        return (correlations(current, reference) > self.limits.matched_ncc) & cells

    def _moved(self, current: ViewSignature, reference: ViewSignature, cells: np.ndarray, matched: np.ndarray | None = None,
               below: float | None = None) -> bool:
        """Judged on `cells` (structured in `reference`): another view (fewer than `below` match),
        or the view shifted."""
        limits = self.limits
        if matched is None:
            matched = self._matched(current, reference, cells)
        share = float(matched.sum()) / int(cells.sum())
        if share < (limits.moved_below if below is None else below):
            return True
        if share < limits.shift_checked_below:
            shifted = shifted_match(current, reference, cells, limits)
            return shifted is not None and shifted[1] >= share + limits.shift_gain
        return False

    def learn(self, current: ViewSignature) -> None:
        self.learned.learn(current)
