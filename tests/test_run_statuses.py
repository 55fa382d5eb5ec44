"""`campaigns run` end to end against the in-process sandbox: every status a row can get.

Each test drives `pipeline.run.run_files` through `httpx.ASGITransport` into one sandbox
app, which stands for one Extrovert account over time (it keeps its campaigns between
runs), and reads the reports the run wrote.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from pipeline.run import RunResult, run_files
from pipeline.settings import Options, RunSettings, Secret
from pipeline.status import ledger_status
from pipeline.template import EXAMPLE_ROWS, write_template
from sandbox.server import DEFAULT_API_KEY, DEFAULT_MEMBERS, SandboxConfig, create_app
from tests.fakes import FakeTiming
from tests.helpers import FAST, run_settings
from tests.sandbox_fixtures import CREATE, target_user_payload

MEMBER_BY_EMAIL = {member.email: member.id for member in DEFAULT_MEMBERS}
STRANGER = "9b2f4c1e-7d3a-4e8b-a1c2-3d4e5f6a7b8c"  # a well-formed uuid of nobody on the team


def settings(tmp_path: Path, **changes: Any) -> RunSettings:
    """Run settings for the in-process sandbox: fast, the ledger in `tmp_path`."""
    return run_settings(tmp_path, **changes)


def sheet(tmp_path: Path, rows: Sequence[Mapping[str, str]], name: str = "campaigns.csv") -> Path:
    return write_template(tmp_path / name, rows=rows)


def run(
    tmp_path: Path,
    path: Path,
    app: Starlette | None,
    out: str,
    **changes: Any,
) -> RunResult:
    """One run of `path` into `tmp_path/out` against `app` (None: no transport at all)."""
    transport = None if app is None else httpx.ASGITransport(app=app)
    return run_files(
        Options(paths=(path,), out=tmp_path / out),
        settings(tmp_path, **changes),
        transport=transport,
        timing=FakeTiming().timing,
    )


def results(folder: Path) -> list[dict[str, str]]:
    with (folder / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def statuses(folder: Path) -> list[str]:
    return [row["status"] for row in results(folder)]


def with_uuid_owners(rows: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """The rows with each owner e-mail replaced by the member id it names."""
    return [{**row, "owner": MEMBER_BY_EMAIL[row["owner"]]} for row in rows]


def stored(app: Starlette) -> dict[tuple[str, str], list[str]]:
    """The sandbox's campaigns: (owner id, exact name) -> ids."""
    found: dict[tuple[str, str], list[str]] = {}
    for campaign in app.state.sandbox.store.all():
        found.setdefault((campaign.owner_id, campaign.name), []).append(campaign.id)
    return found


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return sheet(tmp_path, EXAMPLE_ROWS)


# -- created, already_created, and the report files --------------------------------------


def test_first_run_creates_every_example_row(tmp_path: Path, app: Starlette, example: Path) -> None:
    """A first run creates each valid row once and reports its id, HTTP 201 and 1 attempt."""
    result = run(tmp_path, example, app, "o1")

    assert result.exit_code == 0
    assert result.counts == {"created": 5}
    ids = {c.id for c in app.state.sandbox.store.all()}
    assert len(ids) == 5
    assert app.state.sandbox.stats.duplicates == 0
    for row in results(tmp_path / "o1"):
        assert row["status"] == "created"
        assert row["campaign_id"] in ids
        assert row["http_status"] == "201"
        assert row["attempts"] == "1"
        assert row["errors"] == ""


def test_report_files_carry_ids_statuses_and_counters(
    tmp_path: Path, app: Starlette, example: Path
) -> None:
    """results.csv, succeeded.csv and summary.json hold ids, statuses, counters, exit code."""
    result = run(tmp_path, example, app, "o1")
    folder = tmp_path / "o1"

    with (folder / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        header = next(csv.reader(stream))
    assert header == [
        "source",
        "sheet",
        "row",
        "campaign_key",
        "campaign_name",
        "status",
        "campaign_id",
        "http_status",
        "attempts",
        "errors",
        "changes",
    ]
    by_row = {row["row"]: row for row in results(folder)}
    with (folder / "succeeded.csv").open(encoding="utf-8-sig", newline="") as stream:
        succeeded = list(csv.DictReader(stream))
    assert len(succeeded) == 5
    for line in succeeded:
        assert line["_campaign_id"] == by_row[line["_row"]]["campaign_id"]
        assert line["_campaign_id"]
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["requests"] == 5
    assert summary["retries"] == 0
    assert summary["rate_limited"] == 0
    assert summary["exit_code"] == 0 == result.exit_code
    assert summary["counts"] == {"created": 5}


def test_rerunning_the_same_file_creates_nothing(
    tmp_path: Path, app: Starlette, example: Path
) -> None:
    """A second run of the same sheet sends no create: every row already_created, exit 0."""
    first = run(tmp_path, example, app, "o1")
    created_before = app.state.sandbox.stats.created

    second = run(tmp_path, example, app, "o2")

    assert first.exit_code == 0
    assert second.exit_code == 0
    assert second.counts == {"already_created": 5}
    assert app.state.sandbox.stats.created == created_before == 5
    assert second.summary["requests"] == 0
    first_ids = [row["campaign_id"] for row in results(tmp_path / "o1")]
    second_rows = results(tmp_path / "o2")
    assert [row["campaign_id"] for row in second_rows] == first_ids
    assert all(row["errors"] == "" for row in second_rows)


def test_changed_cells_after_creation_update_the_campaign(
    tmp_path: Path, app: Starlette, example: Path
) -> None:
    """A created key whose cells changed is updated (one request, nothing created); the
    unchanged rows are already_created without a request (tests/test_updates.py has the rest)."""
    run(tmp_path, example, app, "o1")
    changed = [dict(row) for row in EXAMPLE_ROWS]
    changed[0]["min_post_likes"] = "99"
    edited = sheet(tmp_path, changed, "edited.csv")

    result = run(tmp_path, edited, app, "o2")

    rows = results(tmp_path / "o2")
    assert statuses(tmp_path / "o2") == ["updated", *["already_created"] * 4]
    assert result.exit_code == 0
    assert all(row["errors"] == "" for row in rows)
    assert result.summary["requests"] == 1
    assert app.state.sandbox.stats.created == 5
    assert app.state.sandbox.stats.updated == 1


# -- dry run ----------------------------------------------------------------------------


def test_dry_run_without_a_key_reports_from_the_ledger_and_sends_nothing(
    tmp_path: Path, app: Starlette
) -> None:
    """Keyless dry run: known keys already_created, new would_create, bad invalid; no request."""
    rows = with_uuid_owners(EXAMPLE_ROWS)
    run(tmp_path, sheet(tmp_path, rows), app, "o1")
    requests_before = app.state.sandbox.stats.requests
    fresh = {**rows[0], "campaign_key": "new-one", "campaign_name": "A new campaign"}
    bad = {**rows[1], "campaign_key": "bad-one", "min_post_likes": "twenty"}
    planned = sheet(tmp_path, [*rows, fresh, bad], "planned.csv")

    result = run(tmp_path, planned, app, "dry", dry_run=True, api_key=None)

    assert statuses(tmp_path / "dry") == [*["already_created"] * 5, "would_create", "invalid"]
    assert all(row["errors"] == "" for row in results(tmp_path / "dry")[:6])
    assert "min_post_likes" in results(tmp_path / "dry")[6]["errors"]
    assert result.exit_code == 1
    assert app.state.sandbox.stats.requests == requests_before
    assert result.summary["requests"] == 0
    assert (tmp_path / "dry" / "payloads.jsonl").exists()


def test_dry_run_without_a_key_knows_created_rows_whose_owner_is_an_email(
    tmp_path: Path, app: Starlette, example: Path
) -> None:
    """Keyless dry run of the example sheet after a real run: all 5 already_created, no notes."""
    run(tmp_path, example, app, "o1")
    requests_before = app.state.sandbox.stats.requests

    result = run(tmp_path, example, app, "dry", dry_run=True, api_key=None)

    rows = results(tmp_path / "dry")
    assert app.state.sandbox.stats.requests == requests_before
    assert [(row["row"], row["status"]) for row in rows] == [
        (str(n), "already_created") for n in range(2, 7)
    ]
    assert [row["errors"] for row in rows] == [""] * 5
    assert result.exit_code == 0


def test_dry_run_with_a_key_creates_nothing(tmp_path: Path, app: Starlette, example: Path) -> None:
    """A dry run with a key may read the team, but never posts a campaign."""
    result = run(tmp_path, example, app, "dry", dry_run=True)

    assert result.counts == {"would_create": 5}
    assert app.state.sandbox.stats.created == 0
    assert app.state.sandbox.store.all() == []


# -- invalid, rejected, failed ----------------------------------------------------------


def test_bad_row_is_invalid_and_the_rest_are_created(tmp_path: Path, app: Starlette) -> None:
    """A row failing local checks is invalid with a message naming the column; others go."""
    rows = [dict(row) for row in EXAMPLE_ROWS]
    rows[2]["min_post_likes"] = "twenty"

    result = run(tmp_path, sheet(tmp_path, rows), app, "o1")

    found = results(tmp_path / "o1")
    assert [row["status"] for row in found] == ["created"] * 2 + ["invalid"] + ["created"] * 2
    assert "min_post_likes" in found[2]["errors"]
    assert "twenty" in found[2]["errors"]
    assert result.exit_code == 1
    assert app.state.sandbox.stats.created == 4


def test_row_the_api_refuses_is_rejected_with_its_message(tmp_path: Path, app: Starlette) -> None:
    """An owner id that is no team member gets HTTP 400: rejected, with the API's message."""
    rows = [dict(row) for row in EXAMPLE_ROWS]
    rows[1]["owner"] = STRANGER

    result = run(tmp_path, sheet(tmp_path, rows), app, "o1")

    refused = results(tmp_path / "o1")[1]
    assert refused["status"] == "rejected"
    assert refused["http_status"] == "400"
    assert refused["attempts"] == "1"
    assert f"ownerId: {STRANGER!r} is not a member of this team" in refused["errors"]
    assert refused["campaign_id"] == ""
    assert result.counts == {"created": 4, "rejected": 1}
    assert result.exit_code == 1


def test_retries_that_keep_getting_503_end_failed(tmp_path: Path, example: Path) -> None:
    """503 on every attempt: each row gives up after max_attempts=2 as failed, HTTP 503."""
    app = create_app(SandboxConfig(faults={"503": 1.0}))
    # Pauses capped at 0 s: this run keeps the wall clock, and pacing is not the point.
    send = replace(FAST, max_attempts=2, retry_after_cap=0.0)

    result = run(tmp_path, example, app, "o1", send=send)

    rows = results(tmp_path / "o1")
    assert [row["status"] for row in rows] == ["failed"] * 5
    assert {row["attempts"] for row in rows} == {"2"}
    assert {row["http_status"] for row in rows} == {"503"}
    assert all("gave up after 2 attempts" in row["errors"] for row in rows)
    assert result.exit_code == 1
    assert app.state.sandbox.store.all() == []


def test_failed_rows_are_sent_again_by_the_next_run(tmp_path: Path, example: Path) -> None:
    """A row left failed is sent again next time and created then."""
    down = create_app(SandboxConfig(faults={"503": 1.0}))
    send = replace(FAST, max_attempts=2, retry_after_cap=0.0)
    run(tmp_path, example, down, "o1", send=send)
    healthy = create_app(SandboxConfig())

    result = run(tmp_path, example, healthy, "o2")

    assert result.counts == {"created": 5}
    assert len(healthy.state.sandbox.store.all()) == 5


# -- unknown ----------------------------------------------------------------------------


@pytest.fixture
def no_list_500_after() -> Starlette:
    """An account with no campaign list whose creates all answer 500 after storing."""
    return create_app(SandboxConfig(campaign_list=False, faults={"500_after": 1.0}))


def test_ambiguous_answer_without_a_campaign_list_is_unknown(
    tmp_path: Path, example: Path, no_list_500_after: Starlette
) -> None:
    """500 after storing and no list to check: unknown, with a hint to use --resend-unknown."""
    result = run(tmp_path, example, no_list_500_after, "o1")

    rows = results(tmp_path / "o1")
    assert [row["status"] for row in rows] == ["unknown"] * 5
    assert {row["http_status"] for row in rows} == {"500"}
    assert {row["attempts"] for row in rows} == {"1"}
    assert all("--resend-unknown" in row["errors"] for row in rows)
    assert result.exit_code == 1
    assert no_list_500_after.state.sandbox.stats.created == 5


def test_unknown_rows_are_not_sent_again_without_resend_unknown(
    tmp_path: Path, example: Path, no_list_500_after: Starlette
) -> None:
    """A later run without --resend-unknown keeps the rows unknown and posts nothing."""
    run(tmp_path, example, no_list_500_after, "o1")

    result = run(tmp_path, example, no_list_500_after, "o2")

    assert result.counts == {"unknown": 5}
    assert result.summary["requests"] == 0
    assert no_list_500_after.state.sandbox.stats.created == 5
    assert all("--resend-unknown" in row["errors"] for row in results(tmp_path / "o2"))


def test_resend_unknown_sends_unknown_rows_again(
    tmp_path: Path, example: Path, no_list_500_after: Starlette
) -> None:
    """With resend_unknown=True the rows left unknown are sent again and can be created."""
    run(tmp_path, example, no_list_500_after, "o1")
    # The person checked the account: nothing was there. Model that with a healthy one.
    healthy = create_app(SandboxConfig(campaign_list=False))

    result = run(tmp_path, example, healthy, "o2", resend_unknown=True)

    assert result.counts == {"created": 5}
    assert result.exit_code == 0
    assert healthy.state.sandbox.stats.created == 5


def test_resend_unknown_sends_each_unknown_row_once_per_run(
    tmp_path: Path, example: Path, no_list_500_after: Starlette
) -> None:
    """--resend-unknown resends each row once; a new ambiguous answer is not resent blindly."""
    run(tmp_path, example, no_list_500_after, "o1")
    stats = no_list_500_after.state.sandbox.stats
    assert stats.created == 5

    result = run(tmp_path, example, no_list_500_after, "o2", resend_unknown=True)

    assert result.counts == {"unknown": 5}
    assert {row["attempts"] for row in results(tmp_path / "o2")} == {"1"}
    assert stats.created == 10  # one more create per row, not three
    assert stats.duplicates == 5


def test_status_lists_unknown_rows_from_the_ledger(
    tmp_path: Path, example: Path, no_list_500_after: Starlette
) -> None:
    """ledger_status counts the unknown keys and lists them as needing a person."""
    run(tmp_path, example, no_list_500_after, "o1")

    found = ledger_status(tmp_path / "state.sqlite")

    assert found.counts == {"unknown": 5}
    assert found.by_source == {"campaigns.csv": {"unknown": 5}}
    assert sorted(entry.row for entry in found.attention) == [2, 3, 4, 5, 6]
    assert found.runs[-1]["exit_code"] == 1


# -- not_sent ---------------------------------------------------------------------------


def test_wrong_key_leaves_every_row_not_sent_and_exits_3(tmp_path: Path, app: Starlette) -> None:
    """HTTP 401 stops the run at once: every row not_sent, exit 3, nothing created."""
    rows = with_uuid_owners(EXAMPLE_ROWS)

    result = run(tmp_path, sheet(tmp_path, rows), app, "o1", api_key=Secret("wrong-key"))

    assert result.counts == {"not_sent": 5}
    assert result.exit_code == 3
    assert "401" in result.stopped
    assert app.state.sandbox.stats.created == 0
    assert app.state.sandbox.stats.requests <= FAST.concurrency
    summary = json.loads((tmp_path / "o1" / "summary.json").read_text(encoding="utf-8"))
    assert summary["exit_code"] == 3


def test_wrong_key_while_resolving_owner_emails_stops_with_exit_3(
    tmp_path: Path, app: Starlette, example: Path
) -> None:
    """A 401 on the team-members lookup stops the run before anything is sent (exit 3),
    and the report still lists every row, as not_sent."""
    result = run(tmp_path, example, app, "o1", api_key=Secret("wrong-key"))

    assert result.exit_code == 3
    assert "401" in result.stopped
    assert statuses(tmp_path / "o1") == ["not_sent"] * len(EXAMPLE_ROWS)
    assert all("401" in row["errors"] for row in results(tmp_path / "o1"))
    assert app.state.sandbox.stats.created == 0


# -- owners by e-mail -------------------------------------------------------------------


def test_owner_emails_resolve_case_insensitively_to_member_ids(
    tmp_path: Path, app: Starlette
) -> None:
    """An owner e-mail in any case is sent as the member id it names."""
    row = {**EXAMPLE_ROWS[0], "owner": "ANNA@Example.COM"}

    result = run(tmp_path, sheet(tmp_path, [row]), app, "o1")

    assert result.counts == {"created": 1}
    (campaign,) = app.state.sandbox.store.all()
    assert campaign.owner_id == MEMBER_BY_EMAIL["anna@example.com"]


def test_unknown_owner_email_makes_that_row_invalid(tmp_path: Path, app: Starlette) -> None:
    """An e-mail that names no team member: that row invalid, saying so; the others created."""
    rows = [dict(row) for row in EXAMPLE_ROWS]
    rows[3]["owner"] = "nobody@example.com"

    result = run(tmp_path, sheet(tmp_path, rows), app, "o1")

    found = results(tmp_path / "o1")
    assert found[3]["status"] == "invalid"
    assert found[3]["errors"] == 'owner: "nobody@example.com" is not the e-mail of any team member'
    assert result.counts == {"created": 4, "invalid": 1}
    assert app.state.sandbox.stats.created == 4


def test_same_campaign_by_email_and_by_uuid_is_a_duplicate(tmp_path: Path, app: Starlette) -> None:
    """One campaign written with an e-mail owner and with its uuid: both rows invalid."""
    by_email = dict(EXAMPLE_ROWS[2])  # no campaign_key: keyed on owner + name
    assert by_email["campaign_key"] == ""
    by_uuid = {**by_email, "owner": MEMBER_BY_EMAIL[by_email["owner"]]}
    other = dict(EXAMPLE_ROWS[0])

    result = run(tmp_path, sheet(tmp_path, [by_email, by_uuid, other]), app, "o1")

    found = results(tmp_path / "o1")
    assert [row["status"] for row in found] == ["invalid", "invalid", "created"]
    assert "same owner and campaign name as row 3" in found[0]["errors"]
    assert "same owner and campaign name as row 2" in found[1]["errors"]
    assert result.exit_code == 1
    assert app.state.sandbox.stats.created == 1


# -- --skip-existing --------------------------------------------------------------------


async def _create_directly(app: Starlette, bodies: Sequence[dict[str, Any]]) -> list[str]:
    transport = httpx.ASGITransport(app=app)
    headers = {"X-API-Key": DEFAULT_API_KEY}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sandbox.test", headers=headers
    ) as client:
        ids = []
        for body in bodies:
            answer = await client.post(CREATE, json=body)
            assert answer.status_code == 201
            ids.append(answer.json()["data"]["id"])
        return ids


def test_skip_existing_adopts_campaigns_made_before_the_first_run(
    tmp_path: Path, app: Starlette, example: Path
) -> None:
    """--skip-existing: rows matching existing owner+name are already_created with that id."""
    existing = [
        target_user_payload(ownerId=MEMBER_BY_EMAIL[row["owner"]], name=row["campaign_name"])
        for row in (EXAMPLE_ROWS[0], EXAMPLE_ROWS[2])
    ]
    ids = asyncio.run(_create_directly(app, existing))
    created_before = app.state.sandbox.stats.created

    result = run(tmp_path, example, app, "o1", skip_existing=True)

    found = results(tmp_path / "o1")
    assert [row["status"] for row in found] == [
        "already_created",
        "created",
        "already_created",
        "created",
        "created",
    ]
    assert [found[0]["campaign_id"], found[2]["campaign_id"]] == ids
    assert result.summary["requests"] == 3
    assert app.state.sandbox.stats.created == created_before + 3
    assert app.state.sandbox.stats.duplicates == 0
    assert all(len(v) == 1 for v in stored(app).values())
    assert result.exit_code == 0


# -- an unknown outcome whose row changed since --------------------------------------------


class LostAnswers(httpx.AsyncBaseTransport):
    """The account receives every create, but the answers are lost (a read timeout), and
    the campaign list answers once (the run's look before its first create), then 404:
    every create ends unknown, and the ledger knows what the account held before."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.list_reads = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/campaign"):
            self.list_reads += 1
            if self.list_reads > 1:
                return httpx.Response(404)
        response = await self.inner.handle_async_request(request)
        if request.method == "POST":
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


def test_unknown_row_renamed_since_is_found_under_the_name_it_was_sent_with(
    tmp_path: Path, app: Starlette
) -> None:
    """An unknown create is looked up as it was sent: renaming the row in the sheet before
    the next run finds the campaign under its old name instead of creating a second one."""
    row = dict(EXAMPLE_ROWS[0])
    first = run_files(
        Options(paths=(sheet(tmp_path, [row]),), out=tmp_path / "o1"),
        settings(tmp_path),
        transport=LostAnswers(app),
        timing=FakeTiming().timing,
    )
    assert first.counts == {"unknown": 1}

    renamed = {**row, "campaign_name": "A brand new name"}
    second = run(tmp_path, sheet(tmp_path, [renamed]), app, "o2")

    [line] = results(tmp_path / "o2")
    [stored] = app.state.sandbox.store.all()
    assert second.counts == {"created": 1}
    assert line["campaign_id"] == stored.id
    assert stored.name == row["campaign_name"]
    assert app.state.sandbox.stats.created == 1


class OwnerlessList(httpx.AsyncBaseTransport):
    """The account, but after its first read (the run's look before its first create)
    the campaign list holds entries this client cannot read."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.list_reads = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/campaign"):
            self.list_reads += 1
        if (
            self.list_reads > 1
            and request.method == "GET"
            and request.url.path.endswith("/campaign")
        ):
            body = {"status": "success", "data": [{"id": "x", "title": "?"}], "message": "ok"}
            return httpx.Response(200, json=body)
        return await self.inner.handle_async_request(request)


def test_an_unreadable_list_never_leads_to_sending_again(tmp_path: Path) -> None:
    """Unknown outcomes and a list of an unknown shape: the rows stay unknown (the list
    cannot prove absence), the report is written, and nothing is sent twice."""
    app = create_app(SandboxConfig(faults={"500_after": 1.0}))
    rows = [dict(EXAMPLE_ROWS[0])]

    result = run_files(
        Options(paths=(sheet(tmp_path, rows),), out=tmp_path / "o1"),
        settings(tmp_path),
        transport=OwnerlessList(app),
        timing=FakeTiming().timing,
    )

    [line] = results(tmp_path / "o1")
    assert result.counts == {"unknown": 1}
    assert "the campaign list holds entries without owner, name or id" in line["errors"]
    assert app.state.sandbox.stats.created == 1


def test_dry_run_reports_an_earlier_unknown_found_in_the_list_as_already_created(
    tmp_path: Path, app: Starlette
) -> None:
    """A dry run finds an earlier unknown create in the list: already_created, not created."""
    row = dict(EXAMPLE_ROWS[0])
    first = run_files(
        Options(paths=(sheet(tmp_path, [row]),), out=tmp_path / "o1"),
        settings(tmp_path),
        transport=LostAnswers(app),
        timing=FakeTiming().timing,
    )
    assert first.counts == {"unknown": 1}

    dry = run(tmp_path, sheet(tmp_path, [row]), app, "o2", dry_run=True)

    assert dry.counts == {"already_created": 1}
    assert app.state.sandbox.stats.created == 1


def test_rows_left_in_flight_by_a_crash_are_reported_as_recovered(
    tmp_path: Path, app: Starlette
) -> None:
    """A row left `sending` by a crashed run is settled, and the run says so in a warning."""
    from pipeline.ledger import Ledger
    from pipeline.model import Origin

    row = dict(EXAMPLE_ROWS[0])
    timing = FakeTiming().timing
    with Ledger.open(tmp_path / "state.sqlite", run_id="crashed", timing=timing) as ledger:
        ledger.bind_endpoint("http://localhost")
        origin = Origin("campaigns.csv", "", 2, MEMBER_BY_EMAIL[row["owner"]], row["campaign_name"])
        ledger.mark_sending(row["campaign_key"], payload={"name": "h"}, origin=origin)

    result = run(tmp_path, sheet(tmp_path, [row]), app, "o1")

    assert result.counts == {"created": 1}
    assert any("1 row(s) were in flight when an earlier run stopped" in w for w in result.warnings)


def test_an_email_shared_by_two_members_makes_the_row_invalid(tmp_path: Path) -> None:
    """An owner e-mail that two team members carry names no one: the row is invalid."""
    from sandbox.config import Member

    twin = Member("0b7f3c2a-9d4e-4f1a-8b6c-5e2d1a0f9c8b", "Anna", "Twin", "anna@example.com", "")
    app = create_app(SandboxConfig(members=(*DEFAULT_MEMBERS, twin)))
    row = dict(EXAMPLE_ROWS[0])

    result = run(tmp_path, sheet(tmp_path, [row]), app, "o1")

    [line] = results(tmp_path / "o1")
    assert result.counts == {"invalid": 1}
    assert '"anna@example.com" matches 2 team members' in line["errors"]
    assert app.state.sandbox.stats.created == 0


def test_skip_existing_without_a_campaign_list_stops_before_sending(tmp_path: Path) -> None:
    """--skip-existing cannot work without the list: exit 2 before anything is sent."""
    from pipeline.errors import PipelineError

    app = create_app(SandboxConfig(campaign_list=False))

    with pytest.raises(PipelineError) as stopped:
        run(
            tmp_path, sheet(tmp_path, with_uuid_owners(EXAMPLE_ROWS)), app, "o1", skip_existing=True
        )

    assert stopped.value.exit_code == 2
    assert "--skip-existing needs the campaign list" in str(stopped.value)
    assert app.state.sandbox.stats.created == 0


class BrokenTeamList(httpx.AsyncBaseTransport):
    """The account, but reading the team members always answers 500."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.reads = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/team-members"):
            self.reads += 1
            return httpx.Response(500, text="<html>oops</html>")
        return await self.inner.handle_async_request(request)


def test_a_failing_team_lookup_is_retried_then_stops_before_sending(
    tmp_path: Path, app: Starlette
) -> None:
    """The team list keeps failing: a few tries, then exit 2 before anything is sent."""
    from pipeline.errors import PipelineError

    transport = BrokenTeamList(app)
    with pytest.raises(PipelineError) as stopped:
        run_files(
            Options(paths=(sheet(tmp_path, EXAMPLE_ROWS),), out=tmp_path / "o1"),
            settings(tmp_path),
            transport=transport,
            timing=FakeTiming().timing,
        )

    assert stopped.value.exit_code == 2
    assert "could not read the team members (HTTP 500); nothing was sent" in str(stopped.value)
    assert transport.reads == 4
    assert app.state.sandbox.stats.created == 0


# -- Ctrl-C before anything was sent, and what adoption records ------------------------------


def test_an_interrupt_before_sending_still_reports_what_the_ledger_knows(
    tmp_path: Path, app: Starlette
) -> None:
    """Ctrl-C before the run sends: rows the ledger knows as created stay already_created,
    an earlier unknown stays unknown (never claimed unsent), only the rest are not_sent."""
    from pipeline.stop import Interrupt

    rows = with_uuid_owners(EXAMPLE_ROWS)
    run(tmp_path, sheet(tmp_path, rows[:1]), app, "o1")
    lost = run_files(
        Options(paths=(sheet(tmp_path, rows[1:2], "lost.csv"),), out=tmp_path / "o2"),
        settings(tmp_path),
        transport=LostAnswers(app),
        timing=FakeTiming().timing,
    )
    assert lost.counts == {"unknown": 1}
    interrupt = Interrupt()
    interrupt.set()

    result = run_files(
        Options(paths=(sheet(tmp_path, rows),), out=tmp_path / "o3"),
        settings(tmp_path),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
        interrupt=interrupt,
    )

    statuses_seen = [line["status"] for line in results(tmp_path / "o3")]
    assert statuses_seen == ["already_created", "unknown", "not_sent", "not_sent", "not_sent"]
    assert "not looked up in the campaign list" in results(tmp_path / "o3")[1]["errors"]
    assert result.exit_code == 130
    assert app.state.sandbox.stats.created == 2  # the first run's and the lost one's


def test_skip_existing_records_no_settings_for_a_campaign_made_elsewhere(
    tmp_path: Path, app: Starlette, example: Path
) -> None:
    """A campaign adopted by --skip-existing was never sent by this tool: the ledger keeps
    no payload for it (the settings it has are not known), unlike one this tool created."""
    from pipeline.ledger import Ledger

    existing = target_user_payload(
        ownerId=MEMBER_BY_EMAIL[EXAMPLE_ROWS[0]["owner"]], name=EXAMPLE_ROWS[0]["campaign_name"]
    )
    asyncio.run(_create_directly(app, [existing]))

    run(tmp_path, example, app, "o1", skip_existing=True)

    timing = FakeTiming().timing
    with Ledger.open(tmp_path / "state.sqlite", run_id="peek", timing=timing) as ledger:
        adopted = ledger.get(EXAMPLE_ROWS[0]["campaign_key"])
        made = ledger.get(EXAMPLE_ROWS[1]["campaign_key"])
    assert adopted is not None and made is not None
    assert (adopted.status, adopted.payload, adopted.payload_hash) == ("created", None, "")
    assert made.status == "created" and made.payload is not None and made.payload_hash
