"""A large report is written by two processes at once, and says the same as one process.

`write_reports` forks a child for its longest file (payloads.jsonl, else results.xlsx)
when a report has `PARALLEL_ROWS` rows or more. Here the threshold is lowered so that a
small sheet takes that path: the files must be the same bytes as those one process
writes, a full disk in the child must name its file, and a child that dies without a
word must not cost the file (this process writes it).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline import report
from pipeline.errors import ConfigError
from pipeline.run import RunResult, validate_files
from pipeline.settings import Options
from pipeline.template import EXAMPLE_ROWS
from tests.helpers import rows_csv

# Every file but results.xlsx, whose zip entries carry the time they were written.
SAME_BYTES = ("results.csv", "failed.csv", "succeeded.csv", "payloads.jsonl")


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    """Forty rows: the example's, renamed, and one in ten invalid."""
    rows = []
    for number in range(40):
        row = dict(EXAMPLE_ROWS[number % len(EXAMPLE_ROWS)])
        row["campaign_key"] = f"key-{number}"
        row["campaign_name"] = f"{row['campaign_name']} {number}"
        if number % 10 == 9:
            row["min_post_likes"] = "lots"
        rows.append(row)
    return rows_csv(tmp_path / "sheet.csv", rows)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fork as if this process had one thread: threads that earlier tests leave behind
    on this worker (tqdm's monitor of a progress bar) would keep the child from being
    forked. (`test_no_fork_while_another_thread_runs` checks that rule itself.)"""
    monkeypatch.setattr(report.threading, "active_count", lambda: 1)


def validate_into(sheet: Path, out: Path) -> RunResult:
    return validate_files(Options(paths=(sheet,), out=out))


def cells(path: Path) -> dict[str, list[list[Any]]]:
    workbook = openpyxl.load_workbook(path)
    return {
        name: [[cell.value for cell in row] for row in workbook[name].iter_rows()]
        for name in workbook.sheetnames
        if name != "summary"  # its times differ run to run
    }


def test_two_processes_write_what_one_writes(
    sheet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same files, byte for byte (results.xlsx cell for cell), and the child's file
    is really written by another process."""
    alone = validate_into(sheet, tmp_path / "alone")
    writers: list[int] = []
    write_payloads = report._write_payloads

    def recording(*args: Any) -> None:
        writers.append(os.getpid())
        (tmp_path / "writer").write_text(str(os.getpid()))
        write_payloads(*args)

    monkeypatch.setattr(report, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(report, "_write_payloads", recording)
    apart = validate_into(sheet, tmp_path / "apart")

    assert writers == []  # not called in this process
    assert int((tmp_path / "writer").read_text()) != os.getpid()
    assert apart.counts == alone.counts == {"valid": 36, "invalid": 4}
    for name in SAME_BYTES:
        assert (apart.folder / name).read_bytes() == (alone.folder / name).read_bytes(), name
    assert cells(apart.folder / "results.xlsx") == cells(alone.folder / "results.xlsx")


def test_the_child_takes_the_longest_files() -> None:
    """payloads.jsonl (with the prospect files, when there are some) where there is one;
    else (a run) results.xlsx."""
    writers = [("results.csv", lambda: None), ("results.xlsx", lambda: None)]
    prospects = [("prospects.csv", lambda: None), ("failed-prospects.csv", lambda: None)]
    assert report._beside(writers) == {"results.xlsx"}
    assert report._beside([*writers, *prospects]) == {"results.xlsx"}
    payloads = [*writers, ("payloads.jsonl", lambda: None)]
    assert report._beside(payloads) == {"payloads.jsonl"}
    assert report._beside([*payloads, *prospects]) == {
        "payloads.jsonl",
        "prospects.csv",
        "failed-prospects.csv",
    }


def test_a_full_disk_in_the_child_names_its_file(
    sheet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child's OSError comes back to this process: the run stops with the message
    naming the missing file, and the other files are written."""

    def full(*args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(report, "_write_payloads", full)
    with pytest.raises(ConfigError) as raised:
        validate_into(sheet, tmp_path / "out")
    message = str(raised.value)
    assert "(payloads.jsonl missing)" in message
    assert "No space left on device" in message
    assert (tmp_path / "out" / "results.xlsx").exists()
    assert not (tmp_path / "out" / "payloads.jsonl").exists()


def test_full_disks_in_both_processes_are_named_in_writing_order(
    sheet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(report, "_write_payloads", full)
    monkeypatch.setattr(report, "_write_xlsx", full)
    with pytest.raises(ConfigError) as raised:
        validate_into(sheet, tmp_path / "out")
    assert "(results.xlsx, payloads.jsonl missing)" in str(raised.value)


def test_a_child_that_dies_without_a_word_costs_no_file(
    sheet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child is only a way to save time: when it ends without saying how its write
    went, this process writes that file itself."""
    alone = validate_into(sheet, tmp_path / "alone")
    parent = os.getpid()
    write_payloads = report._write_payloads

    def dies_in_child(*args: Any) -> None:
        if os.getpid() != parent:
            os._exit(3)
        write_payloads(*args)

    monkeypatch.setattr(report, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(report, "_write_payloads", dies_in_child)
    apart = validate_into(sheet, tmp_path / "apart")
    written = (apart.folder / "payloads.jsonl").read_bytes()
    assert written == (alone.folder / "payloads.jsonl").read_bytes()
    assert len(written.splitlines()) == 36
    assert json.loads(written.splitlines()[0])["campaign_key"] == "key-0"


def test_no_fork_while_another_thread_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child forked beside another thread could inherit a lock that thread holds: with
    threads about, one process writes every file."""
    writers = [("results.xlsx", lambda: None)]
    monkeypatch.setattr(report.threading, "active_count", lambda: 2)
    assert report._beside(writers) == frozenset()


def test_prospect_files_written_apart_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With prospect rows, the child writes payloads.jsonl and the prospect files: the
    same bytes as one process writes."""
    example = Path(__file__).parents[1] / "input_templates" / "example.xlsx"
    alone = validate_into(example, tmp_path / "alone")
    monkeypatch.setattr(report, "PARALLEL_ROWS", 1)
    apart = validate_into(example, tmp_path / "apart")
    assert apart.prospect_counts == alone.prospect_counts == {"valid": 10}
    for name in ("payloads.jsonl", "prospects.csv", "results.csv"):
        assert (apart.folder / name).read_bytes() == (alone.folder / name).read_bytes(), name
    assert cells(apart.folder / "results.xlsx") == cells(alone.folder / "results.xlsx")


def test_a_fork_that_fails_leaves_one_process_to_write_everything(
    sheet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No child (the process table is full): every file is written here, as usual."""

    def no_fork() -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    alone = validate_into(sheet, tmp_path / "alone")
    monkeypatch.setattr(report, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(report.os, "fork", no_fork)
    here = validate_into(sheet, tmp_path / "here")
    for name in SAME_BYTES:
        assert (here.folder / name).read_bytes() == (alone.folder / name).read_bytes(), name
