"""A token bucket per API key, on an injected clock.

Hand-written rather than a dependency: the rate limiters on PyPI read the event loop's
or the wall clock, and the sandbox's tests must drive time themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]
# Float sums drift: 0.2 s at 5/s may refill 0.9999999999 of a token.
_SLACK = 1e-9


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`rate` tokens a second per key, at most `burst` saved up; `rate` 0 is unlimited."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, key: str) -> int | None:
        """Take a token for `key`: None when allowed, else whole seconds to wait (>= 1)."""
        if not self._rate:
            return None
        now = self._clock()
        bucket = self._buckets.setdefault(key, _Bucket(tokens=float(self._burst), updated=now))
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(self._burst), bucket.tokens + elapsed * self._rate)
        bucket.updated = now
        if bucket.tokens >= 1 - _SLACK:
            bucket.tokens = max(0.0, bucket.tokens - 1)
            return None
        return max(1, math.ceil((1 - bucket.tokens) / self._rate))

    def reset(self) -> None:
        """Fill every bucket again."""
        self._buckets.clear()
