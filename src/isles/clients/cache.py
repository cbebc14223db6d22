"""The figure cache: computed figures (a report's numbers, a chart's series) kept so
the next reader does not compute them again — seed 002's "denormalization with
cache", seed 001's ``metrics_cache``.

One interface, two stores: Redis in production (``ISLES_CACHE_URL``, shared by a
service's processes), a bounded LRU in the process otherwise (the embedded mode).

**Invalidation is by key, not by deletion.** A figure's key names the *stamp* of
the data it is computed from (for a read model: its generation and a random token
per company replaced in the transaction that applies an event changing it; see
``isles.EventArchive.stamp``). A reader reads the stamp first, then looks the key up,
and on a miss computes from data at least as new as that stamp. After an event is
applied the stamp has moved: the old entries are never read again (they expire), so
a figure older than an applied event is never served — there is no window between a
write and a delete to race in.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog

from isles.core.settings import IslesSettings

log = structlog.get_logger("isles.cache")


class CacheStore(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def close(self) -> None: ...


class MemoryStore:
    """An LRU of at most ``max_entries`` values in this process, each kept ``ttl`` seconds."""

    backend = "memory"

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        found = self._items.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= self.clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._items[key] = (self.clock() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    async def close(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class RedisStore:
    """Redis (``redis.asyncio``): values under ``prefix + key`` with an expiry."""

    backend = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as redis

        self.prefix = prefix
        self.client: Any = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self.client.get(self.prefix + key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self.client.set(self.prefix + key, value, px=max(1, int(ttl * 1000)))

    async def close(self) -> None:
        await self.client.aclose()


class FigureCache:
    """A service's figure cache: :meth:`get_or_compute` with hit/miss counts (and
    the Prometheus counter ``isles_cache_requests_total``). A store that fails (Redis
    down) is a miss, logged: the figure is computed, never an error for the caller."""

    def __init__(self, store: CacheStore, *, service: str, ttl: float = 3600.0, counter: Any = None) -> None:
        self.store = store
        self.service = service
        self.ttl = ttl
        self.hits = 0
        self.misses = 0
        self._counter = counter

    def _count(self, result: str) -> None:
        if result == "hit":
            self.hits += 1
        else:
            self.misses += 1
        if self._counter is not None:
            self._counter.labels(self.service, self.store.backend, result).inc()

    async def get_or_compute(
        self, key: str, compute: Callable[[], Awaitable[bytes]], *, ttl: float | None = None
    ) -> bytes:
        try:
            found = await self.store.get(key)
        except (TimeoutError, OSError, ConnectionError) as exc:
            log.warning("cache.unavailable", service=self.service, backend=self.store.backend, error=repr(exc))
            found = None
        except Exception as exc:  # redis' own errors (ConnectionError subclasses of RedisError)
            log.warning("cache.unavailable", service=self.service, backend=self.store.backend, error=repr(exc))
            found = None
        if found is not None:
            self._count("hit")
            return found
        self._count("miss")
        value = await compute()
        try:
            await self.store.set(key, value, self.ttl if ttl is None else ttl)
        except Exception as exc:
            log.warning("cache.unavailable", service=self.service, backend=self.store.backend, error=repr(exc))
        return value

    async def close(self) -> None:
        await self.store.close()


def cache_from(settings: IslesSettings, service: str, *, counter: Any = None) -> FigureCache:
    """The figure cache the settings name (``ISLES_CACHE_*``) for ``service``."""
    c = settings.cache
    store: CacheStore
    if c.url:
        if not c.url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"ISLES_CACHE_URL: {c.url!r} is not a Redis URL (redis://host:6379/0)")
        store = RedisStore(c.url, prefix=f"isles:{service}:")
    else:
        store = MemoryStore(c.max_entries)
    return FigureCache(store, service=service, ttl=c.ttl, counter=counter)
