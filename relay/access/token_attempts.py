"""Failed token attempts per client address: each refused token is answered a little late, and
an address with too many refusals in a window gets 429 + Retry-After without its token being
checked at all, so guessing a weak token (a site may set PANTAU_OPERATOR_TOKEN by hand) is slow
and gives no answer while blocked. A correct token from an address that is not blocked is
never delayed. Refusals are audited, at most `audits_per_window` per window on a relay, so many
addresses together cannot push the camera changes out of the (bounded) audit log.

Kept in memory per process (no Redis round trip on the path of a valid token); on a site each
relay counts on its own, which only multiplies the limit by the number of relays.
"""

from __future__ import annotations

import math
import time
from collections import deque

FAILURES_PER_WINDOW = 10
WINDOW_S = 60.0
FAILURE_DELAY_S = 0.3
MAX_ADDRESSES = 10_000  # beyond that, the addresses that failed longest ago are forgotten
AUDITS_PER_WINDOW = 100


class FailedAttempts:
    def __init__(self, limit: int = FAILURES_PER_WINDOW, window_s: float = WINDOW_S, delay_s: float = FAILURE_DELAY_S,
                 max_addresses: int = MAX_ADDRESSES, audits_per_window: int = AUDITS_PER_WINDOW):
        self.limit = limit
        self.window_s = window_s
        self.delay_s = delay_s
        self.max_addresses = max_addresses
        self.audits_per_window = audits_per_window
        self._failures: dict[str, deque[float]] = {}  # address -> failure times, oldest first
        self._audits: deque[float] = deque()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if times is not None and not times:
            del self._failures[address]
            return None
        return times

    def retry_after(self, address: str) -> int | None:
        """Seconds until this address may try a token again, or None if it may now."""
        now = time.monotonic()
        times = self._recent(address, now)
        if times is None or len(times) < self.limit:
            return None
        return max(1, math.ceil(self.window_s - (now - times[0])))

    def failed(self, address: str) -> bool:
        """Count a refused token; True if this refusal is the one that blocks the address."""
        now = time.monotonic()
        times = self._recent(address, now) or deque()
        times.append(now)
        self._failures.pop(address, None)
        self._failures[address] = times  # re-inserted: dict order = least recently failed first
        while len(self._failures) > self.max_addresses:
            del self._failures[next(iter(self._failures))]
        return len(times) == self.limit

    def may_audit(self) -> bool:
        """Whether this refusal may be written to the audit log (and counts as written)."""
        now = time.monotonic()
        while self._audits and now - self._audits[0] >= self.window_s:
            self._audits.popleft()
        if len(self._audits) >= self.audits_per_window:
            return False
        self._audits.append(now)
        return True
