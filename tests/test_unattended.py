"""Issue 10's whole story: a cron-style run configured only by `campaigns.toml` (no option
but the inputs), reading one sheet by URL from a local server and one from a drop folder,
with names instead of uuids, writes JSON logs, keeps a copy of each input and archives
the finished file; the next hour's run changes nothing and keeps no report."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from sandbox.config import DEFAULT_MEMBERS
from sandbox.server import DEFAULT_API_KEY, run_in_thread
from tests.helpers import CONTEXT_ID, STYLE_ID, csv_text
from tests.served import SECRET, Reply, Served

ANNA = next(m for m in DEFAULT_MEMBERS if m.email == "anna@example.com")
HEADER = ["campaign_name", "campaign_type", "owner", "style_id", "context_id"]


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with run_in_thread() as url:
        yield url


def job_folder(tmp_path: Path, sandbox_url: str) -> Path:
    """/etc/campaigns as a cron job would have it: the config beside the key."""
    job = tmp_path / "etc"
    job.mkdir()
    key = job / "extrovert.key"
    key.write_bytes(DEFAULT_API_KEY.encode() + b"\n")
    key.chmod(0o600)
    (job / "campaigns.toml").write_text(
        f'[api]\nbase_url = "{sandbox_url}"\napi_key_file = "extrovert.key"\nrate = 100\n'
        '[run]\nstate = "../var/state.sqlite"\nreports = "../var/reports"\n'
        'archive = "../var/done"\nlog_format = "json"\n'
        f'[names.owner]\n"Anna Adams" = "{ANNA.id}"\n'
        f'[names.style]\n"Founder voice" = "{STYLE_ID}"\n'
        f'[names.context]\n"ACME pitch" = "{CONTEXT_ID}"\n',
        encoding="utf-8",
    )
    return job


@pytest.mark.slow
def test_a_cron_run_configured_by_the_file_alone(
    tmp_path: Path, sandbox_url: str, server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No option but the inputs: the file in the working folder says everything."""
    job = job_folder(tmp_path, sandbox_url)
    shared = csv_text(
        HEADER, [["Shared sheet row", "Topic", "anna adams", "FOUNDER  VOICE", "ACME pitch"]]
    )
    url = server.serve(
        "/sheet/export", Reply(body=shared.encode(), headers={"Content-Type": "text/csv"})
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    dropped = inbox / "dropped.csv"
    dropped.write_text(
        csv_text(HEADER, [["Dropped row", "Topic", "Anna Adams", "Founder voice", "ACME pitch"]]),
        encoding="utf-8",
    )
    monkeypatch.chdir(job)  # campaigns.toml is found in the working folder

    first = CliRunner().invoke(cli, ["run", url, str(inbox)])

    assert first.exit_code == 0, first.output
    events = [json.loads(line) for line in first.stderr.splitlines()]  # JSON lines only
    rows = [e for e in events if e["event"] == "row"]
    assert [(r["source"], r["status"]) for r in rows] == [
        (url.split("?")[0], "created"),
        ("dropped.csv", "created"),
    ]
    assert all(r["campaign_key"].startswith(f"{ANNA.id}/") for r in rows)  # the name's uuid
    assert SECRET not in first.output and DEFAULT_API_KEY not in first.output
    [finished] = [e for e in events if e["event"] == "run_finished"]
    folder = Path(finished["folder"])
    assert folder.parent == (tmp_path / "var" / "reports").resolve()
    summary: dict[str, Any] = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    for item in summary["inputs"]:  # each input kept exactly as read
        copy = folder / item["copy"]
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == item["sha256"]
    assert (folder / summary["inputs"][0]["copy"]).read_bytes() == shared.encode()
    archived = (tmp_path / "var" / "done" / summary["run_id"] / "dropped.csv").resolve()
    assert not dropped.exists() and archived.is_file()  # the finished file moved
    assert SECRET not in "".join(
        p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()
    )

    # The next hour: the shared sheet again, nothing to do, nothing kept.
    second = CliRunner().invoke(cli, ["run", url])
    assert second.exit_code == 0, second.output
    statuses = [json.loads(line) for line in second.stderr.splitlines()]
    assert [e["status"] for e in statuses if e["event"] == "row"] == ["already_created"]
    reports = sorted(p.name for p in (tmp_path / "var" / "reports").iterdir() if p.is_dir())
    assert reports == [folder.name]
    with (folder / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        assert {r["status"] for r in csv.DictReader(stream)} == {"created"}
