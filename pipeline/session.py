"""One run's state, built whole by `open_session`: client, ledger, stop, sender, payloads.

`open_session` opens the client (or `Keyless` for a dry run without a key) and the
ledger (bound to one API; for a real run also locked and the run recorded; a dry run
without a ledger reads an empty one it throws away), resolves owner e-mails, maps the
rows to payloads, and yields a `Session` that is complete: nothing is assigned to it from
outside. What the run learns row by row goes through its methods (`settle`, `adopt`,
`leave_unknown`). On the way out the client and the ledger are closed, whatever happened.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from pipeline.client import Api, ExtrovertClient, Keyless
from pipeline.errors import LedgerError, StoppedError
from pipeline.ledger import Entry, Ledger
from pipeline.map import map_rows
from pipeline.model import Origin, Outcome, Status
from pipeline.remote import team_directory
from pipeline.send import Sender
from pipeline.settings import RunSettings
from pipeline.stop import Interrupt, Stop
from pipeline.timing import Timing
from pipeline.validate import Checked, apply_owners
from schemas.payload import Payload


class Progress(Protocol):
    """Where a caller shows progress (the CLI's tqdm bar, the web page's table); the
    library never prints. `start` gets the number of rows; `advance` is called once per
    row as it is settled, with its status and its position (the index of its record in
    `RunResult.rows`, which is sheet order)."""

    def start(self, total: int) -> None: ...

    def advance(self, status: Status, position: int) -> None: ...


class Silent:
    """Progress shown nowhere."""

    def start(self, total: int) -> None:
        pass

    def advance(self, status: Status, position: int) -> None:
        pass


class Session:
    """The rows of one run, what is known of each, and the parts that act on them."""

    def __init__(
        self,
        *,
        checked: Checked,
        payloads: list[Payload | None],
        settings: RunSettings,
        ledger: Ledger,
        client: Api,
        sender: Sender,
        stop: Stop,
        timing: Timing,
        progress: Progress,
    ) -> None:
        self.checked = checked
        self.payloads = payloads
        self.settings = settings
        self.ledger = ledger
        self.client = client
        self.sender = sender
        self.stop = stop
        self.timing = timing
        self.progress = progress
        self.outcomes: list[Outcome | None] = [None] * len(checked)
        # What earlier runs sent for rows whose outcome they left unknown: those are looked
        # up in the campaign list as sent, even if the sheet has changed since.
        self._sent_before: dict[int, Entry] = {}
        self._snapshot: frozenset[str] | None = None
        self._bound = False
        self.warnings: list[str] = []
        rows = checked.rows
        self._locations = list(
            zip(rows["source"].tolist(), rows["sheet"].tolist(), rows["row"].tolist(), strict=True)
        )

    def origin(self, position: int) -> Origin:
        """Where the row is and the owner and name it stands for (as sent, if it was)."""
        source, sheet, row = self._locations[position]
        earlier = self._sent_before.get(position)
        if earlier is not None:
            owner, name = earlier.owner_id, earlier.name
        else:
            values = self.checked.values
            owner, name = str(values["owner"][position]), str(values["campaign_name"][position])
        return Origin(str(source), str(sheet), int(row), owner, name)

    def warn(self, text: str) -> None:
        """A warning for the person (the CLI prints it; results carry it)."""
        if text not in self.warnings:
            self.warnings.append(text)

    def took_snapshot(self, campaign_ids: frozenset[str]) -> None:
        """The ids the account held before this run's first create; kept in the ledger
        for later runs that settle this run's uncertain rows."""
        self._snapshot = campaign_ids
        if not self.settings.dry_run:
            self.ledger.record_snapshot(campaign_ids)

    def snapshot_before(self, position: int) -> frozenset[str] | None:
        """The ids the account held before the row's create was sent: this run's
        snapshot, or the one the earlier run that sent it recorded; None if unknown."""
        earlier = self._sent_before.get(position)
        if earlier is None:
            return self._snapshot
        return self.ledger.snapshot(earlier.run_id)

    def exists(self) -> None:
        """A campaign of this run exists (or a request that may create one goes out): the
        ledger is bound to this API from now on. A run that sends nothing binds nothing,
        and one that created nothing and left nothing uncertain is unbound at its end."""
        if not self._bound and not self.settings.dry_run:
            self.ledger.bind_endpoint(self.settings.bound_to)
            self._bound = True

    def sent_earlier(self, position: int, entry: Entry) -> None:
        """The row's outcome is uncertain since an earlier run sent `entry`: until it is
        sent again, it is looked up by the owner and name it was sent with."""
        self._sent_before[position] = entry

    def was_sent_earlier(self, position: int) -> bool:
        """Whether an earlier run sent this row with an outcome not known yet."""
        return position in self._sent_before

    def sending_now(self, position: int) -> None:
        """The row is being sent as the sheet says it now."""
        self._sent_before.pop(position, None)

    def settle(self, position: int, outcome: Outcome) -> None:
        """Give a row its outcome; a row settled again keeps its earlier attempts."""
        previous = self.outcomes[position]
        if previous is not None:
            outcome = replace(outcome, attempts=outcome.attempts + previous.attempts)
        self.outcomes[position] = outcome
        if previous is None:
            self.progress.advance(outcome.status, position)

    def leave_unknown(self, positions: Sequence[int], why: str) -> None:
        """The rows stay `unknown`, saying why."""
        for position in positions:
            before = self.outcomes[position]
            if before is None:
                self.settle(position, Outcome(Status.UNKNOWN, errors=(why,)))
            else:
                self.outcomes[position] = replace(before, errors=(*before.errors, why))

    def adopt(self, position: int, campaign_id: str, note: str, *, ours: bool) -> None:
        """Record that the row's campaign exists as `campaign_id` (not in a dry run).

        `ours`: our own create went through, so the payload it sent is the one applied
        (as an earlier run sent it, if it did); else (`--skip-existing`) the campaign was
        made elsewhere and its settings are not known.
        """
        if self.settings.dry_run:
            return
        self.exists()
        key, origin = self.checked.keys[position], self.origin(position)
        earlier = self._sent_before.get(position)
        if not ours:
            self.ledger.adopt(key, campaign_id=campaign_id, origin=origin, note=note, payload=None)
        elif earlier is not None:
            self.ledger.adopt(
                key,
                campaign_id=campaign_id,
                origin=origin,
                note=note,
                payload=earlier.payload,
                sent_hash=earlier.payload_hash,
            )
        else:
            payload = self.payloads[position]
            self.ledger.adopt(
                key, campaign_id=campaign_id, origin=origin, note=note, payload=payload
            )


@asynccontextmanager
async def open_session(
    checked: Checked,
    settings: RunSettings,
    run_id: str,
    *,
    command: str,
    timing: Timing,
    progress: Progress,
    transport: Any = None,
    interrupt: Interrupt | None = None,
    payloads: Sequence[Payload | None] | None = None,
) -> AsyncIterator[Session]:
    """Open everything one run needs, resolve owners and map the rows (unless `payloads`
    are given: a saved plan's, owners resolved); close it all after.

    A 401/403 while reading the team list does not raise: the session comes back with
    its `stop` set, so that every row is reported `not_sent`.
    """
    async with AsyncExitStack() as stack:
        client: Api = Keyless()
        if settings.api_key is not None:
            client = ExtrovertClient(
                settings.base_url,
                settings.api_key,
                timeout=settings.send.timeout,
                concurrency=settings.send.concurrency,
                transport=transport,
            )
        stack.push_async_callback(client.aclose)
        state = settings.state
        if settings.dry_run and not state.exists():  # a dry run leaves no ledger behind
            state = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "empty.sqlite"
        ledger = stack.enter_context(
            Ledger.open(state, run_id=run_id, timing=timing, lock=not settings.dry_run)
        )
        ledger.bind_endpoint(settings.bound_to, record=False)  # bound when a campaign exists
        if not settings.dry_run:
            try:
                ledger.start_run(command)
            except sqlite3.Error as error:  # a full disk before anything was sent: exit 2
                raise LedgerError(
                    f"{ledger.path}: cannot write the ledger: {error}",
                    hint="Free some space, or point --state at another disk.",
                ) from None
        stop = Stop(timing.sleep)
        if interrupt is not None:
            interrupt.attach(stop)
            stack.callback(interrupt.detach)
        try:
            if not stop:  # Ctrl-C before the run started reads nothing
                checked = await _resolve_owners(checked, settings, client, ledger, timing, stop)
        except StoppedError as exc:  # 401/403 on the team list (or Ctrl-C): nothing was sent
            stop.set(exc.message, exc.http_status)
        except sqlite3.Error as error:  # remembering the owners: a full disk, nothing sent
            raise LedgerError(
                f"{ledger.path}: cannot write the ledger: {error}",
                hint="Free some space, or point --state at another disk.",
            ) from None
        if stop:  # owners unresolved: what earlier runs learned keeps their keys whole
            checked = apply_owners(checked, ledger.owners(), {})
        yield Session(
            checked=checked,
            payloads=map_rows(checked) if payloads is None else list(payloads),
            settings=settings,
            ledger=ledger,
            client=client,
            sender=Sender(client, settings.send, timing, stop),
            stop=stop,
            timing=timing,
            progress=progress,
        )


async def _resolve_owners(
    checked: Checked,
    settings: RunSettings,
    client: Api,
    ledger: Ledger,
    timing: Timing,
    stop: Stop,
) -> Checked:
    """Owner e-mails -> member ids, from the team list (or, with no key, the ledger)."""
    values = checked.values
    emails = {
        o
        for o, errors in zip(values["owner"], checked.errors, strict=True)
        if isinstance(o, str) and "@" in o and not errors
    }
    if not emails:
        return checked
    if not client.keyed:  # a dry run without a key: what earlier runs learned
        return apply_owners(checked, ledger.owners(), {})
    directory = await team_directory(client, emails, timing, stop)
    if not settings.dry_run:
        ledger.remember_owners(directory.ids)
    return apply_owners(checked, directory.ids, directory.problems)
