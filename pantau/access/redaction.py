"""Keep camera passwords and tokens out of responses, logs and error messages.

PyAV and aiohttp put full URLs (with user:password) into exception text, so everything that
leaves the process passes through `redact` at the boundary, and the log handler applies it
to every record as a last line of defence.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit, urlunsplit

from pantau.cameras.source_policy import origin

MASK = "***"
# scheme://user:password@  (password up to the last @ before the path, as urlsplit reads it)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)(?P<pw>[^\s/]*)@")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
# Some cameras take the password as a parameter: ?user=op&password=…, or in the path
# (/user=admin&password=…&channel=1.sdp). Its value is as secret as user:password@.
_PARAM_PASSWORD = re.compile(r"(?i)(?P<head>[?&;/](?:password|passwd|pwd|pass|pw)=)(?P<pw>[^&;#\s'\"]*)")


class SecretRegistry:
    """Exact secret strings known to this process (passwords, tokens), scrubbed from text.

    There can be ~31k of them (one per camera), so scrubbing is a set lookup per word of the
    text, not a search per secret; the rare secret that contains a word separator is searched
    for as a substring.
    """

    _WORD = re.compile(r"[^\s'\"@:/,;=()<>\[\]{}?&#]+")

    def __init__(self) -> None:
        self._words: set[str] = set()
        self._odd: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        # Very short strings would mangle ordinary text; the URL pattern still covers them.
        if not secret or len(secret) < 4:
            return
        if self._WORD.fullmatch(secret):
            self._words.add(secret)
        else:
            with self._lock:
                self._odd.add(secret)

    def scrub(self, text: str) -> str:
        if self._odd:
            with self._lock:
                odd = sorted(self._odd, key=len, reverse=True)
            for secret in odd:
                if secret in text:
                    text = text.replace(secret, MASK)
        words = self._words
        if words:
            text = self._WORD.sub(lambda m: MASK if m.group(0) in words else m.group(0), text)
        return text


known_secrets = SecretRegistry()


def redact(text: str) -> str:
    """Mask URL passwords, bearer tokens and every registered secret in free text."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + "@", text)
    text = _mask_param_passwords(text)
    text = _BEARER.sub(r"\1" + MASK, text)
    return known_secrets.scrub(text)


def _mask_param_passwords(text: str) -> str:
    return _PARAM_PASSWORD.sub(lambda m: m.group("head") + MASK if m.group("pw") else m.group(0), text)


def url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def url_secrets(url: str) -> list[str]:
    """Every password in a source URL: user:password@ and password parameters."""
    found = [m.group("pw") for m in _PARAM_PASSWORD.finditer(url) if m.group("pw")]
    password = url_password(url)
    return ([password] if password else []) + found


def mask_url(url: str) -> str:
    """rtsp://user:pass@host/p?password=x -> rtsp://user:***@host/p?password=*** (no password: unchanged)."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        url = urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{hostport}"))
    return _mask_param_passwords(url)


def replace_url_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{hostport}"))


class NoStoredSecret(ValueError):
    """A masked password was sent back, but there is no stored one to keep."""


class SecretHostChanged(NoStoredSecret):
    """A masked secret was sent back for another scheme, host or port than the stored one's."""

    def __init__(self, what: str = "password"):
        super().__init__(f"the scheme, host or port changed: type the {what} again ({MASK!r} keeps a stored "
                         f"{what} only for the same scheme, host and port)")


def check_same_origin(url: str, stored_url: str | None, what: str = "password") -> None:
    """A stored secret goes only where it went before: else whoever can edit a camera could point
    it at their own host and receive the password in the Authorization header."""
    if stored_url is None or origin(url) != origin(stored_url):
        raise SecretHostChanged(what)


def keep_masked_secrets(url: str, stored_url: str | None) -> str:
    """`***` sent back in place of a password (either form) means: keep the stored one, if the
    URL still names the stored one's scheme, host and port."""
    if url_password(url) == MASK:
        kept = url_password(stored_url) if stored_url else None
        if kept is None:
            raise NoStoredSecret(f"password {MASK!r} is a mask, and there is no stored password to keep")
        check_same_origin(url, stored_url)
        url = replace_url_password(url, kept)
    # By parameter name, not by the "?"/"&" before it: the parameter may have moved.
    stored_params = {m.group("head")[1:].lower(): m.group("pw") for m in _PARAM_PASSWORD.finditer(stored_url or "")}

    def restore(match: re.Match) -> str:
        if match.group("pw") != MASK:
            return match.group(0)
        kept = stored_params.get(match.group("head")[1:].lower())
        if not kept:
            raise NoStoredSecret(f"password {MASK!r} is a mask, and there is no stored password to keep")
        check_same_origin(url, stored_url)
        return match.group("head") + kept

    return _PARAM_PASSWORD.sub(restore, url)


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message (args and exception text included) through `redact`.

    The redacted parts stay on the record too (`redacted_message`, `redacted_exception`), for
    formatters that keep them apart (the JSON lines of pantau/runtime/json_log.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "redacted_message"):
            return True  # already done (a record passes several handlers)
        message = redact(record.getMessage())
        extra = []
        if record.exc_info:
            extra.append(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.exc_text = None
        if record.stack_info:
            extra.append(record.stack_info)
            record.stack_info = None
        exception = redact("\n".join(extra)) if extra else None
        record.redacted_message = message
        record.redacted_exception = exception
        record.msg = message + "\n" + exception if exception else message
        record.args = None
        return True


def setup_logging(level: str = "INFO", log_format: str = "text") -> None:
    """One handler on stderr, redacting every record: plain lines, or `json` (one object a line)."""
    from pantau.runtime.json_log import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aioice logs every ICE check at INFO: hundreds of lines per viewer.
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
