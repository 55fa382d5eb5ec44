"""The command line: options -> settings -> pipeline.run -> one closing line -> exit code.

Only this module prints, reads the environment, configures logging, installs signal
handlers, starts the sandbox for `--sandbox` and exits; the library does none of it.
A `PipelineError` becomes one clear line on stderr (plus a hint) and its exit code.
Commands import the heavy parts (pandas, Pandera, openpyxl) only when they run, so that
`--help`, `status` and `sandbox` start at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from functools import wraps
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click
from click.core import ParameterSource

from pipeline.errors import ConfigError, PipelineError
from pipeline.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_ROWS,
    DEFAULT_STATE,
    SANDBOX_STATE,
    Options,
    RunSettings,
    Secret,
    SendSettings,
    check_base_url,
)
from pipeline.stop import Interrupt
from sandbox.command import _parse_faults, sandbox_command

if TYPE_CHECKING:
    from pipeline.run import RunResult

# How many rows that need a person are listed on stderr before "... and N more".
SHOWN_PROBLEMS: Final = 20
# How many workbooks the closing line names (with the sheet read) before "and N more".
SHOWN_WORKBOOKS: Final = 3
KEY_VARIABLE: Final = "EXTROVERT_API_KEY"

F = TypeVar("F", bound=Callable[..., Any])


def _fails_cleanly(function: F) -> F:
    """Turn a PipelineError into one line (and a hint) on stderr and its exit code."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except PipelineError as exc:
            click.echo(f"Error: {exc}", err=True)
            if exc.hint:
                click.echo(exc.hint, err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="campaigns")
def cli() -> None:
    """Create Extrovert campaigns from CSV and Excel sheets, row by row, exactly once."""
    # httpx logs every request at INFO, with URLs; keep its loggers quiet whatever the
    # root logger says.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


_paths = click.argument(
    "paths", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=True)
)
_out = click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write the report files into DIR (default: reports/<run-id>/).",
    metavar="DIR",
)
_sheet = click.option(
    "--sheet",
    metavar="NAME",
    help="Read this sheet of each workbook (default: 'campaigns', else the first visible sheet).",
)
_skip_hidden_rows = click.option(
    "--skip-hidden-rows",
    is_flag=True,
    help="Leave out rows hidden in Excel (by hand or by a filter); by default they are read, "
    "with a warning naming them.",
)
_max_rows = click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ROWS,
    show_default=True,
    help="Refuse a file with more data rows than this.",
)
_quiet = click.option("--quiet", "-q", is_flag=True, help="Print only the closing line.")


def _parse_type(value: str | None) -> str | None:
    if value is None:
        return None
    from pipeline.parse import CellError, parse_campaign_type

    try:
        found = parse_campaign_type(value)
    except CellError:
        found = None
    if found is None:
        raise click.BadParameter("use Prospects (TARGET_USER) or Topic (KEYWORD)")
    return found


@cli.command()
@click.option(
    "--type",
    "campaign_type",
    metavar="T",
    help="Only the columns of one campaign type: Prospects (TARGET_USER) or Topic (KEYWORD).",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["xlsx", "csv"]),
    help="Excel workbook (with drop-downs and column help) or plain CSV "
    "(default: by the suffix of -o, else xlsx).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write it (default: campaigns.xlsx or campaigns.csv here).",
)
@click.option("--example", is_flag=True, help="Fill in the example rows (the demo sheet).")
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
@_fails_cleanly
def template(
    campaign_type: str | None,
    file_format: str | None,
    output: Path | None,
    example: bool,
    force: bool,
) -> None:
    """Write a blank input sheet: every column, drop-downs, and a sheet of column help."""
    from pipeline.template import SUFFIX_RULE, SUFFIXES, write_example, write_template

    kind = _parse_type(campaign_type)
    path = output or Path(f"campaigns.{file_format or 'xlsx'}")
    suffix = path.suffix.lower()
    if file_format is not None and suffix != f".{file_format}":
        raise click.UsageError(
            f"--format {file_format} does not match -o {path}; "
            f"name the file {path.stem}.{file_format} or leave out --format"
        )
    if suffix not in SUFFIXES:
        raise click.UsageError(f"-o {path}: {SUFFIX_RULE}")
    if path.exists() and not force:
        raise click.UsageError(f"{path} exists; add --force to overwrite it")
    written = write_example(path, kind) if example else write_template(path, campaign_type=kind)
    click.echo(f"Wrote {written}")


@cli.command(name="validate")
@_paths
@_out
@_sheet
@_skip_hidden_rows
@_max_rows
@_quiet
@_fails_cleanly
def validate_command(
    paths: tuple[Path, ...],
    out: Path | None,
    sheet: str | None,
    skip_hidden_rows: bool,
    max_rows: int,
    quiet: bool,
) -> None:
    """Check every row and write the report and payloads.jsonl; sends nothing.

    PATHS are .csv, .tsv, .xlsx, .xlsm, .xls, .xlsb or .ods files, or folders of them.
    """
    from pipeline.run import validate_files

    options = Options(
        paths=paths, out=out, sheet=sheet, max_rows=max_rows, skip_hidden_rows=skip_hidden_rows
    )
    result = validate_files(options)
    _finish(result, quiet)


def _read_key(key_file: Path | None) -> Secret | None:
    """The API key from --api-key-file, else EXTROVERT_API_KEY; None when neither."""
    if key_file is not None:
        try:
            text = key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"--api-key-file {key_file}: cannot be read ({exc.strerror})"
            ) from None
        if not text:
            raise ConfigError(f"--api-key-file {key_file}: the file is empty")
        return Secret(text)
    text = os.environ.get(KEY_VARIABLE, "").strip()
    return Secret(text) if text else None


@cli.command(name="run")
@_paths
@_out
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"The SQLite ledger to keep between runs (default: {DEFAULT_STATE}, "
    f"or {SANDBOX_STATE} with --sandbox).",
)
@click.option(
    "--base-url",
    envvar="EXTROVERT_BASE_URL",
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="The API's address, the part before /api/client/v2 (env EXTROVERT_BASE_URL).",
)
@click.option(
    "--sandbox", is_flag=True, help="Rehearse against a built-in stand-in API (needs no key)."
)
@click.option(
    "--api-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Read the API key from this file (default: the {KEY_VARIABLE} environment variable).",
)
@click.option(
    "--sandbox-fault",
    "sandbox_faults",
    multiple=True,
    metavar="KIND=P",
    callback=_parse_faults,
    help="With --sandbox: give create requests fault KIND with probability P. Repeatable.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.01),
    default=SendSettings.rate,
    show_default=True,
    help="Requests per second, never exceeded.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=64),
    default=SendSettings.concurrency,
    show_default=True,
    help="Requests in flight at most.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=SendSettings.timeout,
    show_default=True,
    help="Seconds to wait for an answer before the outcome is unknown.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=SendSettings.max_attempts,
    show_default=True,
    help="Failed attempts per row before giving up, for answers safe to retry (503, 408, "
    "no connection); 429s are waited out and do not count.",
)
@click.option(
    "--max-consecutive-errors",
    type=click.IntRange(min=1),
    default=SendSettings.max_consecutive_errors,
    show_default=True,
    help="Stop the run after this many server errors in a row.",
)
@click.option(
    "--dry-run", is_flag=True, help="Say what would be sent; send nothing (no key needed)."
)
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Send rows whose earlier outcome is unknown again (when the API has no campaign list).",
)
@click.option(
    "--skip-existing",
    is_flag=True,
    help="Before sending, treat campaigns that already exist (same owner and name) as created.",
)
@_sheet
@_skip_hidden_rows
@_max_rows
@_quiet
@_fails_cleanly
def run_command(
    paths: tuple[Path, ...],
    out: Path | None,
    state: Path | None,
    base_url: str,
    sandbox: bool,
    api_key_file: Path | None,
    sandbox_faults: dict[str, float],
    rate: float,
    concurrency: int,
    timeout: float,
    max_attempts: int,
    max_consecutive_errors: int,
    dry_run: bool,
    resend_unknown: bool,
    skip_existing: bool,
    sheet: str | None,
    skip_hidden_rows: bool,
    max_rows: int,
    quiet: bool,
) -> None:
    """Create a campaign for every valid row not created before; report every row.

    PATHS are .csv, .tsv, .xlsx, .xlsm, .xls, .xlsb or .ods files, or folders of them.
    """
    source = click.get_current_context().get_parameter_source("base_url")
    if sandbox and source not in (ParameterSource.DEFAULT, None):
        raise click.UsageError("--sandbox and --base-url cannot be used together")
    if sandbox_faults and not sandbox:
        raise click.UsageError("--sandbox-fault needs --sandbox")
    state = state or (SANDBOX_STATE if sandbox else DEFAULT_STATE)
    send = SendSettings(
        rate=rate,
        concurrency=concurrency,
        timeout=timeout,
        max_attempts=max_attempts,
        max_consecutive_errors=max_consecutive_errors,
    )
    options = Options(
        paths=paths, out=out, sheet=sheet, max_rows=max_rows, skip_hidden_rows=skip_hidden_rows
    )
    try:
        stand_in = (options, sandbox_faults) if sandbox else None
        with _api(state, base_url, stand_in, api_key_file) as (url, key, endpoint):
            settings = RunSettings(
                state=state,
                base_url=url,
                api_key=key,
                dry_run=dry_run,
                resend_unknown=resend_unknown,
                skip_existing=skip_existing,
                send=send,
                endpoint=endpoint,
            )
            result = _run_interruptibly(options, settings, quiet)
    except KeyboardInterrupt:  # before the run took over Ctrl-C, or a second one
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    if result.stopped:
        click.echo(f"Stopped: {result.stopped}", err=True)
        if result.stopped_status in (401, 403):
            click.echo(
                f"Check the key in {KEY_VARIABLE} (or --api-key-file) and --base-url; rows "
                "created earlier keep their ids (already_created).",
                err=True,
            )
    _finish(result, quiet)


@contextmanager
def _api(
    state: Path,
    base_url: str,
    sandbox: tuple[Options, Mapping[str, float]] | None,
    key_file: Path | None,
) -> Iterator[tuple[str, Secret | None, str]]:
    """(base URL, key, what the ledger binds to): as given, or a sandbox started for the run.

    `sandbox` (the run's options and the faults to give create requests) starts a
    stand-in API whose team also holds every owner e-mail of the run's sheets, each with
    a made-up id that is the same every time (so a real sheet can be rehearsed).
    """
    if sandbox is None:
        yield check_base_url(base_url), _read_key(key_file), ""
        return
    import uuid

    from pipeline.errors import PipelineError
    from pipeline.load import load
    from pipeline.parse import CellError, parse_owner
    from sandbox.config import DEFAULT_MEMBERS, Member
    from sandbox.server import DEFAULT_API_KEY, SandboxConfig, run_in_thread

    options, faults = sandbox
    emails: dict[str, None] = {}
    try:
        tables = load(
            options.paths,
            sheet=options.sheet,
            max_rows=options.max_rows,
            skip_hidden_rows=options.skip_hidden_rows,
        )
    except PipelineError:  # the run itself says what is wrong with the files
        tables = []
    for table in tables:
        for text in table.frame.get("owner", ()):
            try:
                owner = parse_owner(str(text))
            except CellError:
                continue
            if isinstance(owner, str) and "@" in owner:
                emails[owner.lower()] = None
    known = {m.email.lower() for m in DEFAULT_MEMBERS}
    members = DEFAULT_MEMBERS + tuple(
        Member(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{email}")),
            first_name=email.partition("@")[0],
            last_name="(rehearsal)",
            email=email,
            linkedin_url="",
        )
        for email in emails
        if email not in known
    )
    store = state.with_name(f"{state.stem}-campaigns.sqlite")
    with ExitStack() as stack:
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
            config = SandboxConfig(db=store, members=members, faults=dict(faults))
            url = stack.enter_context(run_in_thread(config))
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigError(
                f"--state {state}: the sandbox cannot keep its campaigns in {store}: {reason}"
            ) from None
        yield url, Secret(DEFAULT_API_KEY), "sandbox"


def _run_interruptibly(options: Options, settings: RunSettings, quiet: bool) -> RunResult:
    """`run_files` with Ctrl-C and SIGTERM wired to the run.

    The first (Ctrl-C or SIGTERM) says so on stderr, lets requests in flight finish and
    reports every row; the second cancels the requests in flight (their rows `unknown`)
    and still reports every row; a third, or a first one while no run is attached (while
    loading, while writing reports), is Python's own KeyboardInterrupt. The exit code is
    130, or 143 when SIGTERM came first (summary.json and the ledger say the same).
    """
    from pipeline.progress import ProgressBar
    from pipeline.run import run_files

    interrupt = Interrupt()
    received: list[int] = []  # the stopping signals so far, in order
    bar = ProgressBar(sys.stderr) if not quiet and sys.stderr.isatty() else None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        # Not attached and not set: loading (or a first one while writing the reports).
        # Set but no longer attached: the run is over and the reports are being written,
        # which a second one lets finish (it has nothing left to cancel).
        if interrupt.is_aborted() or not (interrupt.attached or interrupt.is_set()):
            raise KeyboardInterrupt
        in_flight, newline = interrupt.in_flight, "\n" if bar is not None else ""
        if not interrupt.is_set():
            if signum == signal.SIGTERM:
                interrupt.set("terminated (SIGTERM)", EXIT_TERMINATED)
            else:
                interrupt.set()  # "interrupted (Ctrl-C)", exit 130
            _say(newline + stopping_line(in_flight, settings.send.timeout))
        else:
            interrupt.abort()
            _say(newline + stopping_now_line(in_flight))

    previous: dict[signal.Signals, Any] = {}
    # Not in the main thread, both stay Python's own; where one is ignored (a script's
    # background job, nohup), it stays ignored.
    for stopping in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(stopping) is not signal.SIG_IGN:
            with suppress(ValueError):
                previous[stopping] = signal.signal(stopping, on_signal)
    try:
        return run_files(options, settings, progress=bar, interrupt=interrupt)
    except KeyboardInterrupt:
        if received[:1] == [signal.SIGTERM]:  # stopped at once, but SIGTERM came first
            click.echo("Terminated.", err=True)
            sys.exit(EXIT_TERMINATED)
        raise
    finally:
        for stopping, handler in previous.items():
            signal.signal(stopping, handler)
        if bar is not None:
            bar.close()


EXIT_TERMINATED: Final = 128 + signal.SIGTERM  # 143, as a shell reports death by SIGTERM


def stopping_line(in_flight: int, timeout: float) -> str:
    """What the first Ctrl-C (or SIGTERM) prints at once."""
    if not in_flight:
        return "Stopping: no request in flight; press Ctrl-C again to stop now"
    requests = "request" if in_flight == 1 else "requests"
    return (
        f"Stopping: waiting up to {timeout:g} s for {in_flight} {requests} in flight; "
        "press Ctrl-C again to stop now"
    )


def stopping_now_line(in_flight: int) -> str:
    """What the second Ctrl-C (or SIGTERM) prints at once."""
    if not in_flight:
        return "Stopping now."
    requests = "request" if in_flight == 1 else "requests"
    return (
        f"Stopping now: cancelling {in_flight} {requests} in flight; "
        "rows they were creating are reported unknown (the next run looks for them)"
    )


def _say(line: str) -> None:
    """One line on stderr from a signal handler, which may have cut into a write to
    stderr (the progress bar's): then past the stream's buffer, straight to its file."""
    try:
        click.echo(line, err=True)
    except RuntimeError:  # "reentrant call": the handler interrupted a write to stderr
        with suppress(OSError, ValueError):
            os.write(sys.stderr.fileno(), f"{line}\n".encode())


@cli.command(name="status")
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_STATE,
    show_default=True,
    help="The ledger to read.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the status as one JSON object instead."
)
@click.option(
    "--export",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE.csv",
    help="Write every entry (key, owner, name, campaign id, status, source, row) to a CSV "
    "file, replacing it.",
)
@click.option(
    "--backup",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Write a consistent copy of the ledger to FILE (SQLite's backup API; safe while "
    "a run goes).",
)
@click.option("--force", is_flag=True, help="Let --backup replace an existing FILE.")
@_fails_cleanly
def status_command(
    state: Path, as_json: bool, export: Path | None, backup: Path | None, force: bool
) -> None:
    """What the ledger knows: counts per status and file, and rows that need a person.

    Exits 1 when some row is unknown, failed or rejected, else 0. With --export or
    --backup it writes those files instead, one line each, and exits 0.
    """
    from pipeline.status import backup_ledger, export_ledger, ledger_status

    if force and backup is None:
        raise click.UsageError("--force goes with --backup")
    if as_json and (export is not None or backup is not None):
        raise click.UsageError("--json prints the status; give --export or --backup without it")
    if export is not None or backup is not None:
        if backup is not None:
            copied = backup_ledger(state, backup, force=force)
            click.echo(f"Backed up {copied} {'entry' if copied == 1 else 'entries'} to {backup}")
        if export is not None:
            written = export_ledger(state, export)
            click.echo(f"Wrote {written} {'entry' if written == 1 else 'entries'} to {export}")
        return
    found = ledger_status(state)
    if as_json:
        import json

        click.echo(json.dumps(found.as_json(), indent=2, ensure_ascii=False))
        sys.exit(found.exit_code)
    total = sum(found.counts.values())
    parts = ", ".join(f"{n} {s}" for s, n in sorted(found.counts.items())) or "empty"
    click.echo(f"{found.path}: {total} campaign keys: {parts}")
    for source, per in sorted(found.by_source.items()):
        click.echo(f"  {source}: " + ", ".join(f"{n} {s}" for s, n in sorted(per.items())))
    if found.runs:
        last = found.runs[-1]
        click.echo(
            f"Last run: {last['run_id']} ({last['command']}), started {last['started']}, "
            f"exit {last['exit_code'] if last['exit_code'] is not None else 'unfinished'}"
        )
    if found.attention:
        click.echo(f"{len(found.attention)} need a person:")
        for entry in found.attention[:SHOWN_PROBLEMS]:
            where = f"{entry.source}{f' [{entry.sheet}]' if entry.sheet else ''} row {entry.row}"
            click.echo(f"  {where}: {entry.status}: {entry.key}: {entry.last_error}")
        if len(found.attention) > SHOWN_PROBLEMS:
            click.echo(f"  ... and {len(found.attention) - SHOWN_PROBLEMS} more")
    sys.exit(found.exit_code)


def _campaign_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--created: a uuid, lower-cased; anything else is a usage error."""
    if value is None:
        return None
    from pipeline.model import is_uuid

    found = value.strip().lower()
    if not is_uuid(found):
        raise click.BadParameter(
            f"{value!r} is not a campaign id: expected a uuid such as "
            "0f8fad5b-d9cb-469f-a165-70867728950e (the id Extrovert shows for the campaign)"
        )
    return found


@cli.command(name="resolve")
@click.argument("key")
@click.option(
    "--created",
    "campaign_id",
    metavar="ID",
    callback=_campaign_id,
    help="The campaign is in Extrovert with this id: record the key as created (never sent again).",
)
@click.option(
    "--absent",
    is_flag=True,
    help="The campaign is not in Extrovert: the next run sends it once "
    "(for a key left unknown or failed).",
)
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_STATE,
    show_default=True,
    help="The ledger to record it in.",
)
@click.option(
    "--note",
    metavar="TEXT",
    default="",
    help="Add this text to the key's note (who looked, and where).",
)
@_fails_cleanly
def resolve_command(
    key: str, campaign_id: str | None, absent: bool, state: Path, note: str
) -> None:
    """Record what you found in Extrovert for a key whose create is uncertain.

    KEY is the key as `campaigns status` shows it, or the row's campaign_key. Look the
    campaign up in Extrovert first, then give --created ID or --absent. Exits 2 when the
    ledger refuses (another id, a created key, a run holding the ledger).
    """
    from pipeline.model import Status
    from pipeline.status import resolve_key

    if (campaign_id is None) == (not absent):
        raise click.UsageError("give exactly one of --created ID and --absent")
    done = resolve_key(state, key, created=campaign_id, absent=absent, note=note)
    before, after = done.before, done.after
    if not done.changed:
        known = f" as campaign {after.campaign_id}" if after.campaign_id else ""
        click.echo(f"{done.key}: already {after.status}{known}; nothing changed")
    elif after.status is Status.CREATED:
        click.echo(
            f"{done.key}: recorded as {after.status} with campaign {after.campaign_id} "
            f"(was {before.status}); it is never sent again"
        )
    else:
        click.echo(
            f"{done.key}: recorded as {after.status} (was {before.status}); "
            "the next run sends it once"
        )


cli.add_command(sandbox_command, "sandbox")


def _finish(result: RunResult, quiet: bool) -> None:
    if not quiet:
        for warning in result.warnings:
            click.echo(f"Warning: {warning}", err=True)
        for item in result.attention[:SHOWN_PROBLEMS]:
            where = f"{item.source}{f' [{item.sheet}]' if item.sheet else ''} row {item.row}"
            click.echo(f"{where}: {item.status}: {' | '.join(item.errors)}", err=True)
        hidden = len(result.attention) - SHOWN_PROBLEMS
        if hidden > 0:
            click.echo(f"... and {hidden} more in failed.csv", err=True)
    click.echo(closing_line(result))
    sys.exit(result.exit_code)


def closing_line(result: RunResult) -> str:
    """`5 rows: 4 valid, 1 invalid. Reports in reports/<run-id>`; with workbooks among the
    inputs, a sentence naming the sheet read of each comes before `Reports in`."""
    parts = ", ".join(f"{n} {status}" for status, n in result.counts.items()) or "no rows"
    plural = "" if result.total == 1 else "s"
    sheets = _sheets_read(result.summary.get("inputs", ()))
    return f"{result.total} row{plural}: {parts}. {sheets}Reports in {result.folder}"


def _sheets_read(inputs: Iterable[Mapping[str, Any]], shown: int = SHOWN_WORKBOOKS) -> str:
    """`Read sheet 'campaigns' of plan.xlsx. ` (with its space), for the workbooks among
    summary.json's `inputs`: `of a.xlsx, b.xlsx and c.xlsx` when the sheets read share
    one name, else `sheet 'x' of a.xlsx, sheet 'y' of b.xlsx`; past `shown`, `and N more`.
    Nothing for CSV files."""
    read = [(Path(i["path"]).name, str(i["sheet"])) for i in inputs if i.get("sheet")]
    if not read:
        return ""
    names = {sheet for _, sheet in read}
    if len(names) == 1:
        items = [name for name, _ in read]
        opening = f"Read sheet '{read[0][1]}' of "
    else:
        items = [f"sheet '{sheet}' of {name}" for name, sheet in read]
        opening = "Read "
    if len(items) > shown:
        listed = f"{', '.join(items[:shown])} and {len(items) - shown} more"
    elif len(items) > 1:
        listed = f"{', '.join(items[:-1])} and {items[-1]}"
    else:
        listed = items[0]
    return f"{opening}{listed}. "


def main() -> None:
    """The console script `campaigns`."""
    cli(prog_name="campaigns")


__all__ = ["cli", "main"]
