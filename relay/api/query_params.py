"""Parsing and checking query parameters shared by the public and admin listings."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from pantau.cameras.camera import ID_PATTERN, KINDS
from pantau.cameras.regions import RegionTree
from pantau.cameras.registry import ListQuery
from pantau.web.http_errors import ApiError

DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
AREA_LEVELS = ("kota", "kecamatan", "kelurahan")


def encode_cursor(camera_id: str | None) -> str | None:
    return base64.urlsafe_b64encode(camera_id.encode()).decode().rstrip("=") if camera_id else None


def decode_cursor(cursor: str) -> str:
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = ""
    if not ID_PATTERN.fullmatch(value):
        raise ApiError(400, "cursor is not one this server returned", field="cursor")
    return value


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}", field=name) from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be from {low} to {high}", field=name)
    return value


def bool_param(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ApiError(400, f"{name} must be true or false", field=name)


AREA_EXAMPLES = {"kota": "31.71", "kecamatan": "31.71.01", "kelurahan": "31.71.01.1001"}


def area_param(request: web.Request, regions: RegionTree) -> str | None:
    """The most specific of kota/kecamatan/kelurahan given; they must nest."""
    chosen = None
    for level in AREA_LEVELS:
        code = request.query.get(level)
        if not code:
            continue
        region = regions.get(code)
        if region is None or region.level != level:
            raise ApiError(400, f"{code!r} is not a {level} code (use the dotted Kemendagri form, e.g. {AREA_EXAMPLES[level]})", field=level)
        if chosen and not code.startswith(chosen + "."):
            raise ApiError(400, f"{level} {code} does not lie in {chosen}", field=level)
        chosen = code
    return chosen


def list_query(request: web.Request, regions: RegionTree, public_only: bool) -> ListQuery:
    kind = request.query.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise ApiError(400, "kind must be 'tps' or 'recap'", field="kind")
    cursor = request.query.get("cursor")
    query = ListQuery(
        area=area_param(request, regions), kind=kind, text=(request.query.get("q") or "").strip() or None,
        public=True if public_only else None, limit=int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        after=decode_cursor(cursor) if cursor else None,
    )
    if not public_only:
        query.enabled = bool_param(request, "enabled")
        query.public = bool_param(request, "public")
        source_type = request.query.get("source_type") or None
        if source_type is not None and source_type not in ("rtsp", "whip", "whep", "demo"):
            raise ApiError(400, "source_type must be rtsp, whip, whep or demo", field="source_type")
        query.source_type = source_type
    return query
