"""The shared words: status texts, their groups, counts, the exit-code rule and keys."""

from __future__ import annotations

import pytest

from pipeline.model import (
    DONE,
    LEDGER_STATUSES,
    NEEDS_PERSON,
    SEND_AGAIN,
    SUCCEEDED,
    Status,
    campaign_key,
    counts,
    exit_code,
    is_uuid,
    normalise_name,
)
from tests.helpers import REPORTED_STATUSES


def test_status_texts_are_the_ones_reports_write() -> None:
    """Each status is its report text, and str() of it is that text (CSV/JSON unchanged)."""
    assert {status.value for status in Status} >= {*REPORTED_STATUSES, "sending"}
    assert all(str(status) == status.value == f"{status}" for status in Status)


def test_every_row_status_is_done_or_needs_a_person() -> None:
    """DONE and NEEDS_PERSON split the row statuses; the ledger's `sending` is neither."""
    row_statuses = set(Status) - {Status.SENDING}
    assert DONE.isdisjoint(NEEDS_PERSON)
    assert row_statuses == DONE | NEEDS_PERSON
    assert SUCCEEDED <= DONE
    assert SEND_AGAIN <= NEEDS_PERSON and set(LEDGER_STATUSES) >= SEND_AGAIN


def test_counts_follow_the_status_order_and_leave_out_empty_ones() -> None:
    """counts() lists statuses in report order, only those some row has."""
    found = counts([Status.NOT_SENT, Status.CREATED, Status.INVALID, Status.CREATED])
    assert list(found.items()) == [("created", 2), ("invalid", 1), ("not_sent", 1)]


@pytest.mark.parametrize(
    ("statuses", "stopped", "interrupted", "code"),
    [
        ([Status.CREATED, Status.ALREADY_CREATED], False, False, 0),
        ([Status.VALID, Status.WOULD_CREATE], False, False, 0),
        ([], False, False, 0),
        ([Status.CREATED, Status.REJECTED], False, False, 1),
        ([Status.UNKNOWN], False, False, 1),
        ([Status.CREATED], True, False, 3),
        ([Status.CREATED], True, True, 130),
        ([Status.NOT_SENT], False, True, 130),
    ],
)
def test_exit_code_rule(
    statuses: list[Status], stopped: bool, interrupted: bool, code: int
) -> None:
    """130 interrupted, then 3 stopped early, then 1 if a row needs a person, else 0."""
    assert exit_code(statuses, stopped=stopped, interrupted=interrupted) == code


def test_keys_compare_names_as_people_do() -> None:
    """Without a campaign_key the key is owner + the name trimmed, collapsed, case-folded."""
    assert normalise_name("  ACME   Q1 - CTOs ") == "acme q1 - ctos"
    assert campaign_key("", "o-1", " Straße  X") == "o-1/strasse x"
    assert campaign_key("explicit", "o-1", "name") == "explicit"
    assert campaign_key(None, "", "name") == ""


def test_is_uuid_takes_only_the_canonical_form() -> None:
    """Lower-case hyphenated uuids only: the form every id is sent and stored in."""
    assert is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert not is_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E")
    assert not is_uuid("{0f8fad5b-d9cb-469f-a165-70867728950e}")
    assert not is_uuid("0f8fad5bd9cb469fa16570867728950e")
