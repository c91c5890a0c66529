"""Visibility windows at the relay's public doors (pantau/cameras/visibility.py says when).

A public camera outside its windows stays in the public listing and `GET /api/cameras/{id}`, so
the finder and the station page can say "Tayang publik mulai 13.00 WIB", but with the status
`{"state": "scheduled", "public_from": …}` in place of its real one and no viewers: nothing of
its picture, not even whether it is online. Its tile, WHEP, SSE (and HLS) answer 403 with the
same sentence. Operators and admins are never asked.
"""

from __future__ import annotations

from typing import Any

from pantau.cameras import visibility
from pantau.cameras.camera import Camera
from pantau.web.http_errors import ApiError


def hide_scheduled(page: list[Camera], statuses: dict[str, dict[str, Any]], viewers: dict[str, int],
                   judge: visibility.Judge | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """A public listing's statuses and viewer counts with those of hidden cameras replaced."""
    judge = judge or visibility.Judge()
    hidden = [c for c in page if not judge(c)]
    if not hidden:
        return statuses, viewers
    statuses, viewers = dict(statuses), dict(viewers)
    for camera in hidden:
        statuses[camera.id] = visibility.scheduled_status(camera, judge.t)
        viewers[camera.id] = 0
    return statuses, viewers


def refuse_if_hidden(camera: Camera) -> None:
    """403 for the public when a public camera is outside its windows (a non-public camera is
    a 404 before this, as an unknown one)."""
    if not visibility.publicly_visible(camera):
        raise ApiError(403, f"{visibility.label(visibility.public_from(camera))}: di luar jam tayang publik kamera ini "
                            "(kerahasiaan pemungutan suara).")
