"""Both promises under what users actually do: a new ledger against an account that has
the campaigns, keys spelled another way or reused, a hand-made campaign of the same name
during an uncertain create, refused rows, a wrong key, and a wrong base URL.

Each test drives `run_files` through `httpx.ASGITransport` into one in-process sandbox,
which stands for one Extrovert account over time.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from pipeline.errors import ConfigError
from pipeline.ledger import Ledger
from pipeline.run import RunResult, run_files
from pipeline.settings import Options, Secret, check_base_url
from pipeline.template import EXAMPLE_ROWS, write_template
from sandbox.server import DEFAULT_MEMBERS, SandboxConfig, create_app
from tests.fakes import FakeTiming
from tests.helpers import run_settings

MEMBERS = {member.email: member.id for member in DEFAULT_MEMBERS}
ANNA, BEN = DEFAULT_MEMBERS[0].id, DEFAULT_MEMBERS[1].id


def rows_with_ids(rows: Sequence[Mapping[str, str]] = EXAMPLE_ROWS) -> list[dict[str, str]]:
    return [{**row, "owner": MEMBERS.get(row["owner"], row["owner"])} for row in rows]


def run(
    tmp_path: Path,
    rows: Sequence[Mapping[str, str]],
    app: Starlette,
    out: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    **changes: Any,
) -> RunResult:
    """One run of `rows` (a sheet written for it) into `tmp_path/out` against `app`."""
    path = write_template(tmp_path / f"{out}.csv", rows=rows)
    return run_files(
        Options(paths=(path,), out=tmp_path / out),
        run_settings(tmp_path, **changes),
        transport=transport or httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
    )


def results(folder: Path) -> list[dict[str, str]]:
    with (folder / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def created(app: Starlette) -> int:
    return int(app.state.sandbox.stats.created)


# -- 1. a new ledger against an account that has the campaigns ---------------------------


def test_a_new_ledger_creates_nothing_the_account_already_has(
    tmp_path: Path, app: Starlette
) -> None:
    """Run again with another ledger (another folder, a lost state file): every row is
    invalid, naming the campaign that exists, and nothing is created twice."""
    first = run(tmp_path, EXAMPLE_ROWS, app, "o1")
    ids = [line["campaign_id"] for line in results(tmp_path / "o1")]
    assert first.counts == {"created": 5}

    again = run(tmp_path, EXAMPLE_ROWS, app, "o2", state=tmp_path / "new" / "state.sqlite")

    assert again.counts == {"invalid": 5}
    assert created(app) == 5
    for line, campaign_id in zip(results(tmp_path / "o2"), ids, strict=True):
        assert campaign_id in line["errors"]
        assert "--skip-existing" in line["errors"]
    assert again.exit_code == 1


def test_a_dry_run_with_a_new_ledger_shows_the_same(tmp_path: Path, app: Starlette) -> None:
    """--dry-run on a fresh ledger reads the list too: invalid, not would_create."""
    run(tmp_path, EXAMPLE_ROWS, app, "o1")

    dry = run(tmp_path, EXAMPLE_ROWS, app, "o2", state=tmp_path / "new" / "s.sqlite", dry_run=True)

    assert dry.counts == {"invalid": 5}
    assert not (tmp_path / "new" / "s.sqlite").exists()


def test_skip_existing_adopts_what_a_new_ledger_finds(tmp_path: Path, app: Starlette) -> None:
    """With --skip-existing the new ledger adopts the existing campaigns instead."""
    run(tmp_path, EXAMPLE_ROWS, app, "o1")

    adopted = run(
        tmp_path, EXAMPLE_ROWS, app, "o2", state=tmp_path / "b.sqlite", skip_existing=True
    )

    assert adopted.counts == {"already_created": 5}
    assert created(app) == 5


def test_a_campaign_made_for_another_key_is_named_in_the_message(
    tmp_path: Path, app: Starlette
) -> None:
    """A row with a new campaign_key but the owner and name of a campaign this ledger made
    for another key creates nothing and names that key."""
    row = dict(EXAMPLE_ROWS[0])
    run(tmp_path, [row], app, "o1")

    again = run(tmp_path, [{**row, "campaign_key": "brand-new-key"}], app, "o2")

    [line] = results(tmp_path / "o2")
    assert again.counts == {"invalid": 1}
    assert f"campaign_key {row['campaign_key']}" in line["errors"]
    assert created(app) == 1


def test_without_a_campaign_list_a_first_run_warns_loudly_once(tmp_path: Path) -> None:
    """No list on an empty ledger: the run warns that duplicates cannot be detected; a
    later run on the same ledger does not repeat it."""
    app = create_app(SandboxConfig(campaign_list=False))

    first = run(tmp_path, EXAMPLE_ROWS[:2], app, "o1")
    second = run(tmp_path, EXAMPLE_ROWS[2:4], app, "o2")

    assert first.counts == {"created": 2}
    assert any("DUPLICATES CANNOT BE DETECTED" in warning for warning in first.warnings)
    assert not any("DUPLICATES" in warning for warning in second.warnings)


class UnreadableList(httpx.AsyncBaseTransport):
    """The account, but its campaign list answers 500 every time."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/campaign"):
            return httpx.Response(500, text="oops")
        return await self.inner.handle_async_request(request)


def test_an_unreadable_list_creates_nothing_the_ledger_does_not_know(
    tmp_path: Path, app: Starlette
) -> None:
    """When the list exists but cannot be read, new rows are not sent (and say why)."""
    result = run(tmp_path, EXAMPLE_ROWS, app, "o1", transport=UnreadableList(app))

    assert result.counts == {"not_sent": 5}
    assert "campaign list could not be read" in results(tmp_path / "o1")[0]["errors"]
    assert created(app) == 0


# -- 2. key spelling ------------------------------------------------------------------------


def test_a_campaign_key_is_compared_like_a_name(tmp_path: Path, app: Starlette) -> None:
    """`E1-1` then ` e1-1 `: one key, one campaign."""
    row = {**EXAMPLE_ROWS[0], "campaign_key": "E1-1"}
    run(tmp_path, [row], app, "o1")

    again = run(tmp_path, [{**row, "campaign_key": " e1-1 "}], app, "o2")

    assert again.counts == {"already_created": 1}
    assert results(tmp_path / "o2")[0]["campaign_key"] == "e1-1"
    assert created(app) == 1


def test_two_spellings_of_one_key_in_a_sheet_are_duplicates(tmp_path: Path, app: Starlette) -> None:
    """Two rows keyed `Q1` and `q1` are the same key: both invalid, nothing sent."""
    rows = [
        {**EXAMPLE_ROWS[0], "campaign_key": "Q1"},
        {**EXAMPLE_ROWS[1], "campaign_key": "q1"},
    ]

    result = run(tmp_path, rows, app, "o1")

    assert result.counts == {"invalid": 2}
    assert created(app) == 0


def test_adding_a_campaign_key_later_moves_the_campaign_to_it(
    tmp_path: Path, app: Starlette
) -> None:
    """Rows created without a campaign_key, then given one: already_created with a note,
    never created again, and the ledger keeps them under the new keys."""
    bare = [{**row, "campaign_key": ""} for row in EXAMPLE_ROWS[:2]]
    run(tmp_path, bare, app, "o1")

    keyed = [{**row, "campaign_key": f"k-{n}"} for n, row in enumerate(bare)]
    again = run(tmp_path, keyed, app, "o2")

    assert again.counts == {"already_created": 2}
    assert all("without a campaign_key" in line["errors"] for line in results(tmp_path / "o2"))
    assert created(app) == 2
    with Ledger.open(tmp_path / "state.sqlite", run_id="peek", timing=FakeTiming().timing) as led:
        assert sorted(entry.key for entry in led.entries()) == ["k-0", "k-1"]
    third = run(tmp_path, keyed, app, "o3")
    assert third.counts == {"already_created": 2}


# -- 3. a key reused for another campaign ----------------------------------------------------


def test_a_created_key_on_a_row_of_another_owner_is_invalid(tmp_path: Path, app: Starlette) -> None:
    """A key created for Anna, now on a row for Ben: invalid, naming when and for whom;
    never already_created with Anna's campaign id."""
    row = {**rows_with_ids(EXAMPLE_ROWS[:1])[0], "owner": ANNA}
    run(tmp_path, [row], app, "o1")

    again = run(tmp_path, [{**row, "owner": BEN}], app, "o2")

    [line] = results(tmp_path / "o2")
    assert again.counts == {"invalid": 1}
    assert line["campaign_id"] == ""
    assert ANNA in line["errors"] and "owner cannot change" in line["errors"]
    assert "2024-05-01" in line["errors"]  # when the key was used (the fake clock's day)
    assert created(app) == 1


def test_a_created_key_on_a_row_of_another_campaign_type_is_invalid(
    tmp_path: Path, app: Starlette
) -> None:
    """A key created for a Prospects campaign, now on a Topic row: invalid."""
    prospects = next(r for r in EXAMPLE_ROWS if r["campaign_type"].startswith("Prospects"))
    topic = next(r for r in EXAMPLE_ROWS if r["campaign_type"].startswith("Topic"))
    run(tmp_path, [prospects], app, "o1")

    again = run(tmp_path, [{**topic, "campaign_key": prospects["campaign_key"]}], app, "o2")

    [line] = results(tmp_path / "o2")
    assert again.counts == {"invalid": 1}
    assert "campaign_type cannot change" in line["errors"]


# -- 4. settling an uncertain create ----------------------------------------------------------


class LostWithoutList(httpx.AsyncBaseTransport):
    """The account takes every create but the answers are lost, and it offers no list:
    nothing records what the account held before the request."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/campaign"):
            return httpx.Response(404)
        response = await self.inner.handle_async_request(request)
        if request.method == "POST":
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


def test_an_uncertain_create_without_a_snapshot_stays_unknown(
    tmp_path: Path, app: Starlette
) -> None:
    """When nothing recorded what the account held before the request, a same-named
    campaign in the list may be someone else's: the row stays unknown, with how to
    resolve it, and nothing is sent again."""
    row = EXAMPLE_ROWS[0]
    first = run(tmp_path, [row], app, "o1", transport=LostWithoutList(app))
    assert first.counts == {"unknown": 1}

    again = run(tmp_path, [row], app, "o2")

    [line] = results(tmp_path / "o2")
    assert again.counts == {"unknown": 1}
    assert "campaigns resolve" in line["errors"]
    assert created(app) == 1


# -- 6. refused rows ------------------------------------------------------------------------


def test_a_rejected_row_is_not_sent_again_until_it_changes(tmp_path: Path, app: Starlette) -> None:
    """Refused once, the same row is not sent on the next run (the report says why);
    edited, it is sent again."""
    stranger = "9b2f4c1e-7d3a-4e8b-a1c2-3d4e5f6a7b8c"
    row = {**EXAMPLE_ROWS[0], "owner": stranger}
    first = run(tmp_path, [row], app, "o1")
    assert first.counts == {"rejected": 1}

    same = run(tmp_path, [row], app, "o2")
    edited = run(tmp_path, [{**row, "min_post_likes": "7"}], app, "o3")

    assert same.counts == {"rejected": 1}
    assert same.summary["requests"] == 0
    assert "not sent again until the row changes" in results(tmp_path / "o2")[0]["errors"]
    assert edited.summary["requests"] == 1


# -- 7. a wrong or expired key ------------------------------------------------------------------


def test_a_wrong_key_keeps_the_ids_of_rows_created_before(tmp_path: Path, app: Starlette) -> None:
    """With a refused key, rows the ledger knows as created keep their ids; the run
    stops (exit 3) naming the HTTP status."""
    rows = rows_with_ids()
    run(tmp_path, rows[:2], app, "o1")

    refused = run(tmp_path, rows, app, "o2", api_key=Secret("wrong-key"))

    lines = results(tmp_path / "o2")
    assert [line["status"] for line in lines[:2]] == ["already_created"] * 2
    assert all(line["campaign_id"] for line in lines[:2])
    assert {line["status"] for line in lines[2:]} == {"not_sent"}
    assert refused.exit_code == 3
    assert refused.stopped_status == 401


# -- 8. the ledger's endpoint and the base URL ------------------------------------------------


def test_a_run_that_creates_nothing_binds_no_endpoint(tmp_path: Path, app: Starlette) -> None:
    """A first run refused by the API leaves the ledger free for the right address."""
    run(tmp_path, rows_with_ids(), app, "o1", api_key=Secret("wrong-key"))
    with Ledger.open(tmp_path / "state.sqlite", run_id="peek", timing=FakeTiming().timing) as led:
        led.bind_endpoint("https://elsewhere.example", record=False)  # does not raise

    second = run(tmp_path, rows_with_ids(), app, "o2")

    assert second.counts == {"created": 5}


def test_loopback_names_of_one_port_are_one_endpoint(tmp_path: Path) -> None:
    """`localhost` and `127.0.0.1` with the same port are one endpoint; another port is not."""
    with Ledger.open(tmp_path / "s.sqlite", run_id="r", timing=FakeTiming().timing) as ledger:
        ledger.bind_endpoint("http://localhost:8080")
        ledger.bind_endpoint("http://127.0.0.1:8080/")
        with pytest.raises(ConfigError, match="records campaigns of"):
            ledger.bind_endpoint("http://127.0.0.1:9090")


class NoCampaignEndpoint(httpx.AsyncBaseTransport):
    """A server at the wrong address: the team list works, creating answers 404."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(404, text="<html>Not Found</html>")
        return await self.inner.handle_async_request(request)


def test_a_404_on_create_stops_the_run_and_points_at_the_base_url(
    tmp_path: Path, app: Starlette
) -> None:
    """A 404 to POST campaign stops at once (exit 3) instead of rejecting every row."""
    result = run(tmp_path, rows_with_ids(), app, "o1", transport=NoCampaignEndpoint(app))

    assert result.exit_code == 3
    assert "check --base-url" in result.stopped
    assert result.summary["requests"] <= 4  # the requests already in flight, no more
    assert "rejected" not in result.counts


def test_a_base_url_with_the_api_path_pasted_in_is_refused() -> None:
    """`--base-url .../api/client/v2` is refused, with the address to give instead."""
    with pytest.raises(ConfigError) as refused:
        check_base_url("https://api.example.com/webgateway/api/client/v2/")
    assert "https://api.example.com/webgateway" in refused.value.hint


# -- 10. storage ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "said"),
    [
        ("afile/state.sqlite", "afile is a file, not a folder"),
        ("/proc/campaigns-state.sqlite", "cannot create the ledger's lock file"),
    ],
    ids=["under a file", "in /proc"],
)
def test_a_ledger_that_cannot_be_kept_stops_before_anything_is_sent(
    tmp_path: Path, app: Starlette, state: str, said: str
) -> None:
    """A ledger path where nothing can be written: one error naming the path and the OS
    reason (never "held by another process"), exit 2, nothing sent."""
    from pipeline.errors import LedgerError

    (tmp_path / "afile").write_text("not a folder")
    where = tmp_path / state if not state.startswith("/") else Path(state)

    with pytest.raises(LedgerError) as stopped:
        run(tmp_path, EXAMPLE_ROWS, app, "o1", state=where)

    assert said in str(stopped.value)
    assert "held by another process" not in str(stopped.value)
    assert stopped.value.exit_code == 2
    assert app.state.sandbox.stats.requests == 0


def test_the_sandbox_with_an_unusable_state_is_one_clean_error(tmp_path: Path) -> None:
    """`run --sandbox --state` under a file: one Error line naming it, exit 2."""
    from click.testing import CliRunner

    from pipeline.cli import cli

    (tmp_path / "afile").write_text("not a folder")
    sheet = write_template(tmp_path / "rows.csv", rows=EXAMPLE_ROWS[:1])

    done = CliRunner().invoke(
        cli, ["run", "--sandbox", "--state", str(tmp_path / "afile" / "s.sqlite"), str(sheet)]
    )

    assert done.exit_code == 2
    assert done.stderr.startswith("Error: --state ")
    assert "Traceback" not in done.output + done.stderr


class FolderGoneAfterFirstCreate(httpx.AsyncBaseTransport):
    """The account, but once the first campaign is created, the report folder is replaced
    by a file (a disk unmounted, a folder deleted by someone): the reports cannot be
    written, though campaigns were created."""

    def __init__(self, app: Starlette, folder: Path) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.folder = folder

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and self.folder.is_dir():
            for child in self.folder.iterdir():
                child.unlink()
            self.folder.rmdir()
            self.folder.write_text("in the way")
        return response


def test_reports_lost_after_creating_exit_3_and_the_ledger_keeps_the_ids(
    tmp_path: Path, app: Starlette
) -> None:
    """Reports that cannot be written after campaigns were created: exit 3, saying how
    many were created and that the ledger has them; the ledger records that exit 3."""
    from pipeline.errors import ReportError
    from pipeline.status import export_ledger

    folder = tmp_path / "o1"
    transport = FolderGoneAfterFirstCreate(app, folder)

    with pytest.raises(ReportError) as lost:
        run(tmp_path, EXAMPLE_ROWS, app, "o1", transport=transport)

    assert lost.value.exit_code == 3
    assert "5 campaign(s) were created in this run and the ledger" in str(lost.value)
    assert "--export" in lost.value.hint
    exported = tmp_path / "ids.csv"
    export_ledger(tmp_path / "state.sqlite", exported)
    with exported.open(encoding="utf-8-sig", newline="") as stream:
        ids = {line["campaign_id"] for line in csv.DictReader(stream)}
    assert ids == {campaign.id for campaign in app.state.sandbox.store.all()}
    with Ledger.open(tmp_path / "state.sqlite", run_id="peek", timing=FakeTiming().timing) as led:
        assert led.runs()[-1]["exit_code"] == 3


@pytest.mark.slow
def test_a_disk_that_fills_up_mid_run_stops_with_exit_3_and_loses_no_row(
    tmp_path: Path,
) -> None:
    """The ledger's file may not grow past 200 kB (a full disk, as the OS reports it):
    the run stops with exit 3 and every row in results.csv; the next run, with room
    again, settles what was in flight and creates each campaign exactly once."""
    import os
    import resource
    import signal
    import subprocess
    import sys

    from sandbox.server import DEFAULT_API_KEY, run_in_thread
    from tests.helpers import ROOT, numbered_sheet

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big write fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    path = numbered_sheet(tmp_path, 200)
    state = tmp_path / "state.sqlite"
    environment = {**os.environ, "EXTROVERT_API_KEY": DEFAULT_API_KEY}
    with run_in_thread() as url:
        command = [sys.executable, "-m", "pipeline", "run", str(path), "--base-url", url]
        command += ["--rate", "1000", "--state", str(state)]
        full = subprocess.run(
            [*command, "--out", str(tmp_path / "o1")],
            env=environment,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=small_files,
        )
        roomy = subprocess.run(
            [*command, "--out", str(tmp_path / "o2")],
            env=environment,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        import httpx as client

        stats = client.get(f"{url}/_sandbox/stats", headers={"X-API-Key": DEFAULT_API_KEY})

    assert full.returncode == 3, full.stderr
    assert "Traceback" not in full.stderr
    # A request's sending or its outcome could not be committed: the run stopped there.
    assert "could not be recorded" in full.stderr or "could not be written" in full.stderr
    assert len(results(tmp_path / "o1")) == 200
    assert roomy.returncode == 0, roomy.stderr
    assert {line["status"] for line in results(tmp_path / "o2")} <= {"created", "already_created"}
    assert stats.json()["created"] == 200
    assert stats.json()["duplicates"] == 0


# -- found by review: uncertain rows, keys and owners in combination ---------------------------


class TwinsLost(httpx.AsyncBaseTransport):
    """Two rows of one owner and name: the first create never reaches the account, the
    second does; both answers are lost."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.posts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts += 1
            if self.posts == 1:
                raise httpx.ReadTimeout("lost before", request=request)
            if self.posts == 2:
                await self.inner.handle_async_request(request)
                raise httpx.ReadTimeout("lost after", request=request)
        return await self.inner.handle_async_request(request)


def test_two_uncertain_rows_of_one_name_never_take_each_others_campaign(
    tmp_path: Path, app: Starlette
) -> None:
    """Rows `a` and `b` share owner and name and both end uncertain: the one campaign
    found cannot be told apart, so both stay unknown and nothing is sent again."""
    from tests.helpers import FAST

    base = EXAMPLE_ROWS[0]
    rows = [
        {**base, "campaign_key": "a", "min_post_likes": "11"},
        {**base, "campaign_key": "b", "min_post_likes": "22"},
    ]
    send = FAST.__class__(rate=1000, concurrency=1, timeout=1.0)

    result = run(tmp_path, rows, app, "o1", transport=TwinsLost(app), send=send)

    assert result.counts == {"unknown": 2}
    assert created(app) == 1
    assert all("campaigns resolve" in line["errors"] for line in results(tmp_path / "o1"))


class LostBeforeListOnce(httpx.AsyncBaseTransport):
    """Creates never reach the account and time out; the list answers once, then 404."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.reads = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/campaign"):
            self.reads += 1
            if self.reads > 1:
                return httpx.Response(404)
        if request.method == "POST":
            raise httpx.ReadTimeout("lost", request=request)
        return await self.inner.handle_async_request(request)


def test_a_renamed_uncertain_row_is_checked_under_its_new_name(
    tmp_path: Path, app: Starlette
) -> None:
    """An uncertain create found absent is sent again as the sheet says now: a campaign
    that exists under the row's new name keeps it from being created twice."""
    row = {**EXAMPLE_ROWS[0], "campaign_key": "k", "campaign_name": "Old name"}
    run(tmp_path, [row], app, "o1", transport=LostBeforeListOnce(app))
    other = {**row, "campaign_key": "other", "campaign_name": "New name"}
    run(tmp_path, [other], app, "x", state=tmp_path / "other.sqlite")

    again = run(tmp_path, [{**row, "campaign_name": "New name"}], app, "o2")

    assert again.counts == {"invalid": 1}
    assert [c.name for c in app.state.sandbox.store.all()] == ["New name"]


def test_a_key_added_to_an_uncertain_row_sends_nothing_again(tmp_path: Path) -> None:
    """Without a campaign list, a row whose create is uncertain and that is then given a
    campaign_key (or loses it) is not sent again under the new key."""
    app = create_app(SandboxConfig(campaign_list=False))
    row = {**rows_with_ids(EXAMPLE_ROWS[:1])[0], "campaign_key": ""}
    run(tmp_path, [row], app, "o1", transport=LostWithoutList(app))

    keyed = run(tmp_path, [{**row, "campaign_key": "k1"}], app, "o2")

    [line] = results(tmp_path / "o2")
    assert keyed.counts == {"invalid": 1}
    assert "campaigns resolve" in line["errors"]
    assert created(app) == 1


def test_one_campaign_made_without_a_key_and_two_rows_keying_it_is_never_split(
    tmp_path: Path, app: Starlette
) -> None:
    """A row created without a key, now twice in the sheet under keys k1 and k2: neither
    takes it silently (both invalid, naming its key), no traceback, nothing created."""
    row = {**EXAMPLE_ROWS[0], "campaign_key": ""}
    run(tmp_path, [row], app, "o1")

    again = run(tmp_path, [{**row, "campaign_key": "k1"}, {**row, "campaign_key": "k2"}], app, "o2")

    assert again.counts == {"invalid": 2}
    assert created(app) == 1


def test_an_uncertain_key_reused_for_another_owner_is_invalid(
    tmp_path: Path, app: Starlette
) -> None:
    """A key whose create is uncertain, now on a row for another owner: invalid, never
    settled with the first owner's campaign."""
    row = {**rows_with_ids(EXAMPLE_ROWS[:1])[0], "owner": ANNA}
    run(tmp_path, [row], app, "o1", transport=LostBeforeListOnce(app))

    again = run(tmp_path, [{**row, "owner": BEN}], app, "o2")

    [line] = results(tmp_path / "o2")
    assert again.counts == {"invalid": 1}
    assert line["campaign_id"] == ""
    assert "owner cannot change" in line["errors"]


def test_a_wrong_key_keeps_ids_of_rows_whose_owner_is_an_email(
    tmp_path: Path, app: Starlette
) -> None:
    """With e-mail owners the team list is refused first: owners learned by earlier runs
    still find the created rows, which keep their ids."""
    run(tmp_path, EXAMPLE_ROWS[:2], app, "o1")

    refused = run(tmp_path, EXAMPLE_ROWS, app, "o2", api_key=Secret("wrong-key"))

    lines = results(tmp_path / "o2")
    assert [line["status"] for line in lines[:2]] == ["already_created"] * 2
    assert all(line["campaign_id"] and not line["errors"] for line in lines[:2])
    assert refused.exit_code == 3


def test_an_uncertain_first_run_binds_the_ledger_to_its_api(tmp_path: Path) -> None:
    """A first run whose creates are uncertain binds the ledger: another address cannot
    then send those rows again into another account."""
    first_account = create_app(SandboxConfig(campaign_list=False))
    rows = rows_with_ids(EXAMPLE_ROWS[:2])
    run(tmp_path, rows, first_account, "o1", transport=LostWithoutList(first_account))

    with pytest.raises(ConfigError, match="records campaigns of"):
        run(tmp_path, rows, create_app(SandboxConfig()), "o2", base_url="https://other.example")


@pytest.mark.parametrize("there_before", [True, False], ids=["made by hand", "made by us"])
def test_an_uncertain_create_settles_only_with_a_campaign_absent_from_its_snapshot(
    tmp_path: Path, app: Starlette, there_before: bool
) -> None:
    """An earlier run sent a row and lost the answer; the list now shows a campaign of
    that owner and name. If the account already held it when that run began (its
    snapshot), it is someone else's: the row is invalid, never adopted. If not, it is
    the row's: created with that id."""
    import asyncio

    from pipeline.model import Origin, Status

    row = rows_with_ids(EXAMPLE_ROWS[:1])[0]
    campaign = asyncio.run(_make_by_hand(app, row))
    timing = FakeTiming().timing
    with Ledger.open(tmp_path / "state.sqlite", run_id="earlier", timing=timing) as ledger:
        ledger.record_snapshot({campaign} if there_before else set())
        origin = Origin("o.csv", "", 2, row["owner"], row["campaign_name"])
        ledger.mark_sending(row["campaign_key"], payload={"name": "x"}, origin=origin)
        ledger.record(row["campaign_key"], Status.UNKNOWN, error="timeout")

    result = run(tmp_path, [row], app, "o1")

    [line] = results(tmp_path / "o1")
    if there_before:
        assert result.counts == {"invalid": 1}
        assert campaign in line["errors"]
    else:
        assert result.counts == {"created": 1}
        assert line["campaign_id"] == campaign
    assert created(app) == 1


async def _make_by_hand(app: Starlette, row: Mapping[str, str]) -> str:
    """Create a campaign of the row's owner and name straight through the API."""
    from sandbox.server import DEFAULT_API_KEY
    from tests.sandbox_fixtures import CREATE, target_user_payload

    body = target_user_payload(ownerId=row["owner"], name=row["campaign_name"])
    transport = httpx.ASGITransport(app=app)
    headers = {"X-API-Key": DEFAULT_API_KEY}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sandbox.test", headers=headers
    ) as client:
        answer = await client.post(CREATE, json=body)
    return str(answer.json()["data"]["id"])


def test_a_request_the_ledger_cannot_record_is_not_made() -> None:
    """When `sending` cannot be committed (a full disk), the request does not go out:
    the row is not_sent (never unknown) and the run stops, naming why."""
    import asyncio

    from pipeline.client import ExtrovertClient
    from pipeline.model import Status
    from pipeline.operations import Operation
    from pipeline.send import NotRecorded, Sender
    from pipeline.settings import SendSettings
    from pipeline.stop import Stop

    posted: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return httpx.Response(201, json={"status": "success", "data": {"id": "x"}})

    def before(operation: Operation) -> None:
        raise NotRecorded("the ledger state.sqlite could not be written: disk is full")

    outcomes = []

    async def go() -> Stop:
        fake = FakeTiming()
        stop = Stop(fake.sleep)
        transport = httpx.MockTransport(handler)
        async with ExtrovertClient(
            "http://localhost", Secret("test-key-123"), transport=transport
        ) as api:
            sender = Sender(api, SendSettings(rate=1000), fake.timing, stop)
            operations = [Operation.create_campaign(f"k{n}", {}, n) for n in range(3)]
            await sender.apply(operations, before, lambda op, out: outcomes.append(out))
        return stop

    stop = asyncio.run(go())

    assert posted == []
    assert {outcome.status for outcome in outcomes} == {Status.NOT_SENT}
    assert "disk is full" in stop.reason
