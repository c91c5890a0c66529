"""Handing freed memory back to the system, which glibc does not do by itself.

The soak (README, Soak) saw a relay's RSS grow ~1.7 MB a minute while its live Python state
stayed flat, and a flood of bad requests leave it at 400 MB: the memory was free inside the
process, kept by glibc in its arenas (one per thread that ever allocated, up to 8 per core) and
by CPython in pools it could not release. Two measures, both glibc's own (`mallopt`,
`malloc_trim`), so nothing changes where the C library is another:

* at most `arena_max` arenas: threads (executors, PyAV, writers) share them, so what one frees
  another reuses instead of each growing its own;
* `malloc_trim(0)` every `trim_every_s` in a thread: it returns the free pages of every arena to
  the system (madvise), without moving anything still in use.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import time

from pantau.runtime.config import MemorySettings

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter number


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - only glibc has it
        return libc
    except (OSError, AttributeError):
        return None


def limit_arenas(settings: MemorySettings) -> bool:
    """Before the node starts its threads: new threads share at most `arena_max` arenas."""
    libc = _glibc()
    if libc is None or not settings.arena_max:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, settings.arena_max))


def trim() -> float:
    """Return free pages to the system; how long it took (s), or 0 without glibc."""
    libc = _glibc()
    if libc is None:
        return 0.0
    started = time.perf_counter()
    libc.malloc_trim(0)
    return time.perf_counter() - started


async def trim_periodically(settings: MemorySettings) -> None:
    """Runs until cancelled; a thread of its own, so the event loop never waits on it."""
    if not settings.trim_every_s or _glibc() is None:
        return
    while True:
        await asyncio.sleep(settings.trim_every_s)
        took = await asyncio.to_thread(trim)
        log.debug("malloc_trim(0) took %.1f ms", took * 1000)
