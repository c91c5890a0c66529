"""A camera's restream destination: an RTMP(S) URL (YouTube Live, Facebook Live, a KPU server)
and its stream key, checked as the camera is written.

The stream key is a write-only secret, like a camera password: the admin JSON shows `***`, and
`***` sent back keeps the stored key only while the URL's scheme, host and port stay the same
(else whoever may edit a camera could send the key to a server of theirs). The URL itself holds
no secret: credentials in it are refused, they belong in the key. Hosts written as addresses go
through the source policy here; names are resolved and checked again when the restream connects.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pantau.access.redaction import MASK, NoStoredSecret, check_same_origin
from pantau.cameras import source_policy

SCHEMES = ("rtmp", "rtmps")
MAX_URL = 2048
MAX_KEY = 1024


class TargetInvalid(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field = field


def check_url(url: object) -> str | None:
    """The destination URL, stripped, or None for none; raises TargetInvalid naming `restream_url`."""
    if url in (None, ""):
        return None
    if not isinstance(url, str) or len(url) > MAX_URL:
        raise TargetInvalid("restream_url", f"must be an rtmp:// or rtmps:// URL of at most {MAX_URL} characters")
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise TargetInvalid("restream_url", "URL must not contain spaces")
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise TargetInvalid("restream_url", "must start with rtmp:// or rtmps:// (YouTube: rtmps://a.rtmps.youtube.com/live2)")
        port = parts.port or source_policy.DEFAULT_PORTS[scheme]
    except ValueError as exc:
        if isinstance(exc, TargetInvalid):
            raise
        raise TargetInvalid("restream_url", f"malformed URL ({exc})") from None
    if not parts.hostname:
        raise TargetInvalid("restream_url", "URL has no host")
    if "@" in parts.netloc:
        raise TargetInvalid("restream_url", "no credentials in the URL: the stream key goes in restream_key")
    if parts.fragment:
        raise TargetInvalid("restream_url", "URL must not have a #fragment")
    try:
        source_policy.current().check_host(parts.hostname, port)
    except source_policy.SourceRefused as exc:
        raise TargetInvalid("restream_url", str(exc)) from None
    return url


def check_key(key: object, url: str | None, stored_key: str | None, stored_url: str | None) -> str | None:
    """The stream key to store; `***` keeps `stored_key` for the same scheme, host and port.
    Raises TargetInvalid naming `restream_key` (never quoting the key)."""
    if key in (None, ""):
        return None
    if not isinstance(key, str) or len(key) > MAX_KEY or any(ch.isspace() or ord(ch) < 32 for ch in key):
        raise TargetInvalid("restream_key", f"must be a stream key of at most {MAX_KEY} characters, without spaces")
    if url is None:
        raise TargetInvalid("restream_key", "a stream key needs restream_url (where to send it)")
    if key != MASK:
        return key
    if not stored_key:
        raise TargetInvalid("restream_key", f"{MASK!r} is a mask, and there is no stored stream key to keep")
    try:
        check_same_origin(url, stored_url, "stream key")
    except NoStoredSecret as exc:
        raise TargetInvalid("restream_key", str(exc)) from None
    return stored_key


def push_url(url: str, key: str | None) -> str:
    """What the RTMP client connects to: the application URL with the key as the stream name."""
    return f"{url.rstrip('/')}/{key}" if key else url
