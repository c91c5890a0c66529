"""Keeping the garbage collector's full passes off the camera mirror.

At election scale the registry mirror is ~100k long-lived objects (30k cameras, their tags,
the id indexes), most of a node's heap. CPython's full (generation 2) collection walks every
tracked object: measured 80-115 ms per pass on a 2-core node with 30,766 cameras, on the
event loop, once every few large listings (each builds ~8k short-lived dicts, and those that
live through a young collection count towards the next full one). That was the listing's
p99. Objects in the permanent generation (`gc.freeze`) are skipped by every pass.
"""

from __future__ import annotations

import gc

# Below this many new long-lived objects a full pass is cheap; settling costs one itself.
SETTLE_FROM_CAMERAS = 1000


def settle() -> None:
    """After a large mirror load: one full collection over everything, the previously frozen
    objects included (so one that turned into cyclic garbage since is freed, not kept
    forever), then freeze what survived."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
