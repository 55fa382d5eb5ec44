"""A rehearsal against the built-in sandbox paces at `SANDBOX_RATE` unless a rate is given.

The built-in sandbox has no rate limit, so `run --sandbox` (and `apply --sandbox`) need
not wait at the real API's 5 requests a second; a rate given on the command line, in the
environment or in the config file still rules. The pace is read from the settings the
command hands to the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline import cli
from pipeline.errors import ConfigError
from pipeline.rehearsal import SANDBOX_RATE
from pipeline.settings import SendSettings
from pipeline.template import EXAMPLE_ROWS, write_template
from tests.helpers import invoke


@pytest.fixture
def paces(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[float]:
    """The rate each run would send at (the run itself is stopped before it starts)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAMPAIGNS_API_RATE", raising=False)
    write_template(tmp_path / "plan.csv", rows=EXAMPLE_ROWS[:1])
    seen: list[float] = []

    def captured(settings: Any, quiet: bool, work: Any) -> Any:
        seen.append(settings.send.rate)
        raise ConfigError("stopped by the test")

    monkeypatch.setattr(cli, "_interruptibly", captured)
    return seen


def test_a_sandbox_rehearsal_paces_at_the_sandbox_rate(paces: list[float]) -> None:
    assert invoke("run", "--sandbox", "plan.csv").exit_code == 2
    assert paces == [SANDBOX_RATE]


def test_the_real_api_keeps_its_default_pace(
    paces: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXTROVERT_API_KEY", "k" * 24)
    assert invoke("run", "plan.csv").exit_code == 2
    assert paces == [SendSettings.rate]


@pytest.mark.parametrize(
    ("how", "extra"),
    [("option", ["--rate", "7"]), ("environment", []), ("config", [])],
)
def test_a_given_rate_rules_a_rehearsal_too(
    paces: list[float], monkeypatch: pytest.MonkeyPatch, how: str, extra: list[str]
) -> None:
    if how == "environment":
        monkeypatch.setenv("CAMPAIGNS_API_RATE", "7")
    if how == "config":
        Path("campaigns.toml").write_text("[api]\nrate = 7\n", encoding="utf-8")
    assert invoke("run", "--sandbox", "plan.csv", *extra).exit_code == 2
    assert paces == [7.0]
