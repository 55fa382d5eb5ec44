"""Errors that stop a run. A bad row is data (a status and a message), never one of these.

    PipelineError               anything that stops the pipeline; `str()` is one clear line
     ├── InputError             a file cannot be read as campaign rows (exit 2)
     ├── ConfigError            options, settings or environment are unusable (exit 2)
     │    ├── LedgerError       the ledger file cannot be used: not a ledger, written by
     │    │                     a newer version, its folder cannot be made (exit 2)
     │    └── PlanError         a plan file that is not one, or cannot be made or
     │                          applied as it is (exit 2)
     ├── StalePlan              a saved plan no longer says what applying it would do:
     │                          made with another ledger, or the ledger moved since;
     │                          nothing was written or sent (exit 2)
     ├── LockedError            another run holds the ledger's lock (exit 2)
     ├── ReportError            the reports (or the ledger's record of the run's end)
     │                          could not be written: exit 3 once requests were made,
     │                          saying how many campaigns were created and where their
     │                          ids are; else the cause's own exit code
     ├── RowsNeedAttention      raised only on request (`RunResult.raise_for_status()`):
     │                          the run ended, but some rows need a person (exit 1),
     │                          or a person interrupted it (exit 130)
     └── ApiError               the API could not be read or refused to go on (exit 2);
          │                     carries `http_status` (None: no answer) and `transient`
          │                     (trying again later may work)
          ├── CampaignListError the campaign list could not be read or understood, so
          │                     it cannot say whether a campaign exists (exit 2)
          └── StoppedError      the API made the run stop early: bad key, circuit
                                breaker (exit 3)

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


class LedgerError(ConfigError):
    """The ledger file cannot be used as one (another file, a newer schema, no folder)."""


class PlanError(ConfigError):
    """A plan file that cannot be read, made or applied as it is."""


class StalePlan(PipelineError):
    """A saved plan that no longer describes what applying it would do: made against
    another ledger, or the ledger has moved since. Nothing was written or sent."""


class LockedError(PipelineError):
    """Another run holds the ledger."""


class ReportError(PipelineError):
    """What a run did could not all be written down (see the tree above)."""

    def __init__(self, message: str, *, exit_code: int, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


class RowsNeedAttention(PipelineError):
    """A finished run whose rows are not all done (see `RunResult.raise_for_status`)."""

    def __init__(self, exit_code: int, rows: int, folder: Path) -> None:
        self.exit_code = exit_code
        self.rows = rows
        self.folder = folder
        interrupted = " (the run was interrupted)" if exit_code == 130 else ""
        super().__init__(
            f"{rows} row(s) need a person{interrupted}; see {folder / 'failed.csv'}",
            hint="results.csv has every row's status and message.",
        )


class ApiError(PipelineError):
    """The API could not be read, or answered in a way that stops this step."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        transient: bool = False,
        hint: str = "",
    ) -> None:
        super().__init__(message, hint=hint)
        self.http_status = http_status
        self.transient = transient


class CampaignListError(ApiError):
    """The campaign list answered an error or a shape this code does not know: absence
    in a list that cannot be trusted to be complete must never lead to sending again."""


class StoppedError(ApiError):
    """The API told us to stop (401/403) or kept failing (circuit breaker)."""

    exit_code = 3
