"""The JSON body of a camera listing, from each camera's fixed part encoded once.

A listing of a large kecamatan is 1000 cameras and ~0.6 MB of JSON. Encoding it whole took a
third of the request's time on the event loop (py-spy on a node with 30,766 cameras), though
only each camera's status and viewer count change between two listings. The rest (id, name,
region path, tags, ...) is encoded once per camera version: the mirror replaces a camera's
object on every edit, so an entry made from another object is stale. The text is the same as
`json.dumps` of the whole body (what `web.json_response` sends).
"""

from __future__ import annotations

import json
from typing import Any

from pantau.cameras.camera import Camera, public_view
from pantau.cameras.regions import RegionTree

# More entries than any site has cameras means ids that left the registry piled up: start over.
MAX_ENTRIES = 100_000


class ListingJson:
    def __init__(self, regions: RegionTree):
        self._regions = regions
        self._heads: dict[str, str] = {}  # camera id -> its public JSON without status, viewers, "}"
        self._made_from: dict[str, Camera] = {}  # camera id -> the object its head was made from

    def _head(self, camera: Camera) -> str:
        if self._made_from.get(camera.id) is not camera:
            if len(self._heads) >= MAX_ENTRIES:
                self._heads.clear()
                self._made_from.clear()
            view = public_view(camera, self._regions)
            del view["status"]
            self._heads[camera.id] = json.dumps(view)[:-1]
            self._made_from[camera.id] = camera
        return self._heads[camera.id]

    def body(self, page: list[Camera], statuses: dict[str, dict[str, Any]], viewers: dict[str, int],
             total: int, next_cursor: str | None) -> str:
        cameras = ", ".join(
            f'{self._head(c)}, "status": {json.dumps(statuses[c.id])}, "viewers": {viewers[c.id]:d}}}' for c in page
        )
        return f'{{"cameras": [{cameras}], "total": {json.dumps(total)}, "next_cursor": {json.dumps(next_cursor)}}}'
