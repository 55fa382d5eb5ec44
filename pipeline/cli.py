"""The command line: options -> settings -> pipeline.run -> one closing line -> exit code.

Only this module prints, reads the environment, configures logging, installs signal
handlers, starts the sandbox for `--sandbox` and exits; the library does none of it.
A `PipelineError` becomes one clear line on stderr (plus a hint) and its exit code.
Commands import the heavy parts (pandas, Pandera, openpyxl; httpx, the sandbox's
server; asyncio) only when they run, so that `--help`, `status` and `sandbox` start at
once: importing this module imports click, the settings and little else.
"""

from __future__ import annotations

import gc
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import wraps
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Final, NoReturn, TypeVar

import click
from click.core import ParameterSource

from pipeline.errors import ConfigError, PipelineError
from pipeline.rehearsal import owner_emails, paced
from pipeline.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_REPORTS,
    DEFAULT_STATE,
    SANDBOX_STATE,
    Options,
    RunSettings,
    Secret,
    SendSettings,
    check_base_url,
    is_url,
)
from sandbox.command import _parse_faults, sandbox_command
from web.command import serve_command

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.load import Table
    from pipeline.plan import Plan
    from pipeline.progress import ProgressBar
    from pipeline.run import ProspectResult, RowResult, RunResult
    from pipeline.stop import Interrupt

# The garbage collector's first-generation threshold for a command (see `main`).
GC_FIRST_THRESHOLD: Final = 20_000
# How many rows that need a person are listed on stderr before "... and N more".
SHOWN_PROBLEMS: Final = 20
# How many workbooks the closing line names (with the sheet read) before "and N more".
SHOWN_WORKBOOKS: Final = 3
KEY_VARIABLE: Final = "EXTROVERT_API_KEY"

F = TypeVar("F", bound=Callable[..., Any])


def _fails_cleanly(function: F) -> F:
    """Set up where the command's words go (`_Output`: its `log_format`, `verbose` and
    `quiet` options, when it has them), and turn a PipelineError into one line (and a
    hint) on stderr, or an `error` event, and its exit code."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        output = _Output(
            str(kwargs.get("log_format") or "text"),
            verbose=bool(kwargs.get("verbose")),
            quiet=bool(kwargs.get("quiet")),
        )
        click.get_current_context().meta[_OUTPUT] = output
        with output:
            try:
                return function(*args, **kwargs)
            except PipelineError as exc:
                output.error(str(exc), exc.hint, exc.exit_code)
                sys.exit(exc.exit_code)
            except click.ClickException as exc:  # a usage error found by the command
                if not output.json:
                    raise
                output.error(exc.format_message(), "", exc.exit_code)
                sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


_OUTPUT: Final = "campaigns.output"
_LOG: Final = logging.getLogger(__name__)


class _Output:
    """Where a command's words go: `--log-format`, `--verbose`, `--quiet`.

    text: lines for people (this module prints them), and with --verbose a line per
    request from the library's `request` events. json: every event, the library's
    (`pipeline.logs`) and this module's (`error`, `warning`, `stopping`, `interrupted`,
    `terminated`), other libraries' records and Python warnings, one JSON object per
    line on stderr, and nothing else there. --quiet holds back what would go to stderr
    until the exit code is known: nothing is printed when it is 0; otherwise the held
    lines come out, then everything is printed as without --quiet.
    """

    def __init__(
        self, log_format: str = "text", *, verbose: bool = False, quiet: bool = False
    ) -> None:
        self.json = log_format == "json"
        self.quiet = quiet
        self.verbose = verbose
        self._handler: logging.StreamHandler[Any] | None = None
        self._held: IO[str] | None = None
        self._undo: list[Callable[[], object]] = []

    def __enter__(self) -> _Output:
        from pipeline import logs

        if self.quiet:
            import tempfile

            self._held = tempfile.SpooledTemporaryFile(
                mode="w+", max_size=1 << 20, encoding="utf-8"
            )
        handler = self._handler = logging.StreamHandler(self._held or sys.stderr)
        ours = logging.getLogger("pipeline")
        target = ours
        if self.json:
            handler.setFormatter(logs.JsonFormatter())
            target = logging.getLogger()  # the root: other libraries' records too
            logging.captureWarnings(True)
            self._undo.append(lambda: logging.captureWarnings(False))
        else:
            handler.setFormatter(logging.Formatter("%(message)s"))
            handler.addFilter(logs.only({"request"}))
        target.addHandler(handler)
        self._undo.append(lambda: target.removeHandler(handler))
        level = ours.level
        ours.setLevel(
            logging.DEBUG if self.verbose else logging.INFO if self.json else logging.WARNING
        )
        self._undo.append(lambda: ours.setLevel(level))
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        code: object = 0 if error is None else 1
        if isinstance(error, SystemExit):
            code = error.code or 0
        self.settle(code != 0)
        for undo in reversed(self._undo):
            undo()
        if self._held is not None:
            self._held.close()

    def settle(self, speak: bool) -> None:
        """The exit code is known: `speak` (it is not 0) releases the held lines to
        stderr, and from now on nothing is held; else they stay held, never printed."""
        held = self._held
        if held is None or not speak or self._handler is None:
            return
        self._handler.flush()
        held.seek(0)
        sys.stderr.write(held.read())
        sys.stderr.flush()
        self._handler.setStream(sys.stderr)
        held.close()
        self._held = None

    def error(self, message: str, hint: str, code: int) -> None:
        """What stopped the command: `Error: ...` and the hint, or an `error` event."""
        if self.json:
            self.event(logging.ERROR, "error", message, hint=hint, exit_code=code)
            return
        click.echo(f"Error: {message}", err=True)
        if hint:
            click.echo(hint, err=True)

    def warn(self, message: str) -> None:
        """A warning for a person: `Warning: ...`, or a `warning` event (both held back
        under --quiet: printed only when the exit code is not 0)."""
        if self.json:
            self.event(logging.WARNING, "warning", message)
        else:
            click.echo(f"Warning: {message}", file=self._held or sys.stderr)

    def event(self, level: int, event: str, message: str, **fields: Any) -> None:
        """Log one of this module's events (JSON mode)."""
        from pipeline import logs

        logs.emit(_LOG, level, event, message, **fields)

    def line(self, level: int, event: str, message: str, **fields: Any) -> str:
        """The text of an event, written past logging (by a signal handler)."""
        from pipeline import logs  # imported already, by __enter__

        return logs.render(level, event, message, **fields) if self.json else message


def _output() -> _Output:
    """The running command's `_Output` (text, when none: a test calling in directly)."""
    context = click.get_current_context(silent=True)
    found = context.meta.get(_OUTPUT) if context is not None else None
    return found if isinstance(found, _Output) else _Output()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="campaigns")
def cli() -> None:
    """Create Extrovert campaigns from CSV and Excel sheets, row by row, exactly once."""
    # httpx logs every request at INFO, with URLs; keep its loggers quiet whatever the
    # root logger says.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


class _PathOrUrl(click.Path):
    """A file or folder (a `Path`), or an input URL kept exactly as typed (a `click.Path`
    would turn `https://x` into `https:/x`)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and is_url(value):
            return value
        return super().convert(value, param, ctx)


_paths = click.argument(
    "paths", nargs=-1, required=True, type=_PathOrUrl(path_type=Path, dir_okay=True)
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
    envvar="CAMPAIGNS_RUN_SHEET",
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
    envvar="CAMPAIGNS_RUN_MAX_ROWS",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ROWS,
    show_default=True,
    help="Refuse a file with more data rows than this.",
)
_max_bytes = click.option(
    "--max-bytes",
    envvar="CAMPAIGNS_RUN_MAX_BYTES",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Refuse an input URL that serves more bytes than this (the download stops there).",
)
_reports = click.option(
    "--reports",
    "reports",
    envvar="CAMPAIGNS_RUN_REPORTS",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_REPORTS,
    show_default=True,
    metavar="DIR",
    help="The folder that holds a folder of reports per run (and, by default, the ledger).",
)
_keep_reports = click.option(
    "--keep-reports",
    "keep_reports",
    envvar="CAMPAIGNS_RUN_KEEP_REPORTS",
    type=click.IntRange(min=1),
    metavar="N",
    help="After writing the reports, prune all but the newest N run folders of each "
    "command in the reports folder (only the files this tool wrote in folders named like "
    "a run id; never this run's folder or the ledger).",
)


class ConfigProblem(click.ClickException):
    """A config file that cannot be used, met while reading options: one `Error:` line
    (and the hint), exit 2, like every other `ConfigError`."""

    exit_code = 2

    def __init__(self, error: ConfigError) -> None:
        super().__init__(str(error) + (f"\n{error.hint}" if error.hint else ""))


def _load_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """Read the config file (`--config`, `CAMPAIGNS_CONFIG`, or `./campaigns.toml`) before
    the other options, so that its settings become their defaults: an option or an
    environment variable still wins."""
    from pipeline.config import Config, find_config, read_config

    path = find_config(value, Path.cwd())
    try:
        config = read_config(path) if path is not None else Config()
    except ConfigError as exc:
        raise ConfigProblem(exc) from None
    ctx.meta[_CONFIG] = config
    values = config.option_values()
    level = os.environ.get(_LOG_LEVEL_VARIABLE, "").strip().lower()
    if level:  # the environment beats the file (`--verbose` beats both)
        values["verbose"] = level == "debug"
    ctx.default_map = {**(ctx.default_map or {}), **values}


# `log_level` has no option of its own: `--verbose` is `debug`.
_LOG_LEVEL_VARIABLE: Final = "CAMPAIGNS_RUN_LOG_LEVEL"


_CONFIG: Final = "campaigns.config"
_config = click.option(
    "--config",
    envvar="CAMPAIGNS_CONFIG",
    type=click.Path(path_type=Path, dir_okay=False),
    is_eager=True,
    expose_value=False,
    callback=_load_config,
    metavar="FILE",
    help="Settings file (default: campaigns.toml in the working folder, if any).",
)


def _config_of(ctx: click.Context) -> Config:
    from pipeline.config import Config

    config = ctx.meta.get(_CONFIG)
    return config if isinstance(config, Config) else Config()


def _defaults(ctx: click.Context) -> dict[str, str]:
    """The config's `[defaults]`, each overridden by `CAMPAIGNS_DEFAULTS_<COLUMN>`."""
    from schemas.columns import COLUMNS

    found = dict(_config_of(ctx).defaults)
    for column in COLUMNS:
        text = os.environ.get(f"CAMPAIGNS_DEFAULTS_{column.name.upper()}")
        if text is not None and text.strip():
            found[column.name] = text
    return found


def _options(ctx: click.Context, **given: Any) -> Options:
    """The run's `Options`: what the command line says, plus the config's defaults and
    names."""
    config = _config_of(ctx)
    return Options(defaults=_defaults(ctx), names=config.names, **given)


_quiet = click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Print nothing at all when the exit code is 0 (warnings about the sheets stay in "
    "summary.json; others are not shown); otherwise print as without --quiet. No progress bar.",
)
_log_format = click.option(
    "--log-format",
    "log_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="CAMPAIGNS_RUN_LOG_FORMAT",
    help="What stderr holds: text for people, or json: one JSON object per line for each "
    "event (run_started, row, warning, run_finished, error...) and nothing else. The "
    "closing line stays on stdout.",
)
_verbose = click.option(
    "--verbose",
    "-v",
    "verbose",
    is_flag=True,
    help="Log each request: method, path, status, latency and attempt (never the key, the "
    "body or a query string); in JSON, `request` events.",
)


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
@_config
@_out
@_reports
@_keep_reports
@_sheet
@_skip_hidden_rows
@_max_rows
@_max_bytes
@_quiet
@_log_format
@_fails_cleanly
def validate_command(
    paths: tuple[Path | str, ...],
    out: Path | None,
    reports: Path,
    keep_reports: int | None,
    sheet: str | None,
    skip_hidden_rows: bool,
    max_rows: int,
    max_bytes: int,
    quiet: bool,
    log_format: str,
) -> None:
    """Check every row and write the report and payloads.jsonl; sends nothing.

    PATHS are .csv, .tsv, .xlsx, .xlsm, .xls, .xlsb or .ods files, or folders of them.
    A PATH may also be an https:// link that serves one (a shared sheet's export link).
    """
    from pipeline.run import validate_files

    options = _options(
        click.get_current_context(),
        paths=paths,
        out=out,
        reports_root=reports,
        keep_reports=keep_reports,
        sheet=sheet,
        max_rows=max_rows,
        max_bytes=max_bytes,
        skip_hidden_rows=skip_hidden_rows,
    )
    result = validate_files(options)
    _finish(result, quiet)


def _ledger(state: Path | None, reports: Path) -> Path:
    """The ledger: as given (option, environment, config), else in the reports folder."""
    return state if state is not None else reports / DEFAULT_STATE.name


def _key_file(ctx: click.Context, key_file: Path | None) -> Path | None:
    """The key file to read, if any. `--api-key-file` on the command line wins; a key
    file named by the environment or the config file gives way to EXTROVERT_API_KEY
    (settings: option, then environment, then file)."""
    source = ctx.get_parameter_source("api_key_file")
    if key_file is None or source is ParameterSource.COMMANDLINE:
        return key_file
    return None if os.environ.get(KEY_VARIABLE, "").strip() else key_file


def _read_key(key_file: Path | None) -> Secret | None:
    """The API key from --api-key-file, else EXTROVERT_API_KEY; None when neither.

    A key file saved by Notepad (a UTF-8 byte-order mark, CRLF) works; one that others
    than its owner may read gets a warning (the key would be theirs too)."""
    if key_file is not None:
        try:
            text = key_file.read_bytes().decode("utf-8-sig", errors="replace").strip()
            mode = key_file.stat().st_mode
        except OSError as exc:
            raise ConfigError(
                f"--api-key-file {key_file}: cannot be read ({exc.strerror})"
            ) from None
        if not text:
            raise ConfigError(f"--api-key-file {key_file}: the file is empty")
        if mode & 0o077:
            _output().warn(
                f"the key file {key_file} can be read by other users "
                f"(mode {mode & 0o777:o}); run: chmod 600 {key_file}"
            )
        return Secret(text)
    text = os.environ.get(KEY_VARIABLE, "").strip()
    return Secret(text) if text else None


_state = click.option(
    "--state",
    envvar="CAMPAIGNS_RUN_STATE",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"The SQLite ledger to keep between runs (default: {DEFAULT_STATE.name} in the "
    f"reports folder, or {SANDBOX_STATE.name} with --sandbox).",
)
_base_url = click.option(
    "--base-url",
    envvar=["EXTROVERT_BASE_URL", "CAMPAIGNS_API_BASE_URL"],
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="The API's address, the part before /api/client/v2 (env EXTROVERT_BASE_URL).",
)
_sandbox = click.option(
    "--sandbox", is_flag=True, help="Rehearse against a built-in stand-in API (needs no key)."
)
_api_key_file = click.option(
    "--api-key-file",
    envvar="CAMPAIGNS_API_API_KEY_FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Read the API key from this file (default: the {KEY_VARIABLE} environment variable).",
)
_sandbox_fault = click.option(
    "--sandbox-fault",
    "sandbox_faults",
    multiple=True,
    metavar="KIND=P",
    callback=_parse_faults,
    help="With --sandbox: give create requests fault KIND with probability P. Repeatable.",
)
_resend_unknown = click.option(
    "--resend-unknown",
    is_flag=True,
    help="Send rows whose earlier outcome is unknown again (when the API has no campaign list).",
)
_skip_existing = click.option(
    "--skip-existing",
    is_flag=True,
    help="Before sending, treat campaigns that already exist (same owner and name) as created.",
)


def _sending(function: F) -> F:
    """The options that say how hard to push the API (`SendSettings`)."""
    options = (
        click.option(
            "--rate",
            envvar="CAMPAIGNS_API_RATE",
            type=click.FloatRange(min=0.01),
            default=SendSettings.rate,
            show_default=True,
            help="Requests per second, never exceeded.",
        ),
        click.option(
            "--concurrency",
            envvar="CAMPAIGNS_API_CONCURRENCY",
            type=click.IntRange(min=1, max=64),
            default=SendSettings.concurrency,
            show_default=True,
            help="Requests in flight at most.",
        ),
        click.option(
            "--timeout",
            envvar="CAMPAIGNS_API_TIMEOUT",
            type=click.FloatRange(min=0.1),
            default=SendSettings.timeout,
            show_default=True,
            help="Seconds to wait for an answer before the outcome is unknown.",
        ),
        click.option(
            "--max-attempts",
            envvar="CAMPAIGNS_API_MAX_ATTEMPTS",
            type=click.IntRange(min=1),
            default=SendSettings.max_attempts,
            show_default=True,
            help="Failed attempts per row before giving up, for answers safe to retry (503, "
            "408, no connection); 429s are waited out and do not count.",
        ),
        click.option(
            "--max-consecutive-errors",
            envvar="CAMPAIGNS_API_MAX_CONSECUTIVE_ERRORS",
            type=click.IntRange(min=1),
            default=SendSettings.max_consecutive_errors,
            show_default=True,
            help="Stop the run after this many server errors in a row.",
        ),
    )
    for option in reversed(options):
        function = option(function)
    return function


def _send_settings(
    ctx: click.Context,
    sandbox: bool,
    rate: float,
    concurrency: int,
    timeout: float,
    max_attempts: int,
    max_consecutive_errors: int,
) -> SendSettings:
    """The sending limits; a rehearsal against the built-in sandbox (which has no rate
    limit) is `paced` unless a rate is given (option, environment, config)."""
    send = SendSettings(
        rate=rate,
        concurrency=concurrency,
        timeout=timeout,
        max_attempts=max_attempts,
        max_consecutive_errors=max_consecutive_errors,
    )
    if not sandbox:
        return send
    return paced(send, rate_given=ctx.get_parameter_source("rate") is not ParameterSource.DEFAULT)


def _connection(
    ctx: click.Context,
    *,
    sandbox: bool,
    sandbox_faults: Mapping[str, float],
    state: Path | None,
    reports: Path,
) -> Path:
    """The ledger a command uses, once `--sandbox` and `--base-url` are found to agree: as
    given, or (a rehearsal, unless --state is on the command line) the sandbox's."""
    if sandbox and ctx.get_parameter_source("base_url") is ParameterSource.COMMANDLINE:
        raise click.UsageError("--sandbox and --base-url cannot be used together")
    if sandbox_faults and not sandbox:
        raise click.UsageError("--sandbox-fault needs --sandbox")
    if sandbox and ctx.get_parameter_source("state") is not ParameterSource.COMMANDLINE:
        # A rehearsal never writes into the ledger of the real account, even when the
        # config or the environment names that ledger.
        state = reports / SANDBOX_STATE.name
    return _ledger(state, reports)


@cli.command(name="run")
@_paths
@_config
@_out
@_reports
@_keep_reports
@_state
@_base_url
@_sandbox
@_api_key_file
@_sandbox_fault
@_sending
@click.option(
    "--dry-run", is_flag=True, help="Say what would be sent; send nothing (no key needed)."
)
@_resend_unknown
@_skip_existing
@_sheet
@_skip_hidden_rows
@_max_rows
@_max_bytes
@click.option(
    "--archive",
    "archive",
    envvar="CAMPAIGNS_RUN_ARCHIVE",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="After the run, move each input file whose rows are all done into DIR/<run-id>/ "
    "(never a URL; nothing in a dry run or a run that stopped early). DIR must be apart "
    "from the reports folder.",
)
@_quiet
@_log_format
@_verbose
@_fails_cleanly
def run_command(
    paths: tuple[Path | str, ...],
    out: Path | None,
    reports: Path,
    keep_reports: int | None,
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
    max_bytes: int,
    archive: Path | None,
    quiet: bool,
    log_format: str,
    verbose: bool,
) -> None:
    """Create a campaign for every valid row not created before, update those whose row
    changed since; report every row.

    PATHS are .csv, .tsv, .xlsx, .xlsm, .xls, .xlsb or .ods files, or folders of them.
    A PATH may also be an https:// link that serves one (a shared sheet's export link).
    """
    ctx = click.get_current_context()
    state = _connection(
        ctx, sandbox=sandbox, sandbox_faults=sandbox_faults, state=state, reports=reports
    )
    api_key_file = _key_file(ctx, api_key_file)
    send = _send_settings(
        ctx, sandbox, rate, concurrency, timeout, max_attempts, max_consecutive_errors
    )
    options = _options(
        ctx,
        paths=paths,
        out=out,
        reports_root=reports,
        keep_reports=keep_reports,
        sheet=sheet,
        max_rows=max_rows,
        max_bytes=max_bytes,
        skip_hidden_rows=skip_hidden_rows,
    )
    try:
        # A rehearsal reads the sheets before the run, for the stand-in team's owner
        # e-mails; the run takes those tables, so that a link is downloaded once.
        tables = _read_inputs(options) if sandbox else None
        stand_in = (owner_emails(tables or []), sandbox_faults) if sandbox else None
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
                archive=archive,
                move_own_duplicated=_prospect_switch(ctx, "move_own_duplicated"),
                delete_if_inactive=_prospect_switch(ctx, "delete_if_inactive"),
            )
            result = _interruptibly(settings, quiet, _running(options, settings, tables))
    except KeyboardInterrupt:  # before the run took over Ctrl-C, or a second one
        _interrupted()
    _said_stop(result, api_key_file)
    _finish(result, quiet)


def _interrupted() -> NoReturn:
    _say("Interrupted.", "interrupted", logging.ERROR)
    sys.exit(130)


_TRUE: Final = frozenset({"true", "yes", "1", "on"})
_FALSE: Final = frozenset({"false", "no", "0", "off"})


def _prospect_switch(ctx: click.Context, key: str) -> bool:
    """A `[prospects]` switch (`move_own_duplicated`, `delete_if_inactive`): the
    environment (`CAMPAIGNS_PROSPECTS_<KEY>`), else the config file, else false."""
    variable = f"CAMPAIGNS_PROSPECTS_{key.upper()}"
    text = os.environ.get(variable, "").strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    if text:
        raise ConfigError(f"{variable}={text!r} cannot work: it must be true or false")
    return bool(_config_of(ctx).values.get(("prospects", key), False))


def _running(
    options: Options, settings: RunSettings, tables: Sequence[Table] | None
) -> Callable[[Any, Interrupt], RunResult]:
    """`run_files` for `_interruptibly`."""

    def work(progress: Any, interrupt: Interrupt) -> RunResult:
        from pipeline.run import run_files

        return run_files(options, settings, progress=progress, interrupt=interrupt, tables=tables)

    return work


def _said_stop(result: RunResult, api_key_file: Path | None) -> None:
    """A stopped run always speaks (exit 3, 130 or 143): why, and for a refused key, what
    to check (JSON: the library's `stopped` event said it)."""
    output = _output()
    if not result.stopped or output.json:
        return
    output.settle(True)
    click.echo(f"Stopped: {result.stopped}", err=True)
    if result.stopped_status in (401, 403):
        where = f"the key file {api_key_file}" if api_key_file else KEY_VARIABLE
        click.echo(
            f"Check the key in {where} and the base URL; rows created earlier keep "
            "their ids (already_created).",
            err=True,
        )


@cli.command(name="plan")
@_paths
@_config
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Also save the plan to FILE (it is always saved as plan.json in the report folder).",
)
@_out
@_reports
@_keep_reports
@_state
@_base_url
@_sandbox
@_api_key_file
@_resend_unknown
@_skip_existing
@_sheet
@_skip_hidden_rows
@_max_rows
@_max_bytes
@_log_format
@_verbose
@_fails_cleanly
def plan_command(
    paths: tuple[Path | str, ...],
    output: Path | None,
    out: Path | None,
    reports: Path,
    keep_reports: int | None,
    state: Path | None,
    base_url: str,
    sandbox: bool,
    api_key_file: Path | None,
    resend_unknown: bool,
    skip_existing: bool,
    sheet: str | None,
    skip_hidden_rows: bool,
    max_rows: int,
    max_bytes: int,
    log_format: str,
    verbose: bool,
) -> None:
    """Show what `run` would do (campaigns to create, to update with their changes,
    unchanged, invalid) and save it as a plan that `apply` carries out exactly.

    Sends nothing. The key is needed only to resolve owner e-mails and to look at the
    campaign list. Exit 1 when a row needs a person, as a dry run.
    """
    from pipeline.plan import plan_lines
    from pipeline.run import plan_files

    ctx = click.get_current_context()
    state = _connection(ctx, sandbox=sandbox, sandbox_faults={}, state=state, reports=reports)
    api_key_file = _key_file(ctx, api_key_file)
    options = _options(
        ctx,
        paths=paths,
        out=out,
        reports_root=reports,
        keep_reports=keep_reports,
        sheet=sheet,
        max_rows=max_rows,
        max_bytes=max_bytes,
        skip_hidden_rows=skip_hidden_rows,
    )
    if output is not None:
        _check_plan_output(output, state, options.paths)
    plans: list[Plan | None] = []

    def work(progress: Any, interrupt: Interrupt) -> RunResult:
        found, made = plan_files(
            options, settings, progress=progress, interrupt=interrupt, tables=tables
        )
        plans.append(made)
        return found

    try:
        tables = _read_inputs(options) if sandbox else None
        faults: dict[str, float] = {}
        stand_in = (owner_emails(tables or []), faults) if sandbox else None
        with _api(state, base_url, stand_in, api_key_file) as (url, key, endpoint):
            settings = RunSettings(
                state=state,
                base_url=url,
                api_key=key,
                dry_run=True,
                resend_unknown=resend_unknown,
                skip_existing=skip_existing,
                endpoint=endpoint,
                move_own_duplicated=_prospect_switch(ctx, "move_own_duplicated"),
                delete_if_inactive=_prospect_switch(ctx, "delete_if_inactive"),
            )
            result = _interruptibly(settings, True, work)
    except KeyboardInterrupt:  # before the plan took over Ctrl-C, or a second one
        _interrupted()
    [plan] = plans
    _said_stop(result, api_key_file)
    if plan is None:  # stopped early: no plan
        click.echo(f"No plan was saved. {closing_line(result)}")
        sys.exit(result.exit_code)
    if output is not None:
        try:
            plan.write(output)
        except OSError as error:
            raise ConfigError(
                f"cannot save the plan to {output}: {error.strerror or error}; it is saved "
                f"in {result.folder}"
            ) from None
    _output().settle(True)
    if not _output().json:
        for warning in result.warnings:
            click.echo(f"Warning: {warning}", err=True)
    saved = output if output is not None else result.folder / "plan.json"
    for line in plan_lines(plan, result.folder, saved):
        click.echo(line)
    sys.exit(result.exit_code)


def _check_plan_output(output: Path, state: Path, paths: Sequence[Path | str]) -> None:
    """`plan -o FILE` writes a plan, never over the ledger (or its lock, journal files),
    an input, or a file that is not a plan."""
    target = output.resolve()
    ledger = state.resolve()
    kept = {ledger, *(Path(f"{ledger}{end}") for end in ("-wal", "-shm", "-journal"))}
    kept.add(Path(f"{ledger}.lock"))
    kept |= {Path(given).resolve() for given in paths if isinstance(given, Path)}
    if target in kept:
        raise ConfigError(
            f"-o {output} is the ledger or one of the inputs; a plan never replaces it",
            hint="Save the plan under another name, such as plan.json.",
        )
    if target.is_file():
        try:
            head = target.read_bytes()[:4096]
        except OSError:
            head = b""
        if b'"format"' not in head or b"campaigns-plan" not in head:
            raise ConfigError(
                f"-o {output} exists and is not a plan; a plan replaces only an earlier plan",
                hint="Choose another file name, or move that file away first.",
            )


@cli.command(name="apply")
@click.argument("plan_path", metavar="PLAN", type=click.Path(path_type=Path, dir_okay=False))
@_config
@_out
@_reports
@_keep_reports
@_state
@_base_url
@_sandbox
@_api_key_file
@_sandbox_fault
@_sending
@_quiet
@_log_format
@_verbose
@_fails_cleanly
def apply_command(
    plan_path: Path,
    out: Path | None,
    reports: Path,
    keep_reports: int | None,
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
    quiet: bool,
    log_format: str,
    verbose: bool,
) -> None:
    """Carry out a saved plan exactly: its creates and updates, with the bodies it holds
    (the sheets are not read again); report every row as `run` does.

    Refused (exit 2, nothing sent) when the plan was made against another ledger or the
    ledger has changed since (another run, or this plan applied already): make a new
    plan. By default the ledger and the API are the plan's.
    """
    from pipeline.plan import Plan

    ctx = click.get_current_context()
    try:
        plan = Plan.read(plan_path)
    except KeyboardInterrupt:
        _interrupted()
    given = ParameterSource.COMMANDLINE
    if (
        plan.endpoint == "sandbox"
        and ctx.get_parameter_source("state") is given
        and state is not None
        and state.resolve() != plan.state.resolve()
    ):
        raise ConfigError(
            f"{plan_path} was made with the sandbox's ledger {plan.state}: the sandbox keeps "
            "its campaigns beside it, so the plan applies there only",
            hint="Apply it without --state.",
        )
    if sandbox_faults and not (sandbox or plan.endpoint == "sandbox"):
        raise click.UsageError("--sandbox-fault needs a plan made with --sandbox")
    if plan.endpoint == "sandbox":
        if ctx.get_parameter_source("base_url") is given:
            raise ConfigError(
                f"{plan_path} was made against the sandbox (--sandbox), not {base_url}",
                hint="Make a new plan against that API.",
            )
        sandbox = True
    elif sandbox:
        raise ConfigError(
            f"{plan_path} was made against {plan.endpoint}, not the sandbox",
            hint="Make a new plan with --sandbox to rehearse.",
        )
    elif ctx.get_parameter_source("base_url") is given and check_base_url(
        base_url
    ) != check_base_url(plan.endpoint):
        raise ConfigError(
            f"{plan_path} was made against {plan.endpoint}, not {base_url}",
            hint="Apply it without --base-url, or make a new plan against that API.",
        )
    else:
        base_url = plan.endpoint
    if ctx.get_parameter_source("state") is not given:
        state = plan.state
    state = _ledger(state, reports)
    if not state.exists():
        raise ConfigError(
            f"the ledger {state} does not exist: {plan_path} was made against it (moved, "
            "or another folder?); nothing was sent",
            hint="Give the ledger with --state, or make a new plan.",
        )
    api_key_file = _key_file(ctx, api_key_file)
    if not plan.has_work:
        _output().settle(True)
        click.echo(f"Nothing to do: {plan_path} sends nothing and changes nothing.")
        sys.exit(0)
    send = _send_settings(
        ctx, sandbox, rate, concurrency, timeout, max_attempts, max_consecutive_errors
    )
    options = Options(paths=(plan_path,), out=out, reports_root=reports, keep_reports=keep_reports)
    stand_in = (list(plan.owners), sandbox_faults) if sandbox else None
    try:
        with _api(state, base_url, stand_in, api_key_file) as (url, key, endpoint):
            settings = RunSettings(
                state=state, base_url=url, api_key=key, send=send, endpoint=endpoint
            )
            work = _applying(plan, plan_path, options, settings)
            result = _interruptibly(settings, quiet, work)
    except KeyboardInterrupt:  # before the run took over Ctrl-C, or a second one
        _interrupted()
    _said_stop(result, api_key_file)
    _finish(result, quiet)


def _applying(
    plan: Plan, path: Path, options: Options, settings: RunSettings
) -> Callable[[Any, Interrupt], RunResult]:
    """`apply_plan` for `_interruptibly`."""

    def work(progress: Any, interrupt: Interrupt) -> RunResult:
        from pipeline.run import apply_plan

        return apply_plan(plan, path, options, settings, progress=progress, interrupt=interrupt)

    return work


@contextmanager
def _api(
    state: Path,
    base_url: str,
    sandbox: tuple[Sequence[str], Mapping[str, float]] | None,
    key_file: Path | None,
) -> Iterator[tuple[str, Secret | None, str]]:
    """(base URL, key, what the ledger binds to): as given, or (`sandbox`: the owner
    e-mails of the run's sheets, downloaded ones too, and the faults to give create
    requests) the built-in sandbox started for the run (`pipeline.rehearsal`)."""
    if sandbox is None:
        yield check_base_url(base_url), _read_key(key_file), ""
        return
    from pipeline.rehearsal import rehearsal

    with rehearsal(state, *sandbox) as got:
        yield got


def _read_inputs(options: Options) -> list[Table]:
    """Every input read (links downloaded), as the run would read them."""
    from pipeline.inputs import read_tables
    from pipeline.run import bulk_work

    with bulk_work():
        return read_tables(options)


def _interruptibly(
    settings: RunSettings, quiet: bool, work: Callable[[Any, Interrupt], RunResult]
) -> RunResult:
    """`work(progress, interrupt)` (`run_files`, `apply_plan`) with Ctrl-C and SIGTERM
    wired to the run, and a progress bar on a terminal.

    The first (Ctrl-C or SIGTERM) says so on stderr, lets requests in flight finish and
    reports every row; the second cancels the requests in flight (their rows `unknown`)
    and still reports every row; a third, or a first one while no run is attached (while
    loading, while writing reports), is Python's own KeyboardInterrupt. The exit code is
    130, or 143 when SIGTERM came first (summary.json and the ledger say the same).
    """
    from pipeline.stop import Interrupt

    interrupt = Interrupt()
    received: list[int] = []  # the stopping signals so far, in order
    output = _output()  # no bar under JSON lines or --verbose's request lines
    shown = not (quiet or output.json or output.verbose) and sys.stderr.isatty()
    bar: ProgressBar | None = None
    if shown:
        from pipeline.progress import ProgressBar  # tqdm: only for a terminal

        bar = ProgressBar(sys.stderr)

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
        return work(bar, interrupt)
    except KeyboardInterrupt:
        if received[:1] == [signal.SIGTERM]:  # stopped at once, but SIGTERM came first
            _say("Terminated.", "terminated", logging.ERROR)
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


def _say(line: str, event: str = "stopping", level: int = logging.WARNING) -> None:
    """One line on stderr (an `event` in JSON) from a signal handler, which may have cut
    into a write to stderr (the progress bar's): then past the stream's buffer, straight
    to its file. Never held back by --quiet: a person is waiting for it."""
    output = _output()
    if output.json:
        line = output.line(level, event, line.strip())
    try:
        click.echo(line, err=True)
    except RuntimeError:  # "reentrant call": the handler interrupted a write to stderr
        with suppress(OSError, ValueError):
            os.write(sys.stderr.fileno(), f"{line}\n".encode())


@cli.command(name="config")
@_config
@_fails_cleanly
def config_command(**values: Any) -> None:
    """Print the settings a run here would use, and where each came from.

    Takes the same setting options as `run` (and --config), so a command line can be
    checked before it goes into a crontab. The API key is shown only as set or not set.
    """
    from pipeline.config import CONFIG_NAME, CONFIG_VARIABLE, KEYS

    ctx = click.get_current_context()
    config = _config_of(ctx)
    if config.path is None:
        click.echo(f"# no config file (no --config, {CONFIG_VARIABLE} or ./{CONFIG_NAME})")
    else:
        click.echo(f"# config file: {config.path}")
    for section, keys in KEYS.items():
        click.echo(f"\n[{section}]")
        for key, spec in keys.items():
            value, source = _effective(ctx, config, section, key, spec.parameter or key)
            if value is None:
                click.echo(f"# {key} is not set  ({source})")
            else:
                click.echo(f"{key} = {_toml(value)}  # {source}")
        if section == "api":
            click.echo(f"# api_key: {_key_source(ctx)}")
    defaults = _defaults(ctx)
    click.echo("\n[defaults]")
    for column, text in defaults.items():
        variable = f"CAMPAIGNS_DEFAULTS_{column.upper()}"
        where = (
            f"environment {variable}"
            if os.environ.get(variable, "").strip()
            else (f"file {config.where('defaults', column)}")
        )
        click.echo(f"{column} = {_toml(text)}  # {where}")
    for table, names in config.names.items():
        click.echo(f"\n[names.{table}]  # {len(names)} name(s), file {config.path}")
        for name, ident in names.items():
            click.echo(f"{_toml(name)} = {_toml(ident)}")


# The setting options of `run` that `campaigns config` takes too.
_SETTING_PARAMETERS: Final = (
    "base_url",
    "api_key_file",
    "rate",
    "concurrency",
    "timeout",
    "max_attempts",
    "max_consecutive_errors",
    "state",
    "reports",
    "archive",
    "log_format",
    "verbose",
    "max_rows",
    "max_bytes",
    "keep_reports",
    "sheet",
)
config_command.params.extend(p for p in run_command.params if p.name in _SETTING_PARAMETERS)


def _effective(
    ctx: click.Context, config: Config, section: str, key: str, parameter: str
) -> tuple[Any, str]:
    """A setting's value and where it came from: option, environment, file or default."""
    variable = f"CAMPAIGNS_{section.upper()}_{key.upper()}"
    if parameter not in ctx.params:  # a setting no option of `run` carries
        if os.environ.get(variable, "").strip():
            return os.environ[variable], f"environment {variable}"
        if (section, key) in config.values:
            return config.values[(section, key)], f"file {config.where(section, key)}"
        return None, "default"
    value = ctx.params[parameter]
    if parameter == "verbose":
        value = "debug" if value else "info"
    source = ctx.get_parameter_source(parameter)
    from_level = parameter == "verbose" and os.environ.get(_LOG_LEVEL_VARIABLE, "").strip()
    if from_level and source is not ParameterSource.COMMANDLINE:
        return value, f"environment {_LOG_LEVEL_VARIABLE}"
    if parameter == "state" and value is None:
        return _ledger(None, ctx.params["reports"]), "default: in the reports folder"
    if source is ParameterSource.COMMANDLINE:
        return value, "option --" + parameter.replace("_", "-")
    if source is ParameterSource.ENVIRONMENT:
        envvar = next(p.envvar for p in ctx.command.params if p.name == parameter)
        names = [envvar] if isinstance(envvar, str) else list(envvar or ())
        return value, "environment " + next((n for n in names if os.environ.get(n)), variable)
    if source is ParameterSource.DEFAULT_MAP:
        return value, f"file {config.where(section, key)}"
    return value, "default"


def _key_source(ctx: click.Context) -> str:
    key_file = _key_file(ctx, ctx.params.get("api_key_file"))
    if key_file is not None:
        return f"set (from the file {key_file})"
    return f"set (from {KEY_VARIABLE})" if os.environ.get(KEY_VARIABLE, "").strip() else "not set"


def _toml(value: Any) -> str:
    """A value as a TOML line would write it (`"text"`, `5.0`, `true`), or a comment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


@cli.command(name="status")
@_config
@click.option(
    "--state",
    envvar="CAMPAIGNS_RUN_STATE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The ledger to read (default: state.sqlite in the reports folder).",
)
@_reports
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
@_log_format
@_fails_cleanly
def status_command(
    state: Path | None,
    reports: Path,
    as_json: bool,
    export: Path | None,
    backup: Path | None,
    force: bool,
    log_format: str,
) -> None:
    """What the ledger knows: counts per status and file, whether a run holds it now, and
    the rows that need a person (file, row, campaign name, owner e-mail).

    Exits 1 when some row is unknown, failed or rejected, else 0. With --export or
    --backup it writes those files instead, one line each, and exits 0.
    """
    from pipeline.status import RESOLVABLE, backup_ledger, export_ledger, ledger_status

    state = _ledger(state, reports)

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
    if found.lists:
        click.echo(f"Prospect lists: {len(found.lists)}")
        for item in found.lists:
            got = ", ".join(f"{n} {status}" for status, n in sorted(item["prospects"].items()))
            where = f"list {item['list_id']}" if item["list_id"] else item["status"]
            click.echo(
                f"  {item['campaign_key']}: {item['name']!r} ({where}): {got or 'no prospects'}"
            )
    limits = found.prospect_limits
    if limits:
        click.echo(
            f"Prospect limits (the account's, at the last answer): "
            f"{limits.get('perMonthUrlsLimit')} a month, {limits.get('totalUrlsLimit')} in all"
        )
    if found.lock is not None:
        holder = f"process {found.lock.pid}" if found.lock.pid else "another process"
        click.echo(
            f"Running now: {holder} holds the ledger's lock ({found.lock.path}); a row it "
            "is sending shows as sending"
        )
    if found.attention:
        click.echo(f"{len(found.attention)} need a person:")
        at = "" if state == DEFAULT_STATE else f" --state {shlex.quote(str(state))}"
        for entry in found.attention[:SHOWN_PROBLEMS]:
            click.echo(f"  {found.describe(entry)}")
            if entry.status in RESOLVABLE:
                click.echo(
                    f"    once you have looked in Extrovert: campaigns resolve "
                    f"{shlex.quote(entry.key)} --created ID{at} (or --absent)"
                )
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
@_config
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
    envvar="CAMPAIGNS_RUN_STATE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The ledger to record it in (default: state.sqlite in the reports folder).",
)
@_reports
@click.option(
    "--note",
    metavar="TEXT",
    default="",
    help="Add this text to the key's note (who looked, and where).",
)
@_log_format
@_fails_cleanly
def resolve_command(
    key: str,
    campaign_id: str | None,
    absent: bool,
    state: Path | None,
    reports: Path,
    note: str,
    log_format: str,
) -> None:
    """Record what you found in Extrovert for a key whose create is uncertain.

    KEY is the key as `campaigns status` shows it, or the row's campaign_key. Look the
    campaign up in Extrovert first, then give --created ID or --absent. Exits 2 when the
    ledger refuses (another id, a created key, a run holding the ledger).
    """
    from pipeline.model import Status
    from pipeline.status import resolve_key

    state = _ledger(state, reports)

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
cli.add_command(serve_command, "serve")


def _finish(result: RunResult, quiet: bool) -> None:
    """Warnings, the rows updated (with their changes) and the rows that need a person on
    stderr (JSON: the library logged them as events), the closing line on stdout, the exit
    code; with --quiet and exit 0, nothing at all."""
    output = _output()
    silent = quiet and result.exit_code == 0
    output.settle(not silent)
    if silent:
        sys.exit(0)
    if not output.json:
        for warning in result.warnings:
            click.echo(f"Warning: {warning}", err=True)
        lines = [*change_lines(result.rows), *problem_lines(result.attention)]
        lines += _grouped_lines(
            result.prospects_attention,
            [row.errors for row in result.prospects_attention],
            SHOWN_PROBLEMS,
            "failed-prospects.csv",
            noun="prospect",
        )
        for line in lines:
            click.echo(line, err=True)
    click.echo(closing_line(result))
    sys.exit(result.exit_code)


# How many runs of row numbers a grouped line names per file before "and N more".
SHOWN_SPANS: Final = 6


def problem_lines(rows: Sequence[RowResult], shown: int = SHOWN_PROBLEMS) -> list[str]:
    """stderr's list of the rows that need a person, in sheet order: a line per row
    (`plan.csv row 3: invalid: <errors>`), but one line for all the rows that share a
    status and message (`156 rows not sent: interrupted (Ctrl-C) (plan.csv rows
    2-157)`); past `shown` lines, `... and N more in failed.csv` (N rows)."""
    return _grouped_lines(rows, [row.errors for row in rows], shown, "failed.csv")


def change_lines(rows: Sequence[RowResult], shown: int = SHOWN_PROBLEMS) -> list[str]:
    """stderr's list of the rows updated (or, in a dry run, to be updated), in sheet
    order, each with its changes: `plan.xlsx row 7: updated: min_post_likes: 0 -> 25 |
    dm_enabled: no -> yes`, one line for the rows that share their changes (`12 rows
    updated: min_post_likes: 0 -> 25 (plan.csv rows 2-13)`); past `shown` lines, `... and
    N more in results.csv`. Rows that need a person are `problem_lines`' alone."""
    changed = [row for row in rows if row.changes and not row.needs_person]
    return _grouped_lines(changed, [row.changes for row in changed], shown, "results.csv")


def _grouped_lines(
    rows: Sequence[RowResult | ProspectResult],
    messages: Sequence[Sequence[str]],
    shown: int,
    rest_in: str,
    noun: str = "row",
) -> list[str]:
    """A line per row (`where: status: message`), one per status and message shared by
    several rows (`12 rows not sent: ...`, or `12 prospects ...`); past `shown` lines,
    `... and N more in <rest_in>`."""
    from pipeline.model import place

    groups: dict[tuple[str, str], list[RowResult | ProspectResult]] = {}
    for row, message in zip(rows, messages, strict=True):
        groups.setdefault((row.status.value, " | ".join(message)), []).append(row)
    lines: list[str] = []
    told = 0
    for (status, message), members in groups.items():
        if len(lines) == shown:
            break
        told += len(members)
        if len(members) == 1:
            (row,) = members
            where = place(row.source, row.sheet, row.row)
            lines.append(f"{where}: {status}: {message}")
            continue
        words = status.replace("_", " ")
        said = message.removeprefix(f"{words}: ")
        said = f": {said}" if said else ""
        lines.append(f"{len(members)} {noun}s {words}{said} ({_rows_named(members)})")
    if told < len(rows):
        lines.append(f"... and {len(rows) - told} more in {rest_in}")
    return lines


def _rows_named(rows: Sequence[RowResult | ProspectResult]) -> str:
    """`plan.csv rows 2-40, 42; b.xlsx [campaigns] row 7`: runs of row numbers per file."""
    by_file: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        by_file.setdefault((row.source, row.sheet), []).append(row.row)
    named = []
    for (source, sheet), numbers in by_file.items():
        spans: list[list[int]] = []
        for number in sorted(set(numbers)):
            if spans and number == spans[-1][-1] + 1:
                spans[-1].append(number)
            else:
                spans.append([number])
        texts = [f"{s[0]}-{s[-1]}" if len(s) > 1 else str(s[0]) for s in spans[:SHOWN_SPANS]]
        hidden = sum(len(s) for s in spans[SHOWN_SPANS:])
        more = f" and {hidden} more" if hidden else ""
        plural = "s" if len(numbers) > 1 else ""
        sheet_named = f" [{sheet}]" if sheet else ""
        named.append(f"{source}{sheet_named} row{plural} {', '.join(texts)}{more}")
    return "; ".join(named)


def closing_line(result: RunResult) -> str:
    """`5 rows: 4 valid, 1 invalid. Reports in reports/<run-id>`; with workbooks among the
    inputs, a sentence naming the sheet read of each comes before `Reports in`. A run
    that changed nothing ends `Nothing changed; no report kept.` instead. Files archived
    (--archive) are counted before that: `Archived 2 files to DIR/<run-id>.`"""
    from pipeline.model import Status

    parts = ", ".join(f"{n} {status}" for status, n in result.counts.items()) or "no rows"
    plural = "" if result.total == 1 else "s"
    if result.prospect_counts:
        told = ", ".join(f"{n} {status}" for status, n in result.prospect_counts.items())
        many = sum(result.prospect_counts.values())
        parts += f". {many} prospect{'' if many == 1 else 's'}: {told}"
        found = result.summary.get("prospects", {})
        limits = found.get("limits", {})
        if found.get("waiting") and result.prospect_counts.get(Status.OVER_LIMIT.value):
            parts += (
                f" ({found['waiting']} wait for the account's prospect limit: "
                f"{limits.get('perMonthUrlsLimit')} a month, {limits.get('totalUrlsLimit')} "
                "in all; a later run sends them)"
            )
    plan = result.summary.get("plan")
    sheets = f"Applied {plan['path']}. " if plan else _sheets_read(result.summary.get("inputs", ()))
    where = f"Reports in {result.folder}" if result.reports_kept else _NOTHING_KEPT
    return f"{result.total} row{plural}: {parts}. {sheets}{_archived(result.summary)}{where}"


def _archived(summary: Mapping[str, Any]) -> str:
    """`Archived 2 files to DIR/<run-id>. ` (with its space) when --archive moved files."""
    moved = summary.get("archived") or ()
    if not moved:
        return ""
    files = "file" if len(moved) == 1 else "files"
    return f"Archived {len(moved)} {files} to {Path(moved[0]['to']).parent}. "


_NOTHING_KEPT: Final = "Nothing changed; no report kept."


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
    # A command imports pandas, Pandera and openpyxl, which make over a million objects
    # and no cycles to speak of: at the default first threshold (700 allocations) the
    # collector runs hundreds of times during those imports alone (about 0.3 s). It still
    # runs, every `GC_FIRST_THRESHOLD` allocations.
    gc.set_threshold(GC_FIRST_THRESHOLD, *gc.get_threshold()[1:])
    try:
        cli(prog_name="campaigns")
    finally:
        # The command is over: spare the exit the interpreter's last garbage collections
        # over everything it imported (pandas and the rest: up to a second). Objects are
        # still freed and files closed, and atexit still runs.
        gc.freeze()


__all__ = ["cli", "main"]
