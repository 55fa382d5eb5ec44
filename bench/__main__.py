"""`python -m bench [NAME...]` runs every benchmark module (or the ones named)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    "bench_goals",
    "bench_sandbox",
    "bench_send",
    "bench_updates",
    "bench_prospects",
)


def main() -> None:
    names = sys.argv[1:] or list(BENCHMARKS)
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"== {name}: not present, skipped")
            continue
        print(f"== {name}")
        module.main()


main()
