"""Admin API (admin bearer token): camera CRUD, bulk CSV import and export, the audit log."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from aiohttp import web

from pantau.access.redaction import NoStoredSecret, SecretHostChanged, keep_masked_secrets, mask_url
from pantau.cameras import audit_log
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import ID_PATTERN, TRANSPORTS, CameraInvalid, FieldError, admin_view, apply_patch, source_type, validate_camera
from pantau.cameras.camera_csv import cameras_to_csv
from pantau.cameras.camera_import import IMPORT_BUSY_RETRY_S, ImportBusy, exclusive_import, import_csv
from pantau.cameras.push_keys import PushKeys
from pantau.cameras.reference_views import ReferenceViews
from pantau.cameras.source_policy import SourceRefused
from pantau.media.rtsp_open import RtspSettings
from pantau.media.stream_probe import ProbeBusy, probe
from pantau.web.http_errors import ApiError, read_json
from relay.access import auth
from relay.api.query_params import MAX_LIMIT, encode_cursor, int_param, list_query
from relay.context import REGISTRY, SETTINGS

routes = web.RouteTableDef()
_STREAM_ID = re.compile(r"[0-9]+-[0-9]+")  # ASCII digits only: \d takes any script's


async def _admin(request: web.Request) -> Actor:
    info = await auth.require(request, "admin")
    return Actor(info.label, request.remote)


def _camera_id(request: web.Request) -> str:
    camera_id = request.match_info["id"]
    if not ID_PATTERN.fullmatch(camera_id):
        raise ApiError(404, f"no camera with id {camera_id!r}")
    return camera_id


async def _admin_json(request: web.Request, camera, status: int = 200, headers: dict | None = None) -> web.Response:
    statuses = await request.app[REGISTRY].statuses([camera])
    return web.json_response(admin_view(camera, statuses[camera.id]), status=status, headers=headers)


@routes.get("/api/admin/cameras")
async def list_cameras(request: web.Request) -> web.Response:
    await _admin(request)
    registry = request.app[REGISTRY]
    page, total, next_id = await registry.list(list_query(request, registry.regions, public_only=False))
    statuses = await registry.statuses(page)
    return web.json_response({"cameras": [admin_view(c, statuses[c.id]) for c in page], "total": total, "next_cursor": encode_cursor(next_id)})


@routes.get("/api/admin/cameras.csv")
async def export_cameras(request: web.Request) -> web.Response:
    """Every camera matching the filters as CSV (passwords masked; re-importing with
    mode=upsert keeps the stored ones)."""
    await _admin(request)
    registry = request.app[REGISTRY]
    query = list_query(request, registry.regions, public_only=False)
    query.limit = 10**9
    cameras, _, _ = await registry.list(query)
    body = cameras_to_csv([admin_view(c) for c in cameras])
    return web.Response(text=body, content_type="text/csv", headers={"Content-Disposition": 'attachment; filename="pantau-cameras.csv"'})


@routes.post("/api/admin/cameras")
async def create_camera(request: web.Request) -> web.Response:
    actor = await _admin(request)
    registry = request.app[REGISTRY]
    camera = validate_camera(await read_json(request), registry.regions)
    await registry.create(camera, actor)
    return await _admin_json(request, camera, 201, {"Location": f"/api/admin/cameras/{camera.id}"})


@routes.get("/api/admin/cameras/{id}")
async def get_camera(request: web.Request) -> web.Response:
    await _admin(request)
    return await _admin_json(request, await request.app[REGISTRY].require(_camera_id(request)))


@routes.put("/api/admin/cameras/{id}")
async def replace_camera(request: web.Request) -> web.Response:
    """Replace every field (omitted ones take their defaults); `***` keeps a stored secret."""
    actor = await _admin(request)
    registry = request.app[REGISTRY]
    stored = await registry.require(_camera_id(request))
    body = await read_json(request)
    if isinstance(body, dict):
        body = {**body, "id": body.get("id", stored.id)}
    camera = validate_camera(body, registry.regions, stored=stored)
    await registry.replace(camera, actor, expected=stored)
    return await _admin_json(request, camera)


@routes.patch("/api/admin/cameras/{id}")
async def patch_camera(request: web.Request) -> web.Response:
    actor = await _admin(request)
    registry = request.app[REGISTRY]
    stored = await registry.require(_camera_id(request))
    patch = await read_json(request)
    if isinstance(patch, dict) and "id" in patch and patch["id"] != stored.id:
        raise CameraInvalid([FieldError("id", f"a camera's id never changes (this one is {stored.id!r})")])
    camera = validate_camera(apply_patch(stored, patch), registry.regions, stored=stored)
    await registry.replace(camera, actor, expected=stored)
    return await _admin_json(request, camera)


@routes.delete("/api/admin/cameras/{id}")
async def delete_camera(request: web.Request) -> web.Response:
    actor = await _admin(request)
    camera_id = _camera_id(request)
    registry = request.app[REGISTRY]
    await registry.delete(camera_id, actor)
    await PushKeys(registry.redis).forget(camera_id)  # a camera made again later with this id starts keyless
    await ReferenceViews(registry.redis).clear(camera_id, None)  # ...and without a reference view
    return web.Response(status=204)


IMPORT_PATH = "/api/admin/cameras/import"
LARGE_BODY_PATHS = frozenset({IMPORT_PATH})  # a 31k-row CSV is ~5 MB: only here may a body be large


@routes.post(IMPORT_PATH)
async def import_cameras(request: web.Request) -> web.Response:
    """CSV body; create-only unless ?mode=upsert; refused whole if any line is bad (422 listing
    the first 1,000 errors, `error_count` all of them); 429 + Retry-After while another runs."""
    actor = await _admin(request)
    mode = request.query.get("mode", "create")
    if mode not in ("create", "upsert"):
        raise ApiError(400, "mode must be 'create' or 'upsert'", field="mode")
    try:
        with exclusive_import():  # one at a time per node: a flood of large files would pin memory
            body = await request.read()
            result = await import_csv(request.app[REGISTRY], body, actor, upsert=mode == "upsert")
    except ImportBusy as exc:
        raise ApiError(429, str(exc), headers={"Retry-After": str(IMPORT_BUSY_RETRY_S)}) from None
    return web.json_response({"created": result.created, "updated": result.updated, "total": result.total})


def _is_stream_id(text: str) -> bool:
    """A Redis stream id that can bound XREVRANGE exclusively: two 64-bit numbers, above 0-0."""
    if not _STREAM_ID.fullmatch(text):
        return False
    ms, seq = (int(part) for part in text.split("-"))
    return ms < 2**64 and seq < 2**64 and (ms, seq) != (0, 0)


@routes.get("/api/admin/audit")
async def get_audit(request: web.Request) -> web.Response:
    await _admin(request)
    before = request.query.get("before") or None
    if before is not None and not _is_stream_id(before):
        raise ApiError(400, "before must be a cursor returned by this endpoint", field="before")
    limit = int_param(request, "limit", 100, 1, MAX_LIMIT)
    entries, next_before = await audit_log.read(request.app[REGISTRY].redis, limit, before)
    return web.json_response({"entries": entries, "next_cursor": next_before})


_PROBE_FIELDS = ("source", "transport", "camera_id")


async def _audit_probe(request: web.Request, actor: Actor, camera_id: str | None, source: str, transport: str | None,
                       result: str) -> None:
    details = {"source": mask_url(source), "transport": transport, "result": result}
    await audit_log.record(request.app[REGISTRY].redis, actor, "probe", camera_id, details)


@routes.post("/api/admin/probe")
async def probe_source(request: web.Request) -> web.Response:
    """Connection test: {"source": "rtsp://…", "transport": "tcp"} or {"camera_id": "…"} (the stored
    source; a source with password *** plus camera_id uses the stored password, if the scheme, host
    and port are the stored ones). Audited (URL masked); never logs or returns the URL. 422 when the
    source policy refuses the address, naming the rule."""
    actor = await _admin(request)
    body = await read_json(request)
    if not isinstance(body, dict) or not body.keys() <= set(_PROBE_FIELDS):
        raise ApiError(400, 'send {"source": "rtsp://…", "transport": "tcp"} or {"camera_id": "…"}', field="body")
    stored = None
    camera_id = body.get("camera_id")
    if camera_id not in (None, ""):
        if not isinstance(camera_id, str) or not ID_PATTERN.fullmatch(camera_id):
            raise ApiError(400, "camera_id must be a camera's id", field="camera_id")
        stored = await request.app[REGISTRY].require(camera_id)
    source = body.get("source")
    if source in (None, ""):
        if stored is None:
            raise ApiError(400, "required: the rtsp:// or rtsps:// URL to test, or camera_id", field="source")
        source = stored.source
    if not isinstance(source, str) or source_type(source.strip()) != "rtsp":
        raise ApiError(400, "only rtsp:// and rtsps:// sources can be tested", field="source")
    source = source.strip()
    try:
        parts = urlsplit(source)
        host, _ = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError:
        host = None
    if not host or any(ch.isspace() for ch in source):
        raise ApiError(400, "the URL is malformed or has no host", field="source")
    transport = body.get("transport") or (stored.transport if stored else "tcp")
    if transport not in TRANSPORTS:
        raise ApiError(400, "transport must be 'tcp' or 'udp'", field="transport")
    camera_id = stored.id if stored else None
    try:
        source = keep_masked_secrets(source, stored.source if stored else None)
    except SecretHostChanged as exc:
        await _audit_probe(request, actor, camera_id, source, transport, "refused: the host changed")
        raise ApiError(422, str(exc), field="source") from None
    except NoStoredSecret as exc:
        raise ApiError(400, str(exc), field="source") from None
    ingest = request.app[SETTINGS].ingest
    try:
        result = await probe(source, transport, RtspSettings(ingest.rtsp_open_timeout_s, ingest.rtsp_read_timeout_s),
                             force_transcode=bool(stored and "force_transcode" in stored.tags))
    except ProbeBusy as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": "5"}) from None
    except SourceRefused as exc:
        await _audit_probe(request, actor, camera_id, source, transport, f"refused: {exc.rule}")
        raise ApiError(422, str(exc), field="source") from None
    await _audit_probe(request, actor, camera_id, source, transport, "ok" if result["ok"] else result["reason"])
    return web.json_response({**result, "camera_id": stored.id if stored else None, "transport": transport})
