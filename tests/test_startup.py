"""Start-up stays cheap: importing the command line, `--help` of every command and
`status` load none of the heavy libraries; each command imports what it needs when it
runs. Checked in fresh processes by what `sys.modules` holds, never by a clock.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import pipeline
from pipeline.cli import cli
from pipeline.ledger import Ledger
from pipeline.timing import Timing
from tests.helpers import ROOT

# What no `--help` needs: sheets (pandas, Pandera, openpyxl, numpy), HTTP (httpx,
# httpcore), the sandbox's server and contract (uvicorn, Starlette, jsonschema), the
# event loop (asyncio), the progress bar (tqdm) and the installed version's metadata.
HEAVY = (
    "pandas",
    "pandera",
    "openpyxl",
    "numpy",
    "httpx",
    "httpcore",
    "jsonschema",
    "uvicorn",
    "starlette",
    "asyncio",
    "tqdm",
    "importlib.metadata",
    "sandbox.server",
    "sandbox.contract",
    "pipeline.run",
)
# `status` reads the ledger (whose timestamps come from `Timing`, which holds asyncio's
# sleep), and nothing else of these.
HEAVY_FOR_STATUS = tuple(name for name in HEAVY if name != "asyncio")
COMMANDS = ("template", "validate", "run", "plan", "apply", "config", "status", "resolve")


def _loaded(code: str, names: tuple[str, ...], *args: str) -> list[str]:
    """Which of `names` a fresh process has imported once `code` has run."""
    script = f"import sys\n{code}\nprint('LOADED', [n for n in {names!r} if n in sys.modules])\n"
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("LOADED "), done.stdout + done.stderr
    loaded: list[str] = ast.literal_eval(last.removeprefix("LOADED "))
    return loaded


_MAIN = (
    "from pipeline.cli import cli\n"
    "try:\n"
    "    cli.main(sys.argv[1:], prog_name='campaigns')\n"
    "except SystemExit as done:\n"
    "    assert done.code in (0, None), done.code\n"
)


@pytest.mark.slow
def test_importing_the_cli_loads_nothing_heavy() -> None:
    assert _loaded("import pipeline.cli", HEAVY) == []


@pytest.mark.slow
@pytest.mark.parametrize("command", ["", "sandbox", *COMMANDS])
def test_help_loads_nothing_heavy(command: str) -> None:
    """`campaigns --help` and each command's `--help`."""
    argv = [command, "--help"] if command else ["--help"]
    assert _loaded(_MAIN, HEAVY, *argv) == []


@pytest.mark.slow
def test_status_loads_nothing_heavy(tmp_path: Path) -> None:
    Ledger.open(tmp_path / "state.sqlite", run_id="t", timing=Timing.real()).close()
    argv = ["status", "--state", str(tmp_path / "state.sqlite")]
    assert _loaded(_MAIN, HEAVY_FOR_STATUS, *argv) == []


def test_the_version_is_read_when_asked() -> None:
    """`pipeline.__version__` (and `--version`) still name the installed version, read
    on first use rather than by `import pipeline`."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("campaigns")
    except PackageNotFoundError:  # pragma: no cover - a tree that was never installed
        installed = "0+unknown"
    assert pipeline.__version__ == installed
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip().endswith(f", version {installed}")


def test_a_command_collects_garbage_less_often_and_never_at_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`campaigns` raises the collector's first threshold for the command (importing
    pandas and the rest would run it hundreds of times) and freezes what is left when
    the command is over, so the exit does not walk it again."""
    import gc

    from pipeline import cli as command_line

    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr(command_line, "cli", lambda **_: seen.append(gc.get_threshold()))
    before = gc.get_threshold()
    try:
        command_line.main()
        frozen = gc.get_freeze_count()
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
    assert seen == [(command_line.GC_FIRST_THRESHOLD, *before[1:])]
    assert frozen > 0
