"""The command line: options -> Options -> pipeline.run -> one closing line -> exit code.

Nothing else happens here: the stages never print, read the environment or exit.
A `PipelineError` becomes one clear line on stderr (plus a hint) and its exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from pipeline.errors import PipelineError
from pipeline.load import DEFAULT_MAX_ROWS
from pipeline.run import Options, RunResult, validate_files
from pipeline.template import write_example, write_template
from schemas.columns import CAMPAIGN_TYPE_NAMES, normalise_header

# How many rows that need a person are listed on stderr before "... and N more".
SHOWN_PROBLEMS: Final = 20

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
    help="Read this sheet of each xlsx (default: 'campaigns' or the first).",
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
    found = CAMPAIGN_TYPE_NAMES.get(normalise_header(value))
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
    default="xlsx",
    show_default=True,
    help="Excel workbook (with drop-downs and column help) or plain CSV.",
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
    file_format: str,
    output: Path | None,
    example: bool,
    force: bool,
) -> None:
    """Write a blank input sheet: every column, drop-downs, and a sheet of column help."""
    kind = _parse_type(campaign_type)
    path = output or Path(f"campaigns.{file_format}")
    if output is not None and path.suffix.lower() != f".{file_format}":
        path = path.with_suffix(f".{file_format}")
    if path.exists() and not force:
        raise click.UsageError(f"{path} exists; add --force to overwrite it")
    if example and kind is None:
        written = write_example(path)
    else:
        written = write_template(path, campaign_type=kind)
    click.echo(f"Wrote {written}")


@cli.command(name="validate")
@_paths
@_out
@_sheet
@_max_rows
@_quiet
@_fails_cleanly
def validate_command(
    paths: tuple[Path, ...], out: Path | None, sheet: str | None, max_rows: int, quiet: bool
) -> None:
    """Check every row and write the report and payloads.jsonl; sends nothing.

    PATHS are .csv, .xlsx or .xlsm files, or folders of them.
    """
    result = validate_files(Options(paths=paths, out=out, sheet=sheet, max_rows=max_rows))
    _finish(result, quiet)


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
    """`5 rows: 4 valid, 1 invalid. Reports in reports/<run-id>`."""
    parts = ", ".join(f"{n} {status}" for status, n in result.counts.items()) or "no rows"
    plural = "" if result.total == 1 else "s"
    return f"{result.total} row{plural}: {parts}. Reports in {result.folder}"


def main() -> None:
    """The console script `campaigns`."""
    cli(prog_name="campaigns")


__all__ = ["cli", "main"]
