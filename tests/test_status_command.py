"""`campaigns status --json | --export FILE.csv | --backup FILE`: the ledger as data, its ids
as a CSV that survives lost reports, and a consistent copy taken while a run writes."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline.guard import unguard
from pipeline.ledger import Ledger
from pipeline.model import Origin, Status
from pipeline.status import EXPORT_COLUMNS
from tests.helpers import invoke, ledger_at

OWNER = "0f8fad5b-d9cb-469f-a165-70867728950e"
ID_A = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
ID_B = "8d256aa6-9b12-49a7-93ee-bf41634b5b60"
HEADER = "key,owner_id,name,campaign_id,status,source,sheet,row,updated_at"


def add(
    ledger: Ledger,
    key: str,
    status: Status,
    *,
    name: str = "",
    campaign_id: str = "",
    row: int = 2,
    sheet: str = "",
) -> None:
    """Put `key` in the ledger as a run would: `sending`, then its outcome."""
    name = name or f"Campaign {key}"
    payload: dict[str, Any] = {"name": name, "ownerId": OWNER, "type": "KEYWORD"}
    origin = Origin("plan.xlsx", sheet, row, OWNER, name)
    ledger.mark_sending(key, payload=payload, origin=origin)
    ledger.record(key, status, campaign_id=campaign_id, error=f"ended {status}", attempts=1)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A ledger with two created keys (one named like a formula) and one unknown."""
    path = tmp_path / "state.sqlite"
    with ledger_at(path) as ledger:
        add(ledger, "k1", Status.CREATED, campaign_id=ID_A, row=2, sheet="campaigns")
        add(ledger, "k2", Status.CREATED, name="=SUM(A1)", campaign_id=ID_B, row=3)
        add(ledger, "k3", Status.UNKNOWN, row=4)
    return path


def test_export_writes_every_entry_with_its_id(state: Path, tmp_path: Path) -> None:
    """--export writes the header and one line per entry with its id (BOM, CRLF)."""
    target = tmp_path / "ids.csv"

    result = invoke("status", "--state", state, "--export", target)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote 3 entries to {target}\n"
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n")
    lines = data.decode("utf-8-sig").split("\r\n")
    assert lines[-1] == "" and len(lines) == 5  # header, three entries, the final CRLF
    with ledger_at(state, run_id="look") as ledger:
        k1 = ledger.get("k1")
    assert k1 is not None
    assert f"k1,{OWNER},Campaign k1,{ID_A},created,plan.xlsx,campaigns,2,{k1.updated_at}" in lines
    assert ",".join(EXPORT_COLUMNS) == HEADER


def test_export_round_trips_through_dictreader_and_guards_formulas(
    state: Path, tmp_path: Path
) -> None:
    """The export reads back through DictReader as the ledger's values; '=' names are guarded."""
    target = tmp_path / "ids.csv"
    assert invoke("status", "--state", state, "--export", target).exit_code == 0

    with target.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.DictReader(stream))

    with ledger_at(state, run_id="look") as ledger:
        entries = ledger.entries()
    assert [r["key"] for r in rows] == [e.key for e in entries]
    for row, entry in zip(rows, entries, strict=True):
        assert {k: unguard(v) for k, v in row.items()} == {
            "key": entry.key,
            "owner_id": entry.owner_id,
            "name": entry.name,
            "campaign_id": entry.campaign_id,
            "status": entry.status.value,
            "source": entry.source,
            "sheet": entry.sheet,
            "row": str(entry.row),
            "updated_at": entry.updated_at,
        }
    guarded = next(r for r in rows if r["key"] == "k2")
    assert guarded["name"] == "'=SUM(A1)"
    assert guarded["campaign_id"] == ID_B


def test_export_to_a_path_that_cannot_be_written_exits_2(state: Path, tmp_path: Path) -> None:
    """A path under a regular file: one Error line naming it and the OS reason, exit 2."""
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    target = blocker / "ids.csv"

    result = invoke("status", "--state", state, "--export", target)

    assert result.exit_code == 2
    first = result.stderr.splitlines()[0]
    assert first == f"Error: cannot write {target}: Not a directory"
    assert result.stdout == ""


def test_export_refuses_to_write_over_the_ledger(state: Path) -> None:
    """--export naming the ledger itself exits 2 and leaves the ledger whole."""
    result = invoke("status", "--state", state, "--export", state)

    assert result.exit_code == 2
    assert "is the ledger's own file" in result.stderr
    with ledger_at(state, run_id="look") as ledger:
        assert len(ledger.entries()) == 3


def test_backup_while_a_run_holds_and_writes_the_ledger(state: Path, tmp_path: Path) -> None:
    """--backup beside a run holding the ledger copies every entry, even those only in its WAL."""
    copy = tmp_path / "copy.sqlite"
    plain = tmp_path / "plain.sqlite"
    with ledger_at(state, run_id="live") as run:
        add(run, "k4", Status.CREATED, campaign_id="e4c1a7b9-3d5f-4a2e-b6c8-9f1d3e5a7c20")
        add(run, "k5", Status.UNKNOWN, row=6)
        shutil.copyfile(state, plain)  # what a plain copy of the .sqlite alone would get

        result = invoke("status", "--state", state, "--backup", copy)

        expected = {e.key: e for e in run.entries()}
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Backed up 5 entries to {copy}\n"
    with ledger_at(copy, run_id="restore") as restored:
        assert {e.key: e for e in restored.entries()} == expected
    with ledger_at(plain, run_id="plain") as lossy:
        assert "k5" not in {e.key for e in lossy.entries()}  # why --backup exists


def test_backup_refuses_an_existing_file_unless_forced(state: Path, tmp_path: Path) -> None:
    """An existing FILE: exit 2 and the file untouched; with --force it is replaced."""
    target = tmp_path / "copy.sqlite"
    target.write_bytes(b"precious")

    refused = invoke("status", "--state", state, "--backup", target)

    assert refused.exit_code == 2
    assert refused.stderr.splitlines() == [
        f"Error: --backup {target}: the file exists",
        "Add --force to replace it.",
    ]
    assert target.read_bytes() == b"precious"

    forced = invoke("status", "--state", state, "--backup", target, "--force")

    assert forced.exit_code == 0, forced.output
    with ledger_at(target, run_id="restore") as restored:
        assert len(restored.entries()) == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".copy")] == []


def test_backup_to_a_folder_that_cannot_be_made_exits_2(state: Path, tmp_path: Path) -> None:
    """A backup path under a regular file: one Error line naming it and the reason, exit 2."""
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    target = blocker / "copy.sqlite"

    result = invoke("status", "--state", state, "--backup", target)

    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"Error: cannot write the backup {target}: Not a directory"
    )


def test_json_prints_one_object_with_the_counts(state: Path) -> None:
    """--json prints one JSON object with the counts and attention entries; still exit 1."""
    result = invoke("status", "--state", state, "--json")

    assert result.exit_code == 1
    found = json.loads(result.stdout)
    assert found["path"] == str(state)
    assert found["total"] == 3
    assert found["counts"] == {
        "sending": 0,
        "created": 2,
        "rejected": 0,
        "failed": 0,
        "unknown": 1,
        "not_sent": 0,
    }
    assert found["by_source"] == {"plan.xlsx": {"created": 2, "unknown": 1}}
    assert found["locked"] is False and found["locked_by"] is None
    with ledger_at(state, run_id="look") as ledger:
        k3 = ledger.get("k3")
    assert k3 is not None
    assert found["attention"] == [
        {
            "key": "k3",
            "status": "unknown",
            "source": "plan.xlsx",
            "sheet": "",
            "row": 4,
            "name": "Campaign k3",
            "owner_id": OWNER,
            "owner_email": "",
            "campaign_id": "",
            "http_status": None,
            "last_error": "ended unknown",
            "updated_at": k3.updated_at,
        }
    ]
    assert found["runs"] == []


def test_json_of_a_settled_ledger_exits_0(tmp_path: Path) -> None:
    """--json on a ledger whose keys are all created: no attention entries, exit 0."""
    state = tmp_path / "state.sqlite"
    with ledger_at(state) as ledger:
        add(ledger, "k1", Status.CREATED, campaign_id=ID_A)

    result = invoke("status", "--state", state, "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["attention"] == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--force"], "--force goes with --backup"),
        (["--json", "--export", "x.csv"], "--json prints the status"),
    ],
)
def test_options_that_do_not_go_together(state: Path, options: list[str], message: str) -> None:
    """--force without --backup, or --json with a file to write, is a usage error (exit 2)."""
    result = invoke("status", "--state", state, *options)

    assert result.exit_code == 2
    assert message in result.stderr


def test_a_campaign_whose_update_outcome_is_not_known_needs_attention(tmp_path: Path) -> None:
    """A created key whose update was sent but never answered (a crash, a timeout) is
    listed with what the ledger noted (the next run sends it again), exit 1; once the
    update is recorded, the ledger is settled again (exit 0)."""
    state = tmp_path / "state.sqlite"
    with ledger_at(state) as ledger:
        add(ledger, "k1", Status.CREATED, campaign_id=ID_A, row=7, sheet="campaigns")
        ledger.begin_update("k1")

    waiting = invoke("status", "--state", state)
    as_json = json.loads(invoke("status", "--state", state, "--json").stdout)

    assert waiting.exit_code == 1
    assert "1 need a person:" in waiting.stdout
    assert 'plan.xlsx [campaigns] row 7: created: "Campaign k1" of owner ' in waiting.stdout
    assert "an update was sent and its outcome is not known yet" in waiting.stdout
    assert [entry["key"] for entry in as_json["attention"]] == ["k1"]
    with ledger_at(state) as ledger:
        ledger.record_update("k1", applied={"name": "Campaign k1"}, http_status=200, attempts=1)
    assert invoke("status", "--state", state).exit_code == 0
