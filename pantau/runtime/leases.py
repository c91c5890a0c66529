"""Camera leases and fencing tokens on the bus Redis, in each camera's own slot (`{cam:ID}`).

    {cam:ID}:lease   STRING "worker:token", PX LEASE_TTL_MS: who may publish the camera now
    {cam:ID}:fence   INT    the last token handed out (INCR on every acquire or take-over)
    {pantau}:workers HASH   worker -> heartbeat expiry (ms since the epoch)

Every change is one Lua script in the camera's slot, so it is atomic on a single Redis and on
Redis Cluster. A lease is renewed every RENEW_S; a worker that dies (SIGKILL, no goodbye)
loses its leases when they expire. Publishing is fenced: every stream append checks, in the
same script, that the lease still names the publisher's token (`FENCED_XADD`), so a worker
that lost its lease (expired while it was paused, or taken over) can never append again —
two workers never both publish one camera, not even for one renewal interval.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from pantau.cameras import registry_keys as keys

LEASE_TTL_MS = 5000
RENEW_S = 1.5
HEARTBEAT_TTL_MS = 5000
WORKERS = f"{keys.PREFIX}:workers"


def lease_key(camera_id: str) -> str:
    return f"{{cam:{camera_id}}}:lease"


def fence_key(camera_id: str) -> str:
    return f"{{cam:{camera_id}}}:fence"


# KEYS: lease, fence. ARGV: worker, ttl_ms, [expected current holder or ""]
# Returns the new "worker:token", or false when the lease is held (by someone other than expected).
ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[3] then return false end
local token = redis.call('INCR', KEYS[2])
local value = ARGV[1] .. ':' .. token
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value
"""

# KEYS: lease. ARGV: "worker:token", ttl_ms. 1 if still ours (and extended), else 0.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease. ARGV: "worker:token".
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: lease, stream. ARGV: "worker:token", minid ("" for none), then field, value, ...
# Returns the entry id, or false if the lease is not (or no longer) this token's.
FENCED_XADD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local args = {KEYS[2]}
if ARGV[2] ~= '' then table.insert(args, 'MINID'); table.insert(args, ARGV[2]) end
table.insert(args, '*')
for i = 3, #ARGV do table.insert(args, ARGV[i]) end
return redis.call('XADD', unpack(args))
"""


class LeaseStore:
    def __init__(self, redis: aioredis.Redis, worker: str):
        self.redis = redis
        self.worker = worker
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)

    async def heartbeat(self) -> dict[str, int]:
        """Announce this worker; returns every live worker with its expiry (this one included)."""
        now = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(WORKERS, self.worker, now + HEARTBEAT_TTL_MS)
            pipe.hgetall(WORKERS)
            _, workers = await pipe.execute()
        live, dead = {}, []
        for name, expiry in workers.items():
            name = name.decode() if isinstance(name, bytes) else name
            if int(expiry) > now:
                live[name] = int(expiry)
            else:
                dead.append(name)
        if dead:
            await self.redis.hdel(WORKERS, *dead)
        return live

    async def leave(self) -> None:
        await self.redis.hdel(WORKERS, self.worker)

    async def holders(self, camera_ids: list[str]) -> dict[str, str | None]:
        """The lease value ("worker:token") of each camera, None where free."""
        if not camera_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for camera_id in camera_ids:
                pipe.get(lease_key(camera_id))
            values = await pipe.execute()
        return {c: (v.decode() if isinstance(v, bytes) else v) for c, v in zip(camera_ids, values)}

    async def acquire(self, camera_id: str, expected: str | None = None) -> str | None:
        """Take a free lease (or, with `expected`, take it over from that holder)."""
        value = await self._acquire(keys=[lease_key(camera_id), fence_key(camera_id)],
                                    args=[self.worker, LEASE_TTL_MS, expected or ""])
        return (value.decode() if isinstance(value, bytes) else value) if value else None

    async def renew(self, held: dict[str, str]) -> set[str]:
        """Extend the leases we hold; returns the cameras whose lease is no longer ours."""
        if not held:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for camera_id, value in held.items():
                await self._renew(keys=[lease_key(camera_id)], args=[value, LEASE_TTL_MS], client=pipe)
            results = await pipe.execute()
        return {camera_id for camera_id, ok in zip(held, results) if not ok}

    async def release(self, camera_id: str, value: str) -> None:
        await self._release(keys=[lease_key(camera_id)], args=[value])


def worker_of(lease_value: str | None) -> str | None:
    return lease_value.rsplit(":", 1)[0] if lease_value else None
