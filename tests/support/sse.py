"""Reading the relay's Server-Sent Events (/api/events) in tests and benchmarks."""

from __future__ import annotations

import asyncio
import json
import time
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


class PictureLog:
    """Each camera's `picture` as it changed while online, with the time.monotonic() it arrived:
    `async with PictureLog(url, token) as log: await log.wait(camera, "moved", since, 10)`."""

    def __init__(self, base_url: str, token: str | None):
        self.base_url, self.token = base_url, token
        self.changes: dict[str, list[tuple[float, str | None]]] = {}
        self._task: asyncio.Task | None = None
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PictureLog:
        self._http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"} if self.token else {})
        response = await self._http.get(self.base_url + "/api/events", timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        if response.status != 200:
            raise RuntimeError(f"/api/events answered {response.status}: {await response.text()}")

        async def read() -> None:
            async for event, data in sse_messages(response):
                if event == "status" and data.get("state") == "online":
                    changes = self.changes.setdefault(data["id"], [])
                    if not changes or changes[-1][1] != data["picture"]:
                        changes.append((time.monotonic(), data["picture"]))

        self._task = asyncio.create_task(read())
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._http:
            await self._http.close()

    def since(self, camera_id: str, moment: float = 0.0) -> list[tuple[float, str | None]]:
        return [(at, picture) for at, picture in self.changes.get(camera_id, []) if at >= moment]

    async def wait(self, camera_id: str, picture: str, since: float, timeout: float) -> float | None:
        """When `picture` was first shown after `since`; None if not within `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, value in self.since(camera_id, since):
                if value == picture:
                    return at
            await asyncio.sleep(0.05)
        return None

