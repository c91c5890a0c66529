"""Recordings over HTTP: what exists, playback, export with proof, holds and the site key.

    GET    /api/cameras/{id}/recordings?from&to              {camera, from, to, items: [segment | gap], playlist}
    GET    /api/cameras/{id}/recordings/vod.m3u8?from&to     HLS VOD of the range (byte ranges into the files)
    GET    /api/cameras/{id}/recordings/segments/{day}/{f}   one segment file (Range requests; ?part=init|media: one half)
    GET    /api/cameras/{id}/recordings/export?from&to       zip: video.mp4 + the segment files + chain + signatures
    GET    /api/recordings/site-key.pem                      the site's public key (public, fixed URL)
    GET    /api/admin/recording-holds?camera=                holds ("Tahan untuk sengketa")
    POST   /api/admin/cameras/{id}/recording-holds           {from, to, reason} -> 201 (audited)
    DELETE /api/admin/recording-holds/{hold}                 204 (audited)

Operators and admins see every camera's recordings. The public sees them only when the site
sets recording.public_playback, only for public cameras, and only what was recorded inside the
camera's public windows (ballot secrecy applies to recordings as it does to live video).

Sound follows the live rule (issue 20): operators and admins always hear it; the public only
where the camera's `audio_public` is on. Segments are recorded with their sound; for the public
of a camera without `audio_public` the playlist names each segment's halves and this route
serves them with the sound track taken out (pantau/media/mp4_video_only.py: the same picture
bytes, no re-encode), and an export is refused: its segment files are the evidence and keep the
sound, so only operators and admins take it away.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from pathlib import Path

from aiohttp import web

from outputs.recording.chain import PUBLIC_KEY_FILE, iso
from outputs.recording.holds import HoldStore
from outputs.recording.time_range import parse_instant
from pantau.cameras import visibility
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import ID_PATTERN, Camera
from pantau.media.mp4_video_only import video_only
from pantau.web.http_errors import ApiError, read_json
from relay.access import auth
from relay.access.client_address import client_address
from relay.context import REGISTRY, SETTINGS
from relay.recordings.export_zip import build_export
from relay.recordings.recording_index import RecordingIndex, Span
from relay.recordings.vod_playlist import vod_playlist

routes = web.RouteTableDef()
INDEX = web.AppKey("recording_index", RecordingIndex)
MAX_LIST_S = 31 * 86400
MAX_EXPORT_S = 6 * 3600  # an export is written whole before it is sent: a bounded size (~5 GB at 2 Mbps)
DEFAULT_LIST_S = 86400
SEGMENT_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}/\d{6}\.\d{3}\.mp4\Z")
MAX_REASON = 500


def index_of(request: web.Request) -> RecordingIndex:
    app = request.app
    if INDEX not in app:
        app[INDEX] = RecordingIndex(app[SETTINGS].recordings_dir)
    return app[INDEX]


async def _camera(request: web.Request) -> tuple[Camera, bool]:
    """The camera, and whether the caller sees only what was public (False: operator or admin)."""
    camera_id = request.match_info["id"]
    camera = await request.app[REGISTRY].get(camera_id) if ID_PATTERN.fullmatch(camera_id) else None
    info = await auth.caller(request, changes_state=False)
    if info is not None and info.allows("operator"):
        if camera is None:
            raise ApiError(404, f"no camera with id {camera_id!r}")
        return camera, False
    if camera is None or not camera.public:
        raise ApiError(404, f"no public camera with id {camera_id!r}")  # a hidden camera answers like an unknown one
    if not request.app[SETTINGS].recording.public_playback:
        raise ApiError(401, "recordings are for operators and admins on this site: sign in",
                       headers={"WWW-Authenticate": 'Bearer realm="pantau"'})
    return camera, True


def _hears(camera: Camera, public_only: bool) -> bool:
    return not public_only or camera.audio_public  # operators always hear; the public per camera


def _range(request: web.Request, longest: float) -> tuple[float, float]:
    now = time.time()
    try:
        end = parse_instant(request.query["to"]) if request.query.get("to") else now
    except ValueError as exc:
        raise ApiError(400, f"to: {exc}", field="to") from None
    try:
        start = parse_instant(request.query["from"]) if request.query.get("from") else end - DEFAULT_LIST_S
    except ValueError as exc:
        raise ApiError(400, f"from: {exc}", field="from") from None
    if start >= end:
        raise ApiError(400, "from must be before to", field="from")
    if end - start > longest:
        raise ApiError(400, f"the range is longer than {longest / 3600:g} hours: ask for less", field="to")
    return start, end


def _spans(request: web.Request, camera: Camera, public_only: bool, start: float, end: float) -> list[Span]:
    spans = index_of(request).spans(camera.id, start, end)
    if public_only:  # only what the public could have watched live
        spans = [s for s in spans if visibility.publicly_visible(camera, s.start) and visibility.publicly_visible(camera, s.end)]
    return spans


async def _recorded(request: web.Request, longest: float) -> tuple[Camera, bool, float, float, list[Span]]:
    """The camera, whether the caller is the public, the asked range and what the caller may see of it;
    404 if that holds no segment."""
    camera, public_only = await _camera(request)
    start, end = _range(request, longest)
    spans = _spans(request, camera, public_only, start, end)
    if not any(s.kind == "segment" for s in spans):
        raise ApiError(404, f"nothing of {camera.id} was recorded between {iso(start)} and {iso(end)}")
    return camera, public_only, start, end, spans


@routes.get("/api/cameras/{id}/recordings")
async def list_recordings(request: web.Request) -> web.Response:
    camera, public_only = await _camera(request)
    start, end = _range(request, MAX_LIST_S)
    spans = _spans(request, camera, public_only, start, end)
    items = []
    for span in spans:
        item = {"kind": span.kind, "start": iso(span.start), "end": iso(span.end)}
        if span.kind == "segment":
            item.update(seq=span.entry.seq, bytes=span.entry.fields["bytes"], sha256=span.entry.fields["sha256"])
        else:
            item["reason"] = span.reason
        items.append(item)
    query = f"from={iso(start)}&to={iso(end)}"
    return web.json_response({"camera": camera.id, "from": iso(start), "to": iso(end), "items": items,
                              "playlist": f"/api/cameras/{camera.id}/recordings/vod.m3u8?{query}",
                              "export": f"/api/cameras/{camera.id}/recordings/export?{query}"})


@routes.get("/api/cameras/{id}/recordings/vod.m3u8")
async def playlist(request: web.Request) -> web.Response:
    camera, public_only, start, end, spans = await _recorded(request, MAX_LIST_S)
    # relative: segments/<day>/<file> beside the playlist
    text = vod_playlist(spans, lambda file: file, video_only=not _hears(camera, public_only))
    return web.Response(text=text, content_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "no-store"})


@routes.get("/api/cameras/{id}/recordings/segments/{day}/{name}")
async def segment_file(request: web.Request) -> web.StreamResponse:
    camera, public_only = await _camera(request)
    relative = f"{request.match_info['day']}/{request.match_info['name']}"
    if not SEGMENT_FILE.fullmatch(relative):
        raise ApiError(404, "no such segment")
    part = request.query.get("part")
    if part not in (None, "init", "media"):
        raise ApiError(400, "part: init or media (or leave it out for the whole file)", field="part")
    file = f"segments/{relative}"
    span = next((s for s in index_of(request).spans(camera.id, 0, float("inf")) if s.kind == "segment" and s.file == file), None)
    if span is None or (public_only and not _spans(request, camera, True, span.start, span.end)):
        raise ApiError(404, "no such segment")
    path = index_of(request).camera_dir(camera.id) / file
    if not path.exists():
        raise ApiError(404, "no such segment")
    headers = {"Content-Type": "video/mp4", "Cache-Control": "private, max-age=86400, immutable"}
    silenced = span.entry.fields.get("audio") and not _hears(camera, public_only)
    if part is None and not silenced:
        return web.FileResponse(path, headers=headers)
    init_size = span.entry.fields["init_bytes"]
    data = await asyncio.to_thread(path.read_bytes)
    try:
        init, media = await asyncio.to_thread(video_only, data, init_size) if silenced else (data[:init_size], data[init_size:])
    except ValueError as exc:  # not a file the recorder wrote: never hand out what could not be checked
        raise ApiError(409, f"the segment could not be read without its sound: {exc}") from None
    body = {"init": init, "media": media}.get(part, init + media)
    return web.Response(body=body, headers=headers)


@routes.get("/api/cameras/{id}/recordings/export")
async def export(request: web.Request) -> web.StreamResponse:
    camera, public_only, start, end, spans = await _recorded(request, MAX_EXPORT_S)
    if not _hears(camera, public_only) and any(s.entry.fields.get("audio") for s in spans if s.kind == "segment"):
        raise ApiError(403, f"{camera.id}'s recording carries its sound, which the public may not hear (audio_public "
                            "is off); its segment files are the evidence and keep it: exports are for operators and admins")
    index = index_of(request)
    public_key = _public_key(request)
    with tempfile.TemporaryDirectory(prefix="pantau-export-") as tmp:
        target = Path(tmp) / "export.zip"
        await asyncio.to_thread(build_export, target, index.camera_dir(camera.id), camera.id, spans,
                                index.entries(camera.id), start, end, public_key)
        name = f"pantau-{camera.id}-{iso(start).replace(':', '')}.zip"
        response = web.StreamResponse(headers={"Content-Type": "application/zip",
                                               "Content-Disposition": f'attachment; filename="{name}"'})
        response.content_length = target.stat().st_size
        await response.prepare(request)
        with open(target, "rb") as f:
            while block := await asyncio.to_thread(f.read, 1 << 20):
                await response.write(block)
        await response.write_eof()
        return response


def _public_key(request: web.Request) -> bytes:
    try:
        return (request.app[SETTINGS].recordings_dir / PUBLIC_KEY_FILE).read_bytes()
    except FileNotFoundError:
        raise ApiError(404, "this node has no recordings (no site key published yet)") from None


@routes.get("/api/recordings/site-key.pem")
async def site_key(request: web.Request) -> web.Response:
    return web.Response(body=_public_key(request), content_type="application/x-pem-file")


# -- holds ---------------------------------------------------------------------------------------
def _hold_json(hold) -> dict:
    return {"id": hold.id, "camera": hold.camera, "from": iso(hold.start), "to": iso(hold.end), "reason": hold.reason,
            "by": hold.by, "at": hold.at}


@routes.get("/api/admin/recording-holds")
async def list_holds(request: web.Request) -> web.Response:
    await auth.require(request, "admin")
    holds = await HoldStore(request.app[REGISTRY].redis).all(request.query.get("camera") or None)
    return web.json_response({"holds": [_hold_json(h) for h in holds]})


@routes.post("/api/admin/cameras/{id}/recording-holds")
async def put_hold(request: web.Request) -> web.Response:
    info = await auth.require(request, "admin")
    camera_id = request.match_info["id"]
    if not ID_PATTERN.fullmatch(camera_id) or await request.app[REGISTRY].get(camera_id) is None:
        raise ApiError(404, f"no camera with id {camera_id!r}")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "send a JSON object {from, to, reason}", field="body")
    times = {}
    for name in ("from", "to"):
        value = body.get(name)
        try:
            times[name] = parse_instant(str(value)) if value not in (None, "") else None
        except ValueError as exc:
            raise ApiError(400, f"{name}: {exc}", field=name) from None
        if times[name] is None:
            raise ApiError(400, f"{name} is required (ISO 8601)", field=name)
    if times["from"] >= times["to"]:
        raise ApiError(400, "from must be before to", field="from")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise ApiError(400, f"reason is required: why the range is held (up to {MAX_REASON} characters)", field="reason")
    hold = await HoldStore(request.app[REGISTRY].redis).put(camera_id, times["from"], times["to"], reason.strip(),
                                                           Actor(info.label, client_address(request)))
    return web.json_response(_hold_json(hold), status=201)


@routes.delete("/api/admin/recording-holds/{hold}")
async def lift_hold(request: web.Request) -> web.Response:
    info = await auth.require(request, "admin")
    store = HoldStore(request.app[REGISTRY].redis)
    hold = next((h for h in await store.all() if h.id == request.match_info["hold"]), None)
    if hold is None:
        raise ApiError(404, f"no hold with id {request.match_info['hold']!r}")
    await store.lift(hold, Actor(info.label, client_address(request)))
    return web.Response(status=204)
