"""The progress bar `campaigns run` shows on a terminal (the library itself never prints)."""

from __future__ import annotations

from collections import Counter
from typing import Any, TextIO

from tqdm import tqdm

from pipeline.model import DONE, Status


class ProgressBar:
    """A tqdm bar: rows done, created, failed (a status that needs a person, except
    `unknown`: a create that may well have gone through is not a failure) and, once
    there are any, unknown; and the rate."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._bar: tqdm[Any] | None = None
        self._counts: Counter[str] = Counter()

    def start(self, total: int) -> None:
        self._bar = tqdm(total=total, unit="row", file=self._stream, dynamic_ncols=True)

    def advance(self, status: Status, position: int) -> None:
        self._counts[status] += 1
        if self._bar is not None:
            created, unknown = self._counts[Status.CREATED], self._counts[Status.UNKNOWN]
            failed = sum(n for s, n in self._counts.items() if s not in DONE) - unknown
            if unknown:
                self._bar.set_postfix(
                    created=created, failed=failed, unknown=unknown, refresh=False
                )
            else:
                self._bar.set_postfix(created=created, failed=failed, refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
