"""Outcomes -> the report files, each written atomically (temporary file, then rename).

`write_reports` writes `results.csv`, `results.xlsx`, `succeeded.csv`, `failed.csv`,
`summary.json` and, when payloads are given, `payloads.jsonl` into one folder. Text
that Excel would run as a formula is guarded in the CSV files (`pipeline.guard`), and the
loader undoes the guard exactly, so `failed.csv` fed back through the loader gives back
the original cells; results.xlsx holds the text as typed, marked with the quote prefix
(`pipeline.xlsx`). Every file gets the permissions the user's umask gives, like any file
the user saves (colleagues may read the reports where the umask lets them).

`atomic_write` is the one way this tool writes a file whole or not at all (reports,
templates, the inputs kept, an archived file copied across file systems): a new
temporary file beside the target (`.<name>.<12 hex>.tmp`, never through a link), synced,
then renamed over the target. `REPORT_FILES` names every file `write_reports` writes;
with the temporary names of those (`TEMPORARY`), they are what pruning may delete.
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, Final, NoReturn

import orjson
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from pipeline.errors import ConfigError
from pipeline.guard import RISKY_FIRST, guard
from pipeline.model import DONE, SUCCEEDED, Outcome, Status
from pipeline.prospects import CheckedProspects
from pipeline.validate import Checked
from pipeline.xlsx import save_with_rows
from schemas.payload import Payload

RESULT_COLUMNS: Final = (
    "source",
    "sheet",
    "row",
    "campaign_key",
    "campaign_name",
    "status",
    "campaign_id",
    "http_status",
    "attempts",
    "errors",
    "changes",
)
# prospects.csv: one line per prospect row (DESIGN.md).
PROSPECT_RESULT_COLUMNS: Final = (
    "source",
    "sheet",
    "row",
    "campaign_key",
    "list_name",
    "linkedin_url",
    "url",
    "status",
    "detail",
)
PROSPECT_WIDTHS: Final = {"list_name": 30, "linkedin_url": 44, "url": 44, "detail": 80}
# Joins the items of `errors` (`column: message`) and of `changes` (`column: old -> new`).
ERROR_SEPARATOR: Final = " | "
# Every file this tool writes into a report folder: `write_reports`' (payloads.jsonl only
# for validate, dry runs and plans) and the plan of `plan` and `apply` (`pipeline.plan`).
REPORT_FILES: Final = (
    "results.csv",
    "failed.csv",
    "succeeded.csv",
    "summary.json",
    "results.xlsx",
    "payloads.jsonl",
    "plan.json",
    "prospects.csv",
    "failed-prospects.csv",
)
# A report of this many rows or more is written by two processes at once (`_write_apart`):
# below it, starting the second costs more than it saves.
PARALLEL_ROWS: Final = 20_000
# The files that take longest to write, longest first: one of them is written apart.
_LONGEST: Final = ("payloads.jsonl", "results.xlsx")
# The report files of prospect rows: written only by a run that has some.
PROSPECT_FILES: Final = ("prospects.csv", "failed-prospects.csv")
# Column widths (in characters) of results.xlsx's `results` sheet (a column not named
# here gets the default) and of its `summary` sheet.
RESULT_WIDTHS: Final = {
    "source": 24,
    "sheet": 12,
    "row": 7,
    "campaign_key": 40,
    "campaign_name": 36,
    "status": 16,
    "campaign_id": 38,
    "http_status": 11,
    "attempts": 9,
    "errors": 80,
    "changes": 80,
}
DEFAULT_WIDTH: Final = 16
SUMMARY_WIDTHS: Final = (18, 32)

# Fill colours (ARGB) of each status a row of results.xlsx can have (campaigns, prospects).
STATUS_COLOURS: Final = {
    Status.VALID: "FFC6EFCE",
    Status.CREATED: "FFC6EFCE",
    Status.UPDATED: "FFC6EFCE",
    Status.ALREADY_CREATED: "FFDDEBF7",
    Status.WOULD_CREATE: "FFDDEBF7",
    Status.WOULD_UPDATE: "FFDDEBF7",
    Status.INVALID: "FFFFC7CE",
    Status.REJECTED: "FFFFC7CE",
    Status.FAILED: "FFFFC7CE",
    Status.UNKNOWN: "FFFFEB9C",
    Status.NOT_SENT: "FFEDEDED",
    Status.ADDED: "FFC6EFCE",
    Status.ALREADY_ADDED: "FFDDEBF7",
    Status.EXISTS: "FFDDEBF7",
    Status.WOULD_ADD: "FFDDEBF7",
    Status.DUPLICATE: "FFFFC7CE",
    Status.OVER_LIMIT: "FFFFEB9C",
}
# The statuses only a prospect row has: its sheet's colours, not the campaigns'.
_PROSPECT_ONLY: Final = frozenset(
    {
        Status.ADDED,
        Status.ALREADY_ADDED,
        Status.EXISTS,
        Status.WOULD_ADD,
        Status.DUPLICATE,
        Status.OVER_LIMIT,
    }
)
_CAMPAIGN_ONLY: Final = frozenset(
    {
        Status.CREATED,
        Status.UPDATED,
        Status.ALREADY_CREATED,
        Status.WOULD_CREATE,
        Status.WOULD_UPDATE,
    }
)


def error_text(errors: Sequence[str]) -> str:
    return ERROR_SEPARATOR.join(errors)


def result_columns(checked: Checked, outcomes: Sequence[Outcome]) -> list[list[Any]]:
    """The columns of results.csv (`RESULT_COLUMNS`), one value per input row."""
    rows = checked.rows
    return [
        rows["source"].tolist(),
        rows["sheet"].tolist(),
        [int(n) for n in rows["row"].tolist()],
        list(checked.keys),
        [name.strip() for name in rows["campaign_name"].tolist()],
        [o.status.value for o in outcomes],
        [o.campaign_id for o in outcomes],
        ["" if o.http_status is None else o.http_status for o in outcomes],
        [o.attempts for o in outcomes],
        [ERROR_SEPARATOR.join(o.errors) for o in outcomes],
        [ERROR_SEPARATOR.join(o.changes) for o in outcomes],
    ]


# Flags of the temporary file: a new file only, never through a link; binary on Windows.
_NEW_FILE: Final = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)


# The name of `atomic_write`'s temporary file for the file `name`: a crash may leave one.
TEMPORARY: Final = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.tmp")


def _temporary_beside(path: Path) -> tuple[int, Path]:
    """A new, empty file in `path`'s folder, open for writing, with the permissions the
    umask gives (`tempfile.mkstemp` makes 0600 files: reports nobody else could read).
    Random names: 100 taken in a row means something else is wrong."""
    for _ in range(100):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temporary, _NEW_FILE, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name for a temporary file beside {path}")


@contextmanager
def atomic_write(path: Path, *, binary: bool = False) -> Iterator[IO[Any]]:
    """Write `path` through a temporary file in the same folder, renamed when complete.

    The file gets the permissions the umask gives (0644 under the usual 022), also when
    it replaces a file that had others."""
    handle, temporary = _temporary_beside(path)
    try:
        if binary:
            with os.fdopen(handle, "wb") as stream:
                yield stream
                stream.flush()
                os.fsync(stream.fileno())
        else:
            with os.fdopen(handle, "w", encoding="utf-8-sig", newline="") as text:
                yield text
                text.flush()
                os.fsync(text.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _guard_column(values: Sequence[Any]) -> Sequence[Any]:
    if RISKY_FIRST.isdisjoint({v[:1] for v in values if type(v) is str}):
        return values
    return [guard(v) if isinstance(v, str) else v for v in values]


def _write_csv(path: Path, header: Sequence[str], columns: Sequence[Sequence[Any]]) -> None:
    with atomic_write(path) as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow([guard(h) for h in header])
        writer.writerows(zip(*map(_guard_column, columns), strict=True))


def _original_columns(checked: Checked) -> list[str]:
    return [c for c in checked.rows.columns if c in checked.headers]


def _input_columns(
    checked: Checked, positions: Sequence[int], extra: Sequence[Sequence[Any]]
) -> list[Sequence[Any]]:
    """The original cells of the rows at `positions`, then `_source`, `_row`, `extra`."""
    columns = [*_original_columns(checked), "source", "row"]
    picked: list[Sequence[Any]] = []
    for name in columns:
        values = checked.rows[name].tolist()
        picked.append([values[p] for p in positions])
    picked[-1] = [int(n) for n in picked[-1]]
    return [*picked, *extra]


def write_reports(
    folder: Path,
    checked: Checked,
    outcomes: Sequence[Outcome],
    summary: Mapping[str, Any],
    payloads: Iterable[tuple[int, Payload]] | None = None,
    prospects: tuple[CheckedProspects, Sequence[Outcome]] | None = None,
) -> Path:
    """Write every report file into `folder` (created if needed) and return it.

    `payloads` are (row position, payload) pairs for `payloads.jsonl` (validate and
    dry run only; read once, so they may be made as they are written). `prospects` (the
    run's prospect rows and an outcome per row: its status and messages) adds
    `prospects.csv`, `failed-prospects.csv` and a `prospects` sheet to results.xlsx,
    when there are any.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(folder, [], exc) from None
    writers = _writers(folder, checked, outcomes, summary, payloads, prospects)
    beside = _beside(writers) if len(outcomes) >= PARALLEL_ROWS else frozenset()
    failures = _write_apart(writers, beside) if beside else _write_each(writers)
    if failures:  # in the order of `writers`, whoever wrote them
        order = [name for name, _ in writers]
        failures.sort(key=lambda failure: order.index(failure[0]))
        raise _unwritable(folder, [name for name, _ in failures], failures[0][1])
    return folder


Writer = tuple[str, Callable[[], None]]


def _write_each(writers: Sequence[Writer]) -> list[tuple[str, OSError]]:
    """Run each writer; a full disk does not stop the others: its file is named missing."""
    failures: list[tuple[str, OSError]] = []
    for name, write in writers:
        try:
            write()
        except OSError as exc:
            failures.append((name, exc))
    return failures


def _beside(writers: Sequence[Writer]) -> frozenset[str]:
    """The files a second process should write while this one writes the others: the
    longest to write (payloads.jsonl, made as it is written, else results.xlsx), and with
    payloads.jsonl the prospect files (results.xlsx, which has their sheet too, stays
    here); none where forking is not safe (another thread might hold a lock the child
    would inherit)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return frozenset()
    names = [name for name, _ in writers]
    longest = next((name for name in _LONGEST if name in names), None)
    if longest is None:
        return frozenset()
    if longest == "payloads.jsonl":
        return frozenset({longest, *(name for name in names if name in PROSPECT_FILES)})
    return frozenset({longest})


def _write_apart(writers: Sequence[Writer], beside: frozenset[str]) -> list[tuple[str, OSError]]:
    """`writers`, with those named in `beside` run in a forked child at the same time
    (the machine's second core). The child is a copy of this process, so it needs no
    data sent; it says how its write went through a pipe, and leaves at once.

    The child is only a way to save time: if it cannot start, or ends without saying how
    it went, this process writes those files itself. It runs in its own process group, so
    a Ctrl-C at the terminal reaches only this process, which waits for the child to
    finish its file (about a second) before the interrupt goes on.
    """
    mine = [writer for writer in writers if writer[0] not in beside]
    theirs = [writer for writer in writers if writer[0] in beside]
    try:
        read_end, write_end = os.pipe()
    except OSError:  # no descriptors left: one process writes everything
        return _write_each(writers)
    try:
        child = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return _write_each(writers)
    if child == 0:  # pragma: no cover - the child's coverage is not collected
        _write_in_child(theirs, read_end, write_end)
    os.close(write_end)
    try:
        failures = _write_each(mine)
    finally:
        with os.fdopen(read_end, "rb") as stream:
            said = stream.read()
        os.waitpid(child, 0)
    try:
        told = [(name, OSError(number, text)) for name, number, text in json.loads(said)]
    except (ValueError, TypeError):  # the child died: write its file here
        told = _write_each(theirs)
    return failures + told


def _write_in_child(writers: Sequence[Writer], read_end: int, write_end: int) -> NoReturn:
    """The forked child of `_write_apart`: write, tell, and exit without running any of
    the parent's clean-up (`os._exit`: no atexit handlers, no flushing its buffers)."""
    said = b""
    try:
        os.close(read_end)
        os.setpgid(0, 0)
        failures = _write_each(writers)
        told = [[name, exc.errno, exc.strerror or str(exc)] for name, exc in failures]
        said = json.dumps(told).encode()
    except BaseException:  # the parent writes the file itself on hearing nothing
        said = b""
    finally:
        with suppress(OSError):
            os.write(write_end, said)
        os._exit(0)


def _unwritable(folder: Path, failed: Sequence[str], error: OSError) -> ConfigError:
    missing = f" ({', '.join(failed)} missing)" if failed else ""
    return ConfigError(
        f"cannot write the reports into {folder}{missing}: {error.strerror or error}",
        hint="Choose another folder with --out.",
    )


def _writers(
    folder: Path,
    checked: Checked,
    outcomes: Sequence[Outcome],
    summary: Mapping[str, Any],
    payloads: Iterable[tuple[int, Payload]] | None,
    prospects: tuple[CheckedProspects, Sequence[Outcome]] | None = None,
) -> list[Writer]:
    """Each report file and how to write it: results.csv first, the big files last, so
    that a disk that fills up takes the least useful ones."""
    results = result_columns(checked, outcomes)
    listed = prospect_columns(*prospects) if prospects and len(prospects[0]) else None
    originals = [checked.headers[c] for c in _original_columns(checked)]
    done = [p for p, o in enumerate(outcomes) if o.status in SUCCEEDED]
    left = [p for p, o in enumerate(outcomes) if o.status not in DONE]
    statuses = [outcomes[p].status.value for p in left]
    errors = [error_text(outcomes[p].errors) for p in left]

    writers: list[Writer] = [
        ("results.csv", lambda: _write_csv(folder / "results.csv", RESULT_COLUMNS, results)),
        (
            "failed.csv",
            lambda: _write_csv(
                folder / "failed.csv",
                [*originals, "_source", "_row", "_status", "_errors"],
                _input_columns(checked, left, [statuses, errors]),
            ),
        ),
        (
            "succeeded.csv",
            lambda: _write_csv(
                folder / "succeeded.csv",
                [*originals, "_source", "_row", "_campaign_id"],
                _input_columns(checked, done, [[outcomes[p].campaign_id for p in done]]),
            ),
        ),
        ("summary.json", lambda: write_summary(folder, summary)),
    ]
    if prospects is not None and listed is not None:
        found, said = prospects
        writers[1:1] = [
            (
                "prospects.csv",
                lambda: _write_csv(folder / "prospects.csv", PROSPECT_RESULT_COLUMNS, listed),
            ),
            (
                "failed-prospects.csv",
                lambda: _write_failed_prospects(folder / "failed-prospects.csv", found, said),
            ),
        ]
    writers.append(
        ("results.xlsx", lambda: _write_xlsx(folder / "results.xlsx", results, summary, listed))
    )
    if payloads is not None:
        chosen = payloads
        writers.append(
            ("payloads.jsonl", lambda: _write_payloads(folder / "payloads.jsonl", checked, chosen))
        )
    return writers


def prospect_columns(found: CheckedProspects, outcomes: Sequence[Outcome]) -> list[list[Any]]:
    """The columns of prospects.csv (`PROSPECT_RESULT_COLUMNS`), one value per row."""
    rows = found.prospects
    return [
        [p.source for p in rows],
        [p.sheet for p in rows],
        [p.row for p in rows],
        [p.campaign_key for p in rows],
        [p.list_name for p in rows],
        [p.linkedin_url for p in rows],
        [p.url for p in rows],
        [o.status.value for o in outcomes],
        [ERROR_SEPARATOR.join(o.errors) for o in outcomes],
    ]


def _write_failed_prospects(
    path: Path, found: CheckedProspects, outcomes: Sequence[Outcome]
) -> None:
    """The prospect rows that need a person, with their cells as read, `_source`, `_row`,
    `_status` and `_errors`: fixed, the file goes back in as a prospects file."""
    left = [p for p, o in enumerate(outcomes) if o.status not in DONE]
    originals = [c for c in found.rows.columns if c in found.headers]
    columns: list[Sequence[Any]] = []
    for name in [*originals, "source"]:
        values = found.rows[name].tolist()
        columns.append([values[p] for p in left])
    columns.append([int(found.rows["row"].iloc[p]) for p in left])
    columns.append([outcomes[p].status.value for p in left])
    columns.append([error_text(outcomes[p].errors) for p in left])
    header = [*(found.headers[c] for c in originals), "_source", "_row", "_status", "_errors"]
    _write_csv(path, header, columns)


def write_summary(folder: Path, summary: Mapping[str, Any]) -> None:
    """Write (or replace) `summary.json` in `folder`."""
    with atomic_write(folder / "summary.json", binary=True) as stream:
        stream.write((json.dumps(summary, indent=2, default=str) + "\n").encode())


def _write_payloads(path: Path, checked: Checked, payloads: Iterable[tuple[int, Payload]]) -> None:
    sources = checked.rows["source"].tolist()
    numbers = checked.rows["row"].tolist()
    lines = (
        orjson.dumps(
            {
                "source": sources[position],
                "row": int(numbers[position]),
                "campaign_key": checked.keys[position],
                "payload": payload,
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )
        for position, payload in payloads
    )
    with atomic_write(path, binary=True) as stream:
        stream.writelines(lines)


def _write_xlsx(
    path: Path,
    results: list[list[Any]],
    summary: Mapping[str, Any],
    prospects: list[list[Any]] | None = None,
) -> None:
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    lines = len(results[0]) + 1
    _lay_out(
        workbook.create_sheet("results"), RESULT_COLUMNS, RESULT_WIDTHS, lines, bold, _PROSPECT_ONLY
    )

    more: list[tuple[int, list[list[Any]]]] = []
    if prospects is not None:
        listed = workbook.create_sheet("prospects")
        lines = len(prospects[0]) + 1
        _lay_out(listed, PROSPECT_RESULT_COLUMNS, PROSPECT_WIDTHS, lines, bold, _CAMPAIGN_ONLY)
        more.append((2, prospects))

    totals = workbook.create_sheet("summary")
    for letter, width in zip("AB", SUMMARY_WIDTHS, strict=True):
        totals.column_dimensions[letter].width = width
    totals.append([_header_cell(totals, "status", bold), _header_cell(totals, "rows", bold)])
    for status, number in summary.get("counts", {}).items():
        totals.append([status, number])
    for status, number in summary.get("prospects", {}).get("counts", {}).items():
        totals.append([f"prospects {status}", number])
    totals.append([])
    for field in ("run_id", "command", "started", "finished", "exit_code"):
        if field in summary:
            totals.append([field, str(summary[field])])
    with atomic_write(path, binary=True) as stream:
        save_with_rows(workbook, results, 2, stream, more=more)


def _lay_out(
    sheet: Any,
    columns: Sequence[str],
    widths: Mapping[str, int],
    lines: int,
    bold: Font,
    other: frozenset[Status],
) -> None:
    """A results-like sheet before its rows: widths, bold frozen header, filter, and a
    fill per status (`STATUS_COLOURS`, but for the `other` table's own statuses).
    Widths first: a write-only sheet writes its column widths with its first row."""
    sheet.freeze_panes = "A2"
    for index, name in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = widths.get(name, DEFAULT_WIDTH)
    sheet.append([_header_cell(sheet, name, bold) for name in columns])
    last = get_column_letter(len(columns))
    sheet.auto_filter.ref = f"A1:{last}{lines}"
    status_column = get_column_letter(columns.index("status") + 1)
    for status, colour in STATUS_COLOURS.items():
        if status in other:
            continue
        sheet.conditional_formatting.add(
            f"A2:{last}{max(lines, 2)}",
            FormulaRule(  # type: ignore[no-untyped-call]
                formula=[f'${status_column}2="{status.value}"'],
                fill=PatternFill(start_color=colour, end_color=colour, fill_type="solid"),
            ),
        )


def _header_cell(sheet: Any, name: str, font: Font) -> Any:
    cell = WriteOnlyCell(sheet, value=name)
    cell.font = font
    return cell
