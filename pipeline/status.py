"""`campaigns status`: what the ledger knows, read without the network or the lock (a
ledger of an older schema is upgraded in place as it is opened)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.ledger import Entry, Ledger
from pipeline.model import EXIT_NEEDS_PERSON, EXIT_OK, LEDGER_ATTENTION
from pipeline.timing import Timing


@dataclass(frozen=True)
class LedgerStatus:
    """What `campaigns status` shows: counts, counts per file, rows needing a person."""

    path: Path
    counts: dict[str, int]
    by_source: dict[str, dict[str, int]]
    attention: tuple[Entry, ...]
    runs: list[dict[str, Any]]

    @property
    def exit_code(self) -> int:
        """1 when some key needs a person (unknown, failed, rejected, in flight), else 0."""
        return EXIT_NEEDS_PERSON if self.attention else EXIT_OK


def ledger_status(state: Path, *, timing: Timing | None = None) -> LedgerStatus:
    """Read the ledger without taking its lock (a run may be going on)."""
    if not state.exists():
        raise ConfigError(
            f"no ledger at {state}", hint="Run `campaigns run` first, or give --state."
        )
    with Ledger.open(state, run_id="status", timing=timing or Timing.real(), lock=False) as ledger:
        entries = ledger.entries()
        runs = ledger.runs()
    by_source: dict[str, dict[str, int]] = {}
    for entry in entries:
        per = by_source.setdefault(entry.source, {})
        per[entry.status] = per.get(entry.status, 0) + 1
    totals: dict[str, int] = {}
    for entry in entries:
        totals[entry.status] = totals.get(entry.status, 0) + 1
    needs = tuple(e for e in entries if e.status in LEDGER_ATTENTION)
    return LedgerStatus(state, totals, by_source, needs, runs)
