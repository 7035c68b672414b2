"""What every replica must agree on, kept where every replica sees it: Redis when
`LOCAL_DUEL_REDIS_URL` is set, this process's memory when not (one box, as before).

The interface is a handful of Redis's own primitives, so that tickets, the duel
registry, admission and rate limits are each written once over it:
- `put`/`get`/`take`: keys with a lifetime (`SET … PX`, `GET`, `GETDEL`);
- `count`: an atomic counter for a fixed window (`INCR` and `PEXPIRE … NX`);
- `book`/`renew`/`unbook`/`booked`: a sorted set of members that lapse at their score
  (`ZADD`, `ZREMRANGEBYSCORE`, `ZCARD`), which is how a killed replica's duels stop
  counting against the stage without anyone telling.
Times are Unix seconds, so replicas on one host or NTP-synced hosts agree.
"""

import abc
import math
import time

import redis.asyncio as aioredis

PREFIX = "local-duel:"  # before every key this app keeps in Redis


class Shared(abc.ABC):
    @abc.abstractmethod
    async def put(self, key: str, value: str, seconds: float) -> None:
        """Set `key` for `seconds`."""

    @abc.abstractmethod
    async def get(self, key: str) -> str | None: ...

    @abc.abstractmethod
    async def take(self, key: str) -> str | None:
        """Get and delete `key` in one step: whoever takes it first has it."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None: ...

    @abc.abstractmethod
    async def count(self, key: str, window: float) -> tuple[int, float]:
        """Add one to `key`'s counter, which starts with the first hit and lasts `window`
        seconds; the count so far and the seconds left in the window."""

    @abc.abstractmethod
    async def book(self, pool: str, member: str, until: float, limit: int) -> bool:
        """Add `member` to `pool` until the Unix time `until`, unless `limit` members are
        already there; whether it was added."""

    @abc.abstractmethod
    async def renew(self, pool: str, member: str, until: float) -> None:
        """Move a member's lapse to `until`, if it is still there."""

    @abc.abstractmethod
    async def unbook(self, pool: str, member: str) -> None: ...

    @abc.abstractmethod
    async def booked(self, pool: str) -> int:
        """Members of `pool` that have not lapsed."""

    async def close(self) -> None:
        """Let go of the connection, if any."""


class InProcess(Shared):
    """One replica: the same semantics in this process's memory."""

    def __init__(self):
        self._keys: dict[str, tuple[str, float]] = {}  # key → (value, lapse)
        self._counts: dict[str, tuple[int, float]] = {}
        self._pools: dict[str, dict[str, float]] = {}

    def _live(self, key: str) -> tuple[str, float] | None:
        now = time.time()
        self._keys = {k: v for k, v in self._keys.items() if v[1] > now}
        return self._keys.get(key)

    async def put(self, key: str, value: str, seconds: float) -> None:
        self._live(key)
        self._keys[key] = (value, time.time() + seconds)

    async def get(self, key: str) -> str | None:
        found = self._live(key)
        return found[0] if found else None

    async def take(self, key: str) -> str | None:
        found = self._live(key)
        self._keys.pop(key, None)
        return found[0] if found else None

    async def delete(self, key: str) -> None:
        self._keys.pop(key, None)

    async def count(self, key: str, window: float) -> tuple[int, float]:
        now = time.time()
        self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        hits, lapse = self._counts.get(key, (0, now + window))
        self._counts[key] = (hits + 1, lapse)
        return hits + 1, lapse - now

    def _pool(self, pool: str) -> dict[str, float]:
        now = time.time()
        members = {m: until for m, until in self._pools.get(pool, {}).items() if until > now}
        self._pools[pool] = members
        return members

    async def book(self, pool: str, member: str, until: float, limit: int) -> bool:
        members = self._pool(pool)
        if member not in members and len(members) >= limit:
            return False
        members[member] = until
        return True

    async def renew(self, pool: str, member: str, until: float) -> None:
        members = self._pool(pool)
        if member in members:
            members[member] = until

    async def unbook(self, pool: str, member: str) -> None:
        self._pool(pool).pop(member, None)

    async def booked(self, pool: str) -> int:
        return len(self._pool(pool))


class InRedis(Shared):
    """Every replica: the same keys in one Redis, through redis-py's asyncio client."""

    def __init__(self, url: str, prefix: str = PREFIX):
        self.redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix

    def key(self, name: str) -> str:
        return self._prefix + name

    async def put(self, key: str, value: str, seconds: float) -> None:
        await self.redis.set(self.key(key), value, px=math.ceil(seconds * 1000))

    async def get(self, key: str) -> str | None:
        return await self.redis.get(self.key(key))

    async def take(self, key: str) -> str | None:
        return await self.redis.getdel(self.key(key))

    async def delete(self, key: str) -> None:
        await self.redis.delete(self.key(key))

    async def count(self, key: str, window: float) -> tuple[int, float]:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(self.key(key)).pexpire(self.key(key), math.ceil(window * 1000), nx=True).pttl(self.key(key))
            hits, _, left = await pipe.execute()
        return hits, max(0, left) / 1000

    async def book(self, pool: str, member: str, until: float, limit: int) -> bool:
        # Add first, then count: two replicas racing for the last place may both give
        # way, but the stage is never overbooked.
        key = self.key(pool)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", time.time()).zadd(key, {member: until}).zcard(key)
            _, added, members = await pipe.execute()
        if added and members > limit:
            await self.redis.zrem(key, member)
            return False
        return True

    async def renew(self, pool: str, member: str, until: float) -> None:
        await self.redis.zadd(self.key(pool), {member: until}, xx=True)

    async def unbook(self, pool: str, member: str) -> None:
        await self.redis.zrem(self.key(pool), member)

    async def booked(self, pool: str) -> int:
        key = self.key(pool)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", time.time()).zcard(key)
            _, members = await pipe.execute()
        return members

    async def close(self) -> None:
        await self.redis.aclose()


def shared_for(redis_url: str | None) -> Shared:
    """Redis when a URL is given, else this process."""
    return InRedis(redis_url) if redis_url else InProcess()
