"""campaigns: Extrovert campaigns from spreadsheets, each row created exactly once.

The map: what each command does, step by step, and the module that does each step.

    validate  PATH...
      paths, settings ............ settings     Options, checked when built
                                   config       campaigns.toml read and checked whole;
                                                its settings under options and environment
      links -> bytes ............. inputs       an https:// input downloaded, judged (a
                                                sheet, or a sign-in page?), named safely
                                   filenames    bare, safe, unique file names for what
                                                is read and kept (no network)
      sheet -> text tables ....... load         CSV and workbook bytes, encodings, headers
                                   sheetxml     what xlsx XML says beyond values: hidden
                                                rows, formulas never calculated, far cells
                                   xlsx         (writing) fast rows for results.xlsx
      failed.csv fed back ........ refeed       its rows replace the rows they came from
      text -> typed rows ......... validate     every problem of every row, at its cell
                                   parse        one parser per column kind
      prospect rows -> lists ..... prospects    each tied to its Prospects campaign row and
                                                list; duplicates in a list marked
                                   linkedin     a pasted profile link -> its canonical URL
      typed rows -> payloads ..... map          exactly the payload extrovert-api.md says
      outcomes -> files .......... report       results.csv/.xlsx, failed.csv, summary.json
                                   guard        formula-injection guard and its inverse
      report folder .............. folders      made before anything is sent, kept only
                                                when reports are written; old ones pruned
      inputs kept, archived ...... archive      a copy of each input in inputs/; after a
                                                run, finished files moved (--archive)

    run  PATH...  (validate's first steps, then the online half; `plan` is a run that
                   sends nothing and saves what it would do, `apply` carries that out)
      one run's parts ............ session      client, ledger, stop, sender, payloads
                                   settings     RunSettings, SendSettings, Secret
      owner e-mails, list ........ remote       team members, the campaign list
      ledger -> what to send ..... execute      classify rows, send rounds, settle
                                   ledger       SQLite: per key its status, id, payload
      what an update changes ..... changes      the payload applied -> the one wanted, as
                                                `column: old -> new` in the sheet's words
      saved plans ................ plan         plan.json: the rows, the exact requests,
                                                the ledger's identity and state; read back
                                                for `apply`, printed for a person
      prospects -> their lists ... lists        each list created once, filled in chunks
                                                of 100; what each URL got, kept
      uncertain rows ............. lookups      settled (or adopted) from the campaign list
      one API request ............ operations   Operation, Answer, pure `judge`
      requests, paced ............ send         Sender, Pacer, retries, effects
      HTTP ....................... client       httpx; the only module that imports it
      --sandbox .................. rehearsal    the built-in sandbox started for a command
      time, stopping ............. timing       Timing (clocks, sleep, random), backoff
                                   stop         Stop, Interrupt
      outcomes -> files .......... report       as for validate

    status, resolve                status       what the ledger knows, offline; its CSV
                                                export, backup; what a person found
    template                       template     blank and example sheets

    shared words ................. model        Status, Outcome, Origin, keys, exit codes
    what stops a run ............. errors       the PipelineError tree
    what a run says as it goes ... logs         events as log records (run_started, request,
                                                row, run_finished...), each as a JSON line
    entry points ................. run          validate_files, run_files(_async),
                                                plan_files, apply_plan(_async)
    the command line ............. cli          options, env, signals, logging, exit
                                   progress     the terminal's progress bar
                                   __main__     `python -m pipeline`

The public API is `__all__` below; names load on first use, so `import pipeline` costs
nothing (pandas is imported only by what reads sheets). The library never prints,
reads the environment, configures logging, installs signal handlers or exits: `cli` does.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str

    from pipeline.errors import (
        ApiError,
        CampaignListError,
        ConfigError,
        InputError,
        LedgerError,
        LockedError,
        PipelineError,
        PlanError,
        RowsNeedAttention,
        StalePlan,
        StoppedError,
    )
    from pipeline.load import Table, load_bytes
    from pipeline.model import Outcome, Status
    from pipeline.plan import Plan
    from pipeline.run import (
        RowResult,
        RunResult,
        apply_plan,
        apply_plan_async,
        plan_files,
        run_files,
        run_files_async,
        validate_files,
    )
    from pipeline.session import Progress
    from pipeline.settings import Options, RunSettings, Secret, SendSettings
    from pipeline.status import (
        LedgerStatus,
        Resolution,
        backup_ledger,
        export_ledger,
        ledger_status,
        resolve_key,
    )
    from pipeline.stop import Interrupt
    from pipeline.timing import Timing

# Public name -> the module that defines it.
_HOMES = {
    "validate_files": "run",
    "run_files": "run",
    "run_files_async": "run",
    "plan_files": "run",
    "apply_plan": "run",
    "apply_plan_async": "run",
    "Plan": "plan",
    "RunResult": "run",
    "RowResult": "run",
    "ledger_status": "status",
    "LedgerStatus": "status",
    "export_ledger": "status",
    "backup_ledger": "status",
    "resolve_key": "status",
    "Resolution": "status",
    "load_bytes": "load",
    "Table": "load",
    "Options": "settings",
    "RunSettings": "settings",
    "SendSettings": "settings",
    "Secret": "settings",
    "Timing": "timing",
    "Interrupt": "stop",
    "Progress": "session",
    "Status": "model",
    "Outcome": "model",
    "PipelineError": "errors",
    "InputError": "errors",
    "ConfigError": "errors",
    "LedgerError": "errors",
    "LockedError": "errors",
    "PlanError": "errors",
    "StalePlan": "errors",
    "RowsNeedAttention": "errors",
    "ApiError": "errors",
    "CampaignListError": "errors",
    "StoppedError": "errors",
}

__all__ = [
    "ApiError",
    "CampaignListError",
    "ConfigError",
    "InputError",
    "Interrupt",
    "LedgerError",
    "LedgerStatus",
    "LockedError",
    "Options",
    "Outcome",
    "PipelineError",
    "Plan",
    "PlanError",
    "Progress",
    "Resolution",
    "RowResult",
    "RowsNeedAttention",
    "RunResult",
    "RunSettings",
    "Secret",
    "SendSettings",
    "StalePlan",
    "Status",
    "StoppedError",
    "Table",
    "Timing",
    "__version__",
    "apply_plan",
    "apply_plan_async",
    "backup_ledger",
    "export_ledger",
    "ledger_status",
    "load_bytes",
    "plan_files",
    "resolve_key",
    "run_files",
    "run_files_async",
    "validate_files",
]


def _version() -> str:
    """The installed distribution's version (importlib.metadata is slow to import: read
    on first use of `__version__`, never by `import pipeline`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("campaigns")
    except PackageNotFoundError:  # pragma: no cover - a tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        found = globals()[name] = _version()
        return found
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    value = getattr(import_module(f"pipeline.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
