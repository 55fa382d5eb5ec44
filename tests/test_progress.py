"""The progress bar: rows done out of the total, created, failed and unknown counts."""

from __future__ import annotations

import io

from pipeline.model import Status
from pipeline.progress import ProgressBar


def shown_after(total: int, statuses: list[Status]) -> str:
    """The bar's last drawing after these outcomes."""
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar.start(total)
    for position, status in enumerate(statuses):
        bar.advance(status, position)
    bar.close()
    return stream.getvalue().rsplit("\r", 1)[-1]


def test_bar_counts_rows_created_and_failed() -> None:
    """After five outcomes the bar shows 5/6 rows, 2 created, 1 failed and 1 unknown."""
    shown = shown_after(
        6,
        [Status.CREATED, Status.INVALID, Status.CREATED, Status.ALREADY_CREATED, Status.UNKNOWN],
    )

    assert "5/6" in shown
    assert "created=2" in shown
    assert "failed=1" in shown
    assert "unknown=1" in shown


def test_unknown_rows_are_not_counted_as_failed() -> None:
    """Unknown rows (a create that may have gone through) are not failures."""
    shown = shown_after(3, [Status.UNKNOWN, Status.UNKNOWN, Status.NOT_SENT])

    assert "failed=1" in shown
    assert "unknown=2" in shown


def test_unknown_shows_only_once_there_is_one() -> None:
    """A run without unknown rows shows no unknown count."""
    shown = shown_after(2, [Status.CREATED, Status.REJECTED])

    assert "failed=1" in shown
    assert "unknown" not in shown
