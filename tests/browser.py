"""Debian's Chromium driven by Playwright, for tests of the viewer pages.

The async Playwright API is used because the suite runs under pytest-asyncio (asyncio_mode=auto):
Playwright's sync API refuses to run in a thread with a running event loop, so it could not be
used from async tests or next to async fixtures (aiortc/aiohttp helpers); the async API can.

    async with chromium() as browser:                 # a fresh profile, headless
        page = await browser.new_page()
        recorder = ResponseRecorder(page)             # every response body the page loads
        await page.goto(url + "/kamera/cam")
        await wait_for_frames(page, 25)
        stats = await inbound_video_stats(page)       # inbound-rtp video report, or None
        assert recorder.containing(password) == []

Never `playwright install`: the browser is /usr/bin/chromium from Debian.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import quote

from tests.support.system_deps import require_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
    # Loopback-only networks (CI): offer and accept 127.0.0.1 candidates, unmasked by mDNS.
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]
# A camera without a camera: Chromium's moving test pattern, and no permission prompt.
FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
VIDEO = '[data-testid="video"]'
PHONE = {"width": 375, "height": 667}


@contextlib.asynccontextmanager
async def chromium(viewport: dict[str, int] | None = None, args: tuple[str, ...] = (), **context_options) -> AsyncIterator:
    """A headless Chromium with a fresh user-data dir; yields its BrowserContext (new_page() on it).
    `args`: extra command-line flags (e.g. FAKE_CAMERA). Fails at once, naming the package, when
    Playwright or Debian's Chromium is missing (never a silent skip: CI must run the page tests)."""
    require_playwright()
    from playwright.async_api import async_playwright

    profile = tempfile.mkdtemp(prefix="pantau-chromium-")
    try:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *args],
                viewport=viewport or {"width": 1280, "height": 800}, **context_options)
            try:
                yield context
            finally:
                await context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


# ---- reading the page ---------------------------------------------------------------------

async def video_frames(page, selector: str = VIDEO) -> int:
    """Frames the <video> has presented so far (getVideoPlaybackQuality().totalVideoFrames)."""
    return await page.eval_on_selector(selector, "v => v.getVideoPlaybackQuality().totalVideoFrames")


async def wait_for_frames(page, count: int, timeout: float = 15.0, selector: str = VIDEO) -> int:
    """Wait until the video has presented at least `count` frames in total; returns the total."""
    await page.wait_for_function(
        "([s, n]) => { const v = document.querySelector(s); return v && v.getVideoPlaybackQuality().totalVideoFrames >= n; }",
        arg=[selector, count], timeout=timeout * 1000, polling=50)
    return await video_frames(page, selector)


async def wait_for_more_frames(page, more: int, timeout: float = 15.0, selector: str = VIDEO) -> int:
    """Wait until `more` new frames were presented from now on; returns the new total."""
    return await wait_for_frames(page, await video_frames(page, selector) + more, timeout, selector)


async def inbound_video_stats(page) -> dict | None:
    """The inbound-rtp video report of the page's WHEP peer connection (window.__pantau.pc).

    Keys as in WebRTC stats: framesDecoded, framesReceived, jitterBufferDelay (s, summed),
    jitterBufferEmittedCount, frameWidth, frameHeight, ... None while there is no connection.
    """
    return await page.evaluate("""async () => {
        const pc = window.__pantau && window.__pantau.pc;
        if (!pc) return null;
        for (const report of (await pc.getStats()).values())
            if (report.type === 'inbound-rtp' && report.kind === 'video') return {...report};
        return null;
    }""")


def mean_jitter_buffer_delay(stats: dict) -> float | None:
    """Average seconds a frame spent in the jitter buffer (jitterBufferDelay / jitterBufferEmittedCount)."""
    count = stats.get("jitterBufferEmittedCount") or 0
    return stats["jitterBufferDelay"] / count if count else None


async def text_of(page, testid: str) -> str:
    return (await page.locator(f'[data-testid="{testid}"]').inner_text()).strip()


async def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no horizontal scroll)."""
    return await page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth")


# ---- recording what the page loaded -------------------------------------------------------

# EventSource streams never end, so their bodies cannot be read from the network side; this
# init script keeps every SSE message's data in window.__sseLog instead.
_SSE_HOOK = """(() => {
  const Original = window.EventSource;
  if (!Original || Original.__recorded) return;
  window.__sseLog = [];
  class Recorded extends Original {
    constructor(...args) {
      super(...args);
      const keep = (event) => window.__sseLog.push({url: this.url, type: event.type, data: event.data});
      const add = this.addEventListener.bind(this);
      add('message', keep);
      // Named events reach only listeners of their type: listen to every type the page listens to
      // (the same `keep` twice for one type is a no-op).
      this.addEventListener = (type, listener, options) => {
        if (type !== 'open' && type !== 'error') add(type, keep);
        return add(type, listener, options);
      };
    }
  }
  Recorded.__recorded = true;
  window.EventSource = Recorded;
})();"""


@dataclass
class Recorded:
    url: str
    status: int
    content_type: str
    body: bytes


@dataclass
class ResponseRecorder:
    """Records the body of every response a page (or context) loads, plus every SSE message.

    Create it before navigating: `ResponseRecorder(page)`, then `await recorder.settle(page)`
    before reading `responses` / `containing(secret)`.
    """

    target: object
    responses: list[Recorded] = field(default_factory=list)
    sse_messages: list[dict] = field(default_factory=list)
    _pending: set[asyncio.Task] = field(default_factory=set)
    _hooked: bool = False

    def __post_init__(self) -> None:
        self.target.on("response", self._on_response)

    async def install_sse_hook(self) -> None:
        """Also record SSE messages (call before the page is loaded)."""
        await self.target.add_init_script(_SSE_HOOK)
        self._hooked = True

    def _on_response(self, response) -> None:
        task = asyncio.ensure_future(self._read(response))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _read(self, response) -> None:
        content_type = (response.headers.get("content-type") or "").split(";")[0].strip()
        body = b""
        if content_type != "text/event-stream" and not (300 <= response.status < 400):
            with contextlib.suppress(Exception):  # a body can be gone (navigation, aborted, cached)
                body = await asyncio.wait_for(response.body(), 10)
        self.responses.append(Recorded(response.url, response.status, content_type, body))

    async def settle(self, *pages, timeout: float = 10.0) -> None:
        """Wait for the bodies still being read; collect SSE messages from `pages`."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            await asyncio.wait(set(self._pending), timeout=max(0.0, deadline - time.monotonic()))
        for page in pages:
            with contextlib.suppress(Exception):
                self.sse_messages.extend(await page.evaluate("window.__sseLog ? window.__sseLog.splice(0) : []"))

    def containing(self, secret: str) -> list[str]:
        """URLs (and SSE message descriptions) whose URL or body contains `secret` (as is or URL-encoded)."""
        needles = {secret.encode(), quote(secret, safe="").encode()}
        found = [r.url for r in self.responses if any(n in r.body or n in r.url.encode() for n in needles)]
        found += [f"SSE {m['type']} from {m['url']}" for m in self.sse_messages
                  if any(n.decode() in (m.get("data") or "") for n in needles)]
        return found


@dataclass
class PageErrors:
    """Uncaught exceptions and console errors of a page, for `assert not errors.items`."""

    page: object
    items: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("pageerror", lambda error: self.items.append(f"pageerror: {error}"))
        self.page.on("console", lambda msg: msg.type == "error" and self.items.append(f"console: {msg.text}"))
