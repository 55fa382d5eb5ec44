"""Wires the stages together: the one library entry point the CLI calls.

`validate_files` is load -> validate -> map -> report, with nothing sent. Each entry
point returns a `RunResult` (counts, report folder, exit code, the rows that need a
person) and raises only `PipelineError` for what stops it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from pipeline.client import Secret
from pipeline.errors import ConfigError
from pipeline.execute import Progress, RunSettings, execute
from pipeline.ledger import Entry, Ledger
from pipeline.load import DEFAULT_MAX_ROWS, Table, expand_paths, load
from pipeline.map import map_rows
from pipeline.report import OK_STATUSES, Outcome, counts, rows_exit_code, write_reports
from pipeline.validate import Checked, validate

DEFAULT_REPORTS: Final = Path("reports")
DEFAULT_STATE: Final = DEFAULT_REPORTS / "state.sqlite"
# A sandbox rehearsal keeps its own ledger (and the sandbox its campaigns beside it), so
# that campaigns made up by the sandbox never count as created in the real account.
SANDBOX_STATE: Final = DEFAULT_REPORTS / "sandbox-state.sqlite"


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
    stopped: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def run_id(paths: Sequence[Path], now: dt.datetime) -> str:
    """UTC timestamp + the stem of the first input: `20261126T101500Z-example`."""
    stem = paths[0].stem if paths else "run"
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{stem}"


def report_folder(options: Options, identifier: str) -> Path:
    """`--out` as given, else a new `reports/<run-id>` (suffixed if taken); created now,
    so that a folder that cannot be written stops a run before it sends anything."""
    folder = _pick_folder(options, identifier)
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


def describe_inputs(tables: Sequence[Table]) -> list[dict[str, Any]]:
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
    code = rows_exit_code(outcomes)
    summary = _summary(
        "validate",
        identifier,
        tables,
        outcomes,
        started,
        clock(),
        time.perf_counter() - began,
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
        attention=attention(checked, outcomes),
        warnings=checked.warnings,
        summary=summary,
    )


def _summary(
    command: str,
    identifier: str,
    tables: Sequence[Table],
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
        "inputs": describe_inputs(tables),
        "counts": counts(outcomes),
        "rows": len(outcomes),
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "duration_s": round(seconds, 3),
        **extra,
        "exit_code": code,
    }


@contextmanager
def _endpoint(settings: RunSettings, sandbox: bool) -> Iterator[RunSettings]:
    """The settings to send with: as given, or pointed at a sandbox started for the run."""
    if not sandbox:
        if settings.api_key is None and not settings.dry_run:
            raise ConfigError(
                "no API key: set EXTROVERT_API_KEY or give --api-key-file",
                hint="To rehearse without an account, add --sandbox (it needs no key).",
            )
        yield settings
        return
    from sandbox.server import DEFAULT_API_KEY, SandboxConfig, run_in_thread

    store = settings.state.with_name(f"{settings.state.stem}-campaigns.sqlite")
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--state {settings.state}: {exc.strerror or exc}") from None
    with run_in_thread(SandboxConfig(db=store)) as url:
        yield replace(settings, base_url=url, api_key=Secret(DEFAULT_API_KEY), endpoint="sandbox")


def run_files(
    options: Options,
    settings: RunSettings,
    *,
    sandbox: bool = False,
    progress: Progress | None = None,
    transport: Any = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic: Callable[[], float] | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> RunResult:
    """The whole pipeline: load, check, send what is due, report every row.

    `sleep` and `monotonic` are the sender's time (tests inject both); `clock` stamps
    the run id and the summary.
    """
    started = clock()
    began = time.perf_counter()
    with bulk_work():
        paths = expand_paths(options.paths)
        tables = load(paths, sheet=options.sheet, max_rows=options.max_rows)
        checked = validate(tables, defaults=options.defaults)
    identifier = run_id(list(options.paths), started)
    folder = report_folder(options, identifier)
    with _endpoint(settings, sandbox) as endpoint:
        work = execute(
            checked,
            endpoint,
            identifier,
            progress=progress,
            transport=transport,
            sleep=sleep,
            clock=monotonic,
        )
        execution = asyncio.run(work)
    code = execution.exit_code
    command = "run --dry-run" if settings.dry_run else "run"
    summary = _summary(
        command,
        identifier,
        tables,
        execution.outcomes,
        started,
        clock(),
        time.perf_counter() - began,
        code,
        warnings=list(checked.warnings),
        state=str(settings.state),
        base_url="sandbox" if sandbox else settings.base_url,
        requests=execution.requests,
        retries=execution.retries,
        rate_limited=execution.rate_limited,
        stopped=execution.stopped or ("interrupted" if execution.interrupted else ""),
    )
    payloads = None
    if settings.dry_run:
        payloads = [(i, p) for i, p in enumerate(execution.payloads) if p is not None]
    with bulk_work():
        write_reports(folder, execution.checked, execution.outcomes, summary, payloads=payloads)
    warnings = checked.warnings
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
        attention=attention(execution.checked, execution.outcomes),
        warnings=warnings,
        summary=summary,
        stopped=summary["stopped"],
    )


@dataclass(frozen=True)
class LedgerStatus:
    """What `campaigns status` shows: counts, counts per file, rows needing a person."""

    path: Path
    counts: dict[str, int]
    by_source: dict[str, dict[str, int]]
    attention: tuple[Entry, ...]
    runs: list[dict[str, Any]]


def ledger_status(state: Path) -> LedgerStatus:
    """Read the ledger without taking its lock (a run may be going on)."""
    if not state.exists():
        raise ConfigError(
            f"no ledger at {state}", hint="Run `campaigns run` first, or give --state."
        )
    with Ledger.open(state, run_id="status", lock=False) as ledger:
        entries = ledger.entries()
        runs = ledger.runs()
    by_source: dict[str, dict[str, int]] = {}
    for entry in entries:
        per = by_source.setdefault(entry.source, {})
        per[entry.status] = per.get(entry.status, 0) + 1
    totals: dict[str, int] = {}
    for entry in entries:
        totals[entry.status] = totals.get(entry.status, 0) + 1
    needs = tuple(e for e in entries if e.status in ("unknown", "failed", "rejected", "sending"))
    return LedgerStatus(state, totals, by_source, needs, runs)
