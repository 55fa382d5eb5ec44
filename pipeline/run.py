"""Wires the stages together: the one library entry point the CLI calls.

`validate_files` is load -> validate -> map -> report, with nothing sent. Each entry
point returns a `RunResult` (counts, report folder, exit code, the rows that need a
person) and raises only `PipelineError` for what stops it.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pipeline.load import DEFAULT_MAX_ROWS, Table, expand_paths, load
from pipeline.map import map_rows
from pipeline.report import OK_STATUSES, Outcome, counts, write_reports
from pipeline.validate import Checked, validate

DEFAULT_REPORTS: Final = Path("reports")


@dataclass(frozen=True)
class Options:
    """What every command shares: where rows come from and where reports go."""

    paths: tuple[Path, ...]
    out: Path | None = None
    reports_root: Path = DEFAULT_REPORTS
    sheet: str | None = None
    max_rows: int = DEFAULT_MAX_ROWS
    defaults: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Attention:
    """A row a person should look at: where it is, its status and why."""

    source: str
    sheet: str
    row: int
    status: str
    errors: tuple[str, ...]


@dataclass(frozen=True)
class RunResult:
    command: str
    folder: Path
    counts: dict[str, int]
    exit_code: int
    attention: tuple[Attention, ...]
    warnings: tuple[str, ...]
    summary: dict[str, Any]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def exit_code_for(outcomes: Sequence[Outcome]) -> int:
    """0 when every row is in a good status, else 1 (DESIGN.md's exit codes)."""
    return 0 if all(o.status in OK_STATUSES for o in outcomes) else 1


def run_id(paths: Sequence[Path], now: dt.datetime) -> str:
    """UTC timestamp + the stem of the first input: `20261126T101500Z-example`."""
    stem = paths[0].stem if paths else "run"
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{stem}"


def report_folder(options: Options, identifier: str) -> Path:
    """`--out` as given, else a new `reports/<run-id>` (suffixed if taken)."""
    if options.out is not None:
        return options.out
    folder = options.reports_root / identifier
    suffix = 2
    while folder.exists():
        folder = options.reports_root / f"{identifier}-{suffix}"
        suffix += 1
    return folder


def describe_inputs(tables: Sequence[Table]) -> list[dict[str, Any]]:
    seen: dict[Path, dict[str, Any]] = {}
    for table in tables:
        entry = seen.get(table.path)
        if entry is None:
            digest = hashlib.sha256(table.path.read_bytes()).hexdigest()
            entry = seen[table.path] = {
                "path": str(table.path),
                "sha256": digest,
                "format": table.detected,
                "sheet": table.sheet,
                "rows": 0,
            }
        entry["rows"] += len(table.frame)
    return list(seen.values())


def attention(checked: Checked, outcomes: Sequence[Outcome]) -> tuple[Attention, ...]:
    rows = checked.rows
    return tuple(
        Attention(source, sheet, int(row), outcome.status, outcome.errors)
        for source, sheet, row, outcome in zip(
            rows["source"], rows["sheet"], rows["row"], outcomes, strict=True
        )
        if outcome.status not in OK_STATUSES
    )


@contextmanager
def bulk_work() -> Iterator[None]:
    """Pause the cyclic garbage collector around row work.

    Loading and mapping 100,000 rows creates millions of small containers and no cycles;
    the collector's repeated passes over them cost about a third of the time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def validate_files(
    options: Options,
    *,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> RunResult:
    """Load, check and map every row; write the reports and `payloads.jsonl`; send nothing."""
    with bulk_work():
        return _validate_files(options, clock)


def _validate_files(options: Options, clock: Callable[[], dt.datetime]) -> RunResult:
    started = clock()
    began = time.perf_counter()
    paths = expand_paths(options.paths)
    tables = load(paths, sheet=options.sheet, max_rows=options.max_rows)
    checked = validate(tables, defaults=options.defaults)
    payloads = map_rows(checked)
    outcomes = [
        Outcome("valid") if payload is not None else Outcome("invalid", errors=tuple(errors))
        for payload, errors in zip(payloads, checked.errors, strict=True)
    ]
    identifier = run_id(list(options.paths), started)
    folder = report_folder(options, identifier)
    code = exit_code_for(outcomes)
    summary: dict[str, Any] = {
        "run_id": identifier,
        "command": "validate",
        "inputs": describe_inputs(tables),
        "counts": counts(outcomes),
        "rows": len(outcomes),
        "warnings": list(checked.warnings),
        "started": started.isoformat(),
        "finished": clock().isoformat(),
        "duration_s": round(time.perf_counter() - began, 3),
        "requests": 0,
        "retries": 0,
        "rate_limited": 0,
        "exit_code": code,
    }
    write_reports(
        folder,
        checked,
        outcomes,
        summary,
        payloads=[(i, p) for i, p in enumerate(payloads) if p is not None],
    )
    return RunResult(
        command="validate",
        folder=folder,
        counts=summary["counts"],
        exit_code=code,
        attention=attention(checked, outcomes),
        warnings=checked.warnings,
        summary=summary,
    )
