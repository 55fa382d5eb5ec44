"""The layout is pinned: who may import what, who may touch the process, and the map.

Read from the source with `ast` (nothing is imported): the offline modules import nothing
of the online half or the reporters; only `client` imports httpx; only `cli` imports
click, reads the environment, installs signal handlers, configures logging or exits; the
map in `pipeline/__init__.py` names every module; the errors are a drawn tree of leaves.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import pipeline
from pipeline import errors

PACKAGE = Path(pipeline.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))
# sheet -> rows -> desired state: pure, no network, no ledger, no report files.
OFFLINE = (
    "load",
    "sheetxml",
    "refeed",
    "parse",
    "validate",
    "map",
    "changes",
    "guard",
    "model",
    "settings",
    "config",
    "errors",
    "logs",
    "filenames",
    "linkedin",
    "prospects",
)
ONLINE = (
    "client",
    "inputs",
    "send",
    "ledger",
    "session",
    "execute",
    "lists",
    "plan",
    "lookups",
    "remote",
    "operations",
    "stop",
    "status",
    "timing",
    "rehearsal",
)
REPORTERS = ("report", "xlsx", "folders", "archive", "progress")


def tree(module: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))


def imported(module: str) -> set[str]:
    """Every module name `module` imports, at any depth of its code."""
    names: set[str] = set()
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def attribute_uses(module: str) -> Iterator[str]:
    """Dotted names used in `module` (`os.environ`, `signal.signal`, `sys.exit`...)."""
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            yield f"{node.value.id}.{node.attr}"


def test_every_module_is_in_one_group() -> None:
    """Each module of pipeline/ is offline, online, a reporter or an entry point."""
    entry = {"__init__", "__main__", "cli", "run", "template"}
    grouped = set(OFFLINE) | set(ONLINE) | set(REPORTERS) | entry
    assert set(MODULES) == grouped


@pytest.mark.parametrize("module", OFFLINE)
def test_offline_modules_import_nothing_online_or_reporting(module: str) -> None:
    """An offline module imports neither the online half nor the reporters (nor httpx)."""
    forbidden = {f"pipeline.{name}" for name in (*ONLINE, *REPORTERS)} | {"httpx", "asyncio"}
    assert imported(module) & forbidden == set()


@pytest.mark.parametrize("module", [m for m in MODULES if m != "client"])
def test_only_the_client_imports_httpx(module: str) -> None:
    """httpx is the client's alone: the rest speaks in Operation and Answer."""
    assert not any(name == "httpx" or name.startswith("httpx.") for name in imported(module))


@pytest.mark.parametrize("module", [m for m in MODULES if m != "cli"])
def test_only_the_cli_touches_the_process(module: str) -> None:
    """No module but cli imports click, reads os.environ, installs signal handlers,
    configures logging or exits; a module may log through `logging.getLogger(__name__)`."""
    names = imported(module)
    assert not any(n == "click" or n.startswith("click.") for n in names)
    assert not any(n == "signal" or n.startswith("signal.") for n in names)
    assert names & {"os.environ", "os.getenv", "sys.exit", "logging.config"} == set()
    uses = set(attribute_uses(module))
    forbidden = {"os.environ", "os.getenv", "sys.exit", "logging.basicConfig"}
    assert uses & forbidden == set()
    assert not any(
        isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Name | ast.Call)
        and "SystemExit" in ast.dump(node.exc)
        for node in ast.walk(tree(module))
    )
    assert not any(use.startswith("signal.") for use in uses)
    source = (PACKAGE / f"{module}.py").read_text(encoding="utf-8")
    assert ".setLevel(" not in source
    assert ".addHandler(" not in source and "captureWarnings(" not in source
    assert "getLogger(" not in source.replace("logging.getLogger(__name__)", "")


@pytest.mark.parametrize("module", [m for m in MODULES if m != "timing"])
def test_time_is_read_only_through_timing(module: str) -> None:
    """No clock, sleep or random outside timing.py: everything else takes a Timing."""
    clocks = {"time.monotonic", "time.time", "time.perf_counter", "asyncio.sleep", "time.sleep"}
    uses = set(attribute_uses(module))
    assert uses & clocks == set()
    assert imported(module) & clocks == set()  # `from time import monotonic` too
    assert not any(use.startswith("random.") and use != "random.Random" for use in uses)
    source = (PACKAGE / f"{module}.py").read_text(encoding="utf-8")
    assert "datetime.now" not in source and "dt.datetime.now" not in source


def test_the_map_names_every_module() -> None:
    """pipeline/__init__.py's map names every module of the package, and no other."""
    doc = pipeline.__doc__ or ""
    named = set(re.findall(r"(?:\.\.\. |\s{3,})(_{0,2}[a-z]+_{0,2})\s{2,}", doc))
    modules = set(MODULES) - {"__init__"}
    assert modules <= named, f"missing from the map: {sorted(modules - named)}"
    assert named <= modules, f"the map names modules that do not exist: {sorted(named - modules)}"


def test_every_public_name_loads() -> None:
    """Every name in pipeline.__all__ resolves (the lazy table points at real homes)."""
    for name in pipeline.__all__:
        assert getattr(pipeline, name) is not None


def test_every_error_is_drawn_in_the_tree() -> None:
    """errors.py's docstring draws every PipelineError subclass it defines."""
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__ or ""))
    defined = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.PipelineError)
    }
    assert defined - {"PipelineError"} == drawn


def test_no_bare_pipeline_error_is_raised() -> None:
    """Every raise names a leaf of the tree: no `PipelineError(` outside errors.py."""
    for module in MODULES:
        if module == "errors":
            continue
        for node in ast.walk(tree(module)):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                called = node.exc.func
                name = called.id if isinstance(called, ast.Name) else ""
                assert name != "PipelineError", f"pipeline/{module}.py raises PipelineError"


def test_no_status_literal_outside_the_model() -> None:
    """Statuses are said with `Status`: no status text as a string literal elsewhere."""
    from pipeline.model import Status

    texts = {status.value for status in Status}
    for module in MODULES:
        if module == "model":
            continue
        for node in ast.walk(tree(module)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in texts, f"pipeline/{module}.py says {node.value!r}"


def test_no_test_module_imports_another() -> None:
    """Test modules share through fixtures and fakes, helpers and sandbox_fixtures; none
    imports another test module or conftest (pytest loads that itself)."""
    tests = Path(__file__).parent
    for path in tests.glob("test_*.py"):
        source = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(source):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                assert not name.startswith(("tests.test_", "tests.conftest")), path.name
