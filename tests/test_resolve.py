"""`campaigns resolve`: a person records what they found in Extrovert for an uncertain key,
and the ledger keeps it (created with that id, or sent once by the next run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import ConfigError
from pipeline.ledger import Ledger
from pipeline.model import LEDGER_ATTENTION, SEND_AGAIN, Origin, Status
from pipeline.status import ledger_status, resolve_key
from tests.fakes import FakeTiming
from tests.helpers import invoke, ledger_at

OWNER = "0f8fad5b-d9cb-469f-a165-70867728950e"
ID_A = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
ID_B = "8d256aa6-9b12-49a7-93ee-bf41634b5b60"


def payload_of(key: str) -> dict[str, Any]:
    return {"name": "Campaign " + key, "ownerId": OWNER, "type": "KEYWORD"}


def add(ledger: Ledger, key: str, status: Status, *, campaign_id: str = "", row: int = 2) -> None:
    """Put `key` in the ledger as a run would: `sending`, then `status` (unless sending)."""
    origin = Origin("plan.csv", "", row, OWNER, "Campaign " + key)
    ledger.mark_sending(key, payload=payload_of(key), origin=origin)
    if status is not Status.SENDING:
        error = "" if status is Status.CREATED else f"the create ended {status}"
        ledger.record(key, status, campaign_id=campaign_id, error=error, attempts=1)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A ledger with one key of each kind a person may have to look at."""
    path = tmp_path / "state.sqlite"
    with ledger_at(path) as ledger:
        add(ledger, "acme-q1-cto", Status.UNKNOWN, row=2)
        add(ledger, "acme-q2-cfo", Status.UNKNOWN, row=3)
        add(ledger, "made", Status.CREATED, campaign_id=ID_A, row=4)
        add(ledger, "gave-up", Status.FAILED, row=5)
        add(ledger, "refused", Status.REJECTED, row=6)
    return path


def entry_of(state: Path, key: str) -> Any:
    with ledger_at(state, run_id="look") as ledger:
        return ledger.get(key)


def test_created_on_an_unknown_key_records_the_id_and_status_stops_listing_it(
    state: Path,
) -> None:
    """--created ID on an unknown key: created with that id and a note; status drops it."""
    result = invoke("resolve", "acme-q1-cto", "--created", ID_B, "--state", state)

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"acme-q1-cto: recorded as created with campaign {ID_B} (was unknown); "
        "it is never sent again\n"
    )
    entry = entry_of(state, "acme-q1-cto")
    assert (entry.status, entry.campaign_id, entry.attempts) == (Status.CREATED, ID_B, 1)
    assert entry.last_error.startswith("resolved by hand on ")
    assert entry.last_error.endswith(f": created as {ID_B}")
    assert entry.payload == payload_of("acme-q1-cto")
    listed = [e.key for e in ledger_status(state).attention]
    assert "acme-q1-cto" not in listed
    assert Status.CREATED not in LEDGER_ATTENTION


def test_a_created_key_is_never_sent_again(state: Path) -> None:
    """After --created, the ledger refuses to send the key again."""
    assert invoke("resolve", "acme-q1-cto", "--created", ID_B, "--state", state).exit_code == 0

    with ledger_at(state, run_id="run-2") as ledger, pytest.raises(ValueError):
        add(ledger, "acme-q1-cto", Status.CREATED, campaign_id=ID_B)


def test_the_note_holds_the_date_and_the_persons_text(state: Path) -> None:
    """The note says when it was resolved by hand, what was found, then --note's text."""
    done = resolve_key(
        state,
        "acme-q1-cto",
        created=ID_B,
        note="  found by Ann\nin the UI ",
        timing=FakeTiming(tick=1.0).timing,
    )

    assert done.after.last_error == (
        f"resolved by hand on 2024-05-01: created as {ID_B}; found by Ann in the UI"
    )
    assert done.before.status is Status.UNKNOWN


def test_created_accepts_an_upper_case_id_and_lowers_it(state: Path) -> None:
    """An upper-case uuid is taken and stored in canonical lower case."""
    result = invoke("resolve", "acme-q1-cto", "--created", ID_B.upper(), "--state", state)

    assert result.exit_code == 0, result.output
    assert entry_of(state, "acme-q1-cto").campaign_id == ID_B


@pytest.mark.parametrize("bad", ["12345", "", f"{ID_B}x", ID_B.replace("-", "")])
def test_created_refuses_an_id_that_is_not_a_uuid(state: Path, bad: str) -> None:
    """--created with anything but a uuid: exit 2, a clear message, the ledger untouched."""
    result = invoke("resolve", "acme-q1-cto", "--created", bad, "--state", state)

    assert result.exit_code == 2
    assert f"{bad!r} is not a campaign id: expected a uuid" in result.stderr
    assert entry_of(state, "acme-q1-cto").status is Status.UNKNOWN


def test_created_refuses_a_key_created_with_another_id(state: Path) -> None:
    """A key already created keeps its id: --created with another one exits 2 and says so."""
    result = invoke("resolve", "made", "--created", ID_B, "--state", state)

    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: 'made' is already created as campaign {ID_A}, not {ID_B}"
    )
    assert entry_of(state, "made").campaign_id == ID_A


def test_created_with_the_id_it_already_has_changes_nothing(state: Path) -> None:
    """--created with the id the key already has: exit 0, nothing changed, no new note."""
    before = entry_of(state, "made")

    result = invoke("resolve", "made", "--created", ID_A, "--state", state)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"made: already created as campaign {ID_A}; nothing changed\n"
    assert entry_of(state, "made") == before


def test_created_refuses_an_id_another_key_holds(state: Path) -> None:
    """An id recorded for another key: exit 2, naming that key; nothing changes."""
    result = invoke("resolve", "acme-q1-cto", "--created", ID_A, "--state", state)

    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: campaign {ID_A} is already recorded for the key 'made' (created)"
    )
    assert entry_of(state, "acme-q1-cto").status is Status.UNKNOWN


@pytest.mark.parametrize("key", ["acme-q1-cto", "gave-up"])
def test_absent_makes_an_unknown_or_failed_key_not_sent(state: Path, key: str) -> None:
    """--absent on an unknown or failed key: not_sent with a note; status drops it."""
    before = entry_of(state, key)

    result = invoke("resolve", key, "--absent", "--state", state, "--note", "checked")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{key}: recorded as not_sent (was {before.status}); the next run sends it once\n"
    )
    entry = entry_of(state, key)
    assert entry.status is Status.NOT_SENT and entry.status in SEND_AGAIN
    assert entry.attempts == before.attempts
    assert entry.last_error.startswith("resolved by hand on ")
    assert entry.last_error.endswith(": not in Extrovert; the next run sends it once; checked")
    assert key not in [e.key for e in ledger_status(state).attention]


def test_absent_on_a_key_a_crashed_run_left_sending(tmp_path: Path) -> None:
    """A key left `sending` by a run that died (no lock held) can be resolved as absent."""
    state = tmp_path / "state.sqlite"
    with ledger_at(state) as ledger:
        add(ledger, "in-flight", Status.SENDING)

    result = invoke("resolve", "in-flight", "--absent", "--state", state)

    assert result.exit_code == 0, result.output
    assert entry_of(state, "in-flight").status is Status.NOT_SENT


def test_absent_is_refused_on_a_created_key(state: Path) -> None:
    """--absent on a created key: exit 2, saying it exists with its id; nothing changes."""
    result = invoke("resolve", "made", "--absent", "--state", state)

    assert result.exit_code == 2
    assert f"Error: 'made' exists in the account as campaign {ID_A}" in result.stderr
    assert entry_of(state, "made").status is Status.CREATED


def test_absent_is_refused_on_a_rejected_key(state: Path) -> None:
    """--absent on a rejected key (the API said no: nothing uncertain) exits 2."""
    result = invoke("resolve", "refused", "--absent", "--state", state)

    assert result.exit_code == 2
    assert "'refused' is rejected, not unknown, sending or failed" in result.stderr
    assert entry_of(state, "refused").status is Status.REJECTED


def test_key_is_matched_like_a_name(state: Path) -> None:
    """A campaign_key spelled with other case and spaces finds the ledger's key."""
    result = invoke("resolve", "  ACME-Q1-CTO ", "--absent", "--state", state)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("acme-q1-cto: recorded as not_sent")
    assert entry_of(state, "acme-q1-cto").status is Status.NOT_SENT


def test_an_owner_and_name_key_is_matched_like_a_name(tmp_path: Path) -> None:
    """A key made of owner + name is found from the name typed with other case and spaces."""
    state = tmp_path / "state.sqlite"
    with ledger_at(state) as ledger:
        add(ledger, f"{OWNER}/acme q1 - ctos", Status.UNKNOWN)

    result = invoke("resolve", f"{OWNER}/ACME  Q1 - CTOs", "--created", ID_B, "--state", state)

    assert result.exit_code == 0, result.output
    assert entry_of(state, f"{OWNER}/acme q1 - ctos").campaign_id == ID_B


def test_a_spelling_that_matches_several_keys_lists_them(tmp_path: Path) -> None:
    """Text that names several keys only by spelling: exit 2, listing every one."""
    state = tmp_path / "state.sqlite"
    with ledger_at(state) as ledger:
        add(ledger, "E1-1", Status.UNKNOWN)
        add(ledger, "e1-1", Status.UNKNOWN, row=3)

    exact = invoke("resolve", "E1-1", "--absent", "--state", state)
    loose = invoke("resolve", "e1-1 ", "--absent", "--state", state)

    assert exact.exit_code == 0, exact.output
    assert loose.exit_code == 2
    assert f"Error: 'e1-1 ' matches 2 keys in {state}: 'E1-1', 'e1-1'" in loose.stderr
    assert entry_of(state, "e1-1").status is Status.UNKNOWN


def test_an_unknown_key_names_the_ledger_and_suggests_status(state: Path) -> None:
    """A KEY the ledger does not know: exit 2 naming the ledger, pointing at `status`."""
    result = invoke("resolve", "nope", "--absent", "--state", state)

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: no campaign key 'nope' in the ledger {state}",
        f"`campaigns status --state {state}` lists the keys that need a person; "
        "`--export FILE.csv` lists every key.",
    ]


def test_a_missing_ledger_exits_2_and_is_not_created(tmp_path: Path) -> None:
    """No ledger at --state: exit 2, and no empty ledger is made there."""
    state = tmp_path / "none.sqlite"

    result = invoke("resolve", "k", "--absent", "--state", state)

    assert result.exit_code == 2
    assert f"Error: no ledger at {state}" in result.stderr
    assert not state.exists()


def test_a_run_holding_the_ledger_makes_resolve_exit_2(state: Path) -> None:
    """While a run holds the ledger's lock, resolve exits 2 with the lock's message."""
    with ledger_at(state, run_id="live"):
        result = invoke("resolve", "acme-q1-cto", "--absent", "--state", state)

    assert result.exit_code == 2
    assert f"Error: the ledger {state} is in use" in result.stderr
    assert "resolve the key once it has ended" in result.stderr
    assert entry_of(state, "acme-q1-cto").status is Status.UNKNOWN


@pytest.mark.parametrize("options", [[], ["--absent", "--created", ID_B]])
def test_exactly_one_of_created_and_absent(state: Path, options: list[str]) -> None:
    """Neither or both of --created and --absent is a usage error (exit 2)."""
    result = invoke("resolve", "acme-q1-cto", *options, "--state", state)

    assert result.exit_code == 2
    assert "give exactly one of --created ID and --absent" in result.stderr


def test_the_ledger_resolves_only_under_its_lock(state: Path) -> None:
    """A ledger opened without the lock (beside a live run) refuses to resolve."""
    timing = FakeTiming().timing
    with Ledger.open(state, run_id="look", timing=timing, lock=False) as ledger:
        with pytest.raises(ValueError, match="needs the ledger's lock"):
            ledger.resolve_absent("acme-q1-cto")
        with pytest.raises(ValueError, match="needs the ledger's lock"):
            ledger.resolve_created("acme-q1-cto", ID_B)


def test_resolve_key_turns_refusals_into_config_errors(state: Path) -> None:
    """From Python, every refusal is a ConfigError (exit code 2) with a one-line message."""
    with pytest.raises(ConfigError) as caught:
        resolve_key(state, "made", absent=True)

    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)
