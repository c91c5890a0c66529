"""Sign-in (cookie) sessions: which token label signed in, when, from where, last seen; listed
and ended by admins, and ended with their token.

The cookie holds a random session id; Redis keeps it only hashed. The hash's first 32 hex
digits are the session's *handle*: what admins see and end it by. Knowing a handle (or reading
Redis) does not let anyone act as the session. One hash per session, `{pantau}:signin:<handle>`,
expires with the cookie; `{pantau}:signins` (handle -> expiry) lists them. A session keeps the
digest of the token it was opened with, so the caller can refuse a session whose token is gone
even if it was opened while the token was being revoked.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from pantau.cameras import audit_log
from pantau.cameras import registry_keys as keys
from pantau.cameras.audit_log import Actor

SESSION_TTL_S = 12 * 3600
SEEN_EVERY_S = 60  # last-seen is written at most this often per session (not on every request)
MAX_SESSION_ID = 100


def handle_of(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SignIn:
    handle: str
    label: str
    role: str
    token_digest: str  # sha256 of the token it was opened with; never leaves the server
    csrf: str
    created: float
    seen: float
    client: str

    def public_view(self) -> dict[str, Any]:
        """What an admin sees: no CSRF value, no token digest."""
        return {"id": self.handle, "label": self.label, "role": self.role, "created_at": _iso(self.created),
                "last_seen_at": _iso(self.seen), "client": self.client or None}


def _parse(handle: str, fields: dict) -> SignIn | None:
    try:
        return SignIn(handle, fields["label"], fields["role"], fields["token"], fields["csrf"],
                      float(fields["created"]), float(fields["seen"]), fields.get("client", ""))
    except (KeyError, ValueError, TypeError):
        return None  # written by something else, or half gone: not a session


class SignInSessions:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis

    @staticmethod
    def _key(handle: str) -> str:
        return f"{keys.SIGNIN}:{handle}"

    async def open(self, label: str, role: str, token_digest: str, client: str | None) -> tuple[str, SignIn]:
        """A new session; returns the cookie value (shown to this caller only) and the session."""
        session_id, now = secrets.token_urlsafe(32), time.time()
        signin = SignIn(handle_of(session_id), label, role, token_digest, secrets.token_urlsafe(24), now, now, client or "")
        fields = {"label": label, "role": role, "token": token_digest, "csrf": signin.csrf, "created": now, "seen": now,
                  "client": signin.client}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(signin.handle), mapping=fields)
            pipe.expire(self._key(signin.handle), SESSION_TTL_S)
            pipe.zadd(keys.SIGNINS, {signin.handle: now + SESSION_TTL_S})
            pipe.zremrangebyscore(keys.SIGNINS, "-inf", now)  # index entries of expired sessions
            audit_log.add_to(pipe, Actor(label, client), "sign_in", None, {"role": role, "session": signin.handle})
            await pipe.execute()
        return session_id, signin

    async def find(self, session_id: str | None) -> SignIn | None:
        """The session a cookie names, or None for anything that is not a readable session."""
        if not session_id or len(session_id) > MAX_SESSION_ID:
            return None
        handle = handle_of(session_id)
        try:
            fields = await self.redis.hgetall(self._key(handle))
        except ResponseError:  # a key of another type: not a session
            return None
        return _parse(handle, fields) if fields else None

    async def touch(self, signin: SignIn, client: str | None) -> None:
        """Note the session as seen now, from `client`; at most once a minute unless the address moved."""
        now = time.time()
        if now - signin.seen < SEEN_EVERY_S and (client or "") == signin.client:
            return
        key = self._key(signin.handle)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.exists(key)
            pipe.hset(key, mapping={"seen": now, "client": client or ""})
            exists, _ = await pipe.execute()
        if not exists:  # ended meanwhile: the HSET made a stray hash without a TTL
            await self.redis.delete(key)

    async def list(self) -> list[SignIn]:
        """Every live session, newest first."""
        handles = await self.redis.zrangebyscore(keys.SIGNINS, time.time(), "+inf")
        async with self.redis.pipeline(transaction=False) as pipe:
            for handle in handles:
                pipe.hgetall(self._key(handle))
            rows = await pipe.execute(raise_on_error=False)
        found = [_parse(h, f) for h, f in zip(handles, rows, strict=True) if isinstance(f, dict) and f]
        return sorted((s for s in found if s is not None), key=lambda s: s.created, reverse=True)

    async def get(self, handle: str) -> SignIn | None:
        try:
            fields = await self.redis.hgetall(self._key(handle))
        except ResponseError:
            return None
        return _parse(handle, fields) if fields else None

    async def of_token(self, token_digest: str) -> list[SignIn]:
        return [s for s in await self.list() if s.token_digest == token_digest]

    def queue_end(self, pipe: Any, signins: list[SignIn], actor: Actor, reason: str) -> None:
        """Queue ending these sessions, each audited, on a transaction."""
        for signin in signins:
            pipe.delete(self._key(signin.handle))
            pipe.zrem(keys.SIGNINS, signin.handle)
            audit_log.add_to(pipe, actor, "end_session", None,
                             {"session": signin.handle, "label": signin.label, "role": signin.role, "reason": reason})

    async def end(self, signins: list[SignIn], actor: Actor, reason: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            self.queue_end(pipe, signins, actor, reason)
            await pipe.execute()
