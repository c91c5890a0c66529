"""Hypothesis settings shared by the fuzz tests: a bounded, reproducible budget for CI.

`derandomize=True` makes every run draw the same examples (a failure in CI reproduces on any
machine), `database=None` keeps runs from depending on what an earlier run found, and
`deadline=None` keeps a busy 2-core CI machine from failing a slow example. For a deeper local
search, PANTAU_FUZZ_SCALE=20 multiplies every budget and PANTAU_FUZZ_RANDOM=1 draws new
examples each run (a failure it finds becomes a named test in tests/test_malformed_input.py or
beside the fuzzer).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("PANTAU_FUZZ_SCALE", "1"))
RANDOM = os.environ.get("PANTAU_FUZZ_RANDOM", "") not in ("", "0")


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max(1, int(max_examples * SCALE)), derandomize=not RANDOM, database=None, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture, HealthCheck.large_base_example],
        print_blob=True,
    )
