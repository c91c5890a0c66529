"""The camera model: validation, default ids and names, and its public/admin JSON forms.

A camera's stored form holds its secrets (RTSP password, WHEP bearer token); only the
registry and ingest see it. Every form that leaves the process goes through `admin_view`
(secrets masked) or `public_view` (no source at all).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pantau.access.redaction import MASK, NoStoredSecret, check_same_origin, keep_masked_secrets, mask_url, url_secrets
from pantau.cameras import masks as privacy_masks
from pantau.cameras import restream_target, source_policy, visibility
from pantau.cameras.regions import RegionTree

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # \Z: "$" also accepts a trailing "\n"
KINDS = ("tps", "recap")
TRANSPORTS = ("tcp", "udp")
FIELDS = ("id", "kind", "region", "tps", "name", "source", "transport", "source_token", "public", "enabled", "tags",
          "public_windows", "record", "masks", "restream_url", "restream_key", "audio_public", "unmasked_for_officials")
MAX_TPS = 999
MAX_NAME = 200
MAX_TAGS = 32
MAX_TAG = 64
MAX_URL = 2048


@dataclass
class FieldError:
    field: str
    reason: str


class CameraInvalid(ValueError):
    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors


@dataclass
class Camera:
    id: str
    kind: str
    region: str
    tps: int | None
    name: str
    source: str
    transport: str = "tcp"
    source_token: str | None = None
    public: bool = True
    enabled: bool = True
    tags: list[str] = field(default_factory=list)
    # When the public may see it (pantau/cameras/visibility.py); empty: the site's default.
    public_windows: list[str] = field(default_factory=list)
    # Privacy masks burned in at ingest (pantau/cameras/masks.py): [{kind, points}, ...]
    masks: list[dict[str, Any]] = field(default_factory=list)
    # Recorded as evidence by its lease owner (outputs/recording/); the demo set records recap sites.
    record: bool = False
    # Restream to RTMP(S) (pantau/cameras/restream_target.py); the key is a secret like a password.
    restream_url: str | None = None
    restream_key: str | None = None
    # The public hears the camera's sound (operators always do). Off by default: a TPS microphone
    # also hears voters talking.
    audio_public: bool = False
    # The admin-only, audited exception to the masks (pantau/cameras/unmasked_view.py): ingest
    # also publishes the unmasked picture, which only admins may watch. Off by default.
    unmasked_for_officials: bool = False

    def to_stored(self) -> dict[str, Any]:
        # By hand rather than dataclasses.asdict (a deep copy): 30k of these per bulk import.
        return {f: getattr(self, f) for f in FIELDS} | {"tags": list(self.tags), "public_windows": list(self.public_windows),
                                                       "masks": [dict(m) for m in self.masks]}

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Camera:
        return cls(**{k: data[k] for k in FIELDS if k in data})

    @property
    def source_type(self) -> str:
        """rtsp | whip | whep | demo"""
        return source_type(self.source) or "unknown"

    def secrets(self) -> list[str]:
        return [s for s in (*url_secrets(self.source), self.source_token, self.restream_key) if s]


def source_type(source: str) -> str | None:
    if source in ("whip", "demo"):
        return source
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme in ("rtsp", "rtsps"):
        return "rtsp"
    if scheme in ("whep+http", "whep+https"):
        return "whep"
    return None


def default_id(kind: str, region_code: str, tps: int | None) -> str:
    compact = region_code.replace(".", "")
    return f"{compact}{tps:03d}" if kind == "tps" else f"rekap-{compact}"


def intended_id(data: dict[str, Any]) -> str | None:
    """The id a camera's JSON/CSV form names or implies, without validating the rest (used
    to find the stored camera an update or upsert applies to)."""
    if data.get("id"):
        return str(data["id"])
    kind, region, tps = data.get("kind"), data.get("region"), data.get("tps")
    if kind == "recap" and isinstance(region, str):
        return default_id("recap", region, None)
    if kind == "tps" and isinstance(region, str) and str(tps).strip().isdigit():
        return default_id("tps", region, int(str(tps).strip()))
    return None


def default_status(camera: Camera) -> dict[str, Any]:
    """The status a camera has before ingest reports on it."""
    if not camera.enabled:
        state = "disabled"
    elif camera.source == "whip":
        state = "waiting"
    else:
        state = "connecting"
    return {
        "state": state, "reason": None, "since": None, "picture": None, "codec": None,
        "width": None, "height": None, "fps": None, "bitrate_kbps": None, "mode": None,
        "last_keyframe_at": None, "reference": None, "audio_codec": None, "audio_level_db": None,
    }


def _parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
        return value.strip().lower() in ("true", "1")
    return None


def _validate_source(source: Any, errors: list[FieldError]) -> str | None:
    if not isinstance(source, str) or not source.strip():
        errors.append(FieldError("source", "required: rtsp://…, rtsps://…, whip, whep+https://…, whep+http://… or demo"))
        return None
    source = source.strip()
    kind = source_type(source)
    if kind is None:
        scheme = source.split("://", 1)[0] if "://" in source else source[:20]
        errors.append(FieldError("source", f"unsupported source {scheme!r}: use rtsp://, rtsps://, whip, whep+https://, whep+http:// or demo"))
        return None
    if kind in ("rtsp", "whep"):
        if len(source) > MAX_URL:
            errors.append(FieldError("source", f"URL longer than {MAX_URL} characters"))
            return None
        if any(ch.isspace() for ch in source):
            errors.append(FieldError("source", "URL must not contain spaces"))
            return None
        try:
            parts = urlsplit(source)
            _ = parts.port  # raises on a bad port
        except ValueError as exc:
            errors.append(FieldError("source", f"malformed URL ({exc})"))
            return None
        if not parts.hostname:
            errors.append(FieldError("source", "URL has no host"))
            return None
        try:
            port = parts.port or source_policy.DEFAULT_PORTS.get(parts.scheme.lower(), 0)
            source_policy.current().check_host(parts.hostname, port)  # 31k rows: the URL is split once
        except source_policy.SourceRefused as exc:
            errors.append(FieldError("source", str(exc)))
            return None
    return source


def default_name(kind: str | None, region, tps: int | None) -> str | None:
    """"TPS 001 Gambir" / "Rekap Kecamatan Gambir", as on the SIREKAP form."""
    if region and kind == "tps" and tps:
        return f"TPS {tps:03d} {region.name}"
    if region and kind == "recap":
        return f"Rekap Kecamatan {region.name}"
    return None


def validate_camera(data: Any, regions: RegionTree, stored: Camera | None = None) -> Camera:
    """Check a camera's JSON (or CSV row) form and return the Camera it describes.

    `stored` is the current camera when updating: a masked password or token (`***`) then
    keeps the stored secret, as long as the source's scheme, host and port are unchanged.
    """
    if not isinstance(data, dict):
        raise CameraInvalid([FieldError("body", "a camera must be a JSON object")])
    errors: list[FieldError] = []
    for key in data:
        if key not in FIELDS and key != "status":
            errors.append(FieldError(key, f"unknown field; known fields: {', '.join(FIELDS)}"))

    kind = data.get("kind")
    if kind not in KINDS:
        errors.append(FieldError("kind", "required: 'tps' (a polling station) or 'recap' (a kecamatan recap site)"))
        kind = None

    region_code = data.get("region")
    region = regions.get(region_code) if isinstance(region_code, str) else None
    if region is None:
        errors.append(FieldError("region", f"unknown region code {region_code!r}" if region_code else "required: a Kemendagri code such as 31.71.01.1001"))
    elif kind == "tps" and region.level != "kelurahan":
        errors.append(FieldError("region", f"a tps camera needs a kelurahan code; {region.code} is a {region.level}"))
    elif kind == "recap" and region.level != "kecamatan":
        errors.append(FieldError("region", f"a recap camera needs a kecamatan code; {region.code} is a {region.level}"))

    tps = data.get("tps")
    if kind == "recap" and tps not in (None, ""):
        errors.append(FieldError("tps", "a recap site has no TPS number"))
        tps = None
    elif kind == "tps":
        if isinstance(tps, str) and tps.strip().isdigit():
            tps = int(tps.strip())
        if isinstance(tps, bool) or not isinstance(tps, int) or not 1 <= tps <= MAX_TPS:
            errors.append(FieldError("tps", f"required for a tps camera: a whole number from 1 to {MAX_TPS}"))
            tps = None
    else:
        tps = None

    camera_id = data.get("id")
    if camera_id in (None, ""):
        camera_id = default_id(kind, region.code, tps) if kind and region and (tps or kind == "recap") else None
    elif not isinstance(camera_id, str) or not ID_PATTERN.fullmatch(camera_id):
        errors.append(FieldError("id", "must be 1-64 characters of letters, digits, '_' or '-'"))
        camera_id = None
    if stored is not None and camera_id is not None and camera_id != stored.id:
        errors.append(FieldError("id", f"a camera's id never changes (this one is {stored.id!r})"))

    name = data.get("name")
    if stored is not None and name == stored.name == default_name(stored.kind, regions.get(stored.region), stored.tps):
        name = None  # a default name sent back as it was follows a new TPS number or region
    if name in (None, ""):
        name = default_name(kind, region, tps)
    elif not isinstance(name, str) or len(name.strip()) > MAX_NAME:
        errors.append(FieldError("name", f"must be text of at most {MAX_NAME} characters"))
        name = None
    else:
        name = " ".join(name.split())

    source = _validate_source(data.get("source"), errors)
    kind_of_source = source_type(source) if source else None

    transport = data.get("transport") or "tcp"
    if transport not in TRANSPORTS:
        errors.append(FieldError("transport", "must be 'tcp' or 'udp'"))
    elif transport == "udp" and kind_of_source not in (None, "rtsp"):
        errors.append(FieldError("transport", "'udp' applies to RTSP sources only"))

    token = data.get("source_token")
    if token in ("", None):
        token = None
    elif not isinstance(token, str) or len(token) > 4096 or any(ch.isspace() for ch in token):
        errors.append(FieldError("source_token", "must be a bearer token without spaces"))
        token = None
    elif kind_of_source is not None and kind_of_source != "whep":
        errors.append(FieldError("source_token", "is only used with whep+https:// or whep+http:// sources"))

    # A masked secret sent back means "keep what is stored".
    if source and kind_of_source in ("rtsp", "whep"):
        try:
            source = keep_masked_secrets(source, stored.source if stored else None)
        except NoStoredSecret as exc:
            errors.append(FieldError("source", str(exc)))
    if token == MASK:
        if stored is None or not stored.source_token:
            errors.append(FieldError("source_token", f"{MASK!r} is a mask, and there is no stored token to keep"))
        elif source:
            try:
                check_same_origin(source, stored.source, "token")
            except NoStoredSecret as exc:
                errors.append(FieldError("source_token", str(exc)))
        token = stored.source_token if stored else None

    flags = {}
    for flag in ("public", "enabled"):
        value = data.get(flag, True)
        parsed = True if value in (None, "") else _parse_bool(value)
        if parsed is None:
            errors.append(FieldError(flag, "must be true or false (CSV: true/false/1/0)"))
        flags[flag] = parsed
    for flag in ("record", "audio_public", "unmasked_for_officials"):  # off unless said
        value = data.get(flag)
        parsed = False if value in (None, "") else _parse_bool(value)
        if parsed is None:
            errors.append(FieldError(flag, "must be true or false (CSV: true/false/1/0)"))
        flags[flag] = parsed

    tags = data.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(";") if t.strip()]
    if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) <= MAX_TAG for t in tags) or len(tags) > MAX_TAGS:
        errors.append(FieldError("tags", f"must be a list of at most {MAX_TAGS} non-empty texts of up to {MAX_TAG} characters"))
        tags = []

    try:
        public_windows = visibility.normalize_windows(data.get("public_windows"))
    except visibility.WindowInvalid as exc:
        errors.append(FieldError("public_windows", str(exc)))
        public_windows = []

    try:
        masks = privacy_masks.normalize_masks(data.get("masks"))
    except privacy_masks.MaskInvalid as exc:
        errors.append(FieldError(exc.field, exc.reason))
        masks = []

    try:
        restream_url = restream_target.check_url(data.get("restream_url"))
        restream_key = restream_target.check_key(data.get("restream_key"), restream_url, stored and stored.restream_key,
                                                 stored and stored.restream_url)
    except restream_target.TargetInvalid as exc:
        errors.append(FieldError(exc.field, str(exc)))
        restream_url = restream_key = None

    if errors:
        raise CameraInvalid(errors)
    return Camera(
        id=camera_id, kind=kind, region=region.code, tps=tps, name=name, source=source,
        transport=transport, source_token=token, public=flags["public"], enabled=flags["enabled"],
        tags=list(dict.fromkeys(tags)), public_windows=public_windows, record=bool(flags["record"]),
        masks=masks, restream_url=restream_url, restream_key=restream_key, audio_public=bool(flags["audio_public"]),
        unmasked_for_officials=bool(flags["unmasked_for_officials"]),
    )


def apply_patch(stored: Camera, patch: Any) -> dict[str, Any]:
    """The full JSON form of `stored` with the fields of `patch` over it (secrets masked, so
    that validate_camera keeps them unless the patch replaces them)."""
    if not isinstance(patch, dict):
        raise CameraInvalid([FieldError("body", "a camera patch must be a JSON object")])
    merged = admin_view(stored)
    merged.pop("status", None)
    merged.update(patch)
    return merged


def masked_fields(camera: Camera) -> dict[str, Any]:
    """The stored fields with the secrets masked (the admin view without status)."""
    data = camera.to_stored()
    data["source"] = mask_url(camera.source)
    data["source_token"] = MASK if camera.source_token else None
    data["restream_key"] = MASK if camera.restream_key else None
    return data


def admin_view(camera: Camera, status: dict[str, Any] | None = None) -> dict[str, Any]:
    data = masked_fields(camera)
    data["status"] = status or default_status(camera)
    return data


def public_view(camera: Camera, regions: RegionTree, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": camera.id, "kind": camera.kind, "region": camera.region, "tps": camera.tps,
        "name": camera.name, "public": camera.public, "enabled": camera.enabled,
        "tags": camera.tags, "location": regions.path(camera.region),
        "audio_public": camera.audio_public,
        "status": public_status(camera, status or default_status(camera)),
    }


def public_status(camera: Camera, status: dict[str, Any]) -> dict[str, Any]:
    """What the public may know of a camera's status. The restream's state is the operators'
    business (it names failures at a destination); of its sound, only whether there is any
    they may hear (never its level: that would tell when someone in the room speaks)."""
    public = {k: v for k, v in status.items() if k not in _OPERATORS_ONLY}
    if "audio_codec" in public and not camera.audio_public:
        public["audio_codec"] = None
    return public


_OPERATORS_ONLY = frozenset(("restream", "audio_level_db"))
