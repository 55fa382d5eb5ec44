"""Time, as one value: the wall clock, a monotonic clock, sleep and a source of randomness.

Every part that waits, stamps or jitters takes a `Timing` from its caller, so that tests
hand in one fake (`tests/fakes.py`) and never wait. `Timing.real()` is production's.
Nothing else in `pipeline/` reads a clock, sleeps or draws a random number by itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Timing:
    """`now` (aware UTC), `monotonic` (seconds), `sleep` (async) and `random`."""

    now: Callable[[], dt.datetime]
    monotonic: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    random: random.Random

    @classmethod
    def real(cls) -> Timing:
        """The machine's clocks, asyncio's sleep and a freshly seeded generator."""
        return cls(_utc_now, time.monotonic, asyncio.sleep, random.Random())


def backoff(attempt: int, *, initial: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, initial * 2**attempt)].

    Every retry and every pause without a `Retry-After` waits this: a retry passes the
    retries made so far (0 before the first: up to `initial`), a pause the attempts made.
    """
    return rng.uniform(0.0, min(cap, initial * 2 ** max(attempt, 0)))
