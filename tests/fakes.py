"""The one fake of `pipeline.timing.Timing`: time that moves only when the code sleeps.

`FakeTiming` keeps one clock for everything: `monotonic()` reads it, `now()` is the wall
clock at the same instant, `sleep(s)` records `s`, moves the clock by `s` and yields to
the event loop once (so other tasks run, as a real sleep lets them), without waiting.
`tick` makes each `now()` read move the clock forward too (for ledger timestamps that
must differ). Its `random` is seeded, so jitter repeats from run to run. With `limit`,
sleeping more often than that fails the test instead of spinning for ever (a loop that
waits on a clock nobody moves).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random

from pipeline.timing import Timing

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


class FakeTiming:
    """A clock that the code under test moves by sleeping; see the module docstring."""

    def __init__(
        self, *, start: dt.datetime = T0, tick: float = 0.0, seed: int = 7, limit: int = 0
    ) -> None:
        self.start = start
        self.limit = limit
        self.elapsed = 0.0
        self.tick = tick
        self.sleeps: list[float] = []
        self.random = random.Random(seed)

    def monotonic(self) -> float:
        return 1000.0 + self.elapsed

    def now(self) -> dt.datetime:
        self.elapsed += self.tick
        return self.start + dt.timedelta(seconds=self.elapsed)

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.limit and len(self.sleeps) > self.limit:
            raise AssertionError(f"slept {len(self.sleeps)} times: is something spinning?")
        self.elapsed += max(0.0, seconds)
        await asyncio.sleep(0)

    @property
    def timing(self) -> Timing:
        """This fake as the `Timing` value the pipeline takes."""
        return Timing(self.now, self.monotonic, self.sleep, self.random)
