"""`campaigns plan` shows what a run would do and saves it; `campaigns apply` carries out
exactly that, or refuses a plan the ledger has moved away from (issue 11, items 3 and 4).

Plans and applies go through `plan_files` and `apply_plan` against the sandbox in
process (a recording transport keeps every request), and through the command line
against the built-in sandbox.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from starlette.applications import Starlette

from pipeline.errors import PlanError, StalePlan
from pipeline.ledger import Ledger
from pipeline.model import Origin
from pipeline.plan import PLAN_FILE, PLAN_FORMAT, PLAN_VERSION, Plan, checksum, plan_lines
from pipeline.report import PROSPECT_FILES, REPORT_FILES
from pipeline.run import RunResult, apply_plan, plan_files, run_files
from pipeline.settings import Options
from pipeline.timing import Timing
from sandbox.server import SandboxConfig, create_app
from tests.fakes import FakeTiming
from tests.helpers import invoke, run_settings
from tests.recording import Recorder, base_rows, entries, results, sheet_payloads, write


def plan(
    tmp_path: Path, path: Path, recorder: Recorder | None, out: str, **changes: Any
) -> tuple[RunResult, Plan]:
    """`campaigns plan PATH --out tmp_path/out` (the ledger in tmp_path) on fake time."""
    return plan_files(
        Options(paths=(path,), out=tmp_path / out),
        run_settings(tmp_path, dry_run=True, **changes),
        transport=recorder,
        timing=FakeTiming().timing,
    )


def apply(tmp_path: Path, saved: Path, recorder: Recorder, out: str, **changes: Any) -> RunResult:
    """`campaigns apply SAVED --out tmp_path/out` (the ledger in tmp_path) on fake time."""
    return apply_plan(
        Plan.read(saved),
        saved,
        Options(paths=(saved,), out=tmp_path / out),
        run_settings(tmp_path, **changes),
        transport=recorder,
        timing=FakeTiming().timing,
    )


def run(tmp_path: Path, path: Path, recorder: Recorder, out: str) -> RunResult:
    return run_files(
        Options(paths=(path,), out=tmp_path / out),
        run_settings(tmp_path),
        transport=recorder,
        timing=FakeTiming().timing,
    )


def sent(recorder: Recorder) -> list[tuple[str, str, Any]]:
    """The requests that change something (POST, PATCH), in order."""
    return [(m, p, b) for m, p, b in recorder.requests if m in ("POST", "PATCH")]


def statuses(result: RunResult) -> dict[str, str]:
    return {row.campaign_key: row.status.value for row in result.rows}


@pytest.fixture
def sandbox() -> Iterator[tuple[Starlette, Recorder]]:
    app = create_app(SandboxConfig())
    yield app, Recorder(app)
    app.state.sandbox.close()


@pytest.fixture
def edited(tmp_path: Path, sandbox: tuple[Starlette, Recorder]) -> tuple[Starlette, Recorder, Path]:
    """Five rows created, then a sheet of them edited: one setting changed, one row
    renamed under its campaign_key, one new row, one invalid row, two left as they were."""
    app, recorder = sandbox
    created = run(tmp_path, write(tmp_path, base_rows(), "campaigns.csv"), recorder, "o1")
    assert created.counts == {"created": 5}
    rows = base_rows()
    rows[0] |= {"min_post_likes": "99"}
    rows[2] |= {"campaign_name": "Agency partners - warm intros 2025"}
    rows[3] |= {"min_post_likes": "many"}
    new = dict(base_rows()[4]) | {"campaign_key": "topic-new", "campaign_name": "Topic - new"}
    path = write(tmp_path, [*rows, new], "edited.csv")
    recorder.requests.clear()
    return app, recorder, path


# -- plan ---------------------------------------------------------------------------------


def test_a_plan_sends_nothing_and_shows_each_kind_of_row(
    tmp_path: Path, edited: tuple[Starlette, Recorder, Path]
) -> None:
    """The plan of an edited sheet: one to create, two to update (each with its changes),
    two unchanged, one invalid; only the team and campaign lists are read, nothing is
    written to the ledger, and the exit code is a dry run's (1: a row is invalid)."""
    app, recorder, path = edited
    before = entries(tmp_path)

    result, made = plan(tmp_path, path, recorder, "plan")

    assert statuses(result) == {
        "acme-q1-cto": "would_update",
        "acme-q1-vp-sales": "already_created",
        "agency-partners": "would_update",
        "topic-genai-fintech": "invalid",
        "topic-revops": "already_created",
        "topic-new": "would_create",
    }
    assert result.exit_code == 1
    assert {m for m, _, _ in recorder.requests} == {"GET"}
    assert entries(tmp_path) == before
    assert app.state.sandbox.stats.created == 5
    assert made.data["counts"] == {"to create": 1, "to update": 2, "unchanged": 2, "invalid": 1}
    lines = plan_lines(made)
    assert lines[-1] == "Plan: 1 to create, 2 to update, 2 unchanged, 1 invalid."
    cto = next(i for i, line in enumerate(lines) if "ACME Q1 - CTOs in fintech" in line)
    assert lines[cto].startswith("  ~ edited.csv row 2  ACME Q1 - CTOs in fintech [")
    assert lines[cto + 1].strip().startswith("min_post_likes: ")
    assert lines[cto + 1].strip().endswith(" -> 99")
    assert any(line.startswith("  + edited.csv row 7  Topic - new") for line in lines)
    assert any(line.startswith("  ! edited.csv row 5: invalid: min_post_likes") for line in lines)


def test_the_plan_file_holds_the_exact_requests_the_inputs_and_the_ledger_state(
    tmp_path: Path, edited: tuple[Starlette, Recorder, Path]
) -> None:
    """plan.json (in the report folder): format and version, the inputs' sha256, the
    ledger's path and identity, each key's state, and every operation with its method,
    path and body exactly as a run would send them."""
    _, recorder, path = edited
    result, _ = plan(tmp_path, path, recorder, "plan")

    data = json.loads((result.folder / PLAN_FILE).read_text(encoding="utf-8"))

    assert (data["format"], data["version"]) == (PLAN_FORMAT, PLAN_VERSION)
    assert data["inputs"][0]["sha256"] == result.summary["inputs"][0]["sha256"]
    with Ledger.open(tmp_path / "state.sqlite", run_id="x", timing=Timing.real()) as ledger:
        identity = ledger.identity
        states = ledger.key_states(["acme-q1-cto", "topic-new"])
    assert len(identity) == 32
    assert data["ledger"] == {
        "path": str((tmp_path / "state.sqlite").resolve()),
        "id": identity,
        "keys": data["ledger"]["keys"],
    }
    assert data["ledger"]["keys"]["acme-q1-cto"] == states["acme-q1-cto"]
    assert data["ledger"]["keys"]["acme-q1-cto"]["status"] == "created"
    assert "topic-new" not in data["ledger"]["keys"] and "topic-new" not in states
    wanted = sheet_payloads(path)
    ids = {key: entry.campaign_id for key, entry in entries(tmp_path).items()}
    requests = {op["campaign_key"]: op for op in data["operations"]}
    assert set(requests) == {"acme-q1-cto", "agency-partners", "topic-new"}
    assert requests["topic-new"]["method"] == "POST"
    assert requests["topic-new"]["path"] == "/api/client/v2/campaign"
    assert requests["topic-new"]["body"] == wanted["topic-new"]
    update = requests["acme-q1-cto"]
    assert (update["method"], update["path"]) == (
        "PATCH",
        f"/api/client/v2/campaign/{ids['acme-q1-cto']}",
    )
    body = {k: v for k, v in wanted["acme-q1-cto"].items() if k not in ("ownerId", "type")}
    assert update["body"] == {"id": ids["acme-q1-cto"], **body}
    assert next(iter(update["body"])) == "id"
    assert update["status"] == "would_update"


def test_a_plans_report_folder_holds_only_what_pruning_knows(
    tmp_path: Path, edited: tuple[Starlette, Recorder, Path]
) -> None:
    """A plan's folder (of a run without prospects): the report files (payloads.jsonl
    too), plan.json and inputs/, each named by REPORT_FILES, so that --keep-reports
    prunes old plans whole."""
    _, recorder, path = edited
    result, _ = plan(tmp_path, path, recorder, "plan")
    written = sorted(p.name for p in result.folder.iterdir())
    assert written == sorted([*(set(REPORT_FILES) - set(PROSPECT_FILES)), "inputs"])


def test_a_plan_needs_the_key_only_to_resolve_owner_emails(
    tmp_path: Path, edited: tuple[Starlette, Recorder, Path]
) -> None:
    """Without a key, owner e-mails an earlier run learned are resolved from the ledger
    and the plan is made; an e-mail nobody resolved yet refuses the plan (exit 2, saying
    the key is needed), and no plan is saved."""
    _, _, path = edited
    result, made = plan(tmp_path, path, None, "keyless", api_key=None)
    assert result.counts["would_create"] == 1
    assert all("@" not in op["payload"]["ownerId"] for op in made.data["operations"])

    stranger = base_rows()[:1]
    stranger[0] |= {"campaign_key": "stranger", "owner": "nobody@example.com"}
    with pytest.raises(PlanError, match="needs the API key") as refused:
        plan(tmp_path, write(tmp_path, stranger, "s.csv"), None, "s", api_key=None)
    assert "s.csv row 2" in refused.value.message
    assert not (tmp_path / "s").exists()


# -- apply --------------------------------------------------------------------------------


def test_apply_sends_exactly_the_plans_requests_and_never_rereads_the_sheet(
    tmp_path: Path, edited: tuple[Starlette, Recorder, Path]
) -> None:
    """Applying the plan makes exactly its POST and PATCHes with its bodies, even after
    the sheet was edited again (and then deleted): the inputs are not read again. The
    rows are reported as a run reports them, and the sandbox holds the planned settings."""
    app, recorder, path = edited
    result, made = plan(tmp_path, path, recorder, "plan")
    planned = [
        (op["method"], op["path"], op["body"])
        for op in made.data["operations"]
        if op["status"] in ("would_create", "would_update")
    ]
    wanted = sheet_payloads(path)
    path.write_text("not a sheet any more", encoding="utf-8")
    recorder.requests.clear()

    applied = apply(tmp_path, result.folder / PLAN_FILE, recorder, "apply")

    assert sent(recorder) == planned
    assert statuses(applied) == {
        "acme-q1-cto": "updated",
        "acme-q1-vp-sales": "already_created",
        "agency-partners": "updated",
        "topic-genai-fintech": "invalid",
        "topic-revops": "already_created",
        "topic-new": "created",
    }
    assert applied.exit_code == 1  # the invalid row still needs a person
    assert applied.summary["command"] == "apply"
    rows = {row["campaign_key"]: row for row in results(applied.folder)}
    assert rows["acme-q1-cto"]["changes"].endswith(" -> 99")
    assert rows["topic-genai-fintech"]["errors"].startswith("min_post_likes")
    assert (applied.folder / PLAN_FILE).read_bytes() == (result.folder / PLAN_FILE).read_bytes()
    known = entries(tmp_path)
    held = {c.id: dict(c.payload) for c in app.state.sandbox.store.all()}
    for key in ("acme-q1-cto", "agency-partners", "topic-new"):
        assert held[known[key].campaign_id] == wanted[key]
        assert known[key].payload == wanted[key]
    assert app.state.sandbox.stats.created == 6


def test_applying_a_plan_twice_is_refused_and_sends_nothing(
    tmp_path: Path, edited: tuple[Starlette, Recorder, Path]
) -> None:
    """The second apply of one plan finds the ledger moved (by the first) and refuses,
    naming the first row whose key changed; nothing is sent and no report is kept."""
    app, recorder, path = edited
    result, _ = plan(tmp_path, path, recorder, "plan")
    saved = result.folder / PLAN_FILE
    apply(tmp_path, saved, recorder, "apply1")
    recorder.requests.clear()

    with pytest.raises(StalePlan) as refused:
        apply(tmp_path, saved, recorder, "apply2")

    assert refused.value.exit_code == 2
    assert refused.value.message.startswith(f"{PLAN_FILE} is stale: edited.csv row 2: ")
    assert "campaign_key acme-q1-cto changed in the ledger at " in refused.value.message
    assert "after the plan was made (by another run, or by applying" in refused.value.message
    assert sent(recorder) == []
    assert not (tmp_path / "apply2").exists()
    assert app.state.sandbox.stats.created == 6
    assert app.state.sandbox.stats.updated == 2


def test_a_plan_made_against_an_empty_ledger_cannot_be_applied_twice(
    tmp_path: Path, sandbox: tuple[Starlette, Recorder]
) -> None:
    """terraform#24078: planning against no ledger makes one (with its identity), so the
    plan is tied to it: the first apply creates the five campaigns, the second refuses."""
    app, recorder = sandbox
    path = write(tmp_path, base_rows(), "campaigns.csv")
    assert not (tmp_path / "state.sqlite").exists()
    result, made = plan(tmp_path, path, recorder, "plan")
    assert (tmp_path / "state.sqlite").exists()
    assert made.data["ledger"]["id"] and made.data["ledger"]["keys"] == {}
    saved = result.folder / PLAN_FILE

    first = apply(tmp_path, saved, recorder, "apply1")
    stale = (
        r"campaigns.csv row 2: campaign_key acme-q1-cto was not in the ledger when the plan "
        r"was made; it is created now \(campaign .*, since .*\); nothing was sent"
    )
    with pytest.raises(StalePlan, match=stale):
        apply(tmp_path, saved, recorder, "apply2")

    assert first.counts == {"created": 5}
    assert app.state.sandbox.stats.created == 5
    assert app.state.sandbox.stats.duplicates == 0


def test_a_plan_is_refused_by_another_ledger_even_an_empty_one(
    tmp_path: Path, sandbox: tuple[Starlette, Recorder]
) -> None:
    """A plan names its ledger's identity: applied with another --state (a new, empty
    ledger that would otherwise agree with every key), it is refused before anything is
    sent."""
    _, recorder = sandbox
    path = write(tmp_path, base_rows(), "campaigns.csv")
    result, _ = plan(tmp_path, path, recorder, "plan")
    recorder.requests.clear()

    with pytest.raises(StalePlan, match="was made against another ledger"):
        apply(tmp_path, result.folder / PLAN_FILE, recorder, "a", state=tmp_path / "other.sqlite")

    assert sent(recorder) == []


def test_a_run_between_plan_and_apply_makes_the_plan_stale(
    tmp_path: Path, edited: tuple[Starlette, Recorder, Path]
) -> None:
    """Another run applies the same sheet after the plan was made: the plan's create and
    updates are done already, and applying it is refused rather than repeated."""
    app, recorder, path = edited
    result, _ = plan(tmp_path, path, recorder, "plan")
    run(tmp_path, path, recorder, "meanwhile")
    recorder.requests.clear()

    with pytest.raises(
        StalePlan, match=r"edited.csv row 2: campaign_key acme-q1-cto changed in the ledger at "
    ):
        apply(tmp_path, result.folder / PLAN_FILE, recorder, "apply")

    assert sent(recorder) == []
    assert app.state.sandbox.stats.created == 6


def test_a_plan_changed_after_it_was_made_is_refused(
    tmp_path: Path, edited: tuple[Starlette, Recorder, Path]
) -> None:
    """Any edit of plan.json (here one campaign name in a body) breaks its checksum: it
    is refused when read (exit 2), saying to make a new plan; nothing is sent."""
    _, recorder, path = edited
    result, _ = plan(tmp_path, path, recorder, "plan")
    text = (result.folder / PLAN_FILE).read_text(encoding="utf-8")
    tampered = tmp_path / "tampered.json"
    tampered.write_text(text.replace('"Topic - new"', '"Topic - else"', 1), encoding="utf-8")
    recorder.requests.clear()

    with pytest.raises(PlanError, match="was changed after `campaigns plan` made it"):
        apply(tmp_path, tampered, recorder, "apply")

    assert sent(recorder) == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda op, row: op["body"].update(name="Else"), "its body is not the request"),
        (lambda op, row: op["payload"].update(name="Else"), "its payload is not its row's"),
        (lambda op, row: op.update(path=op["path"] + "x"), "its path is not the request"),
        (lambda op, row: op.update(position=op["position"] - 1), "not for the key of the row"),
        (lambda op, row: op.update(position="7"), "operation.position is not a whole number"),
        (lambda op, row: row.pop("source"), "missing 'source'"),
        (lambda op, row: row.update(errors="x"), "rows[5].errors is not a list"),
        (
            lambda op, row: (
                op["payload"].update(postMaxAgeDays="x"),
                row["payload"].update(postMaxAgeDays="x"),
            ),
            "is not one the API takes",
        ),
    ],
)
def test_a_damaged_plan_is_refused_with_what_is_wrong(
    tmp_path: Path, edited: tuple[Starlette, Recorder, Path], edit: Any, message: str
) -> None:
    """A plan whose checksum matches but whose content is not what apply can use (a field
    missing or of the wrong type, a request that does not follow from its payload, a
    payload the API does not take) is refused when read (exit 2, saying what is
    wrong), never a traceback; nothing is sent."""
    _, recorder, path = edited
    _, made = plan(tmp_path, path, recorder, "plan")
    data = json.loads(json.dumps(made.data))
    operation = next(op for op in data["operations"] if op["campaign_key"] == "topic-new")
    edit(operation, data["rows"][operation["position"]])
    data["checksum"] = checksum(data)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data), encoding="utf-8")
    recorder.requests.clear()

    with pytest.raises(PlanError, match="the plan is damaged") as refused:
        apply(tmp_path, tampered, recorder, "apply")

    assert message in refused.value.message
    assert sent(recorder) == []


def test_a_campaign_made_elsewhere_after_the_plan_is_not_created_again(
    tmp_path: Path, edited: tuple[Starlette, Recorder, Path]
) -> None:
    """Between plan and apply someone creates the planned campaign by hand in Extrovert:
    apply looks at the campaign list before creating, and the row is invalid (naming
    the campaign) instead of a duplicate; the planned updates still go out."""
    app, recorder, path = edited
    result, made = plan(tmp_path, path, recorder, "plan")
    body = next(op["body"] for op in made.data["operations"] if op["campaign_key"] == "topic-new")
    by_hand, _ = app.state.sandbox.store.add(body)
    recorder.requests.clear()

    applied = apply(tmp_path, result.folder / PLAN_FILE, recorder, "apply")

    row = next(row for row in applied.rows if row.campaign_key == "topic-new")
    assert row.status.value == "invalid"
    assert by_hand.id in row.errors[0]
    assert [m for m, _, _ in sent(recorder)] == ["PATCH", "PATCH"]


def test_apply_sends_no_create_the_plan_did_not_show(
    tmp_path: Path, sandbox: tuple[Starlette, Recorder]
) -> None:
    """A row the plan showed as invalid because its campaign existed in the account is
    not created by apply even if that campaign is gone by then: the plan did not show
    that request, so the row is not_sent, saying so."""
    app, recorder = sandbox
    rows = base_rows()[:1]
    path = write(tmp_path, rows, "campaigns.csv")
    payload = sheet_payloads(path)["acme-q1-cto"]
    there, _ = app.state.sandbox.store.add(payload)
    result, _ = plan(tmp_path, path, recorder, "plan")
    assert statuses(result) == {"acme-q1-cto": "invalid"}
    app.state.sandbox.store.remove(there.id)
    recorder.requests.clear()

    applied = apply(tmp_path, result.folder / PLAN_FILE, recorder, "apply")

    assert statuses(applied) == {"acme-q1-cto": "not_sent"}
    assert "did not plan this request" in applied.rows[0].errors[0]
    assert sent(recorder) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not a plan file (not JSON"),
        (b'{"format": "something-else"}', "is not a plan file"),
        (b'{"format": "campaigns-plan", "version": 99}', "plan format version 99"),
        (b'{"format": "campaigns-plan", "version": 1}', "is damaged and cannot be applied"),
    ],
)
def test_a_file_that_is_not_a_plan_this_version_reads_is_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    """Not JSON, another format, a newer version, a damaged plan: exit 2 with a message."""
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    with pytest.raises(PlanError, match=message.replace("(", r"\(")):
        Plan.read(path)


# -- the command line ---------------------------------------------------------------------


@pytest.mark.slow
def test_plan_and_apply_on_the_command_line_against_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`campaigns plan --sandbox sheet -o plan.json` prints the plan and saves it;
    `campaigns apply plan.json` (the sandbox and ledger taken from the plan) creates the
    campaigns; a second apply is refused (exit 2, nothing sent); a new plan of the same
    sheet has nothing to do, and applying it says so (exit 0)."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(Path(__file__).parents[1] / "input_templates" / "example.csv", "example.csv")

    planned = invoke("plan", "--sandbox", "example.csv", "-o", "plan.json")
    applied = invoke("apply", "plan.json")
    again = invoke("apply", "plan.json")
    replanned = invoke("plan", "--sandbox", "example.csv", "-o", "plan2.json")
    nothing = invoke("apply", "plan2.json")

    assert planned.exit_code == 0, planned.output
    assert "Campaigns to create (5):" in planned.output
    assert "Plan: 5 to create." in planned.output
    assert "campaigns apply plan.json" in planned.output
    assert Plan.read(tmp_path / "plan.json").endpoint == "sandbox"
    assert applied.exit_code == 0, applied.output
    assert "5 rows: 5 created. Applied plan.json." in applied.output
    assert again.exit_code == 2
    assert "plan.json is stale: example.csv row 2" in again.output
    assert "Make a new plan" in again.output
    assert replanned.exit_code == 0
    assert "Plan: 5 unchanged." in replanned.output
    assert "Nothing to do" in replanned.output
    assert nothing.exit_code == 0
    assert "Nothing to do: plan2.json sends nothing" in nothing.output


def test_apply_refuses_another_api_than_the_plans(tmp_path: Path) -> None:
    """A plan made against the sandbox is not applied to a --base-url, nor a plan made
    against an API to the sandbox: exit 2, naming both."""
    data = {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "ledger": {"path": str(tmp_path / "state.sqlite"), "id": "x", "keys": {}},
        "endpoint": "sandbox",
        "settings": {"skip_existing": False, "resend_unknown": False},
        "headers": {},
        "rows": [],
        "operations": [],
    }
    sandboxed = tmp_path / "sandboxed.json"
    sandboxed.write_text(json.dumps(data | {"checksum": checksum(data)}), encoding="utf-8")
    real = tmp_path / "real.json"
    elsewhere = data | {"endpoint": "https://api.example.com"}
    real.write_text(json.dumps(elsewhere | {"checksum": checksum(elsewhere)}), encoding="utf-8")

    to_api = invoke("apply", sandboxed, "--base-url", "https://other.example.com")
    to_sandbox = invoke("apply", real, "--sandbox")
    to_other = invoke("apply", real, "--base-url", "https://other.example.com")

    assert to_api.exit_code == to_sandbox.exit_code == to_other.exit_code == 2
    assert "was made against the sandbox (--sandbox), not https://other" in to_api.output
    assert "was made against https://api.example.com, not the sandbox" in to_sandbox.output
    assert "was made against https://api.example.com, not https://other" in to_other.output


def test_the_readmes_printed_plan_is_what_plan_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's example plan, made again: the example workbook run, then edited as
    the example says (a setting on rows 2 and 3, row 5 made invalid, a new row 7), and
    planned; the output is the README's but for ids and times."""
    monkeypatch.chdir(tmp_path)
    assert invoke("template", "--example", "-o", "plan.xlsx").exit_code == 0
    assert invoke("run", "--sandbox", "plan.xlsx").exit_code == 0
    book = openpyxl.load_workbook("plan.xlsx")
    sheet = book["campaigns"]
    column = {cell.value: cell.column for cell in sheet[1]}
    sheet.cell(2, column["min_post_likes"]).value = 25
    sheet.cell(3, column["dm_enabled"]).value = "yes"
    sheet.cell(5, column["min_post_likes"]).value = "twenty"
    for index in range(1, sheet.max_column + 1):
        sheet.cell(7, index).value = sheet.cell(6, index).value
    sheet.cell(7, column["campaign_key"]).value = "topic-sales-ops"
    sheet.cell(7, column["campaign_name"]).value = "Topic - sales ops"
    book.save("plan.xlsx")

    printed = invoke("plan", "--sandbox", "plan.xlsx", "-o", "plan.json")

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n\$ campaigns plan plan.xlsx -o plan.json\n(.*?)```", readme, re.S)
    assert block is not None
    assert printed.exit_code == 1
    assert _without_ids(printed.stdout) == _without_ids(block.group(1))


def _without_ids(text: str) -> str:
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", text)
    # A run's folder: its time, and `-2` when the run before it began in the same second.
    return re.sub(r"\d{8}T\d{6}Z(-[a-z]+)(?:-\d+)?", r"RUN\1", text)


def test_a_plan_never_keeps_an_owner_email_even_for_an_update(
    tmp_path: Path, edited: tuple[Starlette, Recorder, Path]
) -> None:
    """Without the key, an owner e-mail the ledger has forgotten cannot be resolved: the
    plan is refused (exit 2) even when its row would only be updated or is unchanged, so
    no e-mail ever reaches a request body or the ledger."""
    _, _, path = edited
    with Ledger.open(tmp_path / "state.sqlite", run_id="x", timing=Timing.real()) as ledger:
        ledger._conn.execute("DELETE FROM owners")  # as if no run had learned them
        ledger._conn.commit()

    with pytest.raises(PlanError, match="needs the API key"):
        plan(tmp_path, path, None, "keyless", api_key=None)

    assert not (tmp_path / "keyless").exists()


def test_a_request_left_in_flight_does_not_make_the_plan_stale(
    tmp_path: Path, sandbox: tuple[Starlette, Recorder]
) -> None:
    """A key a crashed run left `sending` reads `sending` to the plan and `unknown` to the
    apply that recovers it: the same state, so the apply goes ahead and settles the row
    from the campaign list (absent there: created once)."""
    app, recorder = sandbox
    path = write(tmp_path, base_rows()[:1], "campaigns.csv")
    payload = sheet_payloads(path)["acme-q1-cto"]
    with Ledger.open(tmp_path / "state.sqlite", run_id="crashed", timing=Timing.real()) as ledger:
        origin = Origin("campaigns.csv", "", 2, payload["ownerId"], payload["name"])
        ledger.mark_sending("acme-q1-cto", payload=payload, origin=origin)
    result, _ = plan(tmp_path, path, recorder, "plan")

    applied = apply(tmp_path, result.folder / PLAN_FILE, recorder, "apply")

    assert statuses(applied) == {"acme-q1-cto": "created"}
    assert app.state.sandbox.stats.created == 1


@pytest.mark.slow
def test_plan_refuses_to_save_over_the_ledger_an_input_or_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan -o` naming the ledger, an input or a file that is not a plan: exit 2, and
    that file is left as it was."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(Path(__file__).parents[1] / "input_templates" / "example.csv", "example.csv")
    Path("notes.txt").write_text("mine", encoding="utf-8")
    assert invoke("run", "--sandbox", "example.csv").exit_code == 0
    ledger = Path("reports/sandbox-state.sqlite")
    before = ledger.read_bytes()

    over_ledger = invoke("plan", "--sandbox", "example.csv", "-o", ledger)
    over_input = invoke("plan", "--sandbox", "example.csv", "-o", "example.csv")
    over_notes = invoke("plan", "--sandbox", "example.csv", "-o", "notes.txt")

    assert over_ledger.exit_code == over_input.exit_code == over_notes.exit_code == 2
    assert "is the ledger or one of the inputs" in over_ledger.output
    assert "is the ledger or one of the inputs" in over_input.output
    assert "exists and is not a plan" in over_notes.output
    assert ledger.read_bytes() == before
    assert Path("notes.txt").read_text(encoding="utf-8") == "mine"


@pytest.mark.slow
def test_a_plan_that_stopped_early_is_not_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key refused while planning: exit 3, "Stopped:" saying why, and no plan saved
    (a plan that looked at nothing would say there is nothing to do)."""
    from sandbox.server import run_in_thread

    monkeypatch.chdir(tmp_path)
    shutil.copy(Path(__file__).parents[1] / "input_templates" / "example.csv", "example.csv")
    monkeypatch.setenv("EXTROVERT_API_KEY", "wrong-key")
    with run_in_thread() as url:
        refused = invoke("plan", "--base-url", url, "example.csv", "-o", "plan.json")

    assert refused.exit_code == 3, refused.output
    assert "Stopped: " in refused.output
    assert "No plan was saved." in refused.output
    assert not Path("plan.json").exists()


@pytest.mark.slow
def test_apply_refuses_a_missing_ledger_and_a_sandbox_plan_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan's ledger gone: exit 2 saying so, no empty ledger made in its place. A
    sandbox plan given another --state: exit 2 (the sandbox keeps its campaigns beside
    its ledger)."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(Path(__file__).parents[1] / "input_templates" / "example.csv", "example.csv")
    assert invoke("plan", "--sandbox", "example.csv", "-o", "plan.json").exit_code == 0

    elsewhere = invoke("apply", "plan.json", "--state", "other.sqlite")
    shutil.move("reports/sandbox-state.sqlite", "moved.sqlite")
    gone = invoke("apply", "plan.json")

    assert elsewhere.exit_code == gone.exit_code == 2
    assert "the plan applies there only" in elsewhere.output
    assert "does not exist" in gone.output
    assert not Path("reports/sandbox-state.sqlite").exists()
