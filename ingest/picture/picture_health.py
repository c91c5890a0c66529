"""Picture health from keyframes: is the lens covered (black), the picture obstructed, the camera
turned away (moved), out of focus (blurred), or the picture frozen?

Only keyframes are decoded (one small decoder per camera, `skip_frame="NONKEY"`, one thread),
so watching health costs ~0.1% of a core per 720p camera instead of ~3% for a full decode.
The analysis works on the tile-sized picture (480 px wide) that the tile is made from, with
OpenCV calls only: they run without the GIL (numpy's mean/std would hold it ~0.2 ms per
keyframe while every camera's demux thread waits for it) and in one pass each. The tamper
checks (ingest/picture/tamper_checks.py) add ~0.1 ms per keyframe, ~0.4-0.8 ms with a reference view
(~0.9 ms in a busy 20-camera node: bench/ingest.py --tamper-cost).

`picture` is one value: when several signals hold, the most telling wins, in this order:
- `black`: nothing to see at all; whatever else is measured on a black picture is its effect.
- `obstructed`: part of the view is hidden by something at the lens; that also breaks the
  match with the reference and the detail in those cells, so it outranks `moved` and `blurred`.
- `moved`: the camera looks elsewhere; detail compared with another view says nothing, so it
  outranks `blurred`.
- `blurred`: the right view, but unreadable.
- `frozen` last: it is about the stream, not what the lens sees, and a covered or turned camera
  often shows a still picture too; the cause is the better name.

A change of `picture` needs the new judgement on `sustain` consecutive keyframes (2 by default),
so one odd keyframe changes nothing; from `ok` any tamper signals on `sustain` keyframes in a row
count, and the most telling of them is reported. `frozen` is judged from `frozen_after`
identical keyframes in a row, which is its own sustained evidence. Without a reference view
`moved` and `blurred` are not judged.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from ingest.picture.tamper_checks import TamperChecks, TamperLimits
from pantau.media.view_signature import ANALYSIS_WIDTH, ViewSignature, thumbnail

__all__ = ["ANALYSIS_WIDTH", "PRIORITY", "HealthThresholds", "PictureHealth", "changed_pixels", "is_black", "thumbnail"]

PRIORITY = ("black", "obstructed", "moved", "blurred", "frozen")  # the most telling first


@dataclass(frozen=True)
class HealthThresholds:
    black_mean: float = 24.0  # mean luma below this is dark...
    uniform_std: float = 6.0  # ...and a spread below this is a flat picture (cap on the lens)
    changed_level: int = 25  # a pixel changed if its (lightly blurred) grey moved this much...
    changed_pixels: int = 8  # ...and the picture moved if this many did: a ticking clock does,
    # while re-encoding the same still picture only shifts levels a little
    frozen_after: int = 2  # identical keyframes in a row
    sustain: int = 2  # keyframes in a row a new judgement needs before `picture` changes
    tamper_checks: bool = True  # obstructed, moved, blurred (off: black and frozen only)
    tamper: TamperLimits = field(default_factory=TamperLimits)


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


class PictureHealth:
    """Feeds on decoded keyframes; `picture` is None (not judged yet), "ok", or a tamper kind of
    PRIORITY."""

    def __init__(self, limits: HealthThresholds | None = None):
        self.limits = limits or HealthThresholds()
        self.picture: str | None = None
        self.checks = TamperChecks(self.limits.tamper) if self.limits.tamper_checks else None
        self._previous: np.ndarray | None = None
        self._still_count = 0
        self._recent: deque[str] = deque(maxlen=self.limits.sustain)

    def set_reference(self, reference: ViewSignature | None) -> None:
        """The camera's reference view (None: cleared); any thread, applies from the next keyframe."""
        if self.checks:
            self.checks.reference = reference

    def observe(self, bgr: np.ndarray) -> str | None:
        grey = thumbnail(bgr)
        limits = self.limits
        if self._previous is not None and changed_pixels(self._previous, grey, limits.changed_level) < limits.changed_pixels:
            self._still_count += 1
        else:
            self._still_count = 0
        self._previous = grey
        return self._sustained(self._judge(grey))

    def _judge(self, grey: np.ndarray) -> str:
        """This keyframe's own judgement."""
        if is_black(grey, self.limits):
            return "black"
        view = ViewSignature.of(grey) if self.checks else None
        kind = self.checks.judge(view) if self.checks else None
        if kind is None and self._still_count + 1 >= self.limits.frozen_after:
            kind = "frozen"
        if kind is None and view is not None and self.picture in (None, "ok"):
            self.checks.learn(view)  # only while all is well: an obstruction never becomes normal
        return kind or "ok"

    def _sustained(self, signal: str) -> str | None:
        recent = self._recent
        recent.append(signal)
        if signal == "frozen" and self.picture in (None, "ok"):
            self.picture = "frozen"  # frozen_after identical keyframes are its sustained evidence
        elif signal == "ok" and self.picture is None:
            self.picture = "ok"  # a session's first keyframe: nothing to hold back
        elif len(recent) == recent.maxlen:
            if all(s == signal for s in recent):
                self.picture = signal
            elif self.picture in (None, "ok") and "ok" not in recent:
                self.picture = min(recent, key=PRIORITY.index)
        return self.picture

    def reset(self) -> None:
        """A new session: judge afresh (the reference and the learned view stay)."""
        self._previous = None
        self._still_count = 0
        self._recent.clear()
        self.picture = None
