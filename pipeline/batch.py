"""The rows of one `campaigns run` and what is known of each, stage by stage.

`Batch` holds every row's outcome as it becomes known and the stages that settle them:
owner e-mails resolved, the ledger consulted (`classify`), uncertain rows looked up in
the campaign list (`settle_uncertain`, `skip_existing`), rows sent (`send`). The order of
the stages and the end of the run are `pipeline.execute`'s.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from pipeline.client import ExtrovertClient, Secret
from pipeline.errors import PipelineError
from pipeline.ledger import Entry, Ledger, payload_hash
from pipeline.report import Outcome
from pipeline.resolve import CampaignIndex, campaign_index, team_directory
from pipeline.send import Job, Sender, SendSettings, Sent
from pipeline.validate import Checked, apply_owners
from schemas.payload import Payload

NO_LIST_HINT = (
    "the API may have created it and offers no campaign list to check: look for it in "
    "Extrovert, then rerun with --resend-unknown if it is not there"
)


class Progress(Protocol):
    """Where the CLI shows progress (a tqdm bar); the library never prints."""

    def start(self, total: int) -> None: ...

    def advance(self, status: str) -> None: ...


class Silent:
    def start(self, total: int) -> None:
        pass

    def advance(self, status: str) -> None:
        pass


@dataclass(frozen=True)
class RunSettings:
    """What `campaigns run` needs beyond the input files."""

    state: Path
    base_url: str
    api_key: Secret | None
    dry_run: bool = False
    resend_unknown: bool = False
    skip_existing: bool = False
    send: SendSettings = field(default_factory=SendSettings)
    recheck_delay: float = 3.0
    resolve_rounds: int = 2
    endpoint: str = ""  # what the ledger is bound to; the base URL when empty


def _outcome(sent: Sent) -> Outcome:
    return Outcome(
        sent.status,
        sent.campaign_id,
        sent.http_status,
        sent.attempts,
        (sent.error,) if sent.error and sent.status != "created" else (),
    )


class Batch:
    def __init__(
        self,
        checked: Checked,
        settings: RunSettings,
        run_id: str,
        client: ExtrovertClient | None,
        progress: Progress,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float] | None,
    ) -> None:
        self.checked = checked
        self.settings = settings
        self.run_id = run_id
        self.client = client
        self.progress = progress
        self.sleep = sleep
        self.outcomes: list[Outcome | None] = [None] * len(checked)
        self.payloads: list[Payload | None] = []
        self.sender: Sender | None = None
        if client is not None:
            self.sender = Sender(client, settings.send, clock=clock or time.monotonic, sleep=sleep)
        self.ledger: Ledger | None = None
        self.marked: set[str] = set()
        # What earlier runs sent for rows whose outcome they left unknown: those are looked
        # up in the campaign list as sent, even if the sheet has changed since.
        self.sent_before: dict[int, Entry] = {}
        self.interrupted = False
        rows = checked.rows
        self._locations = list(
            zip(rows["source"].tolist(), rows["sheet"].tolist(), rows["row"].tolist(), strict=True)
        )

    # -- rows and their cells ----------------------------------------------------------

    def _where(self, position: int) -> tuple[str, str, int]:
        source, sheet, row = self._locations[position]
        return str(source), str(sheet), int(row)

    def _owner_and_name(self, position: int) -> tuple[str, str]:
        earlier = self.sent_before.get(position)
        if earlier is not None:
            return earlier.owner_id, earlier.name
        values = self.checked.values
        return str(values["owner"][position]), str(values["campaign_name"][position])

    def settle(self, position: int, outcome: Outcome) -> None:
        """Give a row its outcome; a row settled again keeps its earlier attempts."""
        previous = self.outcomes[position]
        if previous is not None:
            outcome = replace(outcome, attempts=outcome.attempts + previous.attempts)
        self.outcomes[position] = outcome
        if previous is None:
            self.progress.advance(outcome.status)

    async def nap(self, seconds: float) -> None:
        """Wait, but not past a stop (Ctrl-C, 401): the sender wakes its sleepers then."""
        await (self.sender.nap(seconds) if self.sender is not None else self.sleep(seconds))

    # -- the stages --------------------------------------------------------------------

    async def resolve_owners(self, ledger: Ledger) -> None:
        """Owner e-mails -> member ids, from the team list (or, with no key, the ledger)."""
        values, checked = self.checked.values, self.checked
        emails = {
            o
            for o, errors in zip(values["owner"], checked.errors, strict=True)
            if isinstance(o, str) and "@" in o and not errors
        }
        if not emails:
            return
        if self.client is None:  # a dry run without a key: what earlier runs learned
            self.checked = apply_owners(checked, ledger.owners(), {})
            return
        directory = await team_directory(self.client, emails, self.sleep)
        if not self.settings.dry_run:
            ledger.remember_owners(directory.ids)
        self.checked = apply_owners(checked, directory.ids, directory.problems)

    def classify(self, ledger: Ledger) -> tuple[list[int], list[int]]:
        """Settle invalid and already-created rows; return (to send, uncertain)."""
        keys = self.checked.keys
        entries = ledger.get_many(k for k, p in zip(keys, self.payloads, strict=True) if p)
        to_send: list[int] = []
        uncertain: list[int] = []
        for position, payload in enumerate(self.payloads):
            if payload is None:
                errors = self.checked.errors[position]
                self.settle(position, Outcome("invalid", errors=errors))
                continue
            entry = entries.get(keys[position])
            if entry is None or entry.status in ("rejected", "failed", "not_sent"):
                to_send.append(position)
            elif entry.status == "created":
                notes: tuple[str, ...] = ()
                if entry.payload_hash != payload_hash(payload):
                    notes = (
                        f"campaign_key: created on {entry.created_at[:10]} from different cell "
                        "values; campaigns are not updated, so the changes were not sent",
                    )
                self.settle(position, Outcome("already_created", entry.campaign_id, errors=notes))
            else:  # unknown, or sending left by a run that holds no lock (dry run)
                uncertain.append(position)
                self.sent_before[position] = entry
        return to_send, uncertain

    async def index(self) -> tuple[CampaignIndex | None, str]:
        """The campaign list, or None and why it cannot settle anything now."""
        if self.client is None:
            return None, "a dry run without a key cannot consult the campaign list"
        try:
            index = await campaign_index(self.client, self.sleep)
        except PipelineError as exc:  # unreadable now: never send again on its word
            return None, f"{exc.message}; the next run looks again"
        return index, "" if index is not None else NO_LIST_HINT

    def adopt(self, position: int, campaign_id: str, note: str) -> None:
        if self.ledger is None or self.settings.dry_run:
            return
        source, sheet, row = self._where(position)
        owner, name = self._owner_and_name(position)
        payload = self.payloads[position]
        assert payload is not None
        earlier = self.sent_before.get(position)
        self.ledger.adopt(
            self.checked.keys[position],
            campaign_id=campaign_id,
            payload_hash=earlier.payload_hash if earlier else payload_hash(payload),
            source=source,
            sheet=sheet,
            row=row,
            owner_id=owner,
            name=name,
            note=note,
        )

    def _leave_unknown(self, positions: Sequence[int], why: str) -> None:
        for position in positions:
            before = self.outcomes[position]
            if before is None:
                self.settle(position, Outcome("unknown", errors=(why,)))
            else:
                self.outcomes[position] = replace(before, errors=(*before.errors, why))

    async def settle_uncertain(
        self, positions: Sequence[int], status_if_found: str, *, from_earlier_runs: bool
    ) -> list[int]:
        """Look the rows up in the campaign list (twice, a few seconds apart); those found
        are settled with `status_if_found`; returns the rows to send again: absent on both
        looks, or, without a list, those of earlier runs when `--resend-unknown` says so
        (an outcome of this run is never resent without the list's word)."""
        if not positions:
            return []
        left = list(positions)
        # A create that just timed out may still be under way: give it the timeout again.
        delay = self.settings.recheck_delay
        if not from_earlier_runs:
            delay = max(delay, self.settings.send.timeout)
        for look in range(2):
            if look:
                await self.nap(delay)
                if self.interrupted:
                    self._leave_unknown(left, "interrupted before the second look in the list")
                    return []
            index, why = await self.index()
            if index is None:
                if self.settings.resend_unknown and from_earlier_runs and self.client:
                    return left  # the person checked: --resend-unknown
                self._leave_unknown(left, why)
                return []
            known = self.ledger.known_campaign_ids() if self.ledger is not None else set()
            still: list[int] = []
            for position in left:
                found = index.find(*self._owner_and_name(position), exclude=known)
                if found:
                    self.adopt(position, found, "found in the campaign list")
                    known.add(found)
                    self.settle(position, Outcome(status_if_found, found))
                else:
                    still.append(position)
            left = still
            if not left:
                break
        return left

    async def skip_existing(self, to_send: list[int]) -> list[int]:
        index, why = await self.index()
        if index is None and self.client is not None:
            raise PipelineError(
                f"--skip-existing needs the campaign list: {why}; nothing was sent",
                hint="Run again later, or without --skip-existing.",
            )
        if index is None or self.ledger is None:
            return to_send
        known = self.ledger.known_campaign_ids()
        left = []
        for position in to_send:
            found = index.find(*self._owner_and_name(position), exclude=known)
            if found:
                self.adopt(position, found, "existed before the first run (--skip-existing)")
                known.add(found)
                self.settle(position, Outcome("already_created", found))
            else:
                left.append(position)
        return left

    async def send(self, positions: Sequence[int]) -> list[int]:
        """Send the rows; returns those whose outcome is `unknown`."""
        assert self.sender is not None and self.ledger is not None
        ledger, checked = self.ledger, self.checked
        jobs = []
        for position in positions:
            payload = self.payloads[position]
            assert payload is not None
            self.sent_before.pop(position, None)  # from now on it is sent as the sheet says
            jobs.append(Job(position, checked.keys[position], payload))
        unknown: list[int] = []

        def before(job: Job) -> None:
            source, sheet, row = self._where(job.position)
            owner, name = self._owner_and_name(job.position)
            ledger.mark_sending(
                job.key,
                payload_hash=payload_hash(job.payload),
                source=source,
                sheet=sheet,
                row=row,
                owner_id=owner,
                name=name,
            )
            self.marked.add(job.key)

        def after(job: Job, sent: Sent) -> None:
            # The report first: should the ledger fail to record, the row still says what
            # happened, and the ledger's `sending` is settled by the next run.
            self.settle(job.position, _outcome(sent))
            if sent.status == "unknown":
                unknown.append(job.position)
            if job.key in self.marked:
                ledger.record(
                    job.key,
                    sent.status,
                    campaign_id=sent.campaign_id,
                    http_status=sent.http_status,
                    error=sent.error,
                    attempts=sent.attempts,
                )

        await self.sender.send_all(jobs, before, after)
        return unknown
