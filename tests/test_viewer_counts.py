"""Site-wide viewer totals read back from the registry Redis, on both backends."""

import time

from relay.webrtc.viewer_counts import SiteViewerCounts, viewers_key


async def test_totals_sum_the_live_relays_only(registry_redis):
    now_ms = int(time.time() * 1000)
    live, expired = now_ms + 15_000, now_ms - 1
    await registry_redis.hset(viewers_key("cam-a"), mapping={"relay-1": f"3:{live}", "relay-2": f"4:{live}", "gone": f"9:{expired}"})
    await registry_redis.hset(viewers_key("cam-b"), mapping={"gone": f"5:{expired}"})
    counts = SiteViewerCounts(registry_redis, "relay-1", lambda camera_id: 0)
    assert await counts.totals(["cam-b", "cam-a", "cam-none"]) == {"cam-b": 0, "cam-a": 7, "cam-none": 0}
    assert await counts.totals([]) == {}
    assert await counts.announced("cam-a") == 7
