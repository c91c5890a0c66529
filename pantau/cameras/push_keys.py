"""WHIP push keys: one per camera, shown once when created, stored as a SHA-256 hash.

A new key replaces the old one (rotation); deleting the camera deletes its key. Keys are
random 32-byte values, so a fast hash is enough (nothing to brute-force from a dictionary).
"""

from __future__ import annotations

import hmac
import secrets

import redis.asyncio as aioredis

from pantau.access.tokens import hash_token
from pantau.cameras import audit_log
from pantau.cameras import registry_keys as keys
from pantau.cameras.audit_log import Actor


class PushKeys:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis

    async def rotate(self, camera_id: str, actor: Actor) -> str:
        """A new key for the camera (the previous one stops working at once), audited."""
        key = "pk_" + secrets.token_urlsafe(32)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.PUSH_KEYS, camera_id, hash_token(key))
            audit_log.add_to(pipe, actor, "rotate_push_key", camera_id, {})
            await pipe.execute()
        return key

    async def verify(self, camera_id: str, key: str | None) -> bool:
        if not key:
            return False
        stored = await self.redis.hget(keys.PUSH_KEYS, camera_id)
        if stored is None:
            return False
        stored = stored.decode() if isinstance(stored, bytes) else stored
        return hmac.compare_digest(stored, hash_token(key))

    async def has_key(self, camera_id: str) -> bool:
        return bool(await self.redis.hexists(keys.PUSH_KEYS, camera_id))

    async def forget(self, camera_id: str) -> None:
        await self.redis.hdel(keys.PUSH_KEYS, camera_id)
