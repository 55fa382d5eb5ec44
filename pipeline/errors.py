"""Errors that stop a run. A bad row is data (a status and a message), never one of these.

    PipelineError               anything that stops the pipeline; `str()` is one clear line
     ├── InputError             a file cannot be read as campaign rows (exit 2)
     ├── ConfigError            options, config file or environment are unusable (exit 2)
     ├── LockedError            another run holds the ledger's lock (exit 2)
     └── StoppedError           the API made the run stop early: bad key, circuit breaker
                                (exit 3); carries the HTTP status when there is one

Every error carries structured fields (file, sheet, row, column, HTTP status) besides
its message, and an optional `hint` the CLI prints on a second line.
"""

from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """Base of every error that stops a run."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(PipelineError):
    """A file (or its header) cannot be read as campaign rows."""

    def __init__(
        self,
        path: Path | str,
        problem: str,
        *,
        sheet: str = "",
        row: int | None = None,
        column: str = "",
        hint: str = "",
    ) -> None:
        self.path = Path(path)
        self.sheet = sheet
        self.row = row
        self.column = column
        self.problem = problem
        where = str(path)
        if sheet:
            where += f" [{sheet}]"
        if row is not None:
            where += f", row {row}"
        super().__init__(f"{where}: {problem}", hint=hint)


class ConfigError(PipelineError):
    """Options, the config file or the environment cannot be used as given."""


class LockedError(PipelineError):
    """Another run holds the ledger."""


class StoppedError(PipelineError):
    """The API told us to stop (401/403) or kept failing (circuit breaker)."""

    exit_code = 3

    def __init__(self, message: str, *, http_status: int | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.http_status = http_status
