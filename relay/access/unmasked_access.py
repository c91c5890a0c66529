"""Who may watch a masked camera without its masks: `POST /whep/{id}?view=unmasked`.

The exception is admin-only (issue 17: "an explicit, audited, admin-only exception"): an
operator is not an official in this sense (operator tokens are handed to control-room staff by
the dozen), so only an admin token or an admin's sign-in may watch, and only while the
camera's `unmasked_for_officials` is on (pantau/cameras/unmasked_view.py). Every session start
is audited (`watch_unmasked`: who, from where, which camera, when) before the answer is sent.
The unmasked stream's bus id is never taken from the request: only this module makes it,
from a camera the registry knows.
"""

from __future__ import annotations

from aiohttp import web

from pantau.access.tokens import TokenInfo
from pantau.cameras import audit_log
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import Camera
from pantau.cameras.unmasked_view import VARIANT, unmasked_bus_id
from pantau.web.http_errors import ApiError
from relay.access.client_address import client_address
from relay.context import REGISTRY


def wanted_view(request: web.Request) -> str | None:
    """The `view` query parameter: None (the camera's picture as everyone gets it) or 'unmasked'."""
    view = request.query.get("view")
    if view in (None, ""):
        return None
    if view != VARIANT:
        raise ApiError(400, f"view must be {VARIANT!r} (or absent)", field="view")
    return view


def check_unmasked_view(camera: Camera, caller: TokenInfo | None) -> None:
    """Refuse who may not watch this camera unmasked (401/403), or a camera without the exception (409)."""
    if caller is None:
        raise ApiError(401, "melihat tanpa masker hanya untuk admin: sign in or send an admin token", field="view",
                       headers={"WWW-Authenticate": 'Bearer realm="pantau"'})
    if not caller.allows("admin"):
        raise ApiError(403, f"melihat tanpa masker hanya untuk admin; the token labelled {caller.label!r} is a "
                            f"{caller.role} token", field="view")
    if not camera.unmasked_for_officials:
        raise ApiError(409, "pengecualian 'tanpa masker untuk petugas' tidak aktif untuk kamera ini "
                            "(unmasked_for_officials is off)", field="view")


def unmasked_stream(camera: Camera) -> str:
    """The bus id an allowed unmasked view reads (a camera without masks: its own stream is whole)."""
    return unmasked_bus_id(camera.id) if camera.masks else camera.id


async def audit_unmasked_view(request: web.Request, camera: Camera, caller: TokenInfo) -> None:
    await audit_log.record(request.app[REGISTRY].redis, Actor(caller.label, client_address(request)), "watch_unmasked",
                           camera.id, {"masks": len(camera.masks)})
