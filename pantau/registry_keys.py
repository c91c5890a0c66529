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
EVENTS = f"{PREFIX}:events"  # pub/sub channel: {"type": "status", "statuses": {id: status}}
# Two kinds of "session" with separate key spaces: a cookie must never name a WHEP/WHIP entry.
SESSION_DIRECTORY = f"{PREFIX}:session"  # + ":<whep|whip>:<id>" -> node holding it (session_directory.py)
SIGNIN = f"{PREFIX}:signin"  # + ":<handle>" HASH of one cookie session (signin_sessions.py)
SIGNINS = f"{PREFIX}:signins"  # ZSET handle -> expiry (epoch s): the cookie sessions to list
