"""Shared fixtures: a clean environment for every test, the sandbox app, run settings,
the example sheet, fake time (`tests/fakes.py`) and a web server serving sheets by URL
(`server`, from `tests/served.py`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from sandbox.server import SandboxConfig, create_app
from tests.fakes import FakeTiming
from tests.helpers import ROOT, SettingsFor, run_settings

pytest_plugins = ("tests.served",)


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
