"""Small builders shared by the tests: sheets on disk and rows that validate cleanly."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from click.testing import CliRunner, Result
from openpyxl import Workbook

from pipeline.ledger import Ledger
from pipeline.load import Table, load
from pipeline.settings import RunSettings, Secret, SendSettings
from pipeline.validate import Checked, validate
from sandbox.server import DEFAULT_API_KEY
from tests.fakes import FakeTiming

ROOT = Path(__file__).resolve().parents[1]
# Every status a campaign row of results.csv could have before updates and prospects, as
# the reports have always written them (an independent copy of the text, on purpose).
REPORTED_STATUSES = (
    "valid",
    "created",
    "already_created",
    "would_create",
    "invalid",
    "rejected",
    "failed",
    "unknown",
    "not_sent",
)
# Fast enough that pacing never matters in-process; one second before an answer is late.
FAST = SendSettings(rate=1000, concurrency=4, timeout=1.0)
# The `settings_for` fixture: `settings_for(**changes)` gives `run_settings` in tmp_path.
SettingsFor = Callable[..., RunSettings]

STYLE_ID = "8d256aa6-9b12-49a7-93ee-bf41634b5b60"
CONTEXT_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
OWNER_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
TOPIC_ID = "e4c1a7b9-3d5f-4a2e-b6c8-9f1d3e5a7c20"

# A Prospects (TARGET_USER) row with every kind of cell filled in.
PROSPECTS_ROW: dict[str, str] = {
    "campaign_key": "acme-q1-cto",
    "campaign_name": "ACME Q1 - CTOs",
    "campaign_type": "Prospects",
    "owner": OWNER_ID,
    "style_id": STYLE_ID,
    "context_id": CONTEXT_ID,
    "skip_teammates_leads": "true",
    "indirect_engagement": "false",
    "comment_interval_hours": "48",
    "emotion_types": "LIKE, PRAISE",
    "monitored_topic_ids": TOPIC_ID,
    "important_prospects_first": "true",
    "direct_posts_first": "false",
    "min_post_likes": "25",
    "connect_enabled": "true",
    "connect_after_direct_comments": "2",
    "connect_on_indirect_comments": "false",
    "connect_after_indirect_comments": "4",
    "connect_on_timeout": "true",
    "connect_timeout_days": "10",
    "connect_when_no_posts": "false",
    "dm_enabled": "true",
    "dm_on_connect": "true",
    "dm_on_connect_after_days": "2",
    "dm_on_relevant_post": "false",
    "dm_on_relevant_post_after_days": "3",
    "dm_on_timeout": "true",
    "dm_on_timeout_after_days": "21",
}

# A Topic (KEYWORD) row: only the columns a topic campaign uses.
TOPIC_ROW: dict[str, str] = {
    "campaign_key": "topic-genai",
    "campaign_name": "Topic - generative AI",
    "campaign_type": "Topic",
    "owner": OWNER_ID,
    "style_id": STYLE_ID,
    "context_id": CONTEXT_ID,
    "emotion_types": "LIKE",
    "monitored_topic_ids": TOPIC_ID,
    "important_prospects_first": "false",
    "direct_posts_first": "true",
    "min_post_likes": "50",
}


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]], delimiter: str = ",") -> str:
    """The CSV text of a header and rows (Excel-style quoting, CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]] = (),
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> Path:
    """Write a CSV file; `encoding` as Python names it (`utf-8-sig`, `utf-16`, `cp1252`)."""
    path.write_bytes(csv_text(header, rows, delimiter).encode(encoding))
    return path


def write_xlsx(
    path: Path,
    rows: Sequence[Sequence[Any]],
    *,
    sheet: str = "campaigns",
    start_row: int = 1,
    other_sheets: Mapping[str, Sequence[Sequence[Any]]] | None = None,
    first: str | None = None,
) -> Path:
    """Write a workbook whose sheet `sheet` holds `rows` from row `start_row` on.

    `other_sheets` adds more sheets (after `sheet`, unless `first` names the sheet to
    put in front).
    """
    workbook = Workbook()
    main = workbook.active
    assert main is not None
    main.title = sheet
    _fill(main, rows, start_row)
    for name, content in (other_sheets or {}).items():
        _fill(workbook.create_sheet(name), content, 1)
    if first is not None:
        workbook.move_sheet(first, offset=-workbook.sheetnames.index(first))
    workbook.save(path)
    return path


def _fill(sheet: Any, rows: Sequence[Sequence[Any]], start_row: int) -> None:
    for offset, row in enumerate(rows):
        for column, value in enumerate(row, start=1):
            if value is not None and value != "":
                cell = sheet.cell(row=start_row + offset, column=column, value=value)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"  # text that looks like a formula, not a formula


def rows_csv(path: Path, rows: Sequence[Mapping[str, str]], **options: Any) -> Path:
    """A CSV whose header is the union of the rows' keys (in first-seen order)."""
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    return write_csv(path, header, [[row.get(h, "") for h in header] for row in rows], **options)


def check_rows(tmp_path: Path, rows: Sequence[Mapping[str, str]], **options: Any) -> Checked:
    """Write `rows` to a CSV, load it and validate it."""
    return validate(load([rows_csv(tmp_path / "rows.csv", rows)]), **options)


def table(
    rows: Sequence[Mapping[str, str]], *, name: str = "sheet.csv", first_row: int = 2
) -> Table:
    """A loaded table built in memory: headers as catalogue names, rows numbered from 2."""
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    frame = pd.DataFrame(
        {h: [row.get(h, "") for row in rows] for h in header},
        index=pd.Index(range(first_row, first_row + len(rows)), name="row"),
        dtype=object,
    )
    return Table(Path(name), "", frame, {h: h for h in header}, "memory")


def errors(checked: Checked) -> list[list[str]]:
    """Each row's error messages as a list (empty for a valid row)."""
    return [list(e) for e in checked.errors]


def numbered_rows(count: int) -> list[dict[str, str]]:
    """`count` valid rows: the example rows again and again, each key and name numbered."""
    from pipeline.template import EXAMPLE_ROWS

    made = []
    for number in range(count):
        row = dict(EXAMPLE_ROWS[number % len(EXAMPLE_ROWS)])
        row["campaign_key"] = f"row-{number}"
        row["campaign_name"] = f"{row['campaign_name']} #{number}"
        made.append(row)
    return made


def numbered_sheet(tmp_path: Path, count: int) -> Path:
    """A campaigns.csv of `count` numbered rows in `tmp_path`."""
    from pipeline.template import write_template

    return write_template(tmp_path / "campaigns.csv", rows=numbered_rows(count))


def run_settings(tmp_path: Path, **changes: Any) -> RunSettings:
    """Run settings for an in-process sandbox: fast, no wait before a second look, the
    ledger in `tmp_path`; `changes` replace fields."""
    base = RunSettings(
        state=tmp_path / "state.sqlite",
        base_url="http://localhost",
        api_key=Secret(DEFAULT_API_KEY),
        send=FAST,
        recheck_delay=0.0,
    )
    return replace(base, **changes)


def invoke(*args: str | Path) -> Result:
    """`campaigns ARGS...` run in-process by click's CliRunner (each argument as text)."""
    from pipeline.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def ledger_at(path: Path, *, run_id: str = "run-1") -> Ledger:
    """The ledger at `path`, locked, on fake time that moves one second per timestamp."""
    return Ledger.open(path, run_id=run_id, timing=FakeTiming(tick=1.0).timing)


def kill_mid_run(
    sheet: Path,
    url: str,
    state: Path,
    out: Path,
    *,
    counter: str,
    ready: Callable[[Path], bool],
) -> None:
    """`campaigns run` of `sheet` against the sandbox at `url` in a real subprocess,
    killed with SIGKILL once the sandbox counts 3 `counter` (`created`, `updated`) and
    `ready(state)` says the ledger holds a request in flight."""
    environment = {**os.environ, "EXTROVERT_API_KEY": DEFAULT_API_KEY}
    environment.pop("EXTROVERT_BASE_URL", None)
    command = [sys.executable, "-m", "pipeline", "run", str(sheet), "--base-url", url]
    command += ["--state", str(state), "--out", str(out), "--rate", "20"]
    with httpx.Client(base_url=url) as client:
        process = subprocess.Popen(
            command, env=environment, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 30
            while client.get("/_sandbox/stats").json()[counter] < 3 or not ready(state):
                assert process.poll() is None, "the run ended before it could be killed"
                assert time.monotonic() < deadline, f"the run made nothing {counter} in 30 s"
                time.sleep(0.01)  # a real subprocess: only the wall clock can tell
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    assert process.returncode == -signal.SIGKILL
