"""Reconnect schedule: exponential with jitter, reset after a stable period.

A wrong password is retried slowly (it will not fix itself in a second, and hammering a
camera with bad credentials can lock its account)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    initial_s: float = 1.0
    cap_s: float = 60.0
    auth_initial_s: float = 30.0
    auth_cap_s: float = 300.0
    stable_after_s: float = 30.0
    jitter: float = 0.2
    _failures: int = 0
    _auth_failures: int = 0

    def next_delay(self, reason: str | None) -> float:
        if reason == "auth_failed":
            base = min(self.auth_cap_s, self.auth_initial_s * 2**self._auth_failures)
            self._auth_failures += 1
        else:
            base = min(self.cap_s, self.initial_s * 2**self._failures)
            self._failures += 1
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)

    def connected_for(self, seconds: float) -> None:
        """Called after a session ends: a session that lasted long enough resets the schedule."""
        if seconds >= self.stable_after_s:
            self._failures = 0
            self._auth_failures = 0
