"""The OpenAPI 3.1 document served at /api/openapi.json (kept next to the routes it describes;
a test checks that every route is documented)."""

from __future__ import annotations

from typing import Any

from pantau import __version__

_ERROR = {"$ref": "#/components/responses/Error"}


def _params(*names: str) -> list[dict[str, Any]]:
    catalogue = {
        "id": {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}},
        "kota": {"name": "kota", "in": "query", "schema": {"type": "string", "example": "31.71"}},
        "kecamatan": {"name": "kecamatan", "in": "query", "schema": {"type": "string", "example": "31.71.01"}},
        "kelurahan": {"name": "kelurahan", "in": "query", "schema": {"type": "string", "example": "31.71.01.1001"}},
        "kind": {"name": "kind", "in": "query", "schema": {"enum": ["tps", "recap"]}},
        "q": {"name": "q", "in": "query", "description": "text in the id or name", "schema": {"type": "string"}},
        "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 1000}},
        "cursor": {"name": "cursor", "in": "query", "description": "next_cursor of the previous page", "schema": {"type": "string"}},
        "enabled": {"name": "enabled", "in": "query", "schema": {"type": "boolean"}},
        "public": {"name": "public", "in": "query", "schema": {"type": "boolean"}},
        "source_type": {"name": "source_type", "in": "query", "schema": {"enum": ["rtsp", "whip", "whep", "demo"]}},
        "mode": {"name": "mode", "in": "query", "schema": {"enum": ["create", "upsert"], "default": "create"}},
        "before": {"name": "before", "in": "query", "description": "next_cursor of the previous page", "schema": {"type": "string"}},
        "level": {"name": "level", "in": "query", "schema": {"enum": ["kota", "kecamatan", "kelurahan"]}},
    }
    return [catalogue[n] for n in names]


_ALERT_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]{1,20}-[0-9]{1,20}$"}}
_LIST = ("kota", "kecamatan", "kelurahan", "kind", "q", "limit", "cursor")
_ADMIN = [{"bearer": []}]


def _json(schema_ref: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


_RANGE = [{"name": name, "in": "query", "schema": {"type": "string"},
           "description": "ISO 8601 (UTC unless an offset is given) or epoch seconds"} for name in ("from", "to")]


def openapi_document() -> dict[str, Any]:
    document = _document()
    # Answers any operation may give, whatever its own: a rate limit or a blocked address (429).
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["responses"].setdefault("429", _ERROR)
    return document


def _document() -> dict[str, Any]:
    camera_input = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/CameraInput"}}}, "required": True}
    errors = {"400": _ERROR, "401": _ERROR, "403": _ERROR, "404": _ERROR, "409": _ERROR, "413": _ERROR, "422": _ERROR}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pantau API", "version": __version__,
                 "description": "Registry of polling-station (TPS) and kecamatan recap cameras for DKI Jakarta. "
                                "Errors are JSON: {error, message, errors:[{field|line, reason}]}. Passwords and tokens are never returned."},
        "paths": {
            "/healthz": {"get": {"summary": "Liveness and registry reachability: {ok, registry}, nothing about cameras", "responses": {"200": {"description": "healthy"}, "503": {"description": "registry unreachable"}}}},
            "/api/metrics": {"get": {"summary": "This node's registry (cameras, revision), viewers and relay-added latency (ms from bus to RTP sender, live frames); operator or admin",
                                     "security": _ADMIN, "responses": {"200": {"description": "metrics"}, "401": _ERROR, "403": _ERROR}}},
            "/metrics": {"get": {"summary": "Prometheus text format (0.0.4): this process's ingest cameras by state and reason, packets, bytes, "
                                            "reconnects, keyframe analysis time, bus lag, HTTP requests by route and status, viewers, relay-added "
                                            "latency histogram, open alerts by kind (see the README, 'Metrics and logs'). Bearer: the metrics token "
                                            "(metrics.token) or an operator or admin token",
                                 "security": _ADMIN, "responses": {"200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                                                                   "401": _ERROR}}},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI document"}}}},
            "/api/regions": {"get": {"summary": "DKI region tree (6 kota, 44 kecamatan, 267 kelurahan) with camera counts per node (public cameras, or all with a token)",
                                     "responses": {"200": _json("RegionTree"), "401": _ERROR}}},
            "/api/regions/search": {"get": {"summary": "Find regions by name (variants accepted) or code", "parameters": _params("q", "level"),
                                            "responses": {"200": {"description": "matches"}, "400": _ERROR}}},
            "/api/cameras": {"get": {"summary": "Public cameras (all cameras with an operator/admin token); never a source. Outside its public "
                                                "windows a public camera is listed with status {state: scheduled, public_from} and no viewers",
                                     "parameters": _params(*_LIST), "responses": {"200": _json("CameraPage"), "400": _ERROR, "401": _ERROR}}},
            "/api/cameras/{id}": {"get": {"summary": "One public camera (404 for a non-public one; status scheduled outside its public windows)", "parameters": _params("id"),
                                          "responses": {"200": _json("PublicCamera"), "404": _ERROR}}},
            "/api/admin/cameras": {
                "get": {"summary": "All cameras, secrets masked", "security": _ADMIN,
                        "parameters": _params(*_LIST, "enabled", "public", "source_type"), "responses": {"200": _json("AdminCameraPage"), **errors}},
                "post": {"summary": "Register a camera", "security": _ADMIN, "requestBody": camera_input,
                         "responses": {"201": _json("AdminCamera", "created"), **errors}},
            },
            "/api/admin/cameras.csv": {"get": {"summary": "Export cameras as CSV (import columns; passwords masked)", "security": _ADMIN,
                                               "parameters": _params("kota", "kecamatan", "kelurahan", "kind", "q", "enabled", "public", "source_type"),
                                               "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}, **errors}}},
            "/api/admin/cameras/{id}": {
                "get": {"summary": "One camera, secrets masked", "security": _ADMIN, "parameters": _params("id"), "responses": {"200": _json("AdminCamera"), **errors}},
                "put": {"summary": "Replace a camera ('***' as password or token keeps the stored one while the source's scheme, host and port "
                                   "are unchanged; with another host it is a 422 naming the field to type again)", "security": _ADMIN,
                        "parameters": _params("id"), "requestBody": camera_input, "responses": {"200": _json("AdminCamera"), **errors}},
                "patch": {"summary": "Change some fields", "security": _ADMIN, "parameters": _params("id"),
                          "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True},
                          "responses": {"200": _json("AdminCamera"), **errors}},
                "delete": {"summary": "Delete a camera", "security": _ADMIN, "parameters": _params("id"), "responses": {"204": {"description": "deleted"}, **errors}},
            },
            "/api/admin/cameras/{id}/push-key": {"post": {
                "summary": "A new WHIP push key for a camera whose source is 'whip': returned this once (stored hashed); calling again rotates it",
                "security": _ADMIN, "parameters": _params("id"),
                "responses": {"201": {"description": "created", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "push_key": {"type": "string"}}}}}}, **errors}}},
            "/api/admin/cameras/{id}/fresh-tile.jpg": {"get": {
                "summary": "'Ambil gambar baru': asks the camera's publisher for a keyframe (a masked, transcoded camera makes one at "
                           "once; an RTSP camera in passthrough sends its next own) and answers with the first tile captured after the "
                           "request; after `wait` s the latest tile, with X-Tile-Fresh: false. X-Tile-Captured-At: when it was taken",
                "security": _ADMIN, "parameters": [*_params("id"), {"name": "wait", "in": "query", "schema": {
                    "type": "number", "minimum": 0.5, "maximum": 15, "default": 5}}],
                "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}}, **errors}}},
            "/api/admin/cameras/{id}/reference": {
                "get": {"summary": "The camera's reference view: {camera_id, reference: null or {set_at, set_by, captured_at, width, height, "
                                   "picture (160x90 grey PNG data URL)}}", "security": _ADMIN, "parameters": _params("id"),
                        "responses": {"200": {"description": "the reference, or null"}, **errors}},
                "post": {"summary": "'Tetapkan tampilan acuan': the camera's current tile becomes its reference view, against which moved and "
                                    "blurred are judged (audited: set_reference). 409 if the camera has no picture now (not online, black, no recent keyframe)",
                         "security": _ADMIN, "parameters": _params("id"),
                         "responses": {"201": {"description": "{camera_id, reference}"}, **errors}},
                "delete": {"summary": "Clear the reference view (audited: clear_reference); moved and blurred are then not judged",
                           "security": _ADMIN, "parameters": _params("id"), "responses": {"204": {"description": "cleared (or there was none)"}, **errors}},
            },
            "/api/cameras/{id}/recordings": {"get": {
                "summary": "What a camera's recording holds in [from, to) (default the last 24 h, at most 31 days): {camera, from, to, items: "
                           "[{kind: segment, start, end, seq, bytes, sha256} | {kind: gap, start, end, reason}], playlist, export}. Operators and "
                           "admins; the public only with recording.public_playback, for public cameras, inside their windows",
                "parameters": _params("id") + _RANGE, "responses": {"200": {"description": "the listing"}, **errors}}},
            "/api/cameras/{id}/recordings/vod.m3u8": {"get": {
                "summary": "The range as HLS VOD (EXT-X-PLAYLIST-TYPE:VOD, EXT-X-PROGRAM-DATE-TIME, byte ranges into the segment files); "
                           "404 when nothing was recorded in it", "parameters": _params("id") + _RANGE,
                "responses": {"200": {"description": "playlist", "content": {"application/vnd.apple.mpegurl": {"schema": {"type": "string"}}}}, **errors}}},
            "/api/cameras/{id}/recordings/segments/{day}/{name}": {"get": {
                "summary": "One recorded segment file (fMP4), as named by the VOD playlist; the same roles as the listing. The public "
                           "gets a camera's sound only where its audio_public is on: otherwise the picture only (the sound track taken out)",
                "parameters": _params("id") + [{"name": "day", "in": "path", "required": True, "schema": {"type": "string"}},
                                               {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                                               {"name": "part", "in": "query", "description": "init or media: one half of the file",
                                                "schema": {"type": "string", "enum": ["init", "media"]}}],
                "responses": {"200": {"description": "segment", "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}}, **errors}}},
            "/api/cameras/{id}/recordings/export": {"get": {
                "summary": "The range (at most 6 h) as a zip: video.mp4, the original segment files, the chain extract, signatures, the "
                           "public key, README.txt (checking it with sha256sum and openssl); `pantau verify` checks it. 403 for the "
                           "public when the range has sound and the camera's audio_public is off",
                "parameters": _params("id") + _RANGE,
                "responses": {"200": {"description": "zip", "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}, **errors}}},
            "/api/recordings/site-key.pem": {"get": {"summary": "The site's Ed25519 public key that signs recording chains (PEM)",
                                                     "responses": {"200": {"description": "PEM", "content": {"application/x-pem-file": {"schema": {"type": "string"}}}},
                                                                   "404": _ERROR}}},
            "/api/admin/recording-holds": {"get": {"summary": "Holds ('Tahan untuk sengketa'): ranges retention never deletes: {holds: [{id, camera, from, to, reason, by, at}]}",
                                                   "security": _ADMIN, "parameters": [{"name": "camera", "in": "query", "schema": {"type": "string"}}],
                                                   "responses": {"200": {"description": "holds"}, **errors}}},
            "/api/admin/cameras/{id}/recording-holds": {"post": {
                "summary": "Put a range of the camera's recording on hold (audited: recording-hold); 400 naming from, to or reason",
                "security": _ADMIN, "parameters": _params("id"),
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["from", "to", "reason"], "properties": {
                    "from": {"type": "string"}, "to": {"type": "string"}, "reason": {"type": "string", "maxLength": 500}}}}}},
                "responses": {"201": {"description": "the hold"}, **errors}}},
            "/api/admin/recording-holds/{hold}": {"delete": {
                "summary": "Lift a hold (audited: recording-hold-lifted)", "security": _ADMIN,
                "parameters": [{"name": "hold", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"204": {"description": "lifted"}, **errors}}},
            "/whip/{id}": {
                "get": {"summary": "Does this camera take a push, is it enabled: {id, enabled}. A non-public camera answers only to its push key "
                                   "or an operator/admin token (Authorization: Bearer); to anyone else, exactly as an unknown id (404)",
                        "parameters": _params("id"), "responses": {"200": {"description": "{id, enabled}"}, "404": _ERROR}},
                "post": {"summary": "WHIP (RFC 9725) publish: Authorization: Bearer <push key>, SDP offer in, SDP answer out (201, Location). "
                                    "H.264 passes through, VP8 is transcoded to H.264; the first audio (Opus) is taken, other m-lines are answered inactive. 409 while another publisher is live. "
                                    "Served by the node that ingests the camera",
                         "parameters": _params("id"), "requestBody": {"required": True, "content": {"application/sdp": {"schema": {"type": "string"}}}},
                         "responses": {"201": {"description": "answer", "content": {"application/sdp": {}}}, "400": _ERROR, "401": _ERROR, "404": _ERROR,
                                       "409": _ERROR, "413": _ERROR, "415": _ERROR}},
                "options": {"summary": "CORS preflight; Accept-Post: application/sdp", "parameters": _params("id"), "responses": {"204": {"description": "allowed"}}},
            },
            "/whip/{id}/sessions/{session}": {
                "delete": {"summary": "End the publish", "parameters": [*_params("id"), {"name": "session", "in": "path", "required": True, "schema": {"type": "string"}}],
                           "responses": {"200": {"description": "ended"}, "404": _ERROR}},
                "patch": {"summary": "Trickle ICE: not supported (405)",
                          "parameters": [*_params("id"), {"name": "session", "in": "path", "required": True, "schema": {"type": "string"}}], "responses": {"405": _ERROR}},
            },
            "/api/admin/cameras/import": {"post": {
                "summary": "Bulk import from CSV (columns = camera fields; tags ';'-separated; booleans true/false/1/0). All or nothing: any bad line refuses the file (422), naming the first 1,000 errors by line (header = line 1) and field; error_count counts them all, errors_not_listed those left out. One import at a time per node: 429 + Retry-After while another runs. "
                           "Audited as one 'import' entry (counts) plus a 'create' or 'update' entry per camera created or changed, with the same field diff as a PATCH.",
                "security": _ADMIN, "parameters": _params("mode"),
                "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
                "responses": {"200": {"description": "stored", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "created": {"type": "integer"}, "updated": {"type": "integer"}, "total": {"type": "integer"}}}}}}, **errors}}},
            "/api/cameras/{id}/tile.jpg": {"get": {
                "summary": "Latest keyframe as JPEG (or a placeholder showing the camera's state); ETag + Cache-Control: no-cache, so revalidate each second",
                "parameters": _params("id"), "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}}, "304": {"description": "unchanged"}, "403": _ERROR, "404": _ERROR}}},
            "/api/events": {"get": {
                "summary": "Server-Sent Events: `event: status` (data: {id, ...status}), `event: viewers` (data: {id, viewers}) and with counts=1 "
                           "`event: kecamatan` (data: {code, tps: {online, total}}) and `event: registry` (data: {revision}: cameras added, changed or removed); "
                           "with alerts=1 (operators and admins; ignored for the public) `event: alert` (data: {change: opened|reopened|ended|acknowledged, ...Alert}); "
                           "public callers hear of public cameras only, inside their public windows (403 for camera= outside them; when "
                           "a window opens or closes the camera's status event says so: scheduled, or its real status)",
                "parameters": [{"name": "camera", "in": "query", "description": "only this camera", "schema": {"type": "string"}},
                               {"name": "region", "in": "query", "description": "only cameras in this kota, kecamatan or kelurahan", "schema": {"type": "string"}},
                               {**_params("kind")[0], "description": "only cameras of this kind"},
                               {"name": "counts", "in": "query", "description": "also send kecamatan TPS counts", "schema": {"type": "boolean"}},
                               {"name": "alerts", "in": "query", "description": "also send alerts of cameras within the camera and region filters, "
                                                                               "whatever their kind (operators and admins only)", "schema": {"type": "boolean"}}],
                "responses": {"200": {"description": "text/event-stream", "content": {"text/event-stream": {}}}, "400": _ERROR, "403": _ERROR, "404": _ERROR}}},
            "/api/alerts": {"get": {
                "summary": "Alerts, newest first (operator or admin): a picture signal that lasted (black, frozen, moved, blurred, obstructed, ...: "
                           "the camera's status `picture`) or a camera offline past alerts.offline_after_s inside its public window; `ended` is set "
                           "when it stopped (for `offline`: the camera came back). open=true: not yet acknowledged; a camera has at most one "
                           "current alert per kind (a flapping signal reopens it, `repeats`)",
                "security": _ADMIN,
                "parameters": [{"name": "open", "in": "query", "description": "true: unacknowledged only; false: acknowledged only", "schema": {"type": "boolean"}},
                               {"name": "region", "in": "query", "description": "cameras in this kota, kecamatan or kelurahan", "schema": {"type": "string", "example": "31.71.01"}},
                               {"name": "kind", "in": "query", "description": "offline, black, frozen, moved, blurred, obstructed, ...",
                                "schema": {"type": "string", "pattern": "^[a-z][a-z_]{0,31}$"}},
                               {"name": "camera", "in": "query", "description": "one camera", "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}},
                               {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
                               _params("cursor")[0]],
                "responses": {"200": _json("AlertPage"), "400": _ERROR, "401": _ERROR, "403": _ERROR}}},
            "/api/alerts/{id}": {"get": {
                "summary": "One alert (operator or admin)", "security": _ADMIN, "parameters": [_ALERT_ID],
                "responses": {"200": _json("Alert"), "401": _ERROR, "403": _ERROR, "404": _ERROR}}},
            "/api/alerts/{id}/tile.jpg": {"get": {
                "summary": "The evidence: the camera's keyframe tile when the alert started (for offline: its last picture before), kept for the "
                           "newest alerts within alerts.evidence_mb; 404 once dropped (operator or admin)",
                "security": _ADMIN, "parameters": [_ALERT_ID],
                "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}}, "401": _ERROR, "403": _ERROR, "404": _ERROR}}},
            "/api/alerts/{id}/ack": {"post": {
                "summary": "Acknowledge ('Tindak lanjuti') with a note (required, up to 1000 characters): acknowledged_by is the token's label; "
                           "audited ('alert_ack'). 409 if already acknowledged. A signed-in caller sends X-CSRF-Token",
                "security": _ADMIN, "parameters": [_ALERT_ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["note"], "properties": {
                    "note": {"type": "string", "minLength": 1, "maxLength": 1000}}}}}},
                "responses": {"200": _json("Alert"), "400": _ERROR, "401": _ERROR, "403": _ERROR, "404": _ERROR, "409": _ERROR,
                              "413": _ERROR, "415": _ERROR}}},
            "/api/ice-servers": {"get": {
                "summary": "STUN/TURN servers for browsers (relay.ice.browser_servers; empty by default), as RTCPeerConnection's iceServers",
                "responses": {"200": {"description": "{iceServers: [{urls, username?, credential?}]}"}}}},
            "/api/player": {"get": {
                "summary": "How the public station page plays: relay.public_player (hls|webrtc) and the hls.js the node serves (null when not installed)",
                "responses": {"200": {"description": "{public_player, hls_js: {version, url} | null, hls_js_missing: reason | null, public_recordings: recording.public_playback}"}}}},
            "/api/wall": {"get": {
                "summary": "The wall: every kota and kecamatan with its recap camera (id, name, status) and online/total TPS cameras (public cameras, or all with a token)",
                "responses": {"200": {"description": "kota -> kecamatan -> {code, name, recap|null, tps: {online, total}}"}}}},
            "/api/session": {
                "post": {"summary": "Sign in with an admin or operator token: sets an HttpOnly session cookie and returns the CSRF value to send as X-CSRF-Token",
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "properties": {"token": {"type": "string"}}}}}},
                         "responses": {"200": {"description": "signed in"}, "400": _ERROR, "401": _ERROR,
                                       "429": {"description": "too many wrong tokens from this address (Retry-After)"}}},
                "get": {"summary": "The signed-in session (label, role, csrf_token)", "responses": {"200": {"description": "session"}, "401": _ERROR}},
                "delete": {"summary": "Sign out", "responses": {"204": {"description": "signed out"}, "403": _ERROR}},
            },
            "/whep/{id}": {
                "post": {"summary": "WHEP: SDP offer in, SDP answer out (201, Location = the session). Video only, H.264. 503 + Retry-After past the viewer cap",
                         "parameters": [*_params("id"), {"name": "view", "in": "query", "schema": {"enum": ["unmasked"]},
                                        "description": "unmasked: an admin watches a masked camera without its masks (audited "
                                                       "watch_unmasked); 401 without a token, 403 for an operator, 409 while the "
                                                       "camera's unmasked_for_officials is off"}], "requestBody": {"required": True, "content": {"application/sdp": {"schema": {"type": "string"}}}},
                         "responses": {"201": {"description": "answer", "content": {"application/sdp": {}}}, "400": _ERROR, "401": _ERROR, "403": _ERROR, "404": _ERROR, "409": _ERROR, "415": _ERROR, "503": _ERROR}},
                "options": {"summary": "CORS preflight; Accept-Post: application/sdp", "parameters": _params("id"), "responses": {"204": {"description": "allowed"}}},
            },
            "/whep/{id}/sessions/{session}": {
                "delete": {"summary": "End the WHEP session", "parameters": [*_params("id"), {"name": "session", "in": "path", "required": True, "schema": {"type": "string"}}],
                           "responses": {"200": {"description": "ended"}, "404": _ERROR}},
                "patch": {"summary": "Trickle ICE: not supported (405); the answer carries all candidates",
                          "parameters": [*_params("id"), {"name": "session", "in": "path", "required": True, "schema": {"type": "string"}}], "responses": {"405": _ERROR}},
                "options": {"summary": "CORS preflight", "parameters": [*_params("id"), {"name": "session", "in": "path", "required": True, "schema": {"type": "string"}}],
                            "responses": {"204": {"description": "allowed"}}},
            },
            "/hls/{id}/index.m3u8": {"get": {
                "summary": "LL-HLS media playlist (RFC 8216bis; also plain HLS). Public cameras inside their window; staff see all. "
                           "Blocking reload: _HLS_msn (and _HLS_part) wait for that segment/part; 400 past two segments ahead; "
                           "503 + Retry-After after three target durations. Cache-Control: public, max-age=1 (plain) or by query (blocking)",
                "parameters": [*_params("id"), {"name": "_HLS_msn", "in": "query", "schema": {"type": "integer"}},
                               {"name": "_HLS_part", "in": "query", "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "playlist", "content": {"application/vnd.apple.mpegurl": {}}}, "400": _ERROR, "404": _ERROR,
                              "409": _ERROR, "503": _ERROR}}},
            "/hls/{id}/{media}": {"get": {
                "summary": "HLS media: init-{hash}.mp4, seg-{msn}.m4s, part-{n}.m4s (fMP4). Immutable (Cache-Control: public, max-age, immutable); "
                           "a part named before it exists (the preload hint) is held until it does",
                "parameters": [*_params("id"), {"name": "media", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "bytes", "content": {"video/mp4": {}}}, "404": _ERROR, "503": _ERROR}}},
            "/api/admin/audit": {"get": {"summary": "Audit log, newest first: when, token label, client address, what changed (never a secret); "
                                                    "connection tests are entries too ('probe': camera, masked URL, transport, result)",
                                         "security": _ADMIN, "parameters": _params("limit", "before"), "responses": {"200": {"description": "entries"}, **errors}}},
            "/api/admin/sessions": {"get": {
                "summary": "Sign-in (cookie) sessions, newest first: {sessions: [{id, label, role, created_at, last_seen_at, client}]}; "
                           "id is a handle that cannot be used as a cookie", "security": _ADMIN,
                "responses": {"200": {"description": "sessions"}, "401": _ERROR, "403": _ERROR}}},
            "/api/admin/sessions/{id}": {"delete": {
                "summary": "End a sign-in session at once (audited)", "security": _ADMIN,
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}],
                "responses": {"204": {"description": "ended"}, "401": _ERROR, "403": _ERROR, "404": _ERROR}}},
            "/api/admin/probe": {"post": {
                "summary": "Connection test ('Tes koneksi'): open an RTSP source as ingest would, read ~3 s or two keyframes; says codec, size, fps and "
                           "passthrough (H.264 without B-frames) or transcode, or the reason (unreachable, auth_failed, no_data, unsupported_codec). "
                           "Body {source, transport} or {camera_id} (the stored source; a source with password *** plus camera_id uses the stored one "
                           "only for the same scheme, host and port, else 422 with field source). 422 (field source) when the source policy refuses "
                           "the address the host resolves to; the reason names the rule. Audited (URL masked). Never returns the URL", "security": _ADMIN,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "source": {"type": "string"}, "transport": {"enum": ["tcp", "udp"]}, "camera_id": {"type": "string"}}}}}},
                "responses": {"200": {"description": "{ok, reason, codec, width, height, fps, bframes, mode, transcode_because, keyframes, packets, elapsed_s, camera_id, transport}"},
                              **errors, "503": _ERROR}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {
                        "field": {"type": "string"}, "line": {"type": "integer"}, "reason": {"type": "string"}}}}}},
                "Status": {"type": "object", "properties": {
                    "state": {"enum": ["connecting", "online", "offline", "disabled", "waiting", "scheduled"],
                              "description": "scheduled (public callers only): a public camera outside its public windows; its real status "
                                             "is withheld, public_from says when it opens"},
                    "public_from": {"type": ["string", "null"], "format": "date-time",
                                    "description": "with state scheduled: when the camera's next public window opens (WIB); null if none will"},
                    "reason": {"enum": ["unreachable", "auth_failed", "no_data", "unsupported_codec", None]},
                    "since": {"type": ["string", "null"], "format": "date-time"},
                    "picture": {"enum": ["ok", "black", "obstructed", "moved", "blurred", "frozen", None],
                                "description": "null until judged; one value, the most telling first: black > obstructed > moved > blurred > frozen"},
                    "reference": {"type": ["boolean", "null"], "description": "the ingest worker has the camera's reference view; without it moved and blurred are not judged"},
                    "codec": {"type": ["string", "null"]}, "width": {"type": ["integer", "null"]}, "height": {"type": ["integer", "null"]},
                    "fps": {"type": ["number", "null"]}, "bitrate_kbps": {"type": ["number", "null"]},
                    "mode": {"enum": ["passthrough", "transcode", None]}, "last_keyframe_at": {"type": ["string", "null"], "format": "date-time"},
                    "audio_codec": {"type": ["string", "null"], "description": "the camera's sound as it sends it (aac, pcm_mulaw, pcm_alaw, opus); null: none"},
                    "audio_level_db": {"type": ["number", "null"], "description": "sound level over the last second, dBFS (-90: silence); null: no sound"},
                    "restream": {"type": ["object", "null"], "description": "admin views only: the RTMP restream (README: Restream)",
                                 "properties": {"state": {"enum": ["connecting", "live", "error", "off"]},
                                                "reason": {"enum": ["refused", "unreachable", "connection_lost", "timeout", "stalled", "failed", None]},
                                                "since": {"type": ["string", "null"], "format": "date-time"}}}}},
                "CameraInput": {"type": "object", "required": ["kind", "region", "source"], "properties": {
                    "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": "default: kelurahan code without dots + 3-digit TPS, or rekap-<kecamatan code without dots>"},
                    "kind": {"enum": ["tps", "recap"]}, "region": {"type": "string", "description": "kelurahan code (tps) or kecamatan code (recap)"},
                    "tps": {"type": ["integer", "null"], "minimum": 1, "maximum": 999}, "name": {"type": "string"},
                    "source": {"type": "string", "description": "rtsp://[user:pass@]host/..., rtsps://..., whip, whep+https://..., whep+http://... or demo. "
                                                                 "422 (field source, the reason names the rule) for a host written as a link-local, metadata or "
                                                                 "unspecified address, this node's HTTP port, or a range the site's source_policy denies"},
                    "transport": {"enum": ["tcp", "udp"], "default": "tcp"}, "source_token": {"type": ["string", "null"], "description": "bearer token of a whep+ source; read back as *** when one is stored"},
                    "public": {"type": "boolean", "default": True}, "enabled": {"type": "boolean", "default": True},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "record": {"type": "boolean", "default": False, "description": "recorded as evidence (README: Recordings)"},
                    "audio_public": {"type": "boolean", "default": False, "description": "the public hears the camera's sound "
                                     "(operators always do); off by default: a TPS microphone also hears voters"},
                    "unmasked_for_officials": {"type": "boolean", "default": False, "description": "the officials' exception to the "
                                               "masks (admin-only, audited): ingest also publishes the unmasked picture, which only "
                                               "an admin may watch (POST /whep/{id}?view=unmasked, audited); every other output keeps "
                                               "the masks"},
                    "restream_url": {"type": ["string", "null"], "maxLength": 2048, "description": "restream destination: rtmp:// or "
                                     "rtmps:// URL of the application, e.g. rtmps://a.rtmps.youtube.com/live2 (no credentials: 422 naming "
                                     "restream_url; hosts as for source)"},
                    "restream_key": {"type": ["string", "null"], "maxLength": 1024, "description": "the destination's stream key, write-only: "
                                     "read back as ***; *** sent back keeps it for the same scheme, host and port (else 422 naming restream_key)"},
                    "masks": {"type": "array", "maxItems": 16, "description": "privacy masks burned into the picture at ingest, before any "
                              "output (README: Privacy masks). 422 naming the mask (e.g. masks[1].points) for a point outside 0..1, fewer "
                              "than 3 or more than 32 points, no area or edges that cross",
                              "items": {"type": "object", "required": ["kind", "points"], "additionalProperties": False, "properties": {
                                  "kind": {"enum": ["blur", "fill"]},
                                  "points": {"type": "array", "minItems": 3, "maxItems": 32, "items": {
                                      "type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number", "minimum": 0, "maximum": 1}}}}}},
                    "public_windows": {"type": "array", "maxItems": 16, "items": {"type": "string", "maxLength": 80}, "description":
                                       "when the public may see the camera (ballot secrecy), in WIB: 'START/END' (ISO 8601, e.g. "
                                       "2026-02-14T13:00+07:00/2026-02-14T23:59+07:00; WIB when no offset; either end may be open), "
                                       "'daily HH:MM-HH:MM' or 'always'. Empty: the site's default (visibility.default_windows for "
                                       "TPS, visibility.recap_default_windows for recap). 422 naming public_windows if one is wrong"}}},
                "AdminCamera": {"allOf": [{"$ref": "#/components/schemas/CameraInput"}, {"type": "object", "properties": {
                    "status": {"$ref": "#/components/schemas/Status"}}}], "description": "source password, source_token and restream_key come back as ***"},
                "PublicCamera": {"type": "object", "properties": {
                    "id": {"type": "string"}, "kind": {"type": "string"}, "region": {"type": "string"}, "tps": {"type": ["integer", "null"]},
                    "name": {"type": "string"}, "public": {"type": "boolean"}, "enabled": {"type": "boolean"},
                    "audio_public": {"type": "boolean", "description": "the public may hear it; status.audio_codec says whether it has sound"},
                    "tags": {"type": "array", "items": {"type": "string"}}, "location": {"type": "object"},
                    "status": {"$ref": "#/components/schemas/Status"}}},
                "CameraPage": {"type": "object", "properties": {"cameras": {"type": "array", "items": {"$ref": "#/components/schemas/PublicCamera"}},
                                                                "total": {"type": "integer"}, "next_cursor": {"type": ["string", "null"]}}},
                "AdminCameraPage": {"type": "object", "properties": {"cameras": {"type": "array", "items": {"$ref": "#/components/schemas/AdminCamera"}},
                                                                     "total": {"type": "integer"}, "next_cursor": {"type": ["string", "null"]}}},
                "RegionTree": {"type": "object", "description": "provinsi node with totals and kota[].kecamatan[].kelurahan[]; every node has code, name, level, cameras, tps, recap"},
                "Alert": {"type": "object", "required": ["id", "camera", "kind", "started", "ended", "open", "active"], "properties": {
                    "id": {"type": "string", "description": "time-ordered (a Redis stream id)"}, "camera": {"type": "string"},
                    "kind": {"type": "string", "description": "offline, or the picture signal: black, frozen, moved, blurred, obstructed, ..."},
                    "started": {"type": "string", "format": "date-time"}, "ended": {"type": ["string", "null"], "format": "date-time"},
                    "open": {"type": "boolean", "description": "not yet acknowledged"}, "active": {"type": "boolean", "description": "not yet ended"},
                    "acknowledged_by": {"type": ["string", "null"], "description": "the token's label"},
                    "acknowledged_at": {"type": ["string", "null"], "format": "date-time"}, "note": {"type": ["string", "null"]},
                    "repeats": {"type": "integer", "description": "times the signal came back while this alert was current"},
                    "camera_kind": {"type": ["string", "null"]}, "tps": {"type": ["integer", "null"]}, "name": {"type": ["string", "null"]},
                    "region": {"type": ["string", "null"]}, "location": {"type": "object"},
                    "evidence": {"type": "boolean"}, "evidence_at": {"type": ["string", "null"], "format": "date-time"},
                    "tile_url": {"type": ["string", "null"]}}},
                "AlertPage": {"type": "object", "properties": {"alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
                                                               "next_cursor": {"type": ["string", "null"]}}},
            },
        },
    }
