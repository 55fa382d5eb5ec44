"""The server's state and the library calls behind each page: one person, one sheet at a time.

A `Workspace` holds the sheet uploaded last (`Sheet`: its tables and the library's check
of them), the plan made of it (`Planned`) and the one apply that may be running (`Run`,
in a thread the workspace owns, so that closing the tab neither stops nor loses it).
Every rule is the library's: a sheet is read by `pipeline.load.load_tables` (or
`pipeline.inputs.read_tables` for a link), checked by `validate_files`, planned by
`plan_files` and applied by `apply_plan`; what the library refuses comes back as its own
`PipelineError`, and what this page refuses (a second apply, a plan of an older upload)
as a `Refusal`.

Files: uploads are kept in a private folder (mode 0700, made by `tempfile.mkdtemp`),
each in a folder of its own numbered by the server (`3/`), under the name the person
gave made safe (`pipeline.filenames.safe_name`: a bare name, no folder, no `..`): the
library names the report folders after it (`<time>-q1 plan`), as `campaigns plan
"q1 plan.csv"` would, and the numbered folder keeps two uploads of one name apart. The
check's reports go to the private folder too (nobody asked for them: the page shows
the check); the plan and the apply write theirs into the reports folder as `campaigns
plan` and `campaigns apply` do (`reports/<run-id>/`), since they are the record of what
was sent. `close()` stops a running apply as Ctrl-C would (requests in flight finish,
every row reported) and removes the private folder; should the server end without it,
the folder goes when the workspace is collected or the interpreter exits.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import PipelineError
from pipeline.filenames import safe_name
from pipeline.model import Status
from pipeline.settings import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    Options,
    RunSettings,
    Secret,
    SendSettings,
)

if TYPE_CHECKING:
    from pipeline.load import Table
    from pipeline.plan import Plan
    from pipeline.run import RunResult
    from pipeline.stop import Interrupt

_log = logging.getLogger(__name__)

# The report files a finished run offers for download, by these names only.
REPORT_FILES: tuple[str, ...] = (
    "results.xlsx",
    "results.csv",
    "failed.csv",
    "succeeded.csv",
    "prospects.csv",
    "failed-prospects.csv",
    "summary.json",
    "plan.json",
)


class Refusal(Exception):
    """Something this page will not do now, said to the person (no rule of the library's)."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class ServeSettings:
    """What `campaigns serve` decided before it started: where reports and ledgers live,
    the API and its key (read once, from the environment, the key file or the config;
    never from the page), and the limits for what is uploaded."""

    reports: Path
    state: Path  # the ledger of the real API
    sandbox_state: Path  # the ledger of rehearsals (`--sandbox`)
    base_url: str
    api_key: Secret | None
    key_source: str = ""  # where the key came from, in words ("EXTROVERT_API_KEY")
    sandbox: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    sheet: str | None = None
    defaults: Mapping[str, str] = field(default_factory=dict)
    names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    send: SendSettings = field(default_factory=SendSettings)
    # The sending limits of a rehearsal: `send`, but at `pipeline.rehearsal.SANDBOX_RATE` when
    # no rate is configured (the built-in sandbox has no rate limit).
    sandbox_send: SendSettings = field(default_factory=SendSettings)
    move_own_duplicated: bool = False
    delete_if_inactive: bool = False


@dataclass(frozen=True)
class Sheet:
    """One upload: the name the person knows it by, where it is kept (that name made
    safe, in a numbered folder of the server's), its tables (read under the person's
    name, which the library's messages and reports use) and the library's check of them."""

    number: int
    name: str
    stored: Path
    tables: tuple[Table, ...]
    checked: RunResult


@dataclass(frozen=True)
class Planned:
    """The plan made of upload `sheet`: saved as `path` (plan.json in its report folder)."""

    sheet: int
    plan: Plan
    path: Path
    result: RunResult
    sandbox: bool


class Tally:
    """The apply's progress (`pipeline.session.Progress`): rows in all, and the status of
    each row settled so far by its position (its index in the plan's rows). Written by the
    run's thread, read by the page's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._settled: dict[int, Status] = {}

    def start(self, total: int) -> None:
        with self._lock:
            self._total = total

    def advance(self, status: Status, position: int) -> None:
        with self._lock:
            self._settled[position] = status

    def snapshot(self) -> tuple[int, dict[int, Status], dict[str, int]]:
        """(rows in all, the status of each row settled by position, rows per status)."""
        with self._lock:
            settled = dict(self._settled)
        counted = Counter(status.value for status in settled.values())
        return self._total, settled, dict(counted)


class Run:
    """One apply of a plan, in a thread of its own; `finished` once its result (or the
    error that stopped it) is in."""

    def __init__(self, planned: Planned, interrupt: Interrupt) -> None:
        self.planned = planned
        self.interrupt = interrupt
        self.tally = Tally()
        self.finished = threading.Event()
        self.result: RunResult | None = None
        self.error = ""
        self.hint = ""
        self._thread: threading.Thread | None = None

    def start(self, work: Callable[[Run], RunResult]) -> None:
        def target() -> None:
            try:
                self.result = work(self)
            except PipelineError as exc:
                self.error, self.hint = str(exc), exc.hint
            except Exception:  # a bug: the page says so, the log has the traceback
                _log.exception("the apply failed")
                self.error = "the run failed unexpectedly; the server's log says why"
            finally:
                self.finished.set()

        self._thread = threading.Thread(target=target, name="campaigns-serve-apply", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop as the first Ctrl-C stops a run (requests in flight finish, every row is
        reported) and wait for it."""
        if not self.finished.is_set():
            self.interrupt.set()
        if self._thread is not None:
            self._thread.join()


class Workspace:
    """Everything the page knows (see the module docstring); complete once `open` returns."""

    def __init__(self, settings: ServeSettings, folder: Path) -> None:
        self.settings = settings
        self.folder = folder
        self.sandbox = settings.sandbox
        self.sheet: Sheet | None = None
        self.planned: Planned | None = None
        self.run: Run | None = None
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = False
        # The backstop: the folder goes even if `close` is never called.
        self._remove = weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)

    @classmethod
    def open(cls, settings: ServeSettings) -> Workspace:
        """A workspace with a fresh private folder (mode 0700) for the uploads."""
        return cls(settings, Path(tempfile.mkdtemp(prefix="campaigns-serve-")))

    def close(self) -> None:
        """Stop a running apply (and wait for its reports), then remove the private folder."""
        if self._closed:
            return
        self._closed = True
        if self.run is not None:
            self.run.stop()
        self._remove()

    @property
    def ledger(self) -> Path:
        """The ledger this page plans against and shows: the sandbox's in a rehearsal."""
        return self.settings.sandbox_state if self.sandbox else self.settings.state

    @property
    def running(self) -> bool:
        return self.run is not None and not self.run.finished.is_set()

    def use_sandbox(self) -> None:
        """Rehearse from now on: plans are made against the sandbox (a plan made before is
        dropped, since it names the other API)."""
        with self._lock:
            if self.running:
                raise Refusal("A run is going on: wait for it to finish first.")
            self.sandbox = True
            self.planned = None

    # --- upload and check -----------------------------------------------------------

    def take_file(self, name: str, data: bytes) -> Sheet:
        """Read and check an uploaded file; `name` (as the browser sent it) is only what
        the rows are called. `InputError` when it is not a sheet this tool reads."""
        from pipeline.load import load_tables

        shown = safe_name(name, fallback="upload")
        tables = load_tables(
            data,
            shown,
            sheet=self.settings.sheet,
            max_rows=self.settings.max_rows,
            skip_hidden_rows=False,
        )
        return self._keep(shown, shown, data, tables)

    def take_link(self, url: str) -> Sheet:
        """Download a sheet's link (as `campaigns validate URL` would), then as `take_file`."""
        from pipeline.inputs import read_tables

        options = self._options(url)
        tables = read_tables(options)
        first = tables[0]
        return self._keep(first.source, first.path.name, first.data, tables)

    def _keep(self, shown: str, called: str, data: bytes, tables: Sequence[Table]) -> Sheet:
        """Keep `data` as `<folder>/<n>/<called, made safe>` (0600), check it, and make
        it the sheet on show."""
        from pipeline.run import validate_files

        number = next(self._numbers)
        place = self.folder / str(number)
        place.mkdir(mode=0o700)
        stored = place / safe_name(called, fallback=f"upload{Path(shown).suffix}")
        with open(os.open(stored, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as kept:
            kept.write(data)
        checked = validate_files(
            self._options(stored, out=self.folder / f"check-{number}"), tables=tables
        )
        sheet = Sheet(number, shown, stored, tuple(tables), checked)
        with self._lock:
            self.sheet = sheet
            self.planned = None
        return sheet

    def _options(self, path: Path | str, *, out: Path | None = None) -> Options:
        return Options(
            paths=(path,),
            out=out,
            reports_root=self.settings.reports,
            sheet=self.settings.sheet,
            max_rows=self.settings.max_rows,
            max_bytes=self.settings.max_bytes,
            defaults=dict(self.settings.defaults),
            names={table: dict(names) for table, names in self.settings.names.items()},
        )

    # --- plan -----------------------------------------------------------------------

    def make_plan(self) -> Planned:
        """Plan the sheet uploaded last (`plan_files`, as `campaigns plan` does; its
        reports and plan.json go to the reports folder). `PipelineError` as the library
        raises it; `Refusal` when there is no sheet or the plan stopped early."""
        from pipeline.plan import PLAN_FILE
        from pipeline.rehearsal import owner_emails
        from pipeline.run import plan_files

        with self._lock:
            sheet = self.sheet
            if sheet is None:
                raise Refusal("Upload a sheet first.")
            self._not_running()
            sandbox = self.sandbox
        with self._connection(sandbox, owner_emails(sheet.tables)) as (url, key, endpoint):
            settings = RunSettings(
                state=self.ledger,
                base_url=url,
                api_key=key,
                dry_run=True,
                endpoint=endpoint,
                send=self.settings.send,
                move_own_duplicated=self.settings.move_own_duplicated,
                delete_if_inactive=self.settings.delete_if_inactive,
            )
            result, plan = plan_files(self._options(sheet.stored), settings, tables=sheet.tables)
        if plan is None:
            raise Refusal(f"No plan was saved. Stopped: {result.stopped}")
        planned = Planned(sheet.number, plan, result.folder / PLAN_FILE, result, sandbox)
        with self._lock:
            self._not_running()  # an apply began meanwhile: this plan may count its rows
            self.planned = planned
        return planned

    def _not_running(self) -> None:
        if self.running:
            raise Refusal(
                "A run is going on: wait for it to finish, then plan again.",
                hint="Its progress is on the Apply page.",
            )

    @contextmanager
    def _connection(
        self, sandbox: bool, emails: Sequence[str]
    ) -> Iterator[tuple[str, Secret | None, str]]:
        """(base URL, key, what the ledger binds to): the API as configured, or the
        built-in sandbox started for this step, exactly as `campaigns run --sandbox` does."""
        if not sandbox:
            yield self.settings.base_url, self.settings.api_key, ""
            return
        from pipeline.rehearsal import rehearsal

        with rehearsal(self.settings.sandbox_state, emails, {}) as got:
            yield got

    # --- apply ----------------------------------------------------------------------

    def start_apply(self) -> Run:
        """Apply the plan on show, exactly, in a thread of the workspace's own. `Refusal`
        while another apply runs, without a plan, or for a plan of an older upload; the
        library's `ConfigError` without a key (outside the sandbox)."""
        from pipeline.stop import Interrupt

        with self._lock:
            if self.running:
                raise Refusal(
                    "A run is going on already: this page applies one plan at a time.",
                    hint="Wait for it to finish; its progress is on the Apply page.",
                )
            planned = self.planned
            if planned is None or self.sheet is None or planned.sheet != self.sheet.number:
                raise Refusal("Make a plan of the sheet first: an apply carries out a plan.")
            if self.run is not None and self.run.planned is planned:
                raise Refusal(
                    "This plan has been applied already: its results are on the Results page.",
                    hint="Make a new plan to apply the sheet again.",
                )
            if not planned.plan.has_work:
                raise Refusal("Nothing to do: this plan sends nothing and changes nothing.")
            if not planned.sandbox:  # the library's own words when there is no key
                self._settings_for(planned, self.settings.base_url, self.settings.api_key, "")
            run = Run(planned, Interrupt())
            self.run = run
        run.start(self._applying)
        return run

    def send_settings(self, planned: Planned) -> SendSettings:
        """The sending limits an apply of `planned` runs with (a rehearsal's, or the API's)."""
        return self.settings.sandbox_send if planned.sandbox else self.settings.send

    def _settings_for(
        self, planned: Planned, url: str, key: Secret | None, endpoint: str
    ) -> RunSettings:
        return RunSettings(
            state=planned.plan.state,
            base_url=url,
            api_key=key,
            endpoint=endpoint,
            send=self.send_settings(planned),
        )

    def _applying(self, run: Run) -> RunResult:
        from pipeline.run import apply_plan

        planned = run.planned
        owners = list(planned.plan.owners)
        with self._connection(planned.sandbox, owners) as (url, key, endpoint):
            settings = self._settings_for(planned, url, key, endpoint)
            options = Options(paths=(planned.path,), reports_root=self.settings.reports)
            return apply_plan(
                planned.plan,
                planned.path,
                options,
                settings,
                progress=run.tally,
                interrupt=run.interrupt,
            )

    def report_file(self, name: str) -> Path | None:
        """The finished run's report file called `name` (one of `REPORT_FILES`), if the
        run wrote it; None for any other name. The path is the library's report folder
        and a name from the list, never the name asked for."""
        run = self.run
        if run is None or run.result is None or not run.result.reports_kept:
            return None
        for known in REPORT_FILES:
            if known == name:
                found = run.result.folder / known
                return found if found.is_file() else None
        return None
