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

import datetime as dt
import gc
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from pipeline import logs
from pipeline.archive import Archived, archive_files, copy_names, finished_files, keep_inputs
from pipeline.errors import ConfigError, PlanError, RowsNeedAttention, StoppedError
from pipeline.folders import ReportFolder, prune_run_folders
from pipeline.inputs import naming_urls, read_tables, url_stem
from pipeline.load import Table
from pipeline.map import valid_payloads
from pipeline.model import (
    NEEDS_PERSON,
    Outcome,
    Status,
    counts,
    exit_code,
    is_uuid,
    place,
)
from pipeline.prospects import CheckedProspects, check_prospects
from pipeline.refeed import Refed, Replacement, replace_refed_rows
from pipeline.report import write_reports, write_summary
from pipeline.settings import Options, RunSettings
from pipeline.timing import Timing
from pipeline.validate import Checked, validate

if TYPE_CHECKING:  # the online half is imported by the functions that use it
    from pipeline.execute import Execution
    from pipeline.plan import Plan
    from pipeline.session import Progress
    from pipeline.stop import Interrupt

_log = logging.getLogger(__name__)


class RowResult(NamedTuple):
    """One row as results.csv shows it: where it is, what it is, what happened.

    (A named tuple, not a dataclass: a run of 100,000 rows makes 100,000 of them, and a
    tuple is made several times faster.)"""

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
    # An update's (or would-be update's) changes, `column: old -> new` (`Outcome.changes`).
    changes: tuple[str, ...] = ()

    @property
    def needs_person(self) -> bool:
        return self.status in NEEDS_PERSON


class ProspectResult(NamedTuple):
    """One prospect row as prospects.csv shows it (a named tuple, as `RowResult`)."""

    source: str
    sheet: str
    row: int
    campaign_key: str
    list_name: str
    linkedin_url: str
    url: str
    status: Status
    errors: tuple[str, ...]

    @property
    def needs_person(self) -> bool:
        return self.status in NEEDS_PERSON


@dataclass(frozen=True)
class RunResult:
    """What a command did: a record per row, counts, the report folder, the exit code.

    Nothing raises for rows that need a person: call `raise_for_status()` to make that
    an error (`RowsNeedAttention`, or `StoppedError` when the run stopped early).
    `reports_kept` is False for a run that changed nothing (see `changed_nothing`): no
    report folder was kept.
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
    reports_kept: bool = True
    # The prospect rows (a `prospects` sheet, a prospects file), each as prospects.csv
    # shows it, and their counts per status.
    prospects: tuple[ProspectResult, ...] = ()
    prospect_counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def attention(self) -> tuple[RowResult, ...]:
        """The rows a person should look at, in sheet order."""
        return tuple(row for row in self.rows if row.needs_person)

    @property
    def prospects_attention(self) -> tuple[ProspectResult, ...]:
        """The prospect rows a person should look at, in sheet order."""
        return tuple(row for row in self.prospects if row.needs_person)

    def raise_for_status(self) -> RunResult:
        """Return self when every row is done; else raise (see the class docstring)."""
        if self.exit_code == 0:
            return self
        if self.stopped and self.exit_code == 3:
            raise StoppedError(
                f"the run stopped early: {self.stopped}", http_status=self.stopped_status
            )
        attention = len(self.attention) + len(self.prospects_attention)
        raise RowsNeedAttention(self.exit_code, attention, self.folder)


def run_id(paths: Sequence[Path | str], now: dt.datetime) -> str:
    """UTC timestamp + the stem of the first input: `20261126T101500Z-example` (a URL's
    last path segment, or its host: `20261126T101500Z-export`)."""
    first = paths[0] if paths else Path("run")
    stem = url_stem(first) if isinstance(first, str) else first.stem
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{stem}"


def report_folder(options: Options, identifier: str) -> ReportFolder:
    """`--out` as given, else a new `reports/<run-id>` (suffixed if taken); created now,
    so that a folder that cannot be written stops a run before it sends anything (and
    `discard`ed when the run writes no report there)."""
    if options.out is not None:
        inside = options.out.resolve()
        for source in options.paths:
            if (
                isinstance(source, Path)
                and source.is_dir()
                and inside.is_relative_to(source.resolve())
            ):
                raise ConfigError(
                    f"--out {options.out} is inside the input folder {source}: the next run "
                    "would read the reports as input",
                    hint="Choose a folder for the reports outside the input folders.",
                )
    return ReportFolder.claim(options.out, options.reports_root, identifier)


def check_archive(options: Options, settings: RunSettings) -> None:
    """Refuse (`ConfigError`) an archive folder that is the reports folder, inside it or
    around it: its `<run>` folders would be, or sit among, report folders, which
    `--keep-reports` prunes. Nothing for a run without --archive."""
    if settings.archive is None:
        return
    archive, root = settings.archive.resolve(), options.reports_root.resolve()
    if archive == root:
        relation = "is"
    elif archive.is_relative_to(root):
        relation = "is inside"
    elif root.is_relative_to(archive):
        relation = "holds"
    else:
        return
    raise ConfigError(
        f"the archive folder {settings.archive} {relation} the reports folder "
        f"{options.reports_root}: archived files must stay apart from report folders, "
        "which are pruned",
        hint="Choose an --archive folder that is neither inside the --reports folder "
        "nor around it.",
    )


def changed_nothing(execution: Execution, dry_run: bool, warnings: Sequence[str]) -> bool:
    """A run whose report would only repeat the last one, so none is kept (without
    --out): every row already created, none with a note, no request made, nothing that
    stopped the run or was settled from an earlier one, no warning. A dry run is a
    question asked, so its answer is always kept."""
    return (
        not dry_run
        and execution.requests == 0
        and not (execution.stopped or execution.interrupted or execution.recovered)
        and not warnings
        and all(o.status is Status.ALREADY_CREATED and not o.errors for o in execution.outcomes)
        and all(o.status in _SETTLED for o in execution.prospect_outcomes)
    )


# Prospect statuses a rerun that changed nothing may report.
_SETTLED: Final = frozenset({Status.ALREADY_ADDED, Status.EXISTS})


def keep_newest_reports(
    options: Options, folder: ReportFolder, summary: dict[str, Any], kept: bool
) -> tuple[str, ...]:
    """`--keep-reports N`: prune all but the newest N run folders of each command in the
    reports root (never this run's; `pipeline.folders`); `summary["pruned"]` names the
    pruned ones (and summary.json, when kept, is written again). Returns a warning for
    each folder that could not be pruned, and for each that stays because it holds
    files this tool did not write."""
    if options.keep_reports is None:
        return ()
    root = options.reports_root
    pruned = prune_run_folders(root, options.keep_reports, spare=(folder.path,))
    warnings = tuple(
        f"could not delete the old report folder {root / failed}" for failed in pruned.failed
    ) + tuple(
        f"the old report folder {root / name} was pruned but not removed: it also holds "
        f"{', '.join(others)}, which this tool did not write"
        for name, others in pruned.left
    )
    summary["pruned"] = list(pruned.removed)
    summary["warnings"] = [*summary.get("warnings", ()), *warnings]
    if kept:
        try:
            write_summary(folder.path, summary)
        except OSError as exc:
            why = exc.strerror or exc
            warnings += (f"{folder.path / 'summary.json'} does not list the pruned folders: {why}",)
    return warnings


def describe_inputs(
    tables: Sequence[Table], replacements: Sequence[Replacement] = ()
) -> list[dict[str, Any]]:
    """summary.json's `inputs`: per file its path (a URL without its query), its copy in
    the report folder (`inputs/...`), sha256, format, sheet and the rows read.

    A fed-back report (see `pipeline.refeed`) also lists what it `replaces`: per input,
    its [row here, row there] pairs; an input whose rows were replaced lists them as
    `replaced`. results.csv holds the rows read less the rows replaced.
    """
    seen: dict[Path, dict[str, Any]] = {}
    copies = copy_names(tables)
    for table in tables:
        entry = seen.get(table.path)
        if entry is None:
            entry = seen[table.path] = {
                "path": table.url or str(table.path),
                "copy": copies[table.path],
                "sha256": table.sha256,
                "format": table.detected,
                "sheet": table.sheet,
                "rows": 0,
            }
        entry["rows"] += len(table.frame)
    for replacement in replacements:
        pairs = [list(pair) for pair in replacement.pairs]
        entry = seen[replacement.source]
        original = seen[replacement.original]
        entry.setdefault("replaces", []).append({"path": original["path"], "rows": pairs})
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
            o.changes,
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


def validate_files(
    options: Options, *, timing: Timing | None = None, tables: Sequence[Table] | None = None
) -> RunResult:
    """Load, check and map every row; write the reports and `payloads.jsonl`; send nothing.

    `tables` are the inputs read already (by `pipeline.load.load_tables`, under the names
    the reports should give them); `options.paths` are then not read."""
    with bulk_work():
        result = _validate_files(options, timing or Timing.real(), tables)
    logs.run_reported(_log, result)
    return result


def _validate_files(options: Options, timing: Timing, read: Sequence[Table] | None) -> RunResult:
    started = timing.now()
    began = timing.monotonic()
    inputs, checked, tables, refed = _load_and_check(options, timing, read)
    outcomes = [
        Outcome(Status.INVALID, errors=errors) if errors else Outcome(Status.VALID)
        for errors in checked.errors
    ]
    found = check_prospects(refed.tables, checked)
    checked = replace(checked, warnings=checked.warnings + found.warnings)
    said = [Outcome(p.status or Status.VALID, errors=p.errors) for p in found.prospects]
    identifier = run_id(list(options.paths), started)
    code = exit_code(o.status for o in [*outcomes, *said])
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
        **_prospect_summary(said),
    )
    folder = report_folder(options, identifier)
    logs.run_started(_log, identifier, "validate", inputs)
    kept = _keep_inputs(folder.path, tables, summary)
    write_reports(
        folder.path,
        checked,
        outcomes,
        summary,
        payloads=valid_payloads(checked),  # made as payloads.jsonl is written
        prospects=(found, said),
    )
    warnings = checked.warnings + kept + keep_newest_reports(options, folder, summary, kept=True)
    return RunResult(
        command="validate",
        folder=folder.path,
        counts=summary["counts"],
        exit_code=code,
        rows=row_results(checked, outcomes),
        warnings=warnings,
        summary=summary,
        prospects=prospect_results(found, said),
        prospect_counts=counts(o.status for o in said),
    )


def _online_summary(settings: RunSettings, execution: Execution) -> dict[str, Any]:
    """summary.json's fields of a run that reached the API: the ledger, the API, the
    requests, why it stopped, and its prospects."""
    return {
        "state": str(settings.state),
        "base_url": settings.bound_to,
        "requests": execution.requests,
        "retries": execution.retries,
        "rate_limited": execution.rate_limited,
        "stopped": execution.stopped or ("interrupted" if execution.interrupted else ""),
        **_prospect_summary(execution.prospect_outcomes, execution.prospect_limits),
    }


def _prospect_summary(
    outcomes: Sequence[Outcome], limits: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """summary.json's `prospects` (rows, counts per status, and the account's limits as
    the last answer gave them), when the run has any."""
    if not outcomes:
        return {}
    found: dict[str, Any] = {"rows": len(outcomes), "counts": counts(o.status for o in outcomes)}
    if limits:
        from pipeline.lists import LIMIT_REACHED

        found["limits"] = dict(limits)
        waiting = sum(
            o.status is Status.OVER_LIMIT or (o.errors[:1] == (LIMIT_REACHED,)) for o in outcomes
        )
        found["waiting"] = waiting
    return {"prospects": found}


def prospect_results(
    found: CheckedProspects, outcomes: Sequence[Outcome]
) -> tuple[ProspectResult, ...]:
    """A `ProspectResult` per prospect row: the same values prospects.csv writes."""
    return tuple(
        ProspectResult(
            p.source,
            p.sheet,
            p.row,
            p.campaign_key,
            p.list_name,
            p.linkedin_url,
            p.url,
            o.status,
            o.errors,
        )
        for p, o in zip(found.prospects, outcomes, strict=True)
    )


def _load_and_check(
    options: Options, timing: Timing, tables: Sequence[Table] | None = None
) -> tuple[list[dict[str, Any]], Checked, list[Table], Refed]:
    """summary.json's `inputs`, every row checked, the tables read (files, downloads:
    `pipeline.inputs`; or `tables`, read already) and what replaced what: the rows of a
    report fed back beside its sheet replace the rows they came from (`pipeline.refeed`)."""
    tables = list(tables) if tables is not None else read_tables(options, timing=timing)
    refed = replace_refed_rows(tables)
    with naming_urls(tables):
        checked = validate(refed.tables, defaults=options.defaults, names=options.names)
    checked = replace(checked, warnings=checked.warnings + refed.warnings)
    return describe_inputs(tables, refed.replacements), checked, tables, refed


def _keep_inputs(folder: Path, tables: Sequence[Table], summary: dict[str, Any]) -> tuple[str, ...]:
    """inputs/: a copy of every input as read (`pipeline.archive`); a copy that cannot be
    written is a warning (in summary.json too), and its `copy` there is null."""
    kept = keep_inputs(folder, tables)
    for entry in summary["inputs"]:
        if entry["copy"] in kept.missing:
            entry["copy"] = None
    summary["warnings"] = [*summary.get("warnings", ()), *kept.warnings]
    return kept.warnings


def _archive(
    settings: RunSettings,
    execution: Execution,
    tables: Sequence[Table],
    replacements: Sequence[Replacement],
    name: str,
    prospects: CheckedProspects | None = None,
) -> Archived:
    """--archive: the input files whose rows (prospect rows too) are all done, moved to
    `<archive>/<name>/`
    (the run's `ReportFolder.name`); nothing for a dry run or a run that stopped early
    (`pipeline.archive`)."""
    rows = execution.checked.rows
    if (
        settings.archive is None
        or settings.dry_run
        or execution.stopped
        or execution.interrupted
        or "source_path" not in rows
    ):
        return Archived()
    sources = rows["source_path"].tolist()
    statuses = [o.status for o in execution.outcomes]
    if prospects is not None and len(prospects):
        sources += prospects.rows["source_path"].tolist()
        statuses += [o.status for o in execution.prospect_outcomes]
    done = finished_files(tables, replacements, sources, statuses)
    return archive_files(done, settings.archive / name)


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
    tables: Sequence[Table] | None = None,
) -> RunResult:
    """The whole pipeline: load, check, send what is due, report every row.

    Runs its own event loop; inside a running one (a notebook, a web handler) await
    `run_files_async` instead. `interrupt` lets the caller stop the run from a signal
    handler or another thread: requests in flight finish, every row is reported.
    `tables` are the inputs already read (`pipeline.inputs.read_tables(options)`), so
    that a caller that looked at them first downloads nothing twice; None reads them.
    """
    work = run_files_async(
        options,
        settings,
        progress=progress,
        timing=timing,
        transport=transport,
        interrupt=interrupt,
        tables=tables,
    )
    import asyncio

    return asyncio.run(work)


async def run_files_async(
    options: Options,
    settings: RunSettings,
    *,
    progress: Progress | None = None,
    timing: Timing | None = None,
    transport: Any = None,
    interrupt: Interrupt | None = None,
    tables: Sequence[Table] | None = None,
) -> RunResult:
    """`run_files` as a coroutine, for callers that already run an event loop."""
    result, _ = await _run_files(
        options,
        settings,
        progress=progress,
        timing=timing,
        transport=transport,
        interrupt=interrupt,
        tables=tables,
        planning=False,
    )
    return result


def plan_files(
    options: Options,
    settings: RunSettings,
    *,
    progress: Progress | None = None,
    timing: Timing | None = None,
    transport: Any = None,
    tables: Sequence[Table] | None = None,
    interrupt: Interrupt | None = None,
) -> tuple[RunResult, Plan | None]:
    """What `run_files` would do, sending nothing (a dry run, whatever `settings` say),
    and the plan that `apply_plan` carries out: saved as plan.json in the report folder.
    A plan that stopped early (the key refused, the campaign list unreadable, Ctrl-C)
    is no plan: None, and the result says why (`stopped`, exit 3 or 130).

    A ledger that does not exist yet is made (empty), so that the plan names its
    identity. Raises `PlanError` when a row names an owner e-mail that could not be
    resolved (no key, and no earlier run learned it).
    """
    work = _run_files(
        options,
        replace(settings, dry_run=True),
        progress=progress,
        timing=timing,
        transport=transport,
        interrupt=interrupt,
        tables=tables,
        planning=True,
    )
    import asyncio

    return asyncio.run(work)


async def _run_files(
    options: Options,
    settings: RunSettings,
    *,
    progress: Progress | None,
    timing: Timing | None,
    transport: Any,
    interrupt: Interrupt | None,
    tables: Sequence[Table] | None,
    planning: bool,
) -> tuple[RunResult, Plan | None]:
    """`run_files_async`, or (`planning`) `plan_files`: the same run, which also makes
    the plan and writes plan.json beside the reports."""
    from pipeline.execute import execute
    from pipeline.plan import PLAN_FILE
    from pipeline.session import Silent

    check_archive(options, settings)
    timing = timing or Timing.real()
    started = timing.now()
    began = timing.monotonic()
    with bulk_work():
        inputs, checked, tables, refed = _load_and_check(options, timing, tables)
        found = check_prospects(refed.tables, checked)
        checked = replace(checked, warnings=checked.warnings + found.warnings)
    replacements = refed.replacements
    identifier = run_id(list(options.paths), started)
    if planning:
        _make_ledger(settings.state, identifier, timing)
    folder = report_folder(options, identifier)
    command = "plan" if planning else "run --dry-run" if settings.dry_run else "run"
    logs.run_started(_log, identifier, command, inputs)
    summaries: list[dict[str, Any]] = []
    plans: list[Plan] = []
    refused: list[PlanError] = []
    notes: list[str] = []  # warnings of the reporting: files not archived, copies not kept
    writing = False  # set as the reports start: from then on the folder is kept

    def report(execution: Execution) -> None:
        nonlocal writing
        said = execution.prospect_outcomes
        archived = _archive(settings, execution, tables, replacements, folder.name, found)
        notes.extend(archived.warnings)
        summary = _summary(
            command,
            identifier,
            inputs,
            execution.outcomes,
            started,
            timing.now(),
            timing.monotonic() - began,
            execution.exit_code,
            warnings=[*checked.warnings, *archived.warnings],
            **_online_summary(settings, execution),
            archived=archived.as_json(),
        )
        summaries.append(summary)
        if planning and not (execution.stopped or execution.interrupted):
            made = _plan_of(
                execution, settings, inputs, checked, started, execution.prospects or found
            )
            if isinstance(made, PlanError):  # no report, no plan: raised once it is over
                refused.append(made)
                return
            plans.append(made)
        warned = checked.warnings + execution.warnings + archived.warnings
        if (
            not folder.given
            and not archived.moved
            and changed_nothing(execution, settings.dry_run, warned)
        ):
            return
        payloads = None
        if settings.dry_run:
            payloads = [(i, p) for i, p in enumerate(execution.payloads) if p is not None]
        writing = True
        notes.extend(_keep_inputs(folder.path, tables, summary))
        with bulk_work():
            write_reports(
                folder.path,
                execution.checked,
                execution.outcomes,
                summary,
                payloads=payloads,
                prospects=(execution.prospects or found, said),
            )
            for plan in plans:
                plan.write(folder.path / PLAN_FILE)

    try:
        execution = await execute(
            checked,
            settings,
            identifier,
            command=command,
            timing=timing,
            progress=progress or Silent(),
            transport=transport,
            interrupt=interrupt,
            report=report,
            record_state=planning,
            prospects=found,
        )
    finally:
        if not writing:  # stopped before the reports (exit 2, locked), or changed nothing
            folder.discard()
    if refused:
        raise refused[0]
    result = _result(options, settings, command, folder, execution, summaries, notes, writing)
    said = execution.prospect_outcomes
    result = replace(
        result,
        prospects=prospect_results(execution.prospects or found, said),
        prospect_counts=counts(o.status for o in said),
    )
    return result, (plans[0] if plans else None)


def _result(
    options: Options,
    settings: RunSettings,
    command: str,
    folder: ReportFolder,
    execution: Execution,
    summaries: Sequence[dict[str, Any]],
    notes: Sequence[str],
    writing: bool,
) -> RunResult:
    """The `RunResult` of a run (or an apply) whose reports are written; old report
    folders pruned (`--keep-reports`)."""
    code = execution.exit_code
    [summary] = summaries
    warnings = execution.checked.warnings + tuple(notes) + execution.warnings
    if execution.recovered:
        warnings += (
            f"{execution.recovered} row(s) were in flight when an earlier run stopped; "
            "they were settled from the campaign list where it could tell",
        )
    warnings += keep_newest_reports(options, folder, summary, kept=writing)
    result = RunResult(
        command=command,
        folder=folder.path,
        counts=summary["counts"],
        exit_code=code,
        rows=row_results(execution.checked, execution.outcomes),
        warnings=warnings,
        summary=summary,
        stopped=summary["stopped"],
        stopped_status=execution.stopped_status,
        reports_kept=writing,
    )
    logs.run_reported(_log, result)
    return result


def _make_ledger(state: Path, identifier: str, timing: Timing) -> None:
    """An empty ledger at `state` if there is none yet: a plan names its identity, so that
    it can be applied to that ledger only, and once (see `pipeline.plan`)."""
    if state.exists():
        return
    from pipeline.ledger import Ledger

    with Ledger.open(state, run_id=identifier, timing=timing, lock=False):
        pass


def _plan_of(
    execution: Execution,
    settings: RunSettings,
    inputs: Sequence[Mapping[str, Any]],
    checked: Checked,
    made: dt.datetime,
    prospects: CheckedProspects | None = None,
) -> Plan | PlanError:
    """The plan of a planning run, or the `PlanError` to raise when it would create a
    campaign for an owner e-mail it could not resolve."""
    from pipeline.plan import Plan, unresolved_owners

    owners = {
        str(given): str(now)
        for given, now in zip(
            checked.values["owner"], execution.checked.values["owner"], strict=True
        )
        if isinstance(given, str) and "@" in given and is_uuid(str(now))
    }
    plan = Plan.make(
        execution,
        state=settings.state,
        endpoint=settings.bound_to,
        skip_existing=settings.skip_existing,
        resend_unknown=settings.resend_unknown,
        inputs=inputs,
        owners=owners,
        made=made,
        prospects=prospects,
        switches={
            "move_own_duplicated": settings.move_own_duplicated,
            "delete_if_inactive": settings.delete_if_inactive,
        },
    )
    unresolved = unresolved_owners(plan)
    if unresolved:
        first = unresolved[0]
        return PlanError(
            f"{place(first['source'], first['sheet'], first['row'])}: the owner "
            f"{first['payload']['ownerId']} is an e-mail that a plan must resolve to a team "
            f"member, which needs the API key ({len(unresolved)} row(s) name such owners); "
            "no plan was saved",
            hint="Set EXTROVERT_API_KEY (or give --api-key-file) and plan again.",
        )
    return plan


def apply_plan(
    plan: Plan,
    path: Path,
    options: Options,
    settings: RunSettings,
    *,
    progress: Progress | None = None,
    timing: Timing | None = None,
    transport: Any = None,
    interrupt: Interrupt | None = None,
) -> RunResult:
    """Carry out exactly what `plan` (read from `path`) shows: its creates and updates,
    with the bodies it holds, its inputs never read again. Refuses (`StalePlan`, exit 2,
    nothing sent) a plan made against another ledger or one that has moved since; each
    row is reported as a run reports it (results.csv and the rest, in a new report
    folder of `options`, with the plan kept there as plan.json)."""
    work = apply_plan_async(
        plan,
        path,
        options,
        settings,
        progress=progress,
        timing=timing,
        transport=transport,
        interrupt=interrupt,
    )
    import asyncio

    return asyncio.run(work)


async def apply_plan_async(
    plan: Plan,
    path: Path,
    options: Options,
    settings: RunSettings,
    *,
    progress: Progress | None = None,
    timing: Timing | None = None,
    transport: Any = None,
    interrupt: Interrupt | None = None,
) -> RunResult:
    """`apply_plan` as a coroutine."""
    from pipeline.execute import execute
    from pipeline.plan import PLAN_FILE
    from pipeline.session import Silent

    settings = replace(
        settings,
        dry_run=False,
        skip_existing=plan.skip_existing,
        resend_unknown=plan.resend_unknown,
        move_own_duplicated=plan.switches["move_own_duplicated"],
        delete_if_inactive=plan.switches["delete_if_inactive"],
    )
    timing = timing or Timing.real()
    started = timing.now()
    began = timing.monotonic()
    checked = plan.checked()
    found = plan.prospects()
    identifier = run_id([Path("apply")], started)
    folder = report_folder(options, identifier)
    command = "apply"
    inputs = plan.inputs
    logs.run_started(_log, identifier, command, inputs)
    summaries: list[dict[str, Any]] = []
    writing = False

    def report(execution: Execution) -> None:
        nonlocal writing
        summary = _summary(
            command,
            identifier,
            inputs,
            execution.outcomes,
            started,
            timing.now(),
            timing.monotonic() - began,
            execution.exit_code,
            warnings=[],
            plan={"path": str(path), "made": plan.data.get("made")},
            **_online_summary(settings, execution),
        )
        summaries.append(summary)
        writing = True
        with bulk_work():
            write_reports(
                folder.path,
                execution.checked,
                execution.outcomes,
                summary,
                prospects=(found, execution.prospect_outcomes),
            )
            plan.write(folder.path / PLAN_FILE)

    try:
        execution = await execute(
            checked,
            settings,
            identifier,
            command=command,
            timing=timing,
            progress=progress or Silent(),
            transport=transport,
            interrupt=interrupt,
            report=report,
            payloads=plan.payloads,
            expected=plan.expected(path.name),
            prospects=found,
        )
    finally:
        if not writing:  # refused (stale, locked, another ledger): no report
            folder.discard()
    result = _result(options, settings, command, folder, execution, summaries, (), writing)
    said = execution.prospect_outcomes
    return replace(
        result,
        prospects=prospect_results(found, said),
        prospect_counts=counts(o.status for o in said),
    )
