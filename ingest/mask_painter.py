"""Burns a camera's privacy masks (pantau/cameras/masks.py) into decoded yuv420p frames, in
place, before the one H.264 encode of the camera: every output (tiles, picture health, WHEP,
HLS, recordings, restreams) reads the bus, so none ever carries the unmasked picture.

Works on the Y, U and V planes as they are (no conversion to BGR and back: at 720p25 that
would cost more than the masks). `fill` paints the polygon black (Y 16, U/V 128, so a
covered lens behind a mask still judges black); `blur` replaces it with a box blur a twelfth
of the picture's height wide, which leaves no readable detail (a marked ballot, a face) but
keeps the room recognisable. Polygon rasters are computed once per frame size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import av
import cv2
import numpy as np

FILL_YUV = (16, 128, 128)  # video-range black
BLUR_OF_HEIGHT = 12  # the blur kernel is height / BLUR_OF_HEIGHT pixels (60 px at 720p)


@dataclass(frozen=True)
class _PlaneMask:
    kind: str
    polygon: np.ndarray  # int32 pixel corners in this plane
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) around the polygon
    inside: np.ndarray | None  # blur only: bool raster of the polygon within `box`


class MaskPainter:
    """The masks of one camera for frames of one size."""

    def __init__(self, masks: list[dict[str, Any]], width: int, height: int):
        self.masks = masks
        self.size = (width, height)
        # Plane 0 is full size, planes 1 and 2 (chroma) half size in both directions.
        self._planes = [self._rasterize(masks, width, height),
                        self._rasterize(masks, width // 2, height // 2)]

    @staticmethod
    def _rasterize(masks: list[dict[str, Any]], width: int, height: int) -> list[_PlaneMask]:
        out = []
        for mask in masks:
            corners = np.array([[round(x * width), round(y * height)] for x, y in mask["points"]], dtype=np.int32)
            x0, y0 = np.maximum(corners.min(axis=0), 0)
            x1, y1 = np.minimum(corners.max(axis=0) + 1, (width, height))
            inside = None
            if mask["kind"] == "blur":
                raster = np.zeros((y1 - y0, x1 - x0), np.uint8)
                cv2.fillPoly(raster, [corners - (x0, y0)], 1)
                inside = raster.astype(bool)
            out.append(_PlaneMask(mask["kind"], corners, (int(x0), int(y0), int(x1), int(y1)), inside))
        return out

    def paint(self, frame: av.VideoFrame) -> None:
        """Mask `frame` (yuv420p, this painter's size, a buffer nobody else reads) in place."""
        height = frame.height
        kernel_y = max(3, height // BLUR_OF_HEIGHT)
        for index, plane in enumerate(frame.planes):
            rows = height if index == 0 else height // 2
            pixels = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:rows]
            kernel = kernel_y if index == 0 else max(3, kernel_y // 2)
            for mask in self._planes[0 if index == 0 else 1]:
                if mask.kind == "fill":
                    cv2.fillPoly(pixels, [mask.polygon], FILL_YUV[index])
                else:
                    x0, y0, x1, y1 = mask.box
                    region = pixels[y0:y1, x0:x1]
                    np.copyto(region, cv2.blur(region, (kernel, kernel)), where=mask.inside)


def writable_copy(frame: av.VideoFrame) -> av.VideoFrame:
    """A yuv420p frame with its own buffer: a decoder's frame is its reference for the next
    ones, and painting on it would smear the mask into the decoded picture."""
    copy = av.VideoFrame(frame.width, frame.height, "yuv420p")
    for source, target in zip(frame.planes, copy.planes, strict=True):
        src = np.frombuffer(source, np.uint8).reshape(-1, source.line_size)
        dst = np.frombuffer(target, np.uint8).reshape(-1, target.line_size)
        dst[:source.height, :source.width] = src[:source.height, :source.width]
    return copy
