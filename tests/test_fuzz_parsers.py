"""Hypothesis on every parser of outside input (issue 15): JSON bodies, camera JSON, CSV import,
query parameters, source URLs and their masking, SDP offers as the relay reads them and as
aiortc answers them, and Annex-B/AVCC splitting of hostile bitstreams.

Each property is "a clear refusal or a sane result, nothing else": a parser that raises
anything but its refusal would be a 500 (or a crashed ingest thread) in production. Budgets
are in tests/support/fuzz.py; each failure found became a named test (see the README).
"""

from __future__ import annotations

import asyncio
import json
import string
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import make_mocked_request
from hypothesis import assume, given
from hypothesis import strategies as st

from ingest import h264
from pantau.access.redaction import NoStoredSecret, keep_masked_secrets, mask_url, redact, url_secrets
from pantau.cameras.camera import FIELDS, Camera, CameraInvalid, admin_view, apply_patch, public_view, validate_camera
from pantau.cameras.camera_csv import ImportInvalid, decode_csv, validate_csv
from pantau.cameras.regions import dki_regions
from pantau.web.http_errors import ApiError
from pantau.web.json_body import MAX_DEPTH, JsonBodyInvalid, decode_json
from pantau.web.sdp_http import check_offer_headers, read_offer
from relay.api.query_params import decode_cursor, encode_cursor, list_query
from tests.support.fuzz import fuzz

REGIONS = dki_regions()
CODES = ["31.71.01.1001", "31.71.01", "31.71", "31", "31.71.01.1002", "", "31.71.01.10010", "3171011001"]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                           max_leaves=20)


def refused_or(value, refusals, call):
    try:
        return call(value)
    except refusals:
        return None


# --- JSON bodies (pantau/web/json_body.py) ----------------------------------------------------------

CHARSETS = [None, "utf-8", "UTF-8", "utf-16", "latin-1", "ascii", "bogus-enc", "base64", "rot13", "idna", "punycode",
            "unicode_escape", "raw_unicode_escape", "utf-7", "cp1252", "utf-32", "zlib", "hex", "", "utf_8_sig"]


@fuzz(300)
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
       charset=st.sampled_from(CHARSETS))
def test_fuzz_json_body_bytes(raw, charset):
    """Any bytes in any charset: a value, or a 400/415 refusal."""
    try:
        value = decode_json(raw, charset)
    except JsonBodyInvalid as exc:
        assert exc.status in (400, 415)
        return
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # what the registry and responses do with it


@fuzz(80)
@given(value=json_values, depth=st.integers(0, 1500), bracket=st.sampled_from("[{"))
def test_fuzz_json_body_structure(value, depth, bracket):
    """Well-formed JSON round-trips unless it nests too deep; deep nesting of any size is a 400."""
    close = "]" if bracket == "[" else "}"
    opener = bracket if bracket == "[" else '{"a":'
    text = opener * depth + json.dumps(value) + close * depth
    try:
        decode_json(text.encode("utf-8", "surrogatepass"))
    except JsonBodyInvalid as exc:
        assert exc.status == 400
        assert depth >= MAX_DEPTH - 5 or "surrogate" in str(exc), str(exc)
        return
    assert depth <= MAX_DEPTH


# --- Camera JSON (pantau/cameras/camera.py) --------------------------------------------------------------

sources = st.one_of(
    st.sampled_from(["demo", "whip", "rtsp://10.0.0.1/s", "whep+http://10.0.0.9/whep", "rtsp://", "rtsp://[::1", "rtsp://h:99999/"]),
    st.text(max_size=60),
    st.builds(lambda scheme, rest: scheme + rest, st.sampled_from(["rtsp://", "rtsps://", "whep+http://", "whep+https://", "RTSP://"]),
              st.text(alphabet=string.printable + "\u00e9\u0660\uff10", max_size=60)),
)
camera_fields = st.fixed_dictionaries({}, optional={
    "id": st.text(max_size=70) | st.from_regex(r"[A-Za-z0-9_-]{1,64}\n?", fullmatch=True) | json_scalars,
    "kind": st.sampled_from(["tps", "recap", "TPS", ""]) | json_scalars,
    "region": st.sampled_from(CODES) | json_scalars,
    "tps": st.integers(-5, 1200) | st.text(max_size=6) | json_scalars,
    "name": st.text(max_size=220) | json_scalars,
    "source": sources | json_scalars,
    "transport": st.sampled_from(["tcp", "udp", "TCP"]) | json_scalars,
    "source_token": st.text(max_size=30) | json_scalars,
    "public": json_scalars, "enabled": json_scalars,
    "tags": st.lists(st.text(max_size=70), max_size=40) | st.text(max_size=30) | json_values,
    "status": json_values, "extra": json_values,
})


@fuzz(250)
@given(data=camera_fields | json_values)
def test_fuzz_camera_json(data):
    """A camera, or CameraInvalid naming fields: never another exception; an accepted camera is
    storable (UTF-8 JSON) and its views never carry its secrets."""
    camera = refused_or(data, CameraInvalid, lambda d: validate_camera(d, REGIONS))
    if camera is None:
        return
    assert_sane(camera)


def assert_sane(camera: Camera) -> None:
    json.dumps(camera.to_stored(), ensure_ascii=False).encode("utf-8")
    for view in (admin_view(camera), public_view(camera, REGIONS)):
        text = json.dumps(view)
        for secret in camera.secrets():
            assume(len(secret) >= 6)  # a short secret can coincide with other text
            assert secret not in text


valid_cameras = st.builds(
    lambda tps, region, source, public: validate_camera({"kind": "tps", "region": region, "tps": tps, "source": source, "public": public}, REGIONS),
    st.integers(1, 999), st.sampled_from(["31.71.01.1001", "31.71.01.1002", "31.75.01.1001"]),
    st.sampled_from(["demo", "whip", "rtsp://admin:Zq-stored-1@10.0.0.1:554/s", "rtsp://10.0.0.2/s?user=op&password=Zq-stored-2"]),
    st.booleans())


@fuzz(150)
@given(camera=valid_cameras, patch=camera_fields | json_values)
def test_fuzz_camera_patch(camera, patch):
    """PATCH over a stored camera: the same outcomes as a create."""
    updated = refused_or(patch, CameraInvalid, lambda p: validate_camera(apply_patch(camera, p), REGIONS, stored=camera))
    if updated is not None:
        assert updated.id == camera.id
        assert_sane(updated)


# --- Source URLs and their masking (pantau/cameras/camera.py, pantau/access/redaction.py) ----------------------

PASSWORD_CHARS = string.ascii_letters + string.digits + "!$%()*+,-.:=@[]_~'\""
hosts = st.sampled_from(["10.0.0.7", "cam.local", "192.168.1.20", "[fd00::7]", "kamera-tps-001.example", "127.0.0.1"])
passwords = st.text(alphabet=PASSWORD_CHARS, min_size=1, max_size=20).map(lambda p: "Zq" + p)


@st.composite
def source_urls(draw) -> tuple[str, list[str]]:
    """A plausible camera URL with passwords in it (user:password@ and/or ?password=)."""
    scheme = draw(st.sampled_from(["rtsp", "rtsps", "whep+http", "whep+https"]))
    user = draw(st.text(alphabet=string.ascii_lowercase + string.digits, max_size=8))
    secrets = []
    userinfo = ""
    if draw(st.booleans()):
        secret = draw(passwords)
        secrets.append(secret)
        userinfo = f"{user}:{secret}@"
    elif user:
        userinfo = f"{user}@"
    port = draw(st.sampled_from(["", ":554", ":8554", ":1"]))
    path = draw(st.text(alphabet=string.ascii_lowercase + string.digits + "/._-", max_size=20))
    params = ""
    if draw(st.booleans()):
        secret = draw(passwords.filter(lambda p: not set(p) & set("&;#'\"")))
        secrets.append(secret)
        name = draw(st.sampled_from(["password", "PASSWORD", "pwd", "passwd", "pass", "pw"]))
        params = draw(st.sampled_from([f"?user=op&{name}={secret}", f"?{name}={secret}&channel=1", f"/user=admin&{name}={secret}&channel=1.sdp"]))
    return f"{scheme}://{userinfo}{draw(hosts)}{port}/{path}{params}", secrets


@fuzz(300)
@given(source=source_urls())
def test_fuzz_source_url_secrets_never_leave(source):
    """Whatever the URL looks like: masked in admin JSON, scrubbed from any log text, and a
    masked URL sent back keeps exactly the stored passwords."""
    url, secrets = source
    body = {"id": "fz-1", "kind": "tps", "region": "31.71.01.1001", "tps": 1, "source": url}
    camera = refused_or(body, CameraInvalid, lambda d: validate_camera(d, REGIONS))
    if camera is None:
        return
    masked = mask_url(camera.source)
    for secret in secrets:
        assert secret not in masked, (url, masked)
        assert secret not in redact(f"open failed for {camera.source}: 401"), url
        assert secret in camera.secrets() or any(secret in s for s in camera.secrets()), (url, camera.secrets())
    # The admin page sends the masked URL back: the stored passwords are kept, nothing else changes.
    again = validate_camera({**body, "source": masked}, REGIONS, stored=camera)
    assert again.source == camera.source


@fuzz(300)
@given(url=st.text(max_size=80) | source_urls().map(lambda s: s[0]), stored=st.none() | st.text(max_size=60) | source_urls().map(lambda s: s[0]))
def test_fuzz_masking_functions_on_any_text(url, stored):
    """mask_url/url_secrets/redact/keep_masked_secrets on text that never passed validation."""
    redact(url)
    url_secrets(url)
    try:
        mask_url(url)
    except ValueError:
        pass  # urlsplit refuses it: validation refuses it before masking is ever reached
    try:
        keep_masked_secrets(url, stored)
    except (NoStoredSecret, ValueError):
        pass


# --- CSV import (pantau/cameras/camera_csv.py, as pantau/cameras/camera_import.py runs it) -----------------------

csv_cells = st.one_of(st.text(max_size=30), st.sampled_from(CODES + ["tps", "recap", "demo", "rtsp://u:Zqpw1@10.0.0.1/s", "true", "0", "a;b", '"', '""', "\r", "\n"]))


@st.composite
def csv_files(draw) -> bytes:
    columns = draw(st.lists(st.sampled_from([*FIELDS, "bogus", "", " id "]), min_size=0, max_size=12))
    if draw(st.booleans()):
        columns = [c for c in FIELDS]
    rows = draw(st.lists(st.lists(csv_cells, min_size=len(columns), max_size=len(columns) + 1), max_size=6))
    sep = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    quote = draw(st.booleans())

    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if quote or any(c in value for c in ',"\r\n') else value

    text = sep.join(",".join(cell(c) for c in row) for row in [columns, *rows])
    raw = text.encode("utf-8", "surrogatepass")
    return draw(st.sampled_from([raw, b"\xef\xbb\xbf" + raw, raw + b"\xff", raw.replace(b",", b"\x00", 1)]))


@fuzz(300)
@given(body=csv_files() | st.binary(max_size=300), upsert=st.booleans())
def test_fuzz_csv_import(body, upsert):
    """Any upload: cameras, or ImportInvalid naming lines; never another exception."""
    try:
        valid = validate_csv(decode_csv(body), REGIONS, {}, upsert)
    except ImportInvalid as exc:
        assert exc.errors and all(e.line >= 1 for e in exc.errors)
        return
    assert valid.created + valid.updated == len(valid.cameras) == len(valid.lines)
    for camera in valid.cameras:
        assert_sane(camera)


# --- Query parameters (relay/api/query_params.py) ---------------------------------------------------

query_values = st.one_of(st.text(max_size=20), st.sampled_from(CODES + ["tps", "recap", "0", "5001", "-1", "1e3", "true", "TRUE", "rtsp", "1-1\n"]))
query_names = st.sampled_from(["kota", "kecamatan", "kelurahan", "kind", "q", "limit", "cursor", "enabled", "public", "source_type", "x"])


@fuzz(150)
@given(params=st.lists(st.tuples(query_names, query_values), max_size=6), public_only=st.booleans())
def test_fuzz_listing_query(params, public_only):
    request = make_mocked_request("GET", "/api/cameras?" + urlencode(params))
    try:
        query = list_query(request, REGIONS, public_only)
    except ApiError as exc:
        assert 400 <= exc.status < 500
        return
    assert 1 <= query.limit <= 5000


@fuzz(200)
@given(cursor=st.text(max_size=40) | st.binary(max_size=40).map(lambda b: encode_cursor(b.decode("latin-1")) or ""))
def test_fuzz_listing_cursor(cursor):
    value = refused_or(cursor, ApiError, decode_cursor)
    if value is not None:
        assert encode_cursor(value) and "\n" not in value


# --- SDP offers (pantau/web/sdp_http.py, then aiortc in relay/webrtc/viewer_sessions.py) -------------------

class OfferRequest:
    """What read_offer and check_offer_headers use of an aiohttp request."""

    def __init__(self, body: bytes, content_type: str = "application/sdp"):
        self.body, self.content_type, self.content_length = body, content_type, len(body)

    async def read(self) -> bytes:
        return self.body


OFFER_LINES = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0", "a=msid-semantic:WMS *",
               "m=video 9 UDP/TLS/RTP/SAVPF 102", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0", "a=mid:0", "a=recvonly",
               "a=rtcp-mux", "a=rtpmap:102 H264/90000", "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
               "a=ice-ufrag:abcd", "a=ice-pwd:0123456789abcdef01234567",
               "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass"]


@st.composite
def offers(draw) -> bytes:
    lines = list(OFFER_LINES)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["drop", "dup", "garble", "insert", "media"]))
        index = draw(st.integers(0, max(0, len(lines) - 1)))
        if op == "drop" and lines:
            lines.pop(index)
        elif op == "dup" and lines:
            lines.insert(index, lines[index])
        elif op == "garble" and lines:
            lines[index] = lines[index][:2] + draw(st.text(max_size=30))
        elif op == "insert":
            lines.insert(index, draw(st.sampled_from(["m=", "a=", "c=", "b=", "x="])) + draw(st.text(max_size=30)))
        else:
            lines.extend(["m=video 9 UDP/TLS/RTP/SAVPF 102", f"a=mid:{index + 1}"])
    sep = draw(st.sampled_from(["\r\n", "\n"]))
    return sep.join(lines).encode("utf-8", "surrogatepass") + draw(st.sampled_from([b"", b"\r\n", b"\xff\xfe"]))


@fuzz(300)
@given(body=offers() | st.binary(max_size=200), content_type=st.sampled_from(["application/sdp", "application/sdp", "text/plain", ""]))
def test_fuzz_offer_reading(body, content_type):
    request = OfferRequest(body, content_type)

    async def read():
        check_offer_headers(request, 16 * 1024)
        return await read_offer(request, 16 * 1024, 4)

    try:
        sdp = asyncio.run(read())
    except ApiError as exc:
        assert exc.status in (400, 413, 415)
        return
    assert sdp.startswith("v=0") and sum(line.startswith("m=") for line in sdp.splitlines()) <= 4


@pytest.fixture
def viewer_sessions(redis_server):
    """The relay's own WHEP answering (relay/webrtc/viewer_sessions.py) on a real aiortc, one loop."""
    import redis.asyncio as aioredis

    from pantau.bus.memory_bus import InProcessBus
    from pantau.runtime.config import load_settings
    from pantau.runtime.session_directory import SessionDirectory
    from relay.webrtc.viewer_sessions import ViewerSessions

    loop = asyncio.new_event_loop()
    redis = aioredis.from_url(redis_server.url, decode_responses=True)
    settings = load_settings()
    sessions = ViewerSessions(InProcessBus(), settings.relay, SessionDirectory(redis, "whep", "fuzz"), on_count=lambda *_: None)
    yield loop, sessions
    loop.run_until_complete(sessions.close_all())
    loop.run_until_complete(redis.aclose())
    loop.close()


@fuzz(25)
@given(body=offers())
def test_fuzz_offers_through_aiortc(viewer_sessions, body):
    """What aiortc gets: a mutated offer is answered or refused as BadOffer, within seconds."""
    from relay.webrtc.viewer_sessions import BadOffer

    loop, sessions = viewer_sessions
    request = OfferRequest(body)
    try:
        sdp = loop.run_until_complete(read_offer(request, 16 * 1024, 4))
    except ApiError:
        return
    try:
        session, answer = loop.run_until_complete(asyncio.wait_for(sessions.open("fz-cam", sdp, public=False), 15))
    except BadOffer:
        return
    assert answer.startswith("v=0") and "m=video" in answer
    loop.run_until_complete(sessions.close(session.id))


# --- Annex-B / AVCC splitting of hostile bitstreams (ingest/h264.py) ----------------------------

nal_bytes = st.binary(max_size=40)
start_codes = st.sampled_from([b"\x00\x00\x01", b"\x00\x00\x00\x01", b"\x00\x00", b"\x00", b""])


@st.composite
def bitstreams(draw) -> bytes:
    """Mostly Annex-B-shaped: start codes, NAL headers of every type, zero runs, junk."""
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        parts.append(draw(start_codes))
        if draw(st.booleans()):
            parts.append(bytes([draw(st.integers(0, 255)) & 0x9F | (draw(st.sampled_from([1, 5, 6, 7, 8, 9, 0, 31])) & 0x1F)]))
        parts.append(draw(nal_bytes))
    return b"".join(parts)


@st.composite
def avcc(draw) -> bytes:
    units = draw(st.lists(st.binary(min_size=0, max_size=20), max_size=4))
    data = b"".join(len(u).to_bytes(4, "big") + u for u in units)
    return draw(st.sampled_from([data, data[:-1], data + b"\x00", b"\x00\x00\x00\xff" + data]))


@fuzz(500)
@given(data=bitstreams() | avcc() | st.binary(max_size=100), extradata=st.none() | bitstreams() | st.binary(max_size=40)
       | st.builds(lambda b: b"\x01" + b, st.binary(max_size=40)))
def test_fuzz_h264_splitting(data, extradata):
    """Hostile packets and extradata: NAL units never empty, normalize never raises and its
    output is Annex-B."""
    for unit in h264.split_annexb(data):
        assert unit
    avcc_units = h264.split_avcc(data)
    if avcc_units is not None:
        assert all(avcc_units) and sum(len(u) + 4 for u in avcc_units) == len(data)
    for unit in h264.parameter_sets_from_extradata(extradata):
        assert unit and h264.nal_type(unit) in (h264.NAL_SPS, h264.NAL_PPS)
    normalizer = h264.AnnexBNormalizer(extradata)
    out, keyframe = normalizer.normalize(data)
    # (the fast path reads NAL headers only up to the first slice, so for a packet that is not
    # one access unit, e.g. a slice then an IDR, it may say "not a keyframe": never the reverse)
    if keyframe:
        assert h264.NAL_IDR in [h264.nal_type(u) for u in h264.nal_units(data)]
    if out:
        assert h264.is_annexb(out)
