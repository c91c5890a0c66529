"""Redis key names of the registry.

Every registry key shares the `{pantau}` hash tag so that multi-key transactions stay in one
slot on Redis Cluster. Per-camera tags (`{cam:ID}`) belong to the stream bus and leases.
"""

PREFIX = "{pantau}"
CAMERAS = f"{PREFIX}:cameras"  # HASH id -> camera JSON (stored form, secrets included)
REVISION = f"{PREFIX}:rev"  # INT, bumped by every change to CAMERAS
CHANGES = f"{PREFIX}:changes"  # STREAM {rev, ids} - lets every process follow CAMERAS cheaply
STATUS = f"{PREFIX}:status"  # HASH id -> status JSON, written by ingest
AUDIT = f"{PREFIX}:audit"  # STREAM of admin actions
TOKENS = f"{PREFIX}:tokens"  # HASH sha256(token) -> {"label", "role", "created_at"}
DEMO_SEEDED = f"{PREFIX}:demo_seeded"  # marker: the demo set was seeded once
PUSH_KEYS = f"{PREFIX}:push_keys"  # HASH camera id -> sha256(push key) for WHIP publishers
REFERENCES = f"{PREFIX}:references"  # HASH camera id -> reference view JSON (reference_views.py)
REFERENCE_CHANGES = f"{PREFIX}:references:changes"  # STREAM {camera}: set or cleared, for ingest workers
EVENTS = f"{PREFIX}:events"  # pub/sub channel: {"type": "status", "statuses": {id: status}}
# Two kinds of "session" with separate key spaces: a cookie must never name a WHEP/WHIP entry.
SESSION_DIRECTORY = f"{PREFIX}:session"  # + ":<whep|whip>:<id>" -> node holding it (session_directory.py)
SIGNIN = f"{PREFIX}:signin"  # + ":<handle>" HASH of one cookie session (signin_sessions.py)
SIGNINS = f"{PREFIX}:signins"  # ZSET handle -> expiry (epoch s): the cookie sessions to list
# Alerts (pantau/monitoring/alerts.py): the history, each alert's record, the unfinished one per camera and
# kind, and evidence tiles within a byte budget.
ALERTS = f"{PREFIX}:alerts"  # STREAM: one entry per alert (its id), trimmed to alerts.history_max
ALERT_RECORDS = f"{PREFIX}:alert_records"  # HASH alert id -> alert JSON as it is now
ALERTS_CURRENT = f"{PREFIX}:alerts_current"  # HASH "camera:kind" -> id of the alert not yet ended and acknowledged
ALERT_EVIDENCE = f"{PREFIX}:alert_evidence"  # HASH alert id -> JPEG tile when it started
ALERT_EVIDENCE_ORDER = f"{PREFIX}:alert_evidence_order"  # LIST alert ids with evidence, oldest first
ALERT_EVIDENCE_BYTES = f"{PREFIX}:alert_evidence_bytes"  # INT bytes held in ALERT_EVIDENCE
