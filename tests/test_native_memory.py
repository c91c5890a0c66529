"""pantau/runtime/native_memory.py: memory freed inside the process goes back to the system.

A heap with a few survivors spread over it (as a burst of requests leaves it) keeps its freed
pages mapped: glibc only gives back the top of the heap by itself. One `trim()` must return
them. Checked in a child process, so the test's own heap does not decide."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from pantau.runtime.config import MemorySettings
from pantau.runtime.native_memory import limit_arenas

CHILD = textwrap.dedent("""
    import psutil
    from pantau.runtime.native_memory import trim
    rss = lambda: psutil.Process().memory_info().rss / 2**20
    blocks = [bytes(2048) for _ in range(60_000)]  # ~120 MB through malloc (objects > 512 B skip CPython's pools)
    survivors = blocks[::200]  # one in 200 stays: every page range keeps a neighbour in use
    del blocks
    before = rss()
    took = trim()
    print(round(before, 1), round(rss(), 1), round(took * 1000, 1), len(survivors))
""")


def test_trim_returns_the_free_pages_a_scattered_heap_keeps():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=True).stdout.split()
    before, after, took_ms = float(out[0]), float(out[1]), float(out[2])
    assert before - after > 60, f"RSS {before} MB before malloc_trim, {after} MB after ({took_ms} ms)"


def test_arenas_are_limited_on_glibc_and_not_when_turned_off():
    assert limit_arenas(MemorySettings(arena_max=2)) is True
    assert limit_arenas(MemorySettings(arena_max=0)) is False
