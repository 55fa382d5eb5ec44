"""Shared fixtures: a clean environment for every test, the sandbox app, run settings,
the example sheet, and fake time (`tests/fakes.py`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from pipeline.settings import RunSettings, Secret, SendSettings
from sandbox.server import DEFAULT_API_KEY, SandboxConfig, create_app
from tests.fakes import FakeTiming

ROOT = Path(__file__).resolve().parents[1]
# Fast enough that pacing never matters in-process; one second before an answer is late.
FAST = SendSettings(rate=1000, concurrency=4, timeout=1.0)

SettingsFor = Callable[..., RunSettings]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's EXTROVERT_* or CAMPAIGNS_* settings."""
    for name in list(os.environ):
        if name.startswith(("EXTROVERT_", "CAMPAIGNS_")):
            monkeypatch.delenv(name)


@pytest.fixture
def fake_timing() -> FakeTiming:
    """Time that moves only when the code under test sleeps."""
    return FakeTiming()


@pytest.fixture
def app() -> Iterator[Starlette]:
    """A fresh in-process sandbox (no faults), closed after the test."""
    made = create_app(SandboxConfig())
    yield made
    made.state.sandbox.close()


def run_settings(tmp_path: Path, **changes: Any) -> RunSettings:
    """Run settings for an in-process sandbox: fast, no wait before a second look, the
    ledger in `tmp_path`; `changes` replace fields."""
    base = RunSettings(
        state=tmp_path / "state.sqlite",
        base_url="http://localhost",
        api_key=Secret(DEFAULT_API_KEY),
        send=FAST,
        recheck_delay=0.0,
    )
    return replace(base, **changes)


@pytest.fixture
def settings_for(tmp_path: Path) -> SettingsFor:
    """`settings_for(**changes)`: `run_settings` in this test's folder."""
    return lambda **changes: run_settings(tmp_path, **changes)


@pytest.fixture
def example_sheet(tmp_path: Path) -> Path:
    """The committed example sheet (input_templates/example.csv), copied into tmp_path."""
    target = tmp_path / "example.csv"
    target.write_bytes((ROOT / "input_templates" / "example.csv").read_bytes())
    return target
