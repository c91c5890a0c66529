"""The station page's recordings in Chromium (issue 18 part 3): a signed-in operator sees the day's
timeline, picks a clock time, and the recording plays from that time through hls.js (the clock
read back from EXT-X-PROGRAM-DATE-TIME is the one chosen, and it advances); the public sees no
recordings section and asks for none (recordings are for operators unless the site opens them)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser import PageErrors, chromium
from tests.test_hls import camera  # noqa: F401 (fixture: a 640x360 25 fps camera with 1 s GOPs at /cam)
from tests.test_metrics import wait_for
from tests.test_recording import recording_node, segments  # noqa: F401 (fixture: a node recording "cam" in 2 s segments)

pytestmark = pytest.mark.timeout(150)
WIB = timedelta(hours=7)


@pytest.fixture
async def browser():
    async with chromium() as context:
        yield context


async def test_an_operator_plays_the_recording_from_a_clock_time(recording_node, browser):  # noqa: F811
    node = recording_node
    await asyncio.to_thread(wait_for, lambda: len(segments(node.recordings)) >= 6, 60, "six segments")
    target = segments(node.recordings)[2].start + 1.0
    wib = datetime.fromtimestamp(target, UTC) + WIB

    public = await browser.new_page()
    public_errors = PageErrors(public)
    await public.goto(f"{node.url}/kamera/cam")
    await public.wait_for_function("() => document.querySelector('[data-testid=name]').textContent !== 'Memuat…'", timeout=15000)
    await asyncio.sleep(1.0)  # the recordings module asked for the listing (and got 401) by now
    assert await public.get_by_test_id("recordings").is_hidden()
    assert not public_errors.items, public_errors.items  # nothing asked that answers 401

    page = await browser.new_page()
    errors = PageErrors(page)
    signed_in = await page.request.post(f"{node.url}/api/session", data={"token": node.admin_token})  # the cookie is the context's
    assert signed_in.ok, await signed_in.text()
    await page.goto(f"{node.url}/kamera/cam?player=none")
    await page.evaluate("() => localStorage.setItem('pantau-signed-in', '1')")  # session.js asks only when hinted
    await page.goto(f"{node.url}/kamera/cam")
    await page.get_by_test_id("recordings").wait_for(state="visible", timeout=15000)
    assert await page.locator("[data-testid=rec-timeline] .rec-segment").count() >= 6
    await page.get_by_test_id("rec-day").fill(wib.strftime("%Y-%m-%d"))
    await page.get_by_test_id("rec-time").fill(wib.strftime("%H:%M:%S"))
    await page.get_by_test_id("rec-play").click()
    await page.wait_for_function("() => window.pantauRecording.clockMs !== null && document.querySelector('[data-testid=rec-video]').currentTime > 0",
                                 timeout=20000)
    first = await page.evaluate("() => window.pantauRecording.clockMs") / 1000
    assert abs(first - int(target)) < 2.5, (first, target)  # the input has whole seconds
    await asyncio.sleep(2.0)
    later = await page.evaluate("() => window.pantauRecording.clockMs") / 1000
    assert later > first + 0.5, (first, later)  # it plays on
    shown, clock_ms = await page.eval_on_selector("[data-testid=rec-clock]", "e => [e.textContent, Number(e.dataset.clockMs)]")
    assert shown == (datetime.fromtimestamp(clock_ms / 1000, UTC) + WIB).strftime("%Y-%m-%d %H:%M:%S WIB"), shown  # in WIB
    assert not errors.items, errors.items
