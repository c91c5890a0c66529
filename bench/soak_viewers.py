"""A process of WHEP viewers for the soak bench (`bench/soak.py`); run by it, not by hand:

    python bench/soak_viewers.py

Viewers are tests/support/whep_client.py's aiortc viewers without decoding (as in
bench/relay_support.py): every reassembled frame's arrival time (time.monotonic(), the same clock
in every process on the machine) is kept, so the bench can ask for each viewer's longest gap in
any window. One JSON command per line on stdin, one `@@ {json}` line per command on stdout:

- `{"op": "join", "base": URL, "viewers": [{"key": K, "camera": ID}, ...]}`: POST an offer for
  each (a few at a time); answers each key's HTTP status (or error). It does not wait for a
  frame: a viewer that joins while its camera is down simply gets its first frame later.
- `{"op": "leave", "keys": [...], "delete": true|false}`: close them, with the WHEP DELETE or
  without (a tab closed abruptly: the relay must reap the session by itself).
- `{"op": "gaps", "windows": [[ID, START, END, UP], ...], "path": FILE}`: written to FILE, per
  viewer and window `[gap, gap start, first frame after UP]`: the longest time without a frame
  inside [START, END] (clipped to the viewer's life), when it began, and the first frame after
  UP (when given: the moment a source came back).
- `{"op": "quit"}`: close every viewer (with DELETE) and exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from bisect import bisect_left, bisect_right
from pathlib import Path

from relay_support import JOIN_CONCURRENCY, serve_viewers

from tests.support.whep_client import WhepError, WhepViewer  # relay_support put the repo on sys.path


class Held:
    def __init__(self, key: str, camera: str, viewer: WhepViewer):
        self.key = key
        self.camera = camera
        self.viewer = viewer
        self.joined = time.monotonic()
        self.left: float | None = None

    def longest_gap(self, start: float, end: float) -> tuple[float, float] | None:
        """(length, start) of the longest stretch of [start, end] (clipped to this viewer's life,
        from its first frame) without a frame; None if the viewer had no frame before `end`."""
        frames = self.viewer.frames
        end = min(end, self.left or end)
        if not frames or frames[0] > end:
            return None
        start = max(start, frames[0])
        if end <= start:
            return None
        first, last = bisect_right(frames, start), bisect_right(frames, end)
        points = [frames[first - 1] if first else start, *frames[first:last]]
        gaps = [(b - a, a) for a, b in zip(points, points[1:])]
        gaps.append((end - points[-1], points[-1]))
        return max(gaps)

    def first_frame_after(self, moment: float) -> float | None:
        frames = self.viewer.frames
        index = bisect_left(frames, moment)
        return frames[index] if index < len(frames) else None


class Viewers:
    def __init__(self):
        self.held: dict[str, Held] = {}

    async def _open(self, base: str, key: str, camera: str, limit: asyncio.Semaphore) -> dict:
        async with limit:
            viewer = WhepViewer(base, camera)
            try:
                await viewer.start()
            except WhepError as exc:
                return {"status": exc.status, "error": exc.body[:200]}
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await viewer.pc.close()
                return {"status": None, "error": f"{type(exc).__name__}: {exc}"[:300]}
            self.held[key] = Held(key, camera, viewer)
            return {"status": 201}

    async def join(self, base: str, viewers: list[dict]) -> dict:
        limit = asyncio.Semaphore(JOIN_CONCURRENCY)
        results = await asyncio.gather(*(self._open(base, v["key"], v["camera"], limit) for v in viewers))
        return {v["key"]: r for v, r in zip(viewers, results)}

    async def _close(self, held: Held, delete: bool) -> int | str | None:
        held.left = time.monotonic()
        try:
            return await asyncio.wait_for(held.viewer.close(send_delete=delete), 20)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:200]

    async def leave(self, keys: list[str] | None = None, delete: bool = True) -> dict:
        """Close the viewers named (all by default)."""
        chosen = [h for k, h in self.held.items() if (keys is None or k in keys) and h.left is None]
        statuses = await asyncio.gather(*(self._close(h, delete) for h in chosen))
        return {h.key: s for h, s in zip(chosen, statuses)}

    def gaps(self, windows: list[list]) -> dict:
        report = {}
        for key, held in self.held.items():
            per_window = {}
            for window_id, start, end, up in windows:
                if held.joined > end or (held.left is not None and held.left < start):
                    continue
                gap = held.longest_gap(start, end)
                per_window[window_id] = [*(gap or (None, None)), held.first_frame_after(up) if up else None]
            report[key] = {"camera": held.camera, "joined": held.joined, "left": held.left, "location": held.viewer.location,
                           "frames": len(held.viewer.frames), "windows": per_window}
        return report

    async def handle(self, command: dict) -> dict:
        op = command["op"]
        if op == "join":
            return await self.join(command["base"], command["viewers"])
        if op == "leave":
            return await self.leave(command["keys"], command.get("delete", True))
        if op == "gaps":  # written to a file: the reply would be far longer than a pipe's line limit
            Path(command["path"]).write_text(json.dumps(self.gaps(command["windows"])))
            return {"path": command["path"]}
        return {"error": f"unknown op {op!r}"}


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_viewers(decode=False, host_class=Viewers))
