"""Prospects sent: each Prospects campaign that exists gets its lists and profiles, each
list created once, the URLs in chunks of 100, nothing sent twice, whatever the faults,
the account's limit or a rerun (issue 12, items 3 and 4; decisions 13 to 15).

Runs go through `run_files` against the sandbox in process (a recording transport
keeps every request).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from pipeline.run import RunResult, run_files
from pipeline.settings import Options
from pipeline.template import EXAMPLE_ROWS
from sandbox.server import SandboxConfig, create_app
from tests.fakes import FakeTiming
from tests.helpers import run_settings, write_xlsx
from tests.recording import Recorder

HEADER = list(EXAMPLE_ROWS[0])
LISTS = "/api/client/v2/prospect-list"


def people(count: int, start: int = 0) -> list[str]:
    return [f"https://www.linkedin.com/in/person-{n}" for n in range(start, start + count)]


def sheet(tmp_path: Path, prospects: Sequence[Sequence[str]], name: str = "plan.xlsx") -> Path:
    """The example campaigns and a prospects sheet (campaign, linkedin_url, list_name)."""
    rows = [[row.get(h, "") for h in HEADER] for row in EXAMPLE_ROWS]
    return write_xlsx(
        tmp_path / name,
        [HEADER, *rows],
        other_sheets={"prospects": [["campaign", "linkedin_url", "list_name"], *prospects]},
    )


def run(tmp_path: Path, path: Path, recorder: Recorder, out: str, **changes: Any) -> RunResult:
    return run_files(
        Options(paths=(path,), out=tmp_path / out),
        run_settings(tmp_path, **changes),
        transport=recorder,
        timing=FakeTiming().timing,
    )


def list_requests(recorder: Recorder) -> list[tuple[str, Any]]:
    return [(path, body) for method, path, body in recorder.requests if path.startswith(LISTS)]


def held(app: Starlette) -> dict[str, list[str]]:
    """Each sandbox list's URLs, by list name."""
    return {item.name: list(item.urls) for item in app.state.sandbox.lists.all()}


def statuses(result: RunResult) -> list[str]:
    return [p.status.value for p in result.prospects]


@pytest.fixture
def sandbox() -> Iterator[tuple[Starlette, Recorder]]:
    app = create_app(SandboxConfig())
    yield app, Recorder(app)
    app.state.sandbox.close()


def test_each_list_is_created_once_and_filled_in_chunks_of_100(
    tmp_path: Path, sandbox: tuple[Starlette, Recorder]
) -> None:
    """250 profiles for one campaign's list and 2 for a second list: one create per list
    (its first 100 URLs, decision 13's body), then adds of 100 and 50; the sandbox holds
    every URL once, in sheet order."""
    app, recorder = sandbox
    urls = people(250)
    rows = [["acme-q1-cto", url, ""] for url in urls]
    rows += [["acme-q1-cto", url, "second"] for url in people(2, 1000)]
    result = run(tmp_path, sheet(tmp_path, rows), recorder, "o1")

    assert statuses(result) == ["added"] * 252
    assert result.exit_code == 0
    requests = list_requests(recorder)
    creates = [body for path, body in requests if path == LISTS]
    adds = [body for path, body in requests if path != LISTS]
    assert [c["listName"] for c in creates] == ["ACME Q1 - CTOs in fintech", "second"]
    assert list(creates[0]) == [
        "listName",
        "campaignId",
        "userUrls",
        "moveOwnDuplicated",
        "shouldBeDeletedIfInactive",
    ]
    assert creates[0]["userUrls"] == urls[:100]
    assert [a["userUrls"] for a in adds] == [urls[100:200], urls[200:]]
    list_id = adds[0]["listId"]
    assert all(path == f"{LISTS}/{list_id}/add-users-to-list" for path, _ in requests[2:])
    assert held(app) == {"ACME Q1 - CTOs in fintech": urls, "second": people(2, 1000)}
    stats = app.state.sandbox.stats
    assert (stats.lists_created, stats.duplicates_in_list, stats.duplicate_lists) == (2, 0, 0)


def test_a_rerun_sends_only_what_is_new(
    tmp_path: Path, sandbox: tuple[Starlette, Recorder]
) -> None:
    """The same sheet again: no prospect request, every row already_added, no report kept;
    three rows added to it: one add with those three, to the list made before."""
    app, recorder = sandbox
    first = [["acme-q1-cto", url, ""] for url in people(5)]
    run(tmp_path, sheet(tmp_path, first), recorder, "o1")
    recorder.requests.clear()

    again = run(tmp_path, sheet(tmp_path, first, "same.xlsx"), recorder, "o2")
    more = run(
        tmp_path,
        sheet(tmp_path, [*first, *(["acme-q1-cto", u, ""] for u in people(3, 5))], "more.xlsx"),
        recorder,
        "o3",
    )

    assert statuses(again) == ["already_added"] * 5
    assert statuses(more) == ["already_added"] * 5 + ["added"] * 3
    requests = list_requests(recorder)
    assert len(requests) == 1
    assert requests[0][1]["userUrls"] == people(3, 5)
    assert held(app) == {"ACME Q1 - CTOs in fintech": people(8)}
    assert app.state.sandbox.stats.lists_created == 1


def test_prospects_of_a_campaign_that_does_not_exist_are_not_sent(
    tmp_path: Path, sandbox: tuple[Starlette, Recorder]
) -> None:
    """A campaign the API refused: its prospects are not_sent, naming its row."""
    _, recorder = sandbox
    rows = [[row.get(h, "") for h in HEADER] for row in EXAMPLE_ROWS]
    rows[0][HEADER.index("owner")] = "00000000-0000-4000-8000-000000000000"  # not a member
    path = write_xlsx(
        tmp_path / "refused.xlsx",
        [HEADER, *rows],
        other_sheets={
            "prospects": [
                ["campaign", "linkedin_url", "list_name"],
                ["acme-q1-cto", people(1)[0], ""],
            ]
        },
    )

    result = run(tmp_path, path, recorder, "o1")

    (row,) = result.prospects
    assert row.status.value == "not_sent"
    assert "its campaign row (refused.xlsx [campaigns] row 2) is rejected" in row.errors[0]
    assert list_requests(recorder) == []


def test_a_dry_run_says_would_add_and_sends_nothing(
    tmp_path: Path, sandbox: tuple[Starlette, Recorder]
) -> None:
    """--dry-run: each prospect of a campaign that would exist is would_add; no list
    request is made."""
    _, recorder = sandbox
    path = sheet(tmp_path, [["acme-q1-cto", url, ""] for url in people(3)])

    result = run(tmp_path, path, recorder, "dry", dry_run=True)

    assert statuses(result) == ["would_add"] * 3
    assert list_requests(recorder) == []


def test_over_the_limit_stops_prospects_until_a_new_month(tmp_path: Path) -> None:
    """A month's limit of 150 and 250 profiles: the first run adds 150 and stops the
    prospect requests
    (the rest over_limit or not_sent; summary.json holds the limits and how many wait);
    the next month's run adds the rest, and no URL is stored twice."""
    app = create_app(SandboxConfig(prospect_limit=150))
    recorder = Recorder(app)
    try:
        urls = people(250)
        path = sheet(tmp_path, [["acme-q1-cto", url, ""] for url in urls])

        first = run(tmp_path, path, recorder, "o1")
        app.state.sandbox.lists.new_month()
        second = run(tmp_path, path, recorder, "o2")

        assert statuses(first)[:150] == ["added"] * 150
        assert set(statuses(first)[150:]) <= {"over_limit", "not_sent"}
        assert "over_limit" in statuses(first)
        assert first.exit_code == 1
        limits = first.summary["prospects"]["limits"]
        assert limits["perMonthUrlsLimit"] == 150
        assert first.summary["prospects"]["waiting"] == 100
        assert set(statuses(second)) <= {"already_added", "added"}
        assert statuses(second).count("added") == 100
        assert held(app) == {"ACME Q1 - CTOs in fintech": urls}
        assert app.state.sandbox.stats.duplicates_in_list == 0
    finally:
        app.state.sandbox.close()


@pytest.mark.parametrize("kind", ["500_after", "drop_after", "503", "500_before"])
def test_faults_on_prospect_requests_lose_and_double_nothing(tmp_path: Path, kind: str) -> None:
    """Half the prospect requests strike a fault, over reruns: no URL is stored twice in
    a list and no list is created twice; every row ends added, already_added or exists
    (the second campaign's profiles sit in the first's list: same owner), or, when its
    list's create may have gone through, unknown saying how to settle it (never created
    again by itself). A 503 is retried, so it leaves nothing unknown."""
    app = create_app(SandboxConfig(prospect_faults={kind: 0.5}, seed=7))
    recorder = Recorder(app)
    try:
        urls = people(420)
        rows = [["acme-q1-cto", url, ""] for url in urls]
        rows += [["acme-q1-vp-sales", url, ""] for url in urls[:30]]
        path = sheet(tmp_path, rows)
        done = {"added", "already_added", "exists"}
        for number in range(4):
            result = run(tmp_path, path, recorder, f"o{number}")
            if set(statuses(result)) <= done:
                break
        finals = set(statuses(result))
        assert finals <= done | {"unknown"}
        if kind == "503":
            assert finals <= done
        stored = held(app)
        for prospect in result.prospects:
            if prospect.status.value == "unknown":
                assert "look in Extrovert, then rerun with --resend-unknown" in prospect.errors[0]
            elif prospect.status.value in ("added", "already_added"):
                assert prospect.url in stored[prospect.list_name]
        stats = app.state.sandbox.stats
        assert (stats.duplicates_in_list, stats.duplicate_lists) == (0, 0)
    finally:
        app.state.sandbox.close()


def test_the_list_switches_come_from_the_settings(tmp_path: Path) -> None:
    """move_own_duplicated and delete_if_inactive (config `[prospects]`) go into every
    list request: moved, a profile in the owner's other list is added to this one
    instead of being reported as existing there."""
    app = create_app(SandboxConfig())
    recorder = Recorder(app)
    try:
        urls = people(3)
        rows = [["acme-q1-cto", url, ""] for url in urls]
        rows += [["acme-q1-cto", url, "second"] for url in urls]
        path = sheet(tmp_path, rows)

        result = run(
            tmp_path, path, recorder, "o1", move_own_duplicated=True, delete_if_inactive=True
        )

        assert statuses(result) == ["added"] * 6
        bodies = [body for _, body in list_requests(recorder)]
        assert all(b["moveOwnDuplicated"] and b["shouldBeDeletedIfInactive"] for b in bodies)
        assert held(app) == {"ACME Q1 - CTOs in fintech": [], "second": urls}
    finally:
        app.state.sandbox.close()


@pytest.mark.slow
def test_the_config_files_prospects_section_reaches_the_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[prospects] delete_if_inactive = true` in campaigns.toml, and
    CAMPAIGNS_PROSPECTS_MOVE_OWN_DUPLICATED in the environment, reach the sandbox's
    lists (read from its store beside the ledger)."""
    import sqlite3

    from tests.helpers import invoke

    monkeypatch.chdir(tmp_path)
    (tmp_path / "campaigns.toml").write_text(
        "[prospects]\ndelete_if_inactive = true\n", encoding="utf-8"
    )
    monkeypatch.setenv("CAMPAIGNS_PROSPECTS_MOVE_OWN_DUPLICATED", "yes")
    path = sheet(tmp_path, [["acme-q1-cto", people(1)[0], ""]])

    result = invoke("run", "--sandbox", path)

    assert result.exit_code == 0, result.output
    store = tmp_path / "reports" / "sandbox-state-campaigns.sqlite"
    with sqlite3.connect(store) as connection:
        flags = connection.execute("SELECT delete_inactive FROM prospect_lists").fetchall()
    assert flags == [(1,)]
    monkeypatch.setenv("CAMPAIGNS_PROSPECTS_MOVE_OWN_DUPLICATED", "perhaps")
    refused = invoke("run", "--sandbox", path)
    assert refused.exit_code == 2
    assert "CAMPAIGNS_PROSPECTS_MOVE_OWN_DUPLICATED='perhaps' cannot work" in refused.output


def test_status_lists_each_list_with_its_prospects_and_the_limits(tmp_path: Path) -> None:
    """After a run that met the limit: `campaigns status` lists each list (campaign key,
    name, list id) with its URLs counted by what they got, and the account's limits; the
    closing line says how many wait; --json holds the same."""
    import json

    from tests.helpers import invoke

    app = create_app(SandboxConfig(prospect_limit=3))
    recorder = Recorder(app)
    try:
        path = sheet(tmp_path, [["acme-q1-cto", url, ""] for url in people(5)])
        result = run(tmp_path, path, recorder, "o1")
    finally:
        app.state.sandbox.close()
    state = tmp_path / "state.sqlite"

    shown = invoke("status", "--state", state)
    data = json.loads(invoke("status", "--state", state, "--json").stdout)

    (item,) = data["lists"]
    assert item["campaign_key"] == "acme-q1-cto" and item["status"] == "created"
    assert item["prospects"] == {"added": 3, "over_limit": 2}
    assert data["prospect_limits"]["perMonthUrlsLimit"] == 3
    assert "Prospect lists: 1" in shown.stdout
    assert (
        f"acme-q1-cto: 'ACME Q1 - CTOs in fintech' (list {item['list_id']}): 3 added, 2 over_limit"
        in shown.stdout
    )
    assert "Prospect limits (the account's, at the last answer): 3 a month" in shown.stdout
    assert result.summary["prospects"]["waiting"] == 2
    from pipeline.cli import closing_line

    assert "(2 wait for the account's prospect limit: 3 a month" in closing_line(result)


def _list_created(state: Path) -> bool:
    """The ledger records a created list (its first adds may be in flight)."""
    import sqlite3

    if not state.exists():
        return False
    try:
        with sqlite3.connect(state, timeout=0.1) as connection:
            found = connection.execute("SELECT COUNT(*) FROM lists WHERE status = 'created'")
            return bool(found.fetchone()[0])
    except sqlite3.Error:
        return False


@pytest.mark.slow
def test_kill_9_while_prospects_are_added_then_a_rerun_converges(tmp_path: Path) -> None:
    """A real run is killed (SIGKILL) while it adds prospects to a list it created: the
    rerun sends what is missing to that same list, never creates it again, and the list
    then holds every profile exactly once, in sheet order."""
    import httpx

    from sandbox.server import run_in_thread
    from tests.helpers import kill_mid_run

    urls = people(800)
    path = sheet(tmp_path, [["acme-q1-cto", url, ""] for url in urls])
    state = tmp_path / "state.sqlite"
    with run_in_thread(SandboxConfig(latency_ms=50)) as url:
        kill_mid_run(
            path, url, state, tmp_path / "killed", counter="list_adds", ready=_list_created
        )
        again = run_files(
            Options(paths=(path,), out=tmp_path / "again"),
            run_settings(tmp_path, base_url=url),
            timing=FakeTiming().timing,
        )
        with httpx.Client(base_url=url) as client:
            stats = client.get("/_sandbox/stats").json()
            lists = client.get("/_sandbox/lists").json()

    assert set(statuses(again)) <= {"added", "already_added"}
    assert stats["lists_created"] == 1 and stats["duplicate_lists"] == 0
    (only,) = lists
    assert only["urls"] == urls


# -- plan and apply -----------------------------------------------------------------------


def _plan(tmp_path: Path, path: Path, recorder: Recorder, out: str) -> Any:
    from pipeline.run import plan_files

    return plan_files(
        Options(paths=(path,), out=tmp_path / out),
        run_settings(tmp_path, dry_run=True),
        transport=recorder,
        timing=FakeTiming().timing,
    )


def _apply(tmp_path: Path, saved: Path, recorder: Recorder, out: str) -> RunResult:
    from pipeline.plan import Plan
    from pipeline.run import apply_plan

    return apply_plan(
        Plan.read(saved),
        saved,
        Options(paths=(saved,), out=tmp_path / out),
        run_settings(tmp_path),
        transport=recorder,
        timing=FakeTiming().timing,
    )


def test_a_plan_shows_the_prospects_to_add_and_apply_adds_exactly_them(
    tmp_path: Path, sandbox: tuple[Starlette, Recorder]
) -> None:
    """The plan sends nothing: its prospects are would_add, plan.json lists each list's
    URLs (created first or not) and the printed plan counts them; apply creates the
    campaigns and fills the lists with exactly those URLs, without reading the sheet."""
    from pipeline.plan import plan_lines

    app, recorder = sandbox
    urls = people(130)
    path = sheet(tmp_path, [["acme-q1-cto", url, ""] for url in urls])

    result, made = _plan(tmp_path, path, recorder, "plan")
    planned_requests = list_requests(recorder)
    path.unlink()
    applied = _apply(tmp_path, result.folder / "plan.json", recorder, "apply")

    assert planned_requests == []
    assert statuses(result) == ["would_add"] * 130
    (item,) = made.data["lists"]
    assert (item["name"], item["create"], item["urls"]) == ("ACME Q1 - CTOs in fintech", True, urls)
    lines = plan_lines(made)
    shown = "  + list 'ACME Q1 - CTOs in fintech' of acme-q1-cto: 130 profile(s), "
    assert shown + "created with 100, then 1 add(s)" in lines
    assert any(line.endswith("; 130 prospect(s) to add.") for line in lines)
    assert statuses(applied) == ["added"] * 130
    assert held(app) == {"ACME Q1 - CTOs in fintech": urls}
    assert (tmp_path / "apply" / "prospects.csv").exists()


def test_a_list_changed_since_the_plan_makes_it_stale(
    tmp_path: Path, sandbox: tuple[Starlette, Recorder]
) -> None:
    """Profiles added to a planned list by another run after the plan was made: apply is
    refused (exit 2), naming the list and its first row; nothing is sent."""
    from pipeline.errors import StalePlan

    app, recorder = sandbox
    first = [["acme-q1-cto", url, ""] for url in people(5)]
    run(tmp_path, sheet(tmp_path, first), recorder, "o1")
    more = sheet(tmp_path, [*first, *(["acme-q1-cto", u, ""] for u in people(3, 5))], "more.xlsx")
    result, _ = _plan(tmp_path, more, recorder, "plan")
    run(tmp_path, more, recorder, "meanwhile")
    recorder.requests.clear()

    with pytest.raises(
        StalePlan,
        match=r"more.xlsx \[prospects\] row 2: the prospect list 'ACME Q1 - CTOs in fin",
    ):
        _apply(tmp_path, result.folder / "plan.json", recorder, "apply")

    assert list_requests(recorder) == []
    assert held(app) == {"ACME Q1 - CTOs in fintech": people(8)}


# -- after review -------------------------------------------------------------------------


def test_giving_a_campaign_key_or_renaming_keeps_its_list(
    tmp_path: Path, sandbox: tuple[Starlette, Recorder]
) -> None:
    """A row created without a campaign_key is given one, then renamed: its campaign is
    kept and so is its own list (named like the campaign when it was made), which is
    never created again; the new profile goes to that list."""
    app, recorder = sandbox
    rows = [[row.get(h, "") for h in HEADER] for row in EXAMPLE_ROWS]
    agency = next(i for i, row in enumerate(EXAMPLE_ROWS) if not row.get("campaign_key"))
    name = EXAMPLE_ROWS[agency]["campaign_name"]

    def book(file: str, key: str, title: str, urls: list[str]) -> Path:
        changed = [list(row) for row in rows]
        changed[agency][HEADER.index("campaign_key")] = key
        changed[agency][HEADER.index("campaign_name")] = title
        return write_xlsx(
            tmp_path / file,
            [HEADER, *changed],
            other_sheets={
                "prospects": [
                    ["campaign", "linkedin_url", "list_name"],
                    *([title, u, ""] for u in urls),
                ]
            },
        )

    first = run(tmp_path, book("a.xlsx", "", name, people(2)), recorder, "o1")
    keyed = run(tmp_path, book("b.xlsx", "agency", name, people(2)), recorder, "o2")
    renamed = run(tmp_path, book("c.xlsx", "agency", name + " 2025", people(3)), recorder, "o3")

    assert statuses(first) == ["added"] * 2
    assert statuses(keyed) == ["already_added"] * 2
    assert statuses(renamed) == ["already_added", "already_added", "added"]
    assert held(app) == {name: people(3)}
    assert app.state.sandbox.stats.lists_created == 1


def test_the_rest_of_a_list_whose_create_failed_says_why(tmp_path: Path) -> None:
    """A list create that gets no answer (500 after it is stored): its first 100
    profiles and the rest alike are unknown, saying how to settle it; none is counted
    as waiting for the limit."""
    app = create_app(SandboxConfig(prospect_faults={"500_after": 1.0}))
    recorder = Recorder(app)
    try:
        path = sheet(tmp_path, [["acme-q1-cto", url, ""] for url in people(150)])
        result = run(tmp_path, path, recorder, "o1")
    finally:
        app.state.sandbox.close()

    assert statuses(result) == ["unknown"] * 150
    assert all("look in Extrovert" in p.errors[0] for p in result.prospects)
    assert "waiting" not in result.summary["prospects"]


def test_a_list_name_is_checked_as_a_campaign_name_is(tmp_path: Path) -> None:
    """A list_name with a tab, a zero-width space or past 255 characters is invalid at
    its cell, before anything is sent; an NFD spelling is the NFC one (one list)."""
    from pipeline.run import validate_files

    nfd = "Cafe\u0301 list"
    path = sheet(
        tmp_path,
        [
            ["acme-q1-cto", people(1)[0], "a\tb"],
            ["acme-q1-cto", people(1, 1)[0], "x\u200by"],
            ["acme-q1-cto", people(1, 2)[0], "L" * 256],
            ["acme-q1-cto", people(1, 3)[0], nfd],
            ["acme-q1-cto", people(1, 4)[0], "Café list"],
        ],
    )

    result = validate_files(Options(paths=(path,), out=tmp_path / "v"), timing=FakeTiming().timing)

    assert [p.status.value for p in result.prospects] == ["invalid"] * 3 + ["valid"] * 2
    assert "a list name must be one line of visible text" in result.prospects[0].errors[0]
    assert "a list name has at most 255" in result.prospects[2].errors[0]
    assert result.prospects[3].list_name == result.prospects[4].list_name == "Café list"


def test_apply_follows_the_plans_list_switches(
    tmp_path: Path, sandbox: tuple[Starlette, Recorder]
) -> None:
    """A plan made with move_own_duplicated keeps it (sealed in the plan), and apply
    sends it, whatever the settings apply is given."""
    from pipeline.plan import Plan
    from pipeline.run import apply_plan, plan_files

    _, recorder = sandbox
    path = sheet(tmp_path, [["acme-q1-cto", url, ""] for url in people(2)])
    result, made = plan_files(
        Options(paths=(path,), out=tmp_path / "plan"),
        run_settings(tmp_path, dry_run=True, move_own_duplicated=True),
        transport=recorder,
        timing=FakeTiming().timing,
    )
    assert made is not None and made.switches["move_own_duplicated"]
    saved = result.folder / "plan.json"

    apply_plan(
        Plan.read(saved),
        saved,
        Options(paths=(saved,), out=tmp_path / "apply"),
        run_settings(tmp_path),
        transport=recorder,
        timing=FakeTiming().timing,
    )

    (create,) = [body for path_, body in list_requests(recorder) if path_ == LISTS]
    assert create["moveOwnDuplicated"] is True


def test_archive_waits_for_prospects_and_moves_a_workbook_once(tmp_path: Path) -> None:
    """--archive: a workbook whose prospects wait for the account's limit stays where it
    is; once every prospect is added, it is moved, once, with no warning."""
    app = create_app(SandboxConfig(prospect_limit=2))
    recorder = Recorder(app)
    inbox = tmp_path / "in"
    inbox.mkdir()
    path = sheet(inbox, [["acme-q1-cto", url, ""] for url in people(3)])
    try:
        waiting = run(tmp_path, path, recorder, "o1", archive=tmp_path / "done")
        app.state.sandbox.lists.new_month()
        finished = run(tmp_path, path, recorder, "o2", archive=tmp_path / "done")
    finally:
        app.state.sandbox.close()

    assert waiting.summary["archived"] == []
    assert [Path(item["to"]).name for item in finished.summary["archived"]] == ["plan.xlsx"]
    assert not any("not archived" in warning for warning in finished.warnings)
    assert not path.exists()


def test_a_lists_chunks_arrive_in_sheet_order(tmp_path: Path) -> None:
    """Answers that take uneven times: a list's chunks still go one after another, so
    the list holds its profiles in sheet order."""
    app = create_app(SandboxConfig(latency_ms=5, jitter_ms=40, seed=3))
    recorder = Recorder(app)
    try:
        urls = people(600)
        run(tmp_path, sheet(tmp_path, [["acme-q1-cto", url, ""] for url in urls]), recorder, "o1")
        assert held(app) == {"ACME Q1 - CTOs in fintech": urls}
    finally:
        app.state.sandbox.close()
