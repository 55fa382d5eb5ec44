"""The entry points: `validate_files`, `run_files` (and `run_files_async`).

`validate_files` is load -> validate -> map -> report, with nothing sent (the rows of a
report fed back beside its sheet replace the rows they came from first); `run_files`
adds the online half (`pipeline.execute`) before the report (`pipeline.status` reads the
ledger for `campaigns status`). Each returns a `RunResult`
(a record per row, counts, report folder, exit code) and raises only `PipelineError` for
what stops it. Nothing here prints, reads the environment, or changes process-wide state
beyond pausing the garbage collector around bulk row work.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError, RowsNeedAttention, StoppedError
from pipeline.execute import Execution, execute
from pipeline.load import Table, expand_paths, load
from pipeline.map import map_rows
from pipeline.model import (
    NEEDS_PERSON,
    Outcome,
    Status,
    counts,
    exit_code,
)
from pipeline.refeed import Replacement, replace_refed_rows
from pipeline.report import write_reports
from pipeline.session import Progress, Silent
from pipeline.settings import Options, RunSettings
from pipeline.stop import Interrupt
from pipeline.timing import Timing
from pipeline.validate import Checked, validate


@dataclass(frozen=True)
class RowResult:
    """One row as results.csv shows it: where it is, what it is, what happened."""

    source: str
    sheet: str
    row: int
    campaign_key: str
    campaign_name: str
    status: Status
    campaign_id: str
    http_status: int | None
    attempts: int
    errors: tuple[str, ...]

    @property
    def needs_person(self) -> bool:
        return self.status in NEEDS_PERSON


@dataclass(frozen=True)
class RunResult:
    """What a command did: a record per row, counts, the report folder, the exit code.

    Nothing raises for rows that need a person: call `raise_for_status()` to make that
    an error (`RowsNeedAttention`, or `StoppedError` when the run stopped early).
    """

    command: str
    folder: Path
    counts: dict[str, int]
    exit_code: int
    rows: tuple[RowResult, ...]
    warnings: tuple[str, ...]
    summary: dict[str, Any]
    stopped: str = ""
    stopped_status: int | None = None  # the HTTP status that stopped the run, if any

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def attention(self) -> tuple[RowResult, ...]:
        """The rows a person should look at, in sheet order."""
        return tuple(row for row in self.rows if row.needs_person)

    def raise_for_status(self) -> RunResult:
        """Return self when every row is done; else raise (see the class docstring)."""
        if self.exit_code == 0:
            return self
        if self.stopped and self.exit_code == 3:
            raise StoppedError(
                f"the run stopped early: {self.stopped}", http_status=self.stopped_status
            )
        raise RowsNeedAttention(self.exit_code, len(self.attention), self.folder)


def run_id(paths: Sequence[Path], now: dt.datetime) -> str:
    """UTC timestamp + the stem of the first input: `20261126T101500Z-example`."""
    stem = paths[0].stem if paths else "run"
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{stem}"


def report_folder(options: Options, identifier: str) -> Path:
    """`--out` as given, else a new `reports/<run-id>` (suffixed if taken); created now,
    so that a folder that cannot be written stops a run before it sends anything."""
    folder = _pick_folder(options, identifier)
    if options.out is not None:
        inside = folder.resolve()
        for source in options.paths:
            if source.is_dir() and inside.is_relative_to(source.resolve()):
                raise ConfigError(
                    f"--out {folder} is inside the input folder {source}: the next run "
                    "would read the reports as input",
                    hint="Choose a folder for the reports outside the input folders.",
                )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the reports into {folder}: {exc.strerror or exc}",
            hint="Choose another folder with --out.",
        ) from None
    return folder


def _pick_folder(options: Options, identifier: str) -> Path:
    if options.out is not None:
        return options.out
    folder = options.reports_root / identifier
    suffix = 2
    while folder.exists():
        folder = options.reports_root / f"{identifier}-{suffix}"
        suffix += 1
    return folder


def describe_inputs(
    tables: Sequence[Table], replacements: Sequence[Replacement] = ()
) -> list[dict[str, Any]]:
    """summary.json's `inputs`: per file its path, sha256, format, sheet and the rows read.

    A fed-back report (see `pipeline.refeed`) also lists what it `replaces`: per input,
    its [row here, row there] pairs; an input whose rows were replaced lists them as
    `replaced`. results.csv holds the rows read less the rows replaced.
    """
    seen: dict[Path, dict[str, Any]] = {}
    for table in tables:
        entry = seen.get(table.path)
        if entry is None:
            entry = seen[table.path] = {
                "path": str(table.path),
                "sha256": table.sha256,
                "format": table.detected,
                "sheet": table.sheet,
                "rows": 0,
            }
        entry["rows"] += len(table.frame)
    for replacement in replacements:
        pairs = [list(pair) for pair in replacement.pairs]
        entry = seen[replacement.source]
        entry.setdefault("replaces", []).append({"path": str(replacement.original), "rows": pairs})
        original = seen[replacement.original]
        original["replaced"] = sorted({*original.get("replaced", ()), *replacement.replaced})
    return list(seen.values())


def row_results(checked: Checked, outcomes: Sequence[Outcome]) -> tuple[RowResult, ...]:
    """A `RowResult` per row: the same values results.csv writes."""
    rows = checked.rows
    return tuple(
        RowResult(
            str(source),
            str(sheet),
            int(row),
            key,
            name.strip(),
            o.status,
            o.campaign_id,
            o.http_status,
            o.attempts,
            o.errors,
        )
        for source, sheet, row, key, name, o in zip(
            rows["source"].tolist(),
            rows["sheet"].tolist(),
            rows["row"].tolist(),
            checked.keys,
            rows["campaign_name"].tolist(),
            outcomes,
            strict=True,
        )
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


def validate_files(options: Options, *, timing: Timing | None = None) -> RunResult:
    """Load, check and map every row; write the reports and `payloads.jsonl`; send nothing."""
    with bulk_work():
        return _validate_files(options, timing or Timing.real())


def _validate_files(options: Options, timing: Timing) -> RunResult:
    started = timing.now()
    began = timing.monotonic()
    inputs, checked = _load_and_check(options)
    payloads = map_rows(checked)
    outcomes = [
        Outcome(Status.VALID) if payload is not None else Outcome(Status.INVALID, errors=errors)
        for payload, errors in zip(payloads, checked.errors, strict=True)
    ]
    identifier = run_id(list(options.paths), started)
    folder = report_folder(options, identifier)
    code = exit_code(o.status for o in outcomes)
    summary = _summary(
        "validate",
        identifier,
        inputs,
        outcomes,
        started,
        timing.now(),
        timing.monotonic() - began,
        code,
        warnings=list(checked.warnings),
        requests=0,
        retries=0,
        rate_limited=0,
    )
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
        rows=row_results(checked, outcomes),
        warnings=checked.warnings,
        summary=summary,
    )


def _load_and_check(options: Options) -> tuple[list[dict[str, Any]], Checked]:
    """summary.json's `inputs`, and every row checked; the rows of a report fed back
    beside its sheet replace the rows they came from (`pipeline.refeed`)."""
    paths = expand_paths(options.paths)
    tables = load(
        paths,
        sheet=options.sheet,
        max_rows=options.max_rows,
        skip_hidden_rows=options.skip_hidden_rows,
    )
    refed = replace_refed_rows(tables)
    checked = validate(refed.tables, defaults=options.defaults)
    checked = replace(checked, warnings=checked.warnings + refed.warnings)
    return describe_inputs(tables, refed.replacements), checked


def _summary(
    command: str,
    identifier: str,
    inputs: list[dict[str, Any]],
    outcomes: Sequence[Outcome],
    started: dt.datetime,
    finished: dt.datetime,
    seconds: float,
    code: int,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "run_id": identifier,
        "command": command,
        "inputs": inputs,
        "counts": counts(o.status for o in outcomes),
        "rows": len(outcomes),
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "duration_s": round(seconds, 3),
        **extra,
        "exit_code": code,
    }


def run_files(
    options: Options,
    settings: RunSettings,
    *,
    progress: Progress | None = None,
    timing: Timing | None = None,
    transport: Any = None,
    interrupt: Interrupt | None = None,
) -> RunResult:
    """The whole pipeline: load, check, send what is due, report every row.

    Runs its own event loop; inside a running one (a notebook, a web handler) await
    `run_files_async` instead. `interrupt` lets the caller stop the run from a signal
    handler or another thread: requests in flight finish, every row is reported.
    """
    work = run_files_async(
        options,
        settings,
        progress=progress,
        timing=timing,
        transport=transport,
        interrupt=interrupt,
    )
    return asyncio.run(work)


async def run_files_async(
    options: Options,
    settings: RunSettings,
    *,
    progress: Progress | None = None,
    timing: Timing | None = None,
    transport: Any = None,
    interrupt: Interrupt | None = None,
) -> RunResult:
    """`run_files` as a coroutine, for callers that already run an event loop."""
    timing = timing or Timing.real()
    started = timing.now()
    began = timing.monotonic()
    with bulk_work():
        inputs, checked = _load_and_check(options)
    identifier = run_id(list(options.paths), started)
    folder = report_folder(options, identifier)
    command = "run --dry-run" if settings.dry_run else "run"
    summaries: list[dict[str, Any]] = []

    def report(execution: Execution) -> None:
        summary = _summary(
            command,
            identifier,
            inputs,
            execution.outcomes,
            started,
            timing.now(),
            timing.monotonic() - began,
            execution.exit_code,
            warnings=list(checked.warnings),
            state=str(settings.state),
            base_url=settings.bound_to,
            requests=execution.requests,
            retries=execution.retries,
            rate_limited=execution.rate_limited,
            stopped=execution.stopped or ("interrupted" if execution.interrupted else ""),
        )
        summaries.append(summary)
        payloads = None
        if settings.dry_run:
            payloads = [(i, p) for i, p in enumerate(execution.payloads) if p is not None]
        with bulk_work():
            write_reports(folder, execution.checked, execution.outcomes, summary, payloads=payloads)

    execution = await execute(
        checked,
        settings,
        identifier,
        timing=timing,
        progress=progress or Silent(),
        transport=transport,
        interrupt=interrupt,
        report=report,
    )
    code = execution.exit_code
    [summary] = summaries
    warnings = checked.warnings + execution.warnings
    if execution.recovered:
        warnings += (
            f"{execution.recovered} row(s) were in flight when an earlier run stopped; "
            "they were settled from the campaign list where it could tell",
        )
    return RunResult(
        command=command,
        folder=folder,
        counts=summary["counts"],
        exit_code=code,
        rows=row_results(execution.checked, execution.outcomes),
        warnings=warnings,
        summary=summary,
        stopped=summary["stopped"],
        stopped_status=execution.stopped_status,
    )
