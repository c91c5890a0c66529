"""Access tokens: stored as SHA-256 hashes with a label and a role; the token itself is shown
once, when created. Roles: admin (everything) > operator (every camera, read-only). Revoking a
token ends the sign-in sessions opened with it, in the same transaction."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

from pantau.access.signin_sessions import SignInSessions
from pantau.cameras import audit_log
from pantau.cameras import registry_keys as keys
from pantau.cameras.audit_log import SYSTEM, Actor, now_iso

ROLES = ("operator", "admin")  # ascending power


@dataclass(frozen=True)
class TokenInfo:
    label: str
    role: str

    def allows(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class TokenStore:
    def __init__(self, redis: aioredis.Redis, env_tokens: dict[str, str | None] | None = None):
        """`env_tokens`: role -> token from the environment; checked in memory, never stored."""
        self.redis = redis
        self._env = {hash_token(t): TokenInfo(f"env:{role}", role) for role, t in (env_tokens or {}).items() if t}

    async def verify(self, token: str) -> TokenInfo | None:
        return await self.verify_digest(hash_token(token)) if token else None

    async def verify_digest(self, digest: str) -> TokenInfo | None:
        """The token with this SHA-256, if it is (still) valid: also how a sign-in session checks its token."""
        for known, info in self._env.items():
            if hmac.compare_digest(known, digest):
                return info
        raw = await self.redis.hget(keys.TOKENS, digest)
        if raw is None:
            return None
        data = json.loads(raw)
        return TokenInfo(data["label"], data["role"])

    async def create(self, label: str, role: str = "admin") -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if any(t["label"] == label for t in await self.list()):
            raise ValueError(f"a token labelled {label!r} exists; revoke it first or pick another label")
        token = new_token()
        await self.redis.hset(keys.TOKENS, hash_token(token), json.dumps({"label": label, "role": role, "created_at": now_iso()}))
        return token

    async def list(self) -> list[dict]:
        return sorted((json.loads(v) for v in (await self.redis.hgetall(keys.TOKENS)).values()), key=lambda t: t["created_at"])

    async def revoke(self, label: str, actor: Actor = SYSTEM) -> int | None:
        """Revoke the token with this label and end its sign-in sessions (audited); the number of
        sessions ended, or None if no token has this label."""
        for digest, raw in (await self.redis.hgetall(keys.TOKENS)).items():
            if json.loads(raw)["label"] == label:
                sessions = SignInSessions(self.redis)
                ended = await sessions.of_token(digest)
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.hdel(keys.TOKENS, digest)
                    sessions.queue_end(pipe, ended, actor, "token_revoked")
                    audit_log.add_to(pipe, actor, "revoke_token", None, {"label": label, "sessions_ended": len(ended)})
                    await pipe.execute()
                return len(ended)
        return None

    async def ensure_admin(self) -> str | None:
        """On first start with no admin token anywhere, create one and return it (to print once)."""
        if any(info.role == "admin" for info in self._env.values()):
            return None
        if any(t["role"] == "admin" for t in await self.list()):
            return None
        # SETNX-style guard: two nodes starting together must not both mint a first token.
        if not await self.redis.set(f"{keys.PREFIX}:first_admin_token", now_iso(), nx=True):
            return None
        return await self.create("admin", "admin")
