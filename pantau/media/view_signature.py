"""What a camera's picture looks like, in a few kilobytes: the measures the tamper checks compare.

Shared by ingest (every analysed keyframe gets one, compared with the camera's reference view)
and the relay (an admin sets the reference from the camera's current tile). Both start from the
same 480 px grey thumbnail, so the two sides measure alike; the reference comes from the JPEG
tile, which at these scales changes the measures by a few percent (tests/test_tamper_checks.py).

A signature holds, on a fixed 16x9 grid of cells over the picture (any aspect ratio):
- `small`: the picture as 160x90 grey (area-averaged). Its edge strength (the 3x3 morphological
  gradient, blurred a little) is the *structure* that `moved` compares cell by cell: edges of
  walls, tables, posters. Light changes scale it (a normalised correlation ignores that) and a
  person walking through changes only the cells they cover. This is stored; the structure is
  recomputed from it.
- `cell_mean`, `cell_std`: each cell's grey level and spread at 160x90 (a cell with almost no
  spread is *flat*: a wall, a cap, tape, a hand very close to the lens).
- `cell_sharpness`: fine detail (Laplacian energy at 480 px) over coarse structure (gradient
  energy at 160 px) per cell. Defocus takes the fine detail and keeps the coarse structure;
  both scale alike with light, so the ratio does not.

Made for a busy node, where the same work costs more than alone: in a 20-camera node the first
version cost 2.8 ms a keyframe (0.8 ms alone) and slowed the keyframe decoder beside it, mostly
because full-size temporaries were mapped and unmapped by malloc on every keyframe (page
faults). So the 480 px passes write into this thread's scratch arrays (`scratch`), few native
calls go over whole pictures (per-cell sums from one integral image: `cv2.integral2` gives sums
and sums of squares together), and the arithmetic on the 144 cells is numpy, which keeps the GIL
for arrays this small: ~0.9 ms a keyframe in that node (bench/ingest.py --tamper-cost).
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from functools import cached_property, lru_cache
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


@dataclass(frozen=True)
class CellEdges:
    """Where the grid's cells lie in a picture of one size, ready for `cell_means`."""

    rows: np.ndarray  # GRID[1] + 1 boundaries
    cols: np.ndarray  # GRID[0] + 1 boundaries
    corners: tuple  # index of the cells' corners in an integral image: two slices, or np.ix_
    area: float | np.ndarray  # pixels per cell


@lru_cache(maxsize=16)
def cell_edges(height: int, width: int) -> CellEdges:
    rows = np.rint(np.linspace(0, height, GRID[1] + 1)).astype(np.intp)
    cols = np.rint(np.linspace(0, width, GRID[0] + 1)).astype(np.intp)
    if height % GRID[1] == 0 and width % GRID[0] == 0:  # cells all alike: a strided slice
        row_step, col_step = height // GRID[1], width // GRID[0]
        return CellEdges(rows, cols, (slice(0, height + 1, row_step), slice(0, width + 1, col_step)), float(row_step * col_step))
    return CellEdges(rows, cols, np.ix_(rows, cols), np.outer(np.diff(rows), np.diff(cols)))


SMALL_EDGES = cell_edges(SMALL_SIZE[1], SMALL_SIZE[0])


def cell_means(integral: np.ndarray, edges: CellEdges = SMALL_EDGES) -> np.ndarray:
    """Per cell, the mean of the picture whose integral image this is (numpy on 10x17 corners)."""
    corners = integral[edges.corners]
    return (corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1] + corners[:-1, :-1]) / edges.area


def cell_spread(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell: the mean and the variance of a 160x90 `image` (one native call)."""
    sums, squares = cv2.integral2(image, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
    mean = cell_means(sums)
    return mean, np.maximum(cell_means(squares) - mean * mean, 0.0)


_scratch = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A working array of this thread, reused from keyframe to keyframe. Full-size temporaries
    (130-260 KB) would be mapped and unmapped by malloc every time: the page faults cost more
    than the arithmetic, and they slowed the keyframe decoder running beside them too (measured
    in a 20-camera node: decode 1.6 -> 2.7 ms a keyframe)."""
    buffers = _scratch.__dict__
    buffer = buffers.get(name)
    if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
        buffer = buffers[name] = np.empty(shape, dtype)
    return buffer


def small_of(grey: np.ndarray) -> np.ndarray:
    """The 160x90 picture, area-averaged: for a 480x270 thumbnail each pixel is the mean of a 3x3
    block, a box filter read at the blocks' centres (a third of `cv2.resize`'s INTER_AREA time)."""
    if grey.shape == (3 * SMALL_SIZE[1], 3 * SMALL_SIZE[0]):
        return np.ascontiguousarray(cv2.blur(grey, (3, 3), dst=scratch("box", grey.shape, np.uint8))[1::3, 1::3])
    return cv2.resize(grey, SMALL_SIZE, interpolation=cv2.INTER_AREA)


def detail_energy(grey: np.ndarray) -> np.ndarray:
    """Per cell, the mean squared Laplacian of the 480 px thumbnail, computed as 4 (|L|/2)^2 in
    8 and 16 bits (the thumbnail's blur keeps |L| well under 510), in this thread's scratch arrays."""
    laplacian = cv2.Laplacian(grey, cv2.CV_16S, dst=scratch("laplacian", grey.shape, np.int16))
    half = cv2.convertScaleAbs(laplacian, dst=scratch("half", grey.shape, np.uint8), alpha=0.5)
    squares = cv2.multiply(half, half, dst=scratch("squares", grey.shape, np.uint16), dtype=cv2.CV_16U)
    return 4.0 * cv2.resize(squares, GRID, interpolation=cv2.INTER_AREA).astype(np.float32)


_SQUARE = np.ones((3, 3), np.uint8)
# A 5x5 Gaussian, times 4 (2 x 2, separable): a step edge's morphological gradient is its height,
# a Sobel magnitude four times it; the thresholds of ingest/picture/tamper_checks.py are in Sobel's scale.
_BLUR_X2 = (cv2.getGaussianKernel(5, 0) * 2).astype(np.float32)


def structure_of(small: np.ndarray) -> np.ndarray:
    """Edge strength of the 160x90 picture (float32), blurred so that a shift of a pixel or two
    (a camera's mount settling, encoding) still correlates. Two native calls."""
    return cv2.sepFilter2D(cv2.morphologyEx(small, cv2.MORPH_GRADIENT, _SQUARE), cv2.CV_32F, _BLUR_X2, _BLUR_X2)


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
        small = small_of(grey)
        return cls(small, *_cell_levels(small), fine=grey)

    @cached_property
    def structure(self) -> np.ndarray:
        """float32 160x90: `structure_of(small)`."""
        return structure_of(self.small)

    @cached_property
    def structure_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Per cell: the mean and the variance of the structure."""
        return cell_spread(self.structure)

    @cached_property
    def cell_sharpness(self) -> np.ndarray:
        """9x16: fine detail (Laplacian energy at 480 px) over coarse structure (its energy)."""
        if self.stored_sharpness is not None:
            return self.stored_sharpness
        mean, variance = self.structure_cells
        return (detail_energy(self.fine) / np.maximum(variance + mean * mean, 1.0)).astype(np.float32)

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
    """Each cell's mean grey level and its standard deviation (float32)."""
    mean, variance = cell_spread(small)
    return mean.astype(np.float32), np.sqrt(variance).astype(np.float32)
