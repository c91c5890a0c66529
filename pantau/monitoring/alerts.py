"""Alerts as records in the registry Redis: a camera whose picture was tampered with (black,
frozen, moved, blurred, obstructed, ... any `picture` other than "ok"), or that stayed offline.

An alert is made by the ingest worker that owns the camera (ingest/alert_watcher.py), read and
acknowledged through the relay (relay/api/alerts_api.py). Every change is one Lua script, so it is
atomic on Redis whoever runs it: two workers (an owner change mid-alert, a restart) raising the
same alert make one record, and ending or acknowledging it twice changes it once.

Keys (all under `{pantau}`, one slot):

* `alerts` STREAM: one entry per alert, its id the alert's id (time-ordered), the history.
  Trimmed to `alerts.history_max` entries as new alerts come.
* `alert_records` HASH id -> the alert's JSON as it is now (ended, acknowledged, note).
* `alerts_current` HASH "camera:kind" -> id of the alert that is not finished (not both ended and
  acknowledged): at most one per camera and kind. A signal that comes back while its alert is
  current reopens it (`repeats` + 1) instead of making another: a flapping camera is one alert.
* `alert_evidence` HASH id -> JPEG of the camera's keyframe tile when the alert started, with
  `alert_evidence_order` (LIST, oldest first) and `alert_evidence_bytes` (INT): the newest
  tiles are kept within `alerts.evidence_mb`; older alerts keep their record, not their tile.

Each change is also published on the events channel (`{"type": "alert", "change", "alert"}`),
from inside the script: a change is announced exactly once, when it happened. An
acknowledgement appends its audit entry in the same script.

"Open" means not acknowledged (someone must answer for it); "active" means not ended (the
signal or the outage still lasts).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.client import NEVER_DECODE

from pantau.cameras import audit_log
from pantau.cameras import registry_keys as keys
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import Camera
from pantau.cameras.regions import RegionTree

OFFLINE = "offline"
KIND_PATTERN = re.compile(r"^[a-z][a-z_]{0,31}\Z")
ID_PATTERN = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}\Z")
MAX_NOTE = 1000
MAX_EVIDENCE_BYTES = 512 * 1024  # a 480 px tile at JPEG quality 70 is 15-60 KB
SCAN_CHUNK = 500  # history entries read per round trip when filtering
MAX_SCAN = 20_000  # entries one history page looks through at most (then it returns a cursor)

_KEYS = (keys.ALERTS_CURRENT, keys.ALERT_RECORDS, keys.ALERTS, keys.ALERT_EVIDENCE, keys.ALERT_EVIDENCE_ORDER,
         keys.ALERT_EVIDENCE_BYTES)

# Shared Lua: KEYS are _KEYS in that order (plus the audit stream for ACK).
_COMMON = """
local CURRENT, RECORDS, STREAM, EVIDENCE, ORDER, BYTES = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local function drop_evidence(id)
  local size = redis.call('HSTRLEN', EVIDENCE, id)
  if size > 0 then
    redis.call('HDEL', EVIDENCE, id)
    redis.call('DECRBY', BYTES, size)
    redis.call('LREM', ORDER, 1, id)
  end
end
-- Neither ended nor unacknowledged any more: the camera and kind are free for a new alert. A
-- record already trimmed from the history (kept only while current) goes with it.
local function finish(slot, id, raw)
  if redis.call('HGET', CURRENT, slot) == id then redis.call('HDEL', CURRENT, slot) end
  if #redis.call('XRANGE', STREAM, id, id) == 0 then
    redis.call('HDEL', RECORDS, id)
    drop_evidence(id)
  else
    redis.call('HSET', RECORDS, id, raw)
  end
end
local function announce(channel, change, raw)
  redis.call('PUBLISH', channel, '{"type":"alert","change":"' .. change .. '","alert":' .. raw .. '}')
end
"""

# ARGV: camera, kind, new record JSON (no id), now, history_max, evidence budget (bytes), tile
# JPEG ('' for none), events channel. Returns {change, record JSON}: opened | reopened | unchanged.
_RAISE = _COMMON + """
local camera, kind, now = ARGV[1], ARGV[2], ARGV[4]
local slot = camera .. ':' .. kind
local current = redis.call('HGET', CURRENT, slot)
if current then
  local raw = redis.call('HGET', RECORDS, current)
  if raw then
    local alert = cjson.decode(raw)
    if alert.ended == cjson.null then return {'unchanged', raw} end
    alert.ended = cjson.null
    alert.repeats = (tonumber(alert.repeats) or 0) + 1
    alert.updated = now
    raw = cjson.encode(alert)
    redis.call('HSET', RECORDS, current, raw)
    announce(ARGV[8], 'reopened', raw)
    return {'reopened', raw}
  end
  redis.call('HDEL', CURRENT, slot)
end
local alert = cjson.decode(ARGV[3])
local id = redis.call('XADD', STREAM, '*', 'camera', camera, 'kind', kind, 'started', alert.started)
alert.id = id
alert.evidence = false
if ARGV[7] ~= '' then
  redis.call('HSET', EVIDENCE, id, ARGV[7])
  redis.call('RPUSH', ORDER, id)
  local total = redis.call('INCRBY', BYTES, #ARGV[7])
  local budget = tonumber(ARGV[6])
  while total > budget do
    local oldest = redis.call('LPOP', ORDER)
    if not oldest then break end
    local size = redis.call('HSTRLEN', EVIDENCE, oldest)
    redis.call('HDEL', EVIDENCE, oldest)
    total = redis.call('DECRBY', BYTES, size)
    local old = redis.call('HGET', RECORDS, oldest)
    if old then
      local record = cjson.decode(old)
      record.evidence = false
      redis.call('HSET', RECORDS, oldest, cjson.encode(record))
    end
  end
  alert.evidence = redis.call('HEXISTS', EVIDENCE, id) == 1
end
local raw = cjson.encode(alert)
redis.call('HSET', RECORDS, id, raw)
redis.call('HSET', CURRENT, slot, id)
local excess = redis.call('XLEN', STREAM) - tonumber(ARGV[5])
if excess > 0 then
  for _, entry in ipairs(redis.call('XRANGE', STREAM, '-', '+', 'COUNT', excess)) do
    local old_id, fields = entry[1], entry[2]
    -- A current alert keeps its record (the open list still shows it) until it finishes.
    if redis.call('HGET', CURRENT, fields[2] .. ':' .. fields[4]) ~= old_id then
      redis.call('HDEL', RECORDS, old_id)
      drop_evidence(old_id)
    end
    redis.call('XDEL', STREAM, old_id)
  end
end
announce(ARGV[8], 'opened', raw)
return {'opened', raw}
"""

# ARGV: camera, kind, now, events channel. Returns {change[, record JSON]}: ended | unchanged | none.
_END = _COMMON + """
local slot = ARGV[1] .. ':' .. ARGV[2]
local id = redis.call('HGET', CURRENT, slot)
if not id then return {'none'} end
local raw = redis.call('HGET', RECORDS, id)
if not raw then
  redis.call('HDEL', CURRENT, slot)
  return {'none'}
end
local alert = cjson.decode(raw)
if alert.ended ~= cjson.null then return {'unchanged', raw} end
alert.ended = ARGV[3]
alert.updated = ARGV[3]
raw = cjson.encode(alert)
if alert.acknowledged_at ~= cjson.null then finish(slot, id, raw) else redis.call('HSET', RECORDS, id, raw) end
announce(ARGV[4], 'ended', raw)
return {'ended', raw}
"""

# KEYS: _KEYS + audit stream. ARGV: id, label, note, now, events channel, audit maxlen, then the
# audit entry's field/value pairs. Returns {change, record JSON}: acknowledged | already | missing.
_ACK = _COMMON + """
local id = ARGV[1]
local raw = redis.call('HGET', RECORDS, id)
if not raw then return {'missing'} end
local alert = cjson.decode(raw)
if alert.acknowledged_at ~= cjson.null then return {'already', raw} end
alert.acknowledged_at = ARGV[4]
alert.acknowledged_by = ARGV[2]
alert.note = ARGV[3]
alert.updated = ARGV[4]
raw = cjson.encode(alert)
local slot = alert.camera .. ':' .. alert.kind
if alert.ended ~= cjson.null then finish(slot, id, raw) else redis.call('HSET', RECORDS, id, raw) end
local entry = {}
for i = 7, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[6], '*', unpack(entry))
announce(ARGV[5], 'acknowledged', raw)
return {'acknowledged', raw}
"""


class AlertNotFound(Exception):
    pass


class AlertAlreadyAcknowledged(Exception):
    def __init__(self, alert: dict[str, Any]):
        super().__init__(f"alert {alert['id']} was acknowledged by {alert['acknowledged_by']}")
        self.alert = alert


@dataclass(frozen=True)
class AlertLimits:
    history_max: int = 20_000
    evidence_bytes: int = 32 * 1024 * 1024

    @classmethod
    def of(cls, settings: Any) -> AlertLimits:
        """From the `alerts` settings (pantau/runtime/config.py AlertSettings)."""
        return cls(settings.history_max, int(settings.evidence_mb * 1024 * 1024))


def _sort_key(alert_id: str) -> tuple[int, int]:
    ms, _, seq = alert_id.partition("-")
    return int(ms), int(seq or 0)


def is_alert_id(text: str) -> bool:
    return bool(ID_PATTERN.fullmatch(text))


def new_record(camera: Camera, kind: str, started: str, evidence_at: str | None) -> dict[str, Any]:
    """The fields an alert starts with (the script adds id and evidence)."""
    return {
        "camera": camera.id, "kind": kind, "started": started, "ended": None,
        "camera_kind": camera.kind, "region": camera.region, "tps": camera.tps, "name": camera.name,
        "evidence_at": evidence_at, "acknowledged_at": None, "acknowledged_by": None, "note": None,
        "repeats": 0, "updated": started,
    }


def _decode(raw: str) -> dict[str, Any]:
    alert = json.loads(raw)
    for field in ("ended", "acknowledged_at", "acknowledged_by", "note", "evidence_at", "tps"):
        alert.setdefault(field, None)
    return alert


def alert_view(alert: dict[str, Any], regions: RegionTree) -> dict[str, Any]:
    """An alert as the API and the SSE stream give it: where the camera is, open/active, its tile."""
    return {
        "id": alert["id"], "camera": alert["camera"], "kind": alert["kind"],
        "started": alert["started"], "ended": alert["ended"],
        "open": alert["acknowledged_at"] is None, "active": alert["ended"] is None,
        "acknowledged_by": alert["acknowledged_by"], "acknowledged_at": alert["acknowledged_at"], "note": alert["note"],
        "repeats": alert.get("repeats", 0),
        "camera_kind": alert.get("camera_kind"), "tps": alert.get("tps"), "name": alert.get("name"),
        "region": alert.get("region"), "location": regions.path(alert["region"]) if alert.get("region") else {},
        "evidence": bool(alert.get("evidence")), "evidence_at": alert.get("evidence_at"),
        "tile_url": f"/api/alerts/{alert['id']}/tile.jpg" if alert.get("evidence") else None,
    }


def in_region(alert: dict[str, Any], code: str | None) -> bool:
    region = alert.get("region") or ""
    return code is None or region == code or region.startswith(code + ".")


class AlertStore:
    def __init__(self, redis: aioredis.Redis, limits: AlertLimits | None = None):
        self.redis = redis
        self.limits = limits or AlertLimits()
        self._raise = redis.register_script(_RAISE)
        self._end = redis.register_script(_END)
        self._ack = redis.register_script(_ACK)

    # -- changes (ingest) ----------------------------------------------------------------------
    async def raise_alert(self, camera: Camera, kind: str, started: str, now: str,
                          evidence: bytes | None = None, evidence_at: str | None = None) -> tuple[str, dict[str, Any]]:
        """Open an alert for (camera, kind), or reopen its current one; ("unchanged", alert) if it
        is current and active already (another worker raised it)."""
        if not KIND_PATTERN.fullmatch(kind):
            raise ValueError(f"alert kind {kind!r} is not a short lower-case word")
        if evidence is not None and len(evidence) > MAX_EVIDENCE_BYTES:
            evidence = None
        record = new_record(camera, kind, started, evidence_at if evidence else None)
        change, raw = await self._raise(keys=list(_KEYS), args=[
            camera.id, kind, json.dumps(record, ensure_ascii=False, separators=(",", ":")), now,
            self.limits.history_max, self.limits.evidence_bytes, evidence or b"", keys.EVENTS])
        return change, _decode(raw)

    async def end_alert(self, camera_id: str, kind: str, now: str) -> tuple[str, dict[str, Any] | None]:
        """The signal stopped or the camera came back: set `ended`. ("none", None) if there is no
        current alert; ("unchanged", alert) if it had ended already."""
        change, *raw = await self._end(keys=list(_KEYS), args=[camera_id, kind, now, keys.EVENTS])
        return change, _decode(raw[0]) if raw else None

    # -- acknowledgement (relay) ---------------------------------------------------------------
    async def acknowledge(self, alert_id: str, actor: Actor, note: str) -> dict[str, Any]:
        """Acknowledged by the token's label, with a note; audited in the same script."""
        alert = await self.get(alert_id)
        if alert is None:
            raise AlertNotFound(alert_id)
        entry = audit_log.entry(actor, "alert_ack", alert["camera"], {
            "alert": alert_id, "kind": alert["kind"], "started": alert["started"], "note": note})
        fields = [value for pair in entry.items() for value in pair]
        change, *raw = await self._ack(keys=[*_KEYS, keys.AUDIT], args=[
            alert_id, actor.label, note, entry["at"], keys.EVENTS, audit_log.AUDIT_MAXLEN, *fields])
        if change == "missing":
            raise AlertNotFound(alert_id)
        if change == "already":
            raise AlertAlreadyAcknowledged(_decode(raw[0]))
        return _decode(raw[0])

    # -- reads ---------------------------------------------------------------------------------
    async def get(self, alert_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hget(keys.ALERT_RECORDS, alert_id)
        return _decode(raw) if raw else None

    async def current(self) -> list[dict[str, Any]]:
        """Alerts not finished (unacknowledged, or still active), newest first."""
        ids = list(set((await self.redis.hgetall(keys.ALERTS_CURRENT)).values()))
        if not ids:
            return []
        raws = await self.redis.hmget(keys.ALERT_RECORDS, ids)
        alerts = [_decode(raw) for raw in raws if raw]
        return sorted(alerts, key=lambda a: _sort_key(a["id"]), reverse=True)

    async def active_slots(self) -> set[tuple[str, str]]:
        """(camera, kind) of every alert that has not ended."""
        return {(a["camera"], a["kind"]) for a in await self.current() if a["ended"] is None}

    async def open_counts(self) -> dict[str, int]:
        """Open (unacknowledged) alerts by kind, e.g. for metrics."""
        counts: dict[str, int] = {}
        for alert in await self.current():
            if alert["acknowledged_at"] is None:
                counts[alert["kind"]] = counts.get(alert["kind"], 0) + 1
        return counts

    async def page(self, *, open_only: bool | None = None, region: str | None = None, kind: str | None = None,
                   camera: str | None = None, limit: int = 100, before: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first, `limit` at most; the cursor is the id to continue before.

        `open_only=True` reads the current alerts (a few, whatever the history's length);
        otherwise the history is read newest first, at most MAX_SCAN entries per page (a page
        may then come back short, with a cursor to go on)."""

        def wanted(alert: dict[str, Any]) -> bool:
            return ((open_only is None or (alert["acknowledged_at"] is None) == open_only)
                    and (kind is None or alert["kind"] == kind) and (camera is None or alert["camera"] == camera)
                    and in_region(alert, region))

        if open_only:
            bound = _sort_key(before) if before else None
            alerts = [a for a in await self.current() if wanted(a) and (bound is None or _sort_key(a["id"]) < bound)]
            page = alerts[:limit]
            return page, page[-1]["id"] if len(alerts) > limit else None
        found: list[dict[str, Any]] = []
        upper = f"({before}" if before else "+"
        scanned = 0
        while scanned < MAX_SCAN:
            entries = await self.redis.xrevrange(keys.ALERTS, max=upper, min="-", count=SCAN_CHUNK)
            if not entries:
                return found, None
            scanned += len(entries)
            ids = [entry_id for entry_id, _ in entries]
            for entry_id, raw in zip(ids, await self.redis.hmget(keys.ALERT_RECORDS, ids)):
                if raw is None:
                    continue
                alert = _decode(raw)
                if wanted(alert):
                    found.append(alert)
                    if len(found) == limit:
                        return found, entry_id
            upper = f"({ids[-1]}"
        return found, upper[1:]

    async def evidence(self, alert_id: str) -> bytes | None:
        """The JPEG kept for the alert, if it is still within the evidence budget."""
        return await self.redis.execute_command("HGET", keys.ALERT_EVIDENCE, alert_id, **{NEVER_DECODE: True})
