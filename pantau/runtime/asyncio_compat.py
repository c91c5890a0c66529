"""Python 3.12's `asyncio.wait_for` on Python 3.11: a cancelled task stays cancelled.

Python 3.11's `wait_for` returns the awaited result when a cancel arrives just as the awaited
call completes, and the cancel is lost (CPython gh-86296, fixed in 3.12 by rewriting `wait_for`
over `asyncio.timeout`). redis-py (5 s socket timeout by default since 8.0) sends every command
through `wait_for`, so about two cancels in three of a task busy with Redis were lost here: a
background loop cancelled at shutdown ran on, and `asyncio.run` (and pytest-asyncio's teardown)
waited for it forever. `install()` puts 3.12's implementation in place, before any such call;
`pantau/__init__.py` calls it, so every process that imports the product gets it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any


async def wait_for(awaitable: Any, timeout: float | None) -> Any:
    """Python 3.12's asyncio.wait_for: the same contract, no lost cancels."""
    if timeout is not None and timeout <= 0:
        future = asyncio.ensure_future(awaitable)
        if future.done():
            return future.result()
        future.cancel()
        await asyncio.wait([future])  # until it has stopped
        try:
            return future.result()
        except asyncio.CancelledError as exc:
            raise TimeoutError from exc
    async with asyncio.timeout(timeout):
        return await awaitable


def install() -> None:
    if sys.version_info < (3, 12) and asyncio.wait_for is not wait_for:
        asyncio.wait_for = wait_for
        asyncio.tasks.wait_for = wait_for
