"""Access tokens: stored as SHA-256 hashes with a label and a role; the token itself is shown
once, when created. Roles: admin (everything) > operator (every camera, read-only)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

from pantau import registry_keys as keys
from pantau.audit_log import now_iso

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
        if not token:
            return None
        digest = hash_token(token)
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

    async def revoke(self, label: str) -> bool:
        for digest, raw in (await self.redis.hgetall(keys.TOKENS)).items():
            if json.loads(raw)["label"] == label:
                await self.redis.hdel(keys.TOKENS, digest)
                return True
        return False

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
