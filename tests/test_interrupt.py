"""Ctrl-C: requests in flight finish and are recorded, the reports are written, exit 130."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pipeline.ledger import Ledger
from pipeline.timing import Timing
from sandbox.server import DEFAULT_API_KEY, SandboxConfig, run_in_thread
from tests.helpers import ROOT, numbered_sheet
from tests.sandbox_fixtures import STATS

pytestmark = pytest.mark.slow

ROWS = 40


def test_ctrl_c_finishes_in_flight_requests_writes_reports_and_exits_130(tmp_path: Path) -> None:
    """SIGINT mid-run: exit 130, every row in the report, nothing left `sending`."""
    path = numbered_sheet(tmp_path, ROWS)
    state = tmp_path / "state.sqlite"
    out = tmp_path / "out"
    environment = {**os.environ, "EXTROVERT_API_KEY": DEFAULT_API_KEY}
    environment.pop("EXTROVERT_BASE_URL", None)
    with run_in_thread(SandboxConfig(latency_ms=100)) as url, httpx.Client(base_url=url) as client:
        command = [sys.executable, "-m", "pipeline", "run", str(path), "--base-url", url]
        command += ["--state", str(state), "--out", str(out), "--rate", "10"]
        process = subprocess.Popen(
            command,
            env=environment,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while client.get(STATS).json()["created"] < 3:
            assert process.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline, "the run created nothing in 30 s"
            time.sleep(0.01)  # a real subprocess: only the wall clock can tell
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
        created = client.get(STATS).json()["created"]

    assert process.returncode == 130, stderr
    with (out / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        statuses = [row["status"] for row in csv.DictReader(stream)]
    assert len(statuses) == ROWS
    assert set(statuses) == {"created", "not_sent"}
    assert statuses.count("created") == created
    assert "Reports in" in stdout
    with Ledger.open(state, run_id="peek", timing=Timing.real(), lock=False) as ledger:
        counts = ledger.counts()
    assert counts["sending"] == 0
    assert counts["created"] == created
