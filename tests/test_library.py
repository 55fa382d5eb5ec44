"""The library on its own: one import, sync and async entry points, results as data,
settings checked when built, no process-wide side effects, and a fast start."""

from __future__ import annotations

import asyncio
import csv
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

import pipeline
from pipeline.errors import ConfigError, RowsNeedAttention
from pipeline.ledger import Ledger
from pipeline.load import load, load_bytes
from pipeline.model import Status
from pipeline.settings import Options, RunSettings, Secret, SendSettings
from pipeline.template import EXAMPLE_ROWS, write_template
from pipeline.timing import Timing
from sandbox.server import DEFAULT_API_KEY
from tests.fakes import FakeTiming
from tests.helpers import PROSPECTS_ROW, ROOT, SettingsFor, rows_csv

HEAVY = ("pandas", "pandera", "openpyxl")


def results_csv(folder: Path) -> list[dict[str, str]]:
    with (folder / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def test_run_files_async_is_awaited_inside_a_running_loop(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """A coroutine (a notebook cell) awaits run_files_async in its own loop: rows created."""
    path = write_template(tmp_path / "campaigns.csv", rows=EXAMPLE_ROWS)

    async def cell() -> pipeline.RunResult:
        asyncio.get_running_loop()  # this is a running loop, as in a notebook
        return await pipeline.run_files_async(
            Options(paths=(path,), out=tmp_path / "out"),
            settings_for(),
            transport=httpx.ASGITransport(app=app),
            timing=FakeTiming().timing,
        )

    result = asyncio.run(cell())

    assert result.counts == {"created": len(EXAMPLE_ROWS)}
    assert app.state.sandbox.stats.created == len(EXAMPLE_ROWS)


def test_result_rows_are_what_results_csv_shows(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """RunResult.rows holds one record per row with the values results.csv writes."""
    bad = {**EXAMPLE_ROWS[0], "campaign_key": "bad", "min_post_likes": "lots"}
    path = write_template(tmp_path / "campaigns.csv", rows=[*EXAMPLE_ROWS, bad])

    result = pipeline.run_files(
        Options(paths=(path,), out=tmp_path / "out"),
        settings_for(),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
    )

    lines = results_csv(tmp_path / "out")
    assert len(result.rows) == len(lines) == len(EXAMPLE_ROWS) + 1
    for record, line in zip(result.rows, lines, strict=True):
        assert (record.source, record.row, record.campaign_key) == (
            line["source"],
            int(line["row"]),
            line["campaign_key"],
        )
        assert (record.status.value, record.campaign_id) == (line["status"], line["campaign_id"])
        assert " | ".join(record.errors) == line["errors"]
    assert [r.campaign_key for r in result.attention] == ["bad"]
    assert result.attention[0].status is Status.INVALID


def test_raise_for_status_raises_only_when_asked_and_only_for_unfinished_rows(
    tmp_path: Path,
) -> None:
    """Rows needing a person are data; raise_for_status turns them into an error (exit 1)."""
    clean = rows_csv(tmp_path / "clean.csv", [PROSPECTS_ROW])
    dirty = rows_csv(tmp_path / "dirty.csv", [{**PROSPECTS_ROW, "min_post_likes": "many"}])

    good = pipeline.validate_files(Options(paths=(clean,), out=tmp_path / "a"))
    bad = pipeline.validate_files(Options(paths=(dirty,), out=tmp_path / "b"))

    assert good.raise_for_status() is good
    assert bad.exit_code == 1
    with pytest.raises(RowsNeedAttention) as raised:
        bad.raise_for_status()
    assert raised.value.exit_code == 1
    assert "1 row(s) need a person" in str(raised.value)
    assert str(tmp_path / "b" / "failed.csv") in str(raised.value)


def test_running_leaves_signal_handlers_and_logging_as_they_were(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """A library run changes no SIGINT handler and no logger level."""
    import logging

    before = signal.getsignal(signal.SIGINT)
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "")}
    path = write_template(tmp_path / "campaigns.csv", rows=EXAMPLE_ROWS[:1])

    pipeline.run_files(
        Options(paths=(path,), out=tmp_path / "out"),
        settings_for(),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
    )

    assert signal.getsignal(signal.SIGINT) is before
    assert {name: logging.getLogger(name).level for name in levels} == levels


def test_an_interrupt_given_before_the_run_reports_every_row_not_sent(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """Interrupt.set() from the caller stops the run: nothing sent, every row reported, 130."""
    path = write_template(tmp_path / "campaigns.csv", rows=EXAMPLE_ROWS)
    interrupt = pipeline.Interrupt()
    interrupt.set()

    result = pipeline.run_files(
        Options(paths=(path,), out=tmp_path / "out"),
        settings_for(),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
        interrupt=interrupt,
    )

    assert result.exit_code == 130
    assert result.counts == {"not_sent": len(EXAMPLE_ROWS)}
    assert app.state.sandbox.stats.created == 0
    assert len(results_csv(tmp_path / "out")) == len(EXAMPLE_ROWS)


def test_load_bytes_reads_an_upload_as_the_file_would_be_read(tmp_path: Path) -> None:
    """load_bytes(data, name) gives the same table as loading the file of that name."""
    for name in ("example.csv", "example.xlsx"):
        path = ROOT / "input_templates" / name
        from_file = load([path])[0]  # the campaign rows; example.xlsx has prospects too
        from_bytes = load_bytes(path.read_bytes(), name)
        assert from_bytes.frame.equals(from_file.frame)
        assert (from_bytes.sha256, from_bytes.sheet, from_bytes.source) == (
            from_file.sha256,
            from_file.sheet,
            name,
        )


def test_load_bytes_refuses_a_name_that_is_no_spreadsheet() -> None:
    """An upload named .txt is an InputError naming it, not a guess."""
    with pytest.raises(pipeline.InputError, match=r"notes\.txt: not a spreadsheet"):
        load_bytes(b"a,b\n", "notes.txt")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate", 0),
        ("rate", -1.0),
        ("concurrency", 0),
        ("timeout", 0),
        ("max_attempts", 0),
        ("max_consecutive_errors", 0),
        ("time_budget", 0),
        ("backoff_initial", -0.1),
    ],
)
def test_send_settings_that_cannot_work_are_refused_when_built(field: str, value: float) -> None:
    """SendSettings checks itself: a value that cannot work is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=rf"^{field} = "):
        SendSettings(**{field: value})


def test_rate_zero_is_refused_before_anything_is_read_or_sent(tmp_path: Path) -> None:
    """rate=0 used to end as 'unexpected error: ZeroDivisionError' with a row unknown; now
    it is a ConfigError when the settings are built, so no run starts at all."""
    with pytest.raises(ConfigError, match="rate = 0 cannot work"):
        RunSettings(
            state=tmp_path / "state.sqlite",
            base_url="http://localhost",
            api_key=Secret(DEFAULT_API_KEY),
            send=SendSettings(rate=0),
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"state": Path("")}, "the ledger path"),
        ({"base_url": "ftp://example.com"}, "is not an http(s) URL"),
        ({"base_url": "http://example.com"}, "must use https"),
        ({"api_key": None}, "no API key"),
        ({"recheck_delay": -1.0}, "recheck_delay"),
        ({"resolve_rounds": -1}, "resolve_rounds"),
    ],
)
def test_run_settings_that_cannot_work_are_refused_when_built(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    """RunSettings checks the ledger path, the base URL, the key and its own numbers."""
    given: dict[str, object] = {
        "state": tmp_path / "state.sqlite",
        "base_url": "https://api.example.com/",
        "api_key": Secret("k"),
        **changes,
    }
    with pytest.raises(ConfigError, match=re.escape(message)):
        RunSettings(**given)  # type: ignore[arg-type]


def test_run_settings_normalise_the_base_url_and_allow_a_keyless_dry_run(tmp_path: Path) -> None:
    """The base URL loses its trailing slash; a dry run needs no key."""
    settings = RunSettings(
        state=tmp_path / "s.sqlite", base_url="https://api.example.com/", api_key=None, dry_run=True
    )
    assert settings.base_url == "https://api.example.com"


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"paths": ()}, "no input"), ({"max_rows": 0}, "max_rows")],
)
def test_options_that_cannot_work_are_refused_when_built(
    changes: dict[str, object], message: str
) -> None:
    """Options needs at least one input and a positive row limit."""
    given: dict[str, object] = {"paths": (Path("a.csv"),), **changes}
    with pytest.raises(ConfigError, match=message):
        Options(**given)  # type: ignore[arg-type]


def test_real_timing_reads_real_clocks() -> None:
    """Timing.real() is production's: an aware UTC now and a moving monotonic clock."""
    timing = Timing.real()
    assert timing.now().utcoffset() is not None
    first = timing.monotonic()
    asyncio.run(timing.sleep(0.01))
    assert timing.monotonic() > first


def _python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.slow
def test_import_pipeline_changes_no_logger_and_loads_nothing_heavy() -> None:
    """In a fresh process, `import pipeline` (and its modules) leaves httpx's logger
    level alone, and the package itself imports none of pandas, Pandera, openpyxl."""
    out = _python(
        "import logging, sys; import pipeline; "
        "heavy = [m for m in ('pandas', 'pandera', 'openpyxl') if m in sys.modules]; "
        "import pipeline.run, pipeline.client, pipeline.send; "
        "print(logging.getLogger('httpx').level, logging.getLogger('httpcore').level, heavy)"
    )
    assert out == "0 0 []"


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [["--help"], ["run", "--help"], ["status", "--help"], ["sandbox", "--help"], ["status"]],
    ids=" ".join,
)
def test_fast_commands_import_no_pandas(tmp_path: Path, argv: list[str]) -> None:
    """`campaigns --help`, `status` and `sandbox` start without pandas, Pandera, openpyxl."""
    if argv == ["status"]:
        Ledger.open(tmp_path / "state.sqlite", run_id="t", timing=Timing.real()).close()
        argv = ["status", "--state", str(tmp_path / "state.sqlite")]
    code = (
        "import sys\n"
        "from pipeline.cli import cli\n"
        "try:\n"
        "    cli.main(sys.argv[1:], prog_name='campaigns')\n"
        "except SystemExit as done:\n"
        "    code = done.code\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY', code, heavy)\n"
    )
    out = _python(code, *argv)
    assert out.splitlines()[-1] == "HEAVY 0 []"


@pytest.mark.slow
def test_the_readmes_python_example_runs(tmp_path: Path) -> None:
    """The README's "Use from Python" block runs as written, twice, from a copy of this
    folder: the first run creates the example's campaigns, the second creates nothing."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use from Python", 1)[1]
    [code] = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    (tmp_path / "input_templates").mkdir()
    example = ROOT / "input_templates" / "example.csv"
    (tmp_path / "input_templates" / "example.csv").write_bytes(example.read_bytes())

    def example() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    first, second = example(), example()  # run twice, as a user would

    assert first[0] == second[0] == "{'valid': 5}"
    assert len(first) == 6 and all(" created " in line for line in first[1:])
    assert len(second) == 6 and all(" already_created " in line for line in second[1:])


def test_an_interrupt_mid_run_lets_sent_rows_finish_and_reports_the_rest(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """Interrupt.set() while rows are being sent: what was sent is recorded, the rest is
    not_sent, exit 130, and the ledger holds nothing `sending`."""
    path = write_template(tmp_path / "campaigns.csv", rows=EXAMPLE_ROWS)
    interrupt = pipeline.Interrupt()

    class InterruptAfterFirst:
        def start(self, total: int) -> None:
            pass

        def advance(self, status: Status, position: int) -> None:
            interrupt.set()  # as a signal handler would, once the first row is settled

    result = pipeline.run_files(
        Options(paths=(path,), out=tmp_path / "out"),
        settings_for(send=SendSettings(rate=1000, concurrency=1, timeout=1.0)),
        progress=InterruptAfterFirst(),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
        interrupt=interrupt,
    )

    assert result.exit_code == 130
    created = result.counts.get("created", 0)
    assert created >= 1
    assert result.counts == {"created": created, "not_sent": len(EXAMPLE_ROWS) - created}
    assert app.state.sandbox.stats.created == created
    with Ledger.open(tmp_path / "state.sqlite", run_id="peek", timing=Timing.real()) as ledger:
        assert ledger.counts()["sending"] == 0
