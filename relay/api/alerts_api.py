"""Alerts for operators (pantau/monitoring/alerts.py): list them, see one, look at its evidence tile, and
acknowledge it with a note ("Tindak lanjuti"). Operators and admins only: the public gets 401
on every route here, whatever the camera (nothing says whether an alert exists).

    GET  /api/alerts?open=true&region=31.71.01&kind=black&camera=ID&limit=100&cursor=ID
    GET  /api/alerts/{id}
    GET  /api/alerts/{id}/tile.jpg      the keyframe tile when it started (while kept)
    POST /api/alerts/{id}/ack           {"note": "..."}: acknowledged by the token's label; audited

New and changed alerts reach signed-in pages as `event: alert` on /api/events?alerts=1.
Messages are in Bahasa Indonesia: the wall shows them as they are.
"""

from __future__ import annotations

import weakref

from aiohttp import web

from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import ID_PATTERN
from pantau.cameras.registry import Registry
from pantau.monitoring.alerts import (
    KIND_PATTERN,
    MAX_NOTE,
    AlertAlreadyAcknowledged,
    AlertNotFound,
    AlertStore,
    alert_view,
    is_alert_id,
)
from pantau.web.http_errors import ApiError, read_json
from relay.access import auth
from relay.access.client_address import client_address
from relay.api.query_params import bool_param, int_param
from relay.context import REGISTRY

routes = web.RouteTableDef()
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
_STORES: weakref.WeakKeyDictionary[Registry, AlertStore] = weakref.WeakKeyDictionary()


def store_of(registry: Registry) -> AlertStore:
    """One store (its scripts registered once) per registry."""
    store = _STORES.get(registry)
    if store is None:
        store = _STORES[registry] = AlertStore(registry.redis)
    return store


async def _operator(request: web.Request) -> Actor:
    info = await auth.require(request, "operator")
    return Actor(info.label, client_address(request))


def _alert_id(request: web.Request) -> str:
    alert_id = request.match_info["id"]
    if not is_alert_id(alert_id):
        raise ApiError(404, f"tidak ada peringatan dengan id {alert_id!r}")
    return alert_id


@routes.get("/api/alerts")
async def list_alerts(request: web.Request) -> web.Response:
    await _operator(request)
    registry = request.app[REGISTRY]
    region = request.query.get("region") or None
    if region is not None and registry.regions.get(region) is None:
        raise ApiError(400, f"{region!r} bukan kode wilayah (pakai bentuk Kemendagri bertitik, mis. 31.71 atau 31.71.01)", field="region")
    kind = request.query.get("kind") or None
    if kind is not None and not KIND_PATTERN.fullmatch(kind):
        raise ApiError(400, "kind harus satu kata huruf kecil, mis. black, frozen atau offline", field="kind")
    camera = request.query.get("camera") or None
    if camera is not None and not ID_PATTERN.fullmatch(camera):
        raise ApiError(400, "camera harus id kamera", field="camera")
    cursor = request.query.get("cursor") or None
    if cursor is not None and not is_alert_id(cursor):
        raise ApiError(400, "cursor harus next_cursor dari halaman sebelumnya", field="cursor")
    limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    alerts, next_cursor = await store_of(registry).page(
        open_only=bool_param(request, "open"), region=region, kind=kind, camera=camera, limit=limit, before=cursor)
    return web.json_response({"alerts": [alert_view(a, registry.regions) for a in alerts], "next_cursor": next_cursor},
                             headers={"Cache-Control": "no-store"})


@routes.get("/api/alerts/{id}")
async def get_alert(request: web.Request) -> web.Response:
    await _operator(request)
    registry = request.app[REGISTRY]
    alert = await store_of(registry).get(_alert_id(request))
    if alert is None:
        raise ApiError(404, f"tidak ada peringatan dengan id {request.match_info['id']!r}")
    return web.json_response(alert_view(alert, registry.regions), headers={"Cache-Control": "no-store"})


@routes.get("/api/alerts/{id}/tile.jpg")
async def evidence_tile(request: web.Request) -> web.Response:
    """The evidence never changes; it may be dropped (the budget keeps the newest): then 404."""
    await _operator(request)
    jpeg = await store_of(request.app[REGISTRY]).evidence(_alert_id(request))
    if not jpeg:
        raise ApiError(404, "gambar bukti peringatan ini tidak (lagi) disimpan")
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


@routes.post("/api/alerts/{id}/ack")
async def acknowledge(request: web.Request) -> web.Response:
    """Body {"note": "..."} (required: what was done about it). 409 if already acknowledged."""
    actor = await _operator(request)
    alert_id = _alert_id(request)
    body = await read_json(request)
    note = body.get("note") if isinstance(body, dict) else None
    if not isinstance(note, str) or not note.strip():
        raise ApiError(400, 'tulis catatan tindak lanjut: {"note": "..."}', field="note")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise ApiError(400, f"catatan paling panjang {MAX_NOTE} karakter", field="note")
    registry = request.app[REGISTRY]
    try:
        alert = await store_of(registry).acknowledge(alert_id, actor, note)
    except AlertNotFound:
        raise ApiError(404, f"tidak ada peringatan dengan id {alert_id!r}") from None
    except AlertAlreadyAcknowledged as exc:
        raise ApiError(409, f"peringatan ini sudah ditindaklanjuti oleh {exc.alert['acknowledged_by']}") from None
    return web.json_response(alert_view(alert, registry.regions))
