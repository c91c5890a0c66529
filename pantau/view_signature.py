"""What a camera's picture looks like, in a few kilobytes: the measures the tamper checks compare.

Shared by ingest (every analysed keyframe gets one, compared with the camera's reference view)
and the relay (an admin sets the reference from the camera's current tile). Both start from the
same 480 px grey thumbnail, so the two sides measure alike; the reference comes from the JPEG
tile, which at these scales changes the measures by a few percent (tests/test_tamper_checks.py).

A signature holds, on a fixed 16x9 grid of cells over the picture (any aspect ratio):
- `small`: the picture as 160x90 grey (area-averaged). Its gradient magnitude, blurred a little,
  is the *structure* that `moved` compares cell by cell: edges of walls, tables, posters. Light
  changes scale gradients (a normalised correlation ignores that) and a person walking through
  changes only the cells they cover. This is stored; the gradients are recomputed from it.
- `cell_mean`, `cell_std`: each cell's grey level and spread at 160x90 (a cell with almost no
  spread is *flat*: a wall, a cap, tape, a hand very close to the lens).
- `cell_sharpness`: fine detail (Laplacian energy at 480 px) over coarse structure (gradient
  energy at 160 px) per cell. Defocus takes the fine detail and keeps the coarse structure;
  both scale alike with light, so the ratio does not.

OpenCV calls only (they release the GIL); numpy touches only the 144-cell arrays.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import cv2
import numpy as np

ANALYSIS_WIDTH = 480  # the tile's width: a clock's digit is still a few dozen pixels here
GRID = (16, 9)  # cells across, down
SMALL_SIZE = (160, 90)  # 10x10 px per cell
SIGNATURE_VERSION = 1


def thumbnail(bgr: np.ndarray) -> np.ndarray:
    """The 480 px wide grey picture every measure starts from."""
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    if grey.shape[1] != ANALYSIS_WIDTH:
        height = max(2, round(grey.shape[0] * ANALYSIS_WIDTH / grey.shape[1]))
        grey = cv2.resize(grey, (ANALYSIS_WIDTH, height), interpolation=cv2.INTER_AREA)
    # A light blur: compression noise at sharp edges must not count as movement or detail.
    return cv2.GaussianBlur(grey, (3, 3), 0)


def per_cell(image: np.ndarray) -> np.ndarray:
    """The mean of `image` over each grid cell (float32, 9 rows x 16 columns)."""
    return cv2.resize(image, GRID, interpolation=cv2.INTER_AREA)


def structure_of(small: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the 160x90 picture, blurred so that a shift of a pixel or two
    (a camera's mount settling, encoding) still correlates."""
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.GaussianBlur(cv2.magnitude(gx, gy), (5, 5), 0)


def cell_spread(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell: the mean and the variance of `image` (float32)."""
    mean = per_cell(image)
    return mean, per_cell(cv2.multiply(image, image)) - cv2.multiply(mean, mean)


@dataclass(frozen=True, eq=False)
class ViewSignature:
    """The measures are computed when first asked for: a keyframe of a camera without a
    reference needs only the cells' levels, and only with a reference the structure and detail."""

    small: np.ndarray  # uint8 160x90 grey: what is stored
    cell_mean: np.ndarray  # float32 9x16
    cell_std: np.ndarray  # float32 9x16
    fine: np.ndarray | None = None  # the 480 px thumbnail it was made from (for the detail)
    stored_sharpness: np.ndarray | None = None  # read from storage instead

    @classmethod
    def of(cls, grey: np.ndarray) -> ViewSignature:
        """From a `thumbnail()`."""
        small = cv2.resize(grey, SMALL_SIZE, interpolation=cv2.INTER_AREA)
        return cls(small, *_cell_levels(small), fine=grey)

    @cached_property
    def structure(self) -> np.ndarray:
        """float32 160x90: `structure_of(small)`."""
        return structure_of(self.small)

    @cached_property
    def structure_cells(self) -> tuple[np.ndarray, np.ndarray]:
        return cell_spread(self.structure)

    @cached_property
    def cell_sharpness(self) -> np.ndarray:
        """float32 9x16: fine detail (Laplacian energy at 480 px) over coarse structure."""
        if self.stored_sharpness is not None:
            return self.stored_sharpness
        laplacian = cv2.Laplacian(self.fine, cv2.CV_32F)
        detail = per_cell(cv2.multiply(laplacian, laplacian))
        coarse = per_cell(cv2.multiply(self.structure, self.structure))
        return cv2.divide(detail, cv2.max(coarse, 1.0))

    # -- storage ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A few KB: the 160x90 picture as PNG, the cell measures as float16."""
        ok, png = cv2.imencode(".png", self.small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise ValueError("could not encode the signature's picture")
        cells = np.stack([self.cell_mean, self.cell_std, self.cell_sharpness]).astype(np.float16)
        return {"version": SIGNATURE_VERSION, "small_png": base64.b64encode(png.tobytes()).decode("ascii"),
                "cells": base64.b64encode(cells.tobytes()).decode("ascii")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ViewSignature:
        """ValueError if `data` is not a stored signature."""
        if not isinstance(data, dict) or data.get("version") != SIGNATURE_VERSION:
            raise ValueError("not a view signature of this version")
        try:
            png = np.frombuffer(base64.b64decode(data["small_png"], validate=True), np.uint8)
            cells = np.frombuffer(base64.b64decode(data["cells"], validate=True), np.float16)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"unreadable view signature: {exc}") from None
        small = cv2.imdecode(png, cv2.IMREAD_GRAYSCALE) if png.size else None
        if small is None or small.shape != (SMALL_SIZE[1], SMALL_SIZE[0]):
            raise ValueError("the signature's picture is not 160x90 grey")
        if cells.size != 3 * GRID[0] * GRID[1]:
            raise ValueError("the signature's cells do not fit the grid")
        mean, std, sharpness = cells.astype(np.float32).reshape(3, GRID[1], GRID[0])
        return cls(small, mean, std, stored_sharpness=sharpness)


def _cell_levels(small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's mean grey level and its standard deviation."""
    mean, variance = cell_spread(small.astype(np.float32))
    return mean, cv2.sqrt(cv2.max(variance, 0.0))
