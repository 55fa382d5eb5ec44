"""The sheet is the desired state: an edited row updates its campaign, exactly once in
effect, and an unchanged row costs nothing (issue 11, item 1; decisions 7 to 10).

Runs go through `run_files` against the sandbox, in process (a recording transport
keeps every request's body) or over loopback (faults on a real socket, a kill -9).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from pipeline.ledger import UPDATING, Ledger, payload_hash
from pipeline.lookups import ADOPTED_NOTE
from pipeline.model import Origin
from pipeline.run import RunResult, run_files, run_files_async
from pipeline.settings import Options
from pipeline.stop import Interrupt
from pipeline.template import write_template
from pipeline.timing import Timing
from sandbox.server import (
    FAULT_KINDS,
    SandboxConfig,
    create_app,
    run_in_thread,
)
from tests.fakes import FakeTiming
from tests.helpers import FAST, ROOT, kill_mid_run, numbered_rows, run_settings
from tests.recording import (
    OWNERS,
    Recorder,
    base_rows,
    entries,
    results,
    sheet_payloads,
    write,
)

SCHEMA1 = ROOT / "tests" / "data" / "ledger-schema1.sqlite"
DONE = frozenset({"updated", "already_created"})
CAMPAIGNS = "/_sandbox/campaigns"


# -- helpers ------------------------------------------------------------------------------


def run(
    tmp_path: Path,
    path: Path,
    app: Starlette | httpx.AsyncBaseTransport | None,
    out: str,
    **changes: Any,
) -> RunResult:
    """`campaigns run PATH --out tmp_path/out` on fake time; `app` in process (or a
    transport), None for `changes["base_url"]` over loopback."""
    transport = httpx.ASGITransport(app=app) if isinstance(app, Starlette) else app
    return run_files(
        Options(paths=(path,), out=tmp_path / out),
        run_settings(tmp_path, **changes),
        transport=transport,
        timing=FakeTiming().timing,
    )


def run_until_done(
    tmp_path: Path, path: Path, app: Starlette | None, prefix: str, **changes: Any
) -> list[RunResult]:
    """Run `path` again and again (at most three times) until every row is done."""
    done: list[RunResult] = []
    for number in range(3):
        done.append(run(tmp_path, path, app, f"{prefix}{number}", **changes))
        if set(done[-1].counts) <= DONE:
            break
    return done


def by_key(result: RunResult) -> dict[str, Any]:
    return {row.campaign_key: row for row in result.rows}


def settings_held(app: Starlette) -> dict[str, dict[str, Any]]:
    """Each campaign's current settings in the sandbox, by id."""
    return {c.id: dict(c.payload) for c in app.state.sandbox.store.all()}


def assert_sandbox_holds_the_sheet(
    held: Mapping[str, Mapping[str, Any]], path: Path, tmp_path: Path
) -> None:
    """Every key of the sheet: its campaign (the ledger's id) holds the sheet's payload,
    and the ledger records that payload as applied."""
    known = entries(tmp_path)
    for key, payload in sheet_payloads(path).items():
        entry = known[key]
        assert entry.status == "created"
        assert held[entry.campaign_id] == payload, key
        assert entry.payload == payload, key


def update_body(campaign_id: str, created: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """Decision 8, spelled independently: the create body without ownerId and type, with
    `id` first; `changes` replace fields (None removes one)."""
    body: dict[str, Any] = {"id": campaign_id}
    body.update((k, v) for k, v in created.items() if k not in ("ownerId", "type"))
    for name, value in changes.items():
        if value is None:
            body.pop(name)
        else:
            body[name] = value
    return body


async def _read_timeout(seconds: float) -> None:
    # ASGITransport enforces no timeouts: the held answer becomes the client's timeout.
    raise httpx.ReadTimeout("held longer than the client waits")


@pytest.fixture
def created(tmp_path: Path) -> Iterator[tuple[Starlette, Recorder, Path, RunResult]]:
    """The five base rows created in an in-process sandbox: (app, recorder, sheet, run)."""
    app = create_app(SandboxConfig())
    recorder = Recorder(app)
    path = write(tmp_path, base_rows(), "campaigns.csv")
    first = run(tmp_path, path, recorder, "o1")
    assert first.counts == {"created": 5}
    recorder.requests.clear()
    yield app, recorder, path, first
    app.state.sandbox.close()


# -- the ledger's part --------------------------------------------------------------------


def test_the_ledger_records_updates_of_created_keys_only(tmp_path: Path) -> None:
    """begin_update forgets a created key's payload (noted UPDATING), record_update
    stores what the campaign holds (and the row's new origin), keep_payload stores a
    payload known by its hash; none of them touches a key that is not created, and the
    key stays created with its id."""
    old, new = {"name": "A", "minPostLikes": 1}, {"name": "B", "minPostLikes": 2}
    origin = Origin("a.csv", "", 2, "owner", "A")
    with Ledger.open(tmp_path / "l.sqlite", run_id="r", timing=FakeTiming().timing) as ledger:
        for key in ("made", "refused"):
            ledger.mark_sending(key, payload=old, origin=origin)
        ledger.record("made", "created", campaign_id="c-1", attempts=1)
        ledger.record("refused", "rejected", http_status=400, attempts=1)

        ledger.begin_update("made")
        during = ledger.get("made")
        ledger.record_update(
            "made",
            applied=new,
            origin=replace(origin, row=3, name="B"),
            http_status=200,
            attempts=2,
        )
        after = ledger.get("made")
        with pytest.raises(ValueError, match="another payload"):
            ledger.keep_payload("made", old)
        for call in (
            lambda: ledger.begin_update("refused"),
            lambda: ledger.record_update("refused", applied=new),
            lambda: ledger.keep_payload("refused", old),
            lambda: ledger.begin_update("absent"),
        ):
            with pytest.raises(ValueError, match="not a created campaign"):
                call()

    assert during is not None and after is not None
    assert (during.status, during.campaign_id, during.payload, during.payload_hash) == (
        "created",
        "c-1",
        None,
        "",
    )
    assert during.last_error == UPDATING
    assert (after.status, after.campaign_id, after.payload) == ("created", "c-1", new)
    assert after.payload_hash == payload_hash(new)
    assert (after.row, after.name, after.attempts, after.last_error) == (3, "B", 3, "")


# -- what an edited sheet sends -----------------------------------------------------------


def test_an_edited_sheet_patches_exactly_the_changed_rows_with_exact_bodies(
    tmp_path: Path, created: tuple[Starlette, Recorder, Path, RunResult]
) -> None:
    """Settings changed on two rows, a rename under its campaign_key, an owner change and
    an untouched row: exactly the three changed rows are patched, each with decision 8's
    body, nothing is created, the owner change is invalid, and the sandbox then holds
    what the sheet says."""
    app, recorder, original, first = created
    ids = {row.campaign_key: row.campaign_id for row in first.rows}
    posted = {p["name"]: p for p in (c.payload for c in app.state.sandbox.store.all())}
    edited = base_rows()
    edited[0] |= {"min_post_likes": "99", "comment_interval_hours": ""}
    edited[1] |= {"dm_enabled": "true"}
    edited[2] |= {"campaign_name": "Agency partners - warm intros 2025"}
    edited[3] |= {"owner": "carla@example.com"}
    path = write(tmp_path, edited, "edited.csv")

    again = run(tmp_path, path, recorder, "o2")

    rows = by_key(again)
    assert {key: row.status for key, row in rows.items()} == {
        "acme-q1-cto": "updated",
        "acme-q1-vp-sales": "updated",
        "agency-partners": "updated",
        "topic-genai-fintech": "invalid",
        "topic-revops": "already_created",
    }
    assert all(rows[key].campaign_id == ids[key] for key in rows if key != "topic-genai-fintech")
    assert again.exit_code == 1
    assert recorder.made("POST") == []
    cto, sales, agency = (posted[r["campaign_name"]] for r in base_rows()[:3])
    filters = {**cto["postActivityFilter"], "minPostLikes": 99}
    dm = {**sales["dmSettings"], "isGenerateDmEnabled": True}
    expected = {
        f"/api/client/v2/campaign/{ids['acme-q1-cto']}": update_body(
            ids["acme-q1-cto"], cto, postActivityFilter=filters, applyCommentIntervalH=None
        ),
        f"/api/client/v2/campaign/{ids['acme-q1-vp-sales']}": update_body(
            ids["acme-q1-vp-sales"], sales, dmSettings=dm
        ),
        f"/api/client/v2/campaign/{ids['agency-partners']}": update_body(
            ids["agency-partners"], agency, name="Agency partners - warm intros 2025"
        ),
    }
    patches = dict(recorder.made("PATCH"))
    assert patches == expected
    for path_, body in patches.items():  # the same fields in the same order
        assert list(body) == list(expected[path_])
    assert app.state.sandbox.stats.created == 5
    assert app.state.sandbox.stats.duplicates == 0
    held = settings_held(app)
    wanted = sheet_payloads(path)
    for key in ("acme-q1-cto", "acme-q1-vp-sales", "agency-partners", "topic-revops"):
        assert held[ids[key]] == wanted[key]
    assert held[ids["topic-genai-fintech"]] == posted[base_rows()[3]["campaign_name"]]
    listed = {c.id: c.name for c in app.state.sandbox.store.all()}
    assert listed[ids["agency-partners"]] == "Agency partners - warm intros 2025"
    known = entries(tmp_path)
    assert known["agency-partners"].name == "Agency partners - warm intros 2025"
    assert known["acme-q1-cto"].payload == wanted["acme-q1-cto"]
    assert known["topic-genai-fintech"].payload == sheet_payloads(original)["topic-genai-fintech"]


def test_an_unchanged_rerun_sends_nothing_and_a_second_rerun_of_an_edit_too(
    tmp_path: Path, created: tuple[Starlette, Recorder, Path, RunResult]
) -> None:
    """The same sheet again: every row already_created, no request but the team list.
    After an edit is applied, running the edited sheet again sends nothing either."""
    _, recorder, path, _ = created
    same = run(tmp_path, path, recorder, "o2")
    edited = base_rows()
    edited[4] |= {"min_post_likes": "16"}
    edited_path = write(tmp_path, edited, "edited.csv")
    run(tmp_path, edited_path, recorder, "o3")
    recorder.requests.clear()

    again = run(tmp_path, edited_path, recorder, "o4")

    assert same.counts == again.counts == {"already_created": 5}
    assert same.summary["requests"] == again.summary["requests"] == 0
    assert [m for m, _, _ in recorder.requests] == ["GET"]  # the team list, for e-mails
    assert all(not row.errors for row in again.rows)


def test_an_updated_row_lists_its_changes_in_the_sheets_words(
    tmp_path: Path, created: tuple[Starlette, Recorder, Path, RunResult]
) -> None:
    """An updated row says what changed (`min_post_likes: 10 -> 99`), in results.csv too."""
    _, recorder, _, _ = created
    edited = base_rows()
    edited[0] |= {"min_post_likes": "99"}

    again = run(tmp_path, write(tmp_path, edited, "edited.csv"), recorder, "o2")

    assert by_key(again)["acme-q1-cto"].changes == ("min_post_likes: 10 -> 99",)
    line = results(tmp_path / "o2")[0]
    assert (line["status"], line["changes"]) == ("updated", "min_post_likes: 10 -> 99")


def test_owner_or_type_change_on_a_created_key_is_invalid_and_sends_nothing(
    tmp_path: Path, created: tuple[Starlette, Recorder, Path, RunResult]
) -> None:
    """Decision 9: a created key whose row names another owner or campaign type is
    invalid, saying neither can change and to give the row a new campaign_key."""
    _, recorder, _, first = created
    ids = {row.campaign_key: row.campaign_id for row in first.rows}
    edited = base_rows()
    edited[0] |= {"owner": "ben@example.com"}
    edited[4] |= {"campaign_type": "Prospects"}

    again = run(tmp_path, write(tmp_path, edited, "edited.csv"), recorder, "o2")

    rows = by_key(again)
    for key, what in (("acme-q1-cto", "owner"), ("topic-revops", "campaign_type")):
        assert rows[key].status == "invalid"
        [message] = rows[key].errors
        assert message.startswith("campaign_key: this key was used on")
        assert f"its {what} cannot change" in message
        assert "Give this row a new campaign_key to create a new campaign" in message
        assert f"created as campaign {ids[key]}" in message
    assert recorder.made("PATCH") == recorder.made("POST") == []


def test_a_rename_without_a_campaign_key_creates_a_new_campaign(tmp_path: Path) -> None:
    """Without a campaign_key a row's key is owner + name: a renamed row is a new
    campaign (created), and the old one is left as it was (decision 9)."""
    app = create_app()
    unkeyed = [dict(base_rows()[0], campaign_key="")]
    run(tmp_path, write(tmp_path, unkeyed, "a.csv"), app, "o1")
    renamed = [dict(unkeyed[0], campaign_name="ACME Q1 - CTOs, renamed")]

    again = run(tmp_path, write(tmp_path, renamed, "b.csv"), app, "o2")

    assert again.counts == {"created": 1}
    assert sorted(c.name for c in app.state.sandbox.store.all()) == [
        "ACME Q1 - CTOs in fintech",
        "ACME Q1 - CTOs, renamed",
    ]
    assert app.state.sandbox.stats.updated == 0


def test_a_row_given_a_campaign_key_and_edited_is_moved_then_updated(tmp_path: Path) -> None:
    """A row created without a campaign_key, now with one and another setting: the ledger
    keeps its campaign under the new key and updates it (one PATCH, a note saying so)."""
    app = create_app()
    unkeyed = [dict(base_rows()[0], campaign_key="")]
    first = run(tmp_path, write(tmp_path, unkeyed, "a.csv"), app, "o1")
    keyed = [dict(unkeyed[0], campaign_key="cto-2025", min_post_likes="30")]
    path = write(tmp_path, keyed, "b.csv")

    again = run(tmp_path, path, app, "o2")

    [row] = again.rows
    assert (row.status, row.campaign_id) == ("updated", first.rows[0].campaign_id)
    assert "without a campaign_key" in row.errors[0]
    assert app.state.sandbox.stats.updated == 1
    assert app.state.sandbox.stats.created == 1
    assert_sandbox_holds_the_sheet(settings_held(app), path, tmp_path)


# -- dry run ------------------------------------------------------------------------------


@pytest.mark.parametrize("keyed", [True, False], ids=["with a key", "without a key"])
def test_dry_run_reports_would_update_and_sends_nothing(
    tmp_path: Path, created: tuple[Starlette, Recorder, Path, RunResult], keyed: bool
) -> None:
    """--dry-run: a changed row is would_update (with its id and changes), the others
    already_created; no update is sent and the ledger is not touched."""
    app, recorder, _, first = created
    before = entries(tmp_path)
    edited = base_rows()
    edited[1] |= {"min_post_likes": "26"}
    changes: dict[str, Any] = {"dry_run": True}
    if not keyed:
        changes["api_key"] = None

    dry = run(tmp_path, write(tmp_path, edited, "edited.csv"), recorder, "dry", **changes)

    assert [row.status for row in dry.rows] == [
        "already_created",
        "would_update",
        *["already_created"] * 3,
    ]
    assert dry.rows[1].campaign_id == first.rows[1].campaign_id
    assert dry.rows[1].changes == ("min_post_likes: 25 -> 26",)
    assert dry.exit_code == 0
    assert recorder.made("PATCH") == recorder.made("POST") == []
    assert entries(tmp_path) == before
    assert app.state.sandbox.stats.updated == 0


# -- retries, refusals, deleted campaigns -------------------------------------------------


def test_an_update_is_retried_on_transient_failures_and_then_fails(tmp_path: Path) -> None:
    """An update that gets only 500s is retried within --max-attempts, then `failed`
    (saying the next run sends it again); the ledger keeps the key created and the
    next run, with the API well again, updates it."""
    db = tmp_path / "sandbox.sqlite"
    calm = create_app(SandboxConfig(db=db))
    path = write(tmp_path, base_rows()[:1], "a.csv")
    first = run(tmp_path, path, calm, "o1")
    calm.state.sandbox.close()
    edited = write(tmp_path, [dict(base_rows()[0], min_post_likes="11")], "b.csv")
    failing = create_app(SandboxConfig(db=db, faults={"500_before": 1.0}))
    send = replace(FAST, max_attempts=3)

    failed = run(tmp_path, edited, failing, "o2", send=send)
    failing.state.sandbox.close()
    well = create_app(SandboxConfig(db=db))
    again = run(tmp_path, edited, well, "o3")

    [row] = failed.rows
    assert (row.status, row.attempts, row.http_status) == ("failed", 3, 500)
    assert row.campaign_id == first.rows[0].campaign_id
    assert "gave up after 3 attempts" in row.errors[0]
    assert "the next run sends it again" in row.errors[0]
    assert failing.state.sandbox.stats.faults["500_before"] == 3
    assert [r.status for r in again.rows] == ["updated"]
    assert_sandbox_holds_the_sheet(settings_held(well), edited, tmp_path)
    assert well.state.sandbox.stats.created == 0
    well.state.sandbox.close()


def test_an_update_that_may_have_been_applied_is_sent_again_even_if_the_edit_is_undone(
    tmp_path: Path,
) -> None:
    """An update given up after a 500 that came after storing leaves the ledger not
    knowing what the campaign holds: when the sheet goes back to its old value, the
    next run still sends it, and the campaign ends as the sheet says."""
    db = tmp_path / "sandbox.sqlite"
    calm = create_app(SandboxConfig(db=db))
    path = write(tmp_path, base_rows()[:1], "a.csv")
    run(tmp_path, path, calm, "o1")
    calm.state.sandbox.close()
    edited = write(tmp_path, [dict(base_rows()[0], min_post_likes="11")], "b.csv")
    stored_then_500 = create_app(SandboxConfig(db=db, faults={"500_after": 1.0}))
    failed = run(tmp_path, edited, stored_then_500, "o2", send=replace(FAST, max_attempts=1))
    stored_then_500.state.sandbox.close()
    [key] = entries(tmp_path)
    assert entries(tmp_path)[key].payload is None
    assert entries(tmp_path)[key].last_error.startswith(UPDATING)
    well = create_app(SandboxConfig(db=db))
    assert next(iter(settings_held(well).values()))["postActivityFilter"]["minPostLikes"] == 11

    back = run(tmp_path, path, well, "o3")

    assert [r.status for r in failed.rows] == ["failed"]
    [row] = back.rows
    assert row.status == "updated"
    assert "an earlier update's outcome was not known" in row.errors[0]
    assert_sandbox_holds_the_sheet(settings_held(well), path, tmp_path)
    well.state.sandbox.close()


def test_an_update_of_a_campaign_deleted_in_extrovert_is_rejected(
    tmp_path: Path, created: tuple[Starlette, Recorder, Path, RunResult]
) -> None:
    """Decision 10: a 404 to an update is `rejected`, saying the campaign was deleted in
    Extrovert and to give the row a new campaign_key; the ledger keeps the key created
    with its old payload, and nothing is created, in this run or the next."""
    app, recorder, _, first = created
    gone = first.rows[0].campaign_id
    app.state.sandbox.store.remove(gone)
    before = entries(tmp_path)["acme-q1-cto"]
    edited = base_rows()
    edited[0] |= {"min_post_likes": "99"}
    path = write(tmp_path, edited, "edited.csv")

    again = run(tmp_path, path, recorder, "o2")
    third = run(tmp_path, path, recorder, "o3")

    for result in (again, third):
        row = by_key(result)["acme-q1-cto"]
        assert (row.status, row.http_status, row.campaign_id) == ("rejected", 404, gone)
        [message] = row.errors
        assert message.startswith(f"campaign_key: campaign {gone} is not in Extrovert any more")
        assert "deleted there" in message
        assert "give this row a new campaign_key" in message
        assert result.exit_code == 1
    after = entries(tmp_path)["acme-q1-cto"]
    assert (after.status, after.campaign_id, after.payload) == (
        "created",
        gone,
        before.payload,
    )
    assert after.http_status == 404
    assert recorder.made("POST") == []
    assert app.state.sandbox.stats.created == 5


def prospects_campaign_named_as(app: Starlette, tmp_path: Path, row: Mapping[str, str]) -> Any:
    """A Prospects campaign in the sandbox with the owner and name of `row` (a Topic
    row): a campaign whose type the row gets wrong."""
    prospects = sheet_payloads(write(tmp_path, [base_rows()[0]], "p.csv"))["acme-q1-cto"]
    return app.state.sandbox.store.add(
        {**prospects, "ownerId": OWNERS[row["owner"]], "name": row["campaign_name"]}
    )[0]


def test_an_update_the_api_refuses_keeps_what_the_ledger_knew(tmp_path: Path) -> None:
    """A 400 to an update (here: a Topic row for a campaign adopted as Prospects, whose
    type nothing here knew) is `rejected` with the API's message; the ledger keeps the
    key created with what it knew before."""
    app = create_app()
    row = base_rows()[3]  # a Topic row
    made = prospects_campaign_named_as(app, tmp_path, row)
    path = write(tmp_path, [row], "topic.csv")
    adopted = run(tmp_path, path, app, "o1", skip_existing=True)
    assert [r.status for r in adopted.rows] == ["already_created"]

    again = run(tmp_path, path, app, "o2")

    [result] = again.rows
    assert (result.status, result.http_status, result.campaign_id) == ("rejected", 400, made.id)
    assert "for a TARGET_USER campaign" in result.errors[-1]
    entry = entries(tmp_path)[row["campaign_key"]]
    assert (entry.status, entry.payload, entry.payload_hash) == ("created", None, "")
    assert app.state.sandbox.stats.updated == 0


def test_a_refused_update_of_an_old_adoption_is_sent_again_next_run(tmp_path: Path) -> None:
    """A campaign adopted by an older version (the hash of the row, not of the campaign,
    and the adoption note) whose update the API refuses stays not known: the next run
    tries the update again instead of taking the row's hash for the campaign's."""
    app = create_app()
    row = base_rows()[3]  # a Topic row
    made = prospects_campaign_named_as(app, tmp_path, row)
    path = write(tmp_path, [row], "topic.csv")
    key = row["campaign_key"]
    state = tmp_path / "state.sqlite"
    origin = Origin("topic.csv", "", 2, OWNERS[row["owner"]], row["campaign_name"])
    with Ledger.open(state, run_id="v1", timing=Timing.real()) as ledger:
        ledger.adopt(
            key,
            campaign_id=made.id,
            origin=origin,
            note=ADOPTED_NOTE,
            payload=None,
            sent_hash=payload_hash(sheet_payloads(path)[key]),
        )

    refused = run(tmp_path, path, app, "o2")
    again = run(tmp_path, path, app, "o3")

    assert [r.status for r in refused.rows] == ["rejected"]
    assert [(r.status, r.http_status) for r in again.rows] == [("rejected", 400)]
    assert entries(tmp_path)[key].payload_hash == ""


def test_moving_a_key_without_its_payload_forgets_the_hash(tmp_path: Path) -> None:
    """A key moved to a campaign_key keeps no hash it cannot check: an old adoption's
    hash (of a row, not of the campaign) must not pass for the campaign's settings."""
    origin = Origin("a.csv", "", 2, "owner", "A")
    with Ledger.open(tmp_path / "l.sqlite", run_id="r", timing=Timing.real()) as ledger:
        ledger.adopt(
            "old",
            campaign_id="c-1",
            origin=origin,
            note=ADOPTED_NOTE,
            payload=None,
            sent_hash=payload_hash({"name": "A"}),
        )
        ledger.rekey("old", "new", "moved to its campaign_key")
        entry = ledger.get("new")
    assert entry is not None and (entry.status, entry.payload_hash) == ("created", "")


# -- ledgers that do not know the payload -------------------------------------------------


def test_a_campaign_adopted_by_skip_existing_is_updated_once(tmp_path: Path) -> None:
    """--skip-existing adopts campaigns whose settings nothing here knows: the next run
    updates each to the sheet (saying why all its settings were sent) and stores the
    payload; the run after sends nothing."""
    app = create_app()
    path = write(tmp_path, base_rows(), "campaigns.csv")
    for payload in sheet_payloads(path).values():
        other = {**payload["postActivityFilter"], "minPostLikes": 1234}
        app.state.sandbox.store.add({**payload, "postActivityFilter": other})
    adopted = run(tmp_path, path, app, "o1", skip_existing=True)

    updated = run(tmp_path, path, app, "o2")
    again = run(tmp_path, path, app, "o3")

    assert adopted.counts == {"already_created": 5}
    assert updated.counts == {"updated": 5}
    assert all("--skip-existing" in row.errors[0] for row in updated.rows)
    assert all(row.changes == ("all settings: unknown -> as in the sheet",) for row in updated.rows)
    assert again.counts == {"already_created": 5}
    assert again.summary["requests"] == 0
    assert app.state.sandbox.stats.created == 0
    assert_sandbox_holds_the_sheet(settings_held(app), path, tmp_path)


def schema1_ledger(tmp_path: Path) -> None:
    """Turn this test's ledger into a version-1 ledger holding the same campaigns: the
    committed schema-1 file, its keys replaced by ours (no payload column: a hash only)."""
    state = tmp_path / "state.sqlite"
    with closing(sqlite3.connect(state)) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(row) for row in conn.execute("SELECT * FROM campaigns")]
        endpoint = conn.execute("SELECT value FROM meta WHERE key = 'endpoint'").fetchone()[0]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(SCHEMA1, state)
    with closing(sqlite3.connect(state)) as conn, conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            "1",
        )
        conn.execute("DELETE FROM campaigns")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'endpoint'", (endpoint,))
        for row in rows:
            del row["payload"]
            names = ", ".join(f'"{name}"' for name in row)
            marks = ", ".join("?" * len(row))
            conn.execute(f"INSERT INTO campaigns ({names}) VALUES ({marks})", list(row.values()))


def test_a_schema1_ledger_sends_nothing_for_unchanged_rows_and_updates_edited_ones(
    tmp_path: Path, created: tuple[Starlette, Recorder, Path, RunResult]
) -> None:
    """A version-1 ledger knows each created campaign's payload by its hash only: an
    unchanged row (equal hash) sends nothing and its payload is stored now; an edited
    one is updated (saying its old settings were known by a hash only); the run after
    sends nothing at all."""
    app, recorder, _, first = created
    hashes = {key: entry.payload_hash for key, entry in entries(tmp_path).items()}
    schema1_ledger(tmp_path)
    edited = base_rows()
    edited[1] |= {"min_post_likes": "26"}
    edited_path = write(tmp_path, edited, "edited.csv")

    again = run(tmp_path, edited_path, recorder, "o2")
    third = run(tmp_path, edited_path, recorder, "o3")

    assert [row.status for row in again.rows] == [
        "already_created",
        "updated",
        *["already_created"] * 3,
    ]
    assert "an older ledger kept only a hash of them" in again.rows[1].errors[0]
    [(patched, _)] = recorder.made("PATCH")
    assert patched.endswith(first.rows[1].campaign_id)
    assert recorder.made("POST") == []
    assert third.counts == {"already_created": 5}
    assert third.summary["requests"] == 0
    wanted = sheet_payloads(edited_path)
    known = entries(tmp_path)
    for key, entry in known.items():
        assert entry.payload == wanted[key]
        if key != "acme-q1-vp-sales":
            assert entry.payload_hash == hashes[key] == payload_hash(wanted[key])
    assert_sandbox_holds_the_sheet(settings_held(app), edited_path, tmp_path)


# -- faults -------------------------------------------------------------------------------


def numbered_edit(count: int) -> list[dict[str, str]]:
    """`numbered_rows(count)` with every other row's min_post_likes changed."""
    rows = numbered_rows(count)
    for number, row in enumerate(rows):
        if number % 2 == 0:
            row["min_post_likes"] = str(100 + number)
    return rows


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_updates_converge_under_each_fault(tmp_path: Path, kind: str) -> None:
    """With a fault striking 30 % of requests, at most three runs bring every campaign to
    the edited sheet's settings; nothing is created."""
    db = tmp_path / "sandbox.sqlite"
    calm = create_app(SandboxConfig(db=db))
    run(tmp_path, write_template(tmp_path / "a.csv", rows=numbered_rows(30)), calm, "o1")
    calm.state.sandbox.close()
    path = write_template(tmp_path / "b.csv", rows=numbered_edit(30))
    sleep = _read_timeout if kind == "timeout_after" else asyncio.sleep
    app = create_app(SandboxConfig(db=db, faults={kind: 0.3}, seed=7), sleep=sleep)

    done = run_until_done(tmp_path, path, app, "u")

    stats = app.state.sandbox.stats
    assert stats.faults[kind] > 0
    assert (stats.created, stats.duplicates) == (0, 0)
    assert stats.updated >= 15
    assert set(done[-1].counts) <= DONE
    assert done[-1].exit_code == 0
    assert_sandbox_holds_the_sheet(settings_held(app), path, tmp_path)
    app.state.sandbox.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["drop_after", "timeout_after", "500_after"])
def test_updates_over_loopback_converge_under_faults_after_storing(
    tmp_path: Path, kind: str
) -> None:
    """Over a real socket, a dropped connection, a read timeout or a 500 after the update
    was stored is retried: the campaigns end as the sheet says, none created twice."""
    path = write_template(tmp_path / "a.csv", rows=numbered_rows(16))
    edited = write_template(tmp_path / "b.csv", rows=numbered_edit(16))
    db = tmp_path / "sandbox.sqlite"
    # One account behind two sandboxes (one port each): the ledger is bound to its name.
    send, endpoint = replace(FAST, timeout=0.3), "sandbox"
    with run_in_thread(SandboxConfig(db=db)) as url:
        run(tmp_path, path, None, "o1", base_url=url, send=send, endpoint=endpoint)
    config = SandboxConfig(db=db, faults={kind: 0.3}, seed=3, hold_seconds=2.0)
    with run_in_thread(config) as url:
        done = run_until_done(
            tmp_path, edited, None, "u", base_url=url, send=send, endpoint=endpoint
        )
        with httpx.Client(base_url=url) as client:
            stats = client.get("/_sandbox/stats").json()
            held = client.get(CAMPAIGNS).json()

    assert stats["faults"][kind] > 0
    assert (stats["created"], stats["duplicates"]) == (0, 0)
    assert set(done[-1].counts) <= DONE
    assert_sandbox_holds_the_sheet(held, edited, tmp_path)


# -- stopped during updates ---------------------------------------------------------------


class HeldUpdates(httpx.AsyncBaseTransport):
    """The sandbox app, but updates after the first `through` are held (never reach it):
    once `hold` of them are out, Ctrl-C is pressed twice (the requests are cancelled)."""

    def __init__(self, app: Starlette, interrupt: Interrupt, through: int, hold: int) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.interrupt, self.through, self.hold = interrupt, through, hold
        self.updates = self.held = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "PATCH":
            return await self.inner.handle_async_request(request)
        self.updates += 1
        if self.updates <= self.through:
            return await self.inner.handle_async_request(request)
        self.held += 1
        if self.held == self.hold:
            self.interrupt.set()
            self.interrupt.abort()
        await asyncio.sleep(60)
        raise AssertionError("a held request was not cancelled")  # pragma: no cover


def test_updates_cancelled_by_a_second_ctrl_c_are_failed_and_sent_again(tmp_path: Path) -> None:
    """Ctrl-C twice with two updates in flight: exit 130, those rows `failed` (they may
    have been applied; the next run sends them again, never looked up as uncertain
    creates), the rest `not_sent` with their campaign ids; the ledger keeps every key
    created, and the next run brings every campaign to the sheet."""
    app = create_app()
    run(tmp_path, write_template(tmp_path / "a.csv", rows=numbered_rows(8)), app, "o1")
    edited = [dict(row, min_post_likes="77") for row in numbered_rows(8)]
    path = write_template(tmp_path / "b.csv", rows=edited)
    interrupt = Interrupt()
    settings = run_settings(tmp_path, send=replace(FAST, concurrency=2))

    async def bounded() -> RunResult:
        async with asyncio.timeout(30):
            return await run_files_async(
                Options(paths=(path,), out=tmp_path / "o2"),
                settings,
                transport=HeldUpdates(app, interrupt, through=2, hold=2),
                timing=FakeTiming().timing,
                interrupt=interrupt,
            )

    stopped = asyncio.run(bounded())
    known = entries(tmp_path)
    again = run(tmp_path, path, app, "o3")

    assert stopped.exit_code == 130
    statuses = [row.status for row in stopped.rows]
    assert statuses.count("updated") == 2
    assert statuses.count("not_sent") == 4
    cancelled = [row for row in stopped.rows if row.status == "failed"]
    assert len(cancelled) == 2
    for row in cancelled:
        assert row.errors == (
            "interrupted while the update was in flight: it may have been applied; "
            "the next run sends it again",
        )
        assert known[row.campaign_key].payload is None
    assert all(row.campaign_id for row in stopped.rows)
    assert all(entry.status == "created" for entry in known.values())
    assert again.counts == {"updated": 6, "already_created": 2}
    assert app.state.sandbox.stats.created == 8
    assert_sandbox_holds_the_sheet(settings_held(app), path, tmp_path)


# -- kill -9 during updates ---------------------------------------------------------------


def _updating(state: Path) -> bool:
    """Whether the ledger holds an update in flight (read beside the live run)."""
    with Ledger.open(state, run_id="peek", timing=Timing.real(), lock=False) as ledger:
        return any(e.last_error == UPDATING for e in ledger.entries(["created"]))


@pytest.mark.slow
def test_a_run_killed_during_updates_then_rerun_converges(tmp_path: Path) -> None:
    """SIGKILL while updates are in flight, then rerun: the interrupted updates are
    simply sent again (not looked up like uncertain creates), every campaign ends as
    the sheet says, and nothing is created."""
    path = write_template(tmp_path / "a.csv", rows=numbered_rows(40))
    edited = write_template(tmp_path / "b.csv", rows=numbered_edit(40))
    state = tmp_path / "state.sqlite"
    with run_in_thread(SandboxConfig(latency_ms=50)) as url:
        first = run(tmp_path, path, None, "o1", base_url=url)
        assert first.counts == {"created": 40}
        kill_mid_run(edited, url, state, tmp_path / "killed", counter="updated", ready=_updating)
        with httpx.Client(base_url=url) as client:
            known = entries(tmp_path)
            in_flight = {key for key, e in known.items() if e.last_error == UPDATING}
            done_before = {key for key, e in known.items() if e.payload is not None}
            assert in_flight
            assert all(e.status == "created" for e in known.values())

            done = run_until_done(tmp_path, edited, None, "r", base_url=url)

            stats = client.get("/_sandbox/stats").json()
            held = client.get(CAMPAIGNS).json()

    rerun = by_key(done[0])
    for key in in_flight:
        assert rerun[key].status == "updated"
        assert "an earlier update's outcome was not known" in rerun[key].errors[0]
    wanted = sheet_payloads(edited)
    for key in done_before - in_flight:  # updated before the kill, or not reached yet
        same = known[key].payload == wanted[key]
        assert rerun[key].status == ("already_created" if same else "updated")
    assert set(done[-1].counts) <= DONE
    assert (stats["created"], stats["duplicates"]) == (40, 0)
    assert len(held) == 40
    assert_sandbox_holds_the_sheet(held, edited, tmp_path)
