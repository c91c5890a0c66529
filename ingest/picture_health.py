"""Picture health from keyframes: is the lens covered (black) or the picture frozen?

Only keyframes are decoded (one small decoder per camera, `skip_frame="NONKEY"`, one thread),
so watching health costs ~0.1% of a core per 720p camera instead of ~3% for a full decode.
The analysis works on the tile-sized picture (480 px wide) that the tile is made from, with
OpenCV calls only: they run without the GIL (numpy's mean/std would hold it ~0.2 ms per
keyframe while every camera's demux thread waits for it) and in one pass each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

ANALYSIS_WIDTH = 480  # the tile's width: a clock's digit is still a few dozen pixels here


@dataclass(frozen=True)
class HealthThresholds:
    black_mean: float = 24.0  # mean luma below this is dark...
    uniform_std: float = 6.0  # ...and a spread below this is a flat picture (cap on the lens)
    changed_level: int = 25  # a pixel changed if its (lightly blurred) grey moved this much...
    changed_pixels: int = 8  # ...and the picture moved if this many did: a ticking clock does,
    # while re-encoding the same still picture only shifts levels a little
    frozen_after: int = 3  # consecutive identical keyframes


def thumbnail(bgr: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    if grey.shape[1] != ANALYSIS_WIDTH:
        height = max(2, round(grey.shape[0] * ANALYSIS_WIDTH / grey.shape[1]))
        grey = cv2.resize(grey, (ANALYSIS_WIDTH, height), interpolation=cv2.INTER_AREA)
    # A light blur: compression noise at sharp edges must not count as movement.
    return cv2.GaussianBlur(grey, (3, 3), 0)


def is_black(grey: np.ndarray, limits: HealthThresholds) -> bool:
    """Very dark, or so uniform that nothing can be seen (a covered lens is rarely pure black)."""
    mean, std = (float(values[0][0]) for values in cv2.meanStdDev(grey))
    return (mean < limits.black_mean and std < limits.uniform_std * 2) or std < limits.uniform_std / 2


def changed_pixels(previous: np.ndarray, current: np.ndarray, level: int) -> int:
    """How many pixels moved by more than `level` grey levels."""
    if previous.shape != current.shape:
        return previous.size
    _, moved = cv2.threshold(cv2.absdiff(previous, current), level, 255, cv2.THRESH_BINARY)
    return cv2.countNonZero(moved)


@dataclass
class PictureHealth:
    """Feeds on decoded keyframes; `picture` is "ok", "black" or "frozen"."""

    limits: HealthThresholds = field(default_factory=HealthThresholds)
    picture: str | None = None
    _previous: np.ndarray | None = None
    _still_count: int = 0

    def observe(self, bgr: np.ndarray) -> str:
        grey = thumbnail(bgr)
        limits = self.limits
        if self._previous is not None and changed_pixels(self._previous, grey, limits.changed_level) < limits.changed_pixels:
            self._still_count += 1
        else:
            self._still_count = 0
        self._previous = grey
        if is_black(grey, limits):
            self.picture = "black"
        elif self._still_count + 1 >= limits.frozen_after:
            self.picture = "frozen"
        else:
            self.picture = "ok"
        return self.picture

    def reset(self) -> None:
        self._previous = None
        self._still_count = 0
        self.picture = None
