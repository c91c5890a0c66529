"""The one exception to privacy masks (issue 17): a site that needs officials to see a masked
camera's whole picture sets `unmasked_for_officials` on that camera. Only admins may set it
(every camera write is admin-only) and it is audited like every camera field.

While it is on and the camera has masks, the ingest worker holding the camera publishes the
camera's unmasked picture beside the masked one, on a bus id of its own (`<id>~unmasked`):
the source's own packets (no second encode), or for a source that cannot be passed on as it is
(H.265, B-frames) a second encode of the decoded frame. Every output reads the camera's id,
as before, so tiles, picture health, HLS, recordings, restreams and every WHEP viewer get the masked
picture; only `POST /whep/{id}?view=unmasked`, for an admin, reads the other id, and each
such session is audited (`watch_unmasked`). Turned off, ingest stops publishing it at once.
"""

from __future__ import annotations

from pantau.bus.bus_ids import variant_id
from pantau.cameras.camera import Camera

VARIANT = "unmasked"


def unmasked_bus_id(camera_id: str) -> str:
    return variant_id(camera_id, VARIANT)


def publishes_unmasked(camera: Camera) -> bool:
    """Ingest publishes an unmasked stream of this camera (without masks there is nothing to
    take off: the camera's own stream is whole)."""
    return camera.unmasked_for_officials and bool(camera.masks)
