"""Bus ids: a camera's stream on the bus is named by the camera's id; a second stream of the
same camera (today only the unmasked picture of the officials' exception, issue 17) by the
camera's id, `~` and the variant's name.

`~` never occurs in a camera id (`pantau.cameras.camera.ID_PATTERN`), so a variant can never
be reached by a route that takes a camera id, and no camera can be named like one. A variant
belongs to its camera: on a site it shares the camera's lease (the fence) and Redis slot.
"""

from __future__ import annotations

SEPARATOR = "~"


def variant_id(camera_id: str, variant: str) -> str:
    return f"{camera_id}{SEPARATOR}{variant}"


def camera_of(bus_id: str) -> str:
    """The camera a bus id belongs to (the id itself for a camera's own stream)."""
    return bus_id.split(SEPARATOR, 1)[0]
