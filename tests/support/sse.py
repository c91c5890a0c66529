"""Reading the relay's Server-Sent Events (/api/events) in tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp


async def sse_messages(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str | None, dict]]:
    """(event name, JSON data) for each message, as they arrive."""
    event = None
    async for raw in response.content:
        line = raw.decode().strip()
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            yield event, json.loads(line.split(":", 1)[1])
