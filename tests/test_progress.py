"""The progress bar: rows done out of the total, created and failed counts."""

from __future__ import annotations

import io

from pipeline.progress import ProgressBar


def test_bar_counts_rows_created_and_failed() -> None:
    """After five outcomes the bar shows 5/6 rows, 2 created and 2 failed."""
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar.start(6)
    for status in ("created", "invalid", "created", "already_created", "unknown"):
        bar.advance(status)
    bar.close()

    shown = stream.getvalue().rsplit("\r", 1)[-1]
    assert "5/6" in shown
    assert "created=2" in shown
    assert "failed=2" in shown
