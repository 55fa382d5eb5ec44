"""`campaigns.toml`: where settings come from, every way a config file can be wrong, and
`campaigns config`, which shows the settings a run would use and the source of each."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pipeline.cli import cli
from pipeline.config import read_config
from sandbox.server import DEFAULT_API_KEY, run_in_thread
from tests.helpers import ROOT

EXAMPLE = ROOT / "input_templates" / "example.csv"
STYLE = "8d256aa6-9b12-49a7-93ee-bf41634b5b60"
OTHER = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def settings(result: Result) -> dict[str, tuple[str, str]]:
    """`campaigns config`'s lines as {key: (value, source)}."""
    assert result.exit_code == 0, result.output
    found: dict[str, tuple[str, str]] = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^(\w+) = (.+?)  # (.+)$", line)
        if match:
            found[match.group(1)] = (match.group(2), match.group(3))
    return found


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- precedence: option, environment, file, default ------------------------------------


def test_each_source_beats_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An option beats the environment, which beats the file, which beats the default."""
    config = write(
        tmp_path / "campaigns.toml",
        "[api]\nrate = 2\nconcurrency = 3\ntimeout = 7\n",
    )
    monkeypatch.chdir(tmp_path)
    env = {"CAMPAIGNS_API_CONCURRENCY": "6", "CAMPAIGNS_API_TIMEOUT": "8"}
    shown = settings(invoke("config", "--timeout", "9", env=env))
    assert shown["timeout"] == ("9.0", "option --timeout")
    assert shown["concurrency"] == ("6", "environment CAMPAIGNS_API_CONCURRENCY")
    assert shown["rate"] == ("2.0", f"file {config} line 2")
    assert shown["max_attempts"] == ("5", "default")


def test_campaigns_config_variable_and_option_name_the_file(tmp_path: Path) -> None:
    """CAMPAIGNS_CONFIG names the file; --config beats it."""
    by_variable = write(tmp_path / "a.toml", "[run]\nmax_rows = 7\n")
    by_option = write(tmp_path / "b.toml", "[run]\nmax_rows = 8\n")
    shown = settings(invoke("config", env={"CAMPAIGNS_CONFIG": str(by_variable)}))
    assert shown["max_rows"] == ("7", f"file {by_variable} line 2")
    shown = settings(
        invoke("config", "--config", by_option, env={"CAMPAIGNS_CONFIG": str(by_variable)})
    )
    assert shown["max_rows"] == ("8", f"file {by_option} line 2")


def test_no_config_file_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without any config file every setting is the built-in default."""
    monkeypatch.chdir(tmp_path)
    result = invoke("config")
    assert result.stdout.startswith("# no config file")
    assert settings(result)["rate"] == ("5.0", "default")


def test_relative_paths_are_relative_to_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paths in the file are relative to its folder, not to the working folder."""
    folder = tmp_path / "etc" / "campaigns"
    write(
        folder / "campaigns.toml",
        '[api]\napi_key_file = "key.txt"\n[run]\nstate = "state/ledger.sqlite"\n'
        'reports = "../reports"\n',
    )
    elsewhere = tmp_path / "cron-home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    shown = settings(invoke("config", "--config", folder / "campaigns.toml"))
    assert shown["api_key_file"][0] == f'"{folder / "key.txt"}"'
    assert shown["state"][0] == f'"{folder / "state" / "ledger.sqlite"}"'
    assert shown["reports"][0] == f'"{tmp_path / "etc" / "reports"}"'


def test_the_key_is_shown_only_as_set_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`campaigns config` says whether a key is set, never the key."""
    monkeypatch.chdir(tmp_path)
    canary = "canary-key-1234567890"
    result = invoke("config", env={"EXTROVERT_API_KEY": canary})
    assert "# api_key: set (from EXTROVERT_API_KEY)" in result.stdout
    assert canary not in result.output
    assert "# api_key: not set" in invoke("config").stdout


# --- a whole cron-style run configured by the file ---------------------------------------


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with run_in_thread() as url:
        yield url


@pytest.mark.slow
def test_a_run_configured_only_by_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_url: str
) -> None:
    """A run with nothing but --config and the input: key file (Notepad's BOM and CRLF), URL,
    ledger and reports all from the file."""
    folder = tmp_path / "job"
    key = folder / "key.txt"
    key.parent.mkdir()
    key.write_bytes(b"\xef\xbb\xbf" + DEFAULT_API_KEY.encode() + b"\r\n")  # Notepad's way
    key.chmod(0o600)
    write(
        folder / "campaigns.toml",
        f'[api]\nbase_url = "{sandbox_url}"\napi_key_file = "key.txt"\nrate = 50\n'
        '[run]\nreports = "reports"\n',
    )
    monkeypatch.chdir(tmp_path)  # cron's working folder is not the config's
    result = invoke("run", "--config", folder / "campaigns.toml", EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "5 created" in result.stdout
    assert (folder / "reports" / "state.sqlite").is_file()  # the ledger follows `reports`
    [run_folder] = [p for p in (folder / "reports").iterdir() if p.is_dir()]
    assert (run_folder / "results.csv").is_file()
    assert "Warning" not in result.stderr
    again = invoke("run", "--config", folder / "campaigns.toml", EXAMPLE)
    assert "5 already_created" in again.stdout


@pytest.mark.slow
def test_a_key_file_others_can_read_gets_a_warning(tmp_path: Path, sandbox_url: str) -> None:
    """A key file readable by others gets a warning naming it and `chmod 600`; a private
    one none."""
    key = tmp_path / "key.txt"
    key.write_text(DEFAULT_API_KEY + "\n", encoding="utf-8")
    common = ["--dry-run", "--base-url", sandbox_url, "--state", tmp_path / "s.sqlite"]
    key.chmod(0o644)
    result = invoke("run", EXAMPLE, "--api-key-file", key, *common, "--out", tmp_path / "o1")
    assert result.exit_code == 0, result.output
    assert f"the key file {key} can be read by other users" in result.stderr
    assert f"chmod 600 {key}" in result.stderr
    key.chmod(0o600)
    result = invoke("run", EXAMPLE, "--api-key-file", key, *common, "--out", tmp_path / "o2")
    assert result.exit_code == 0, result.output
    assert "can be read by other users" not in result.stderr


def test_a_sandbox_rehearsal_never_uses_the_configured_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--sandbox keeps its own ledger even when the config names the real one."""
    write(tmp_path / "campaigns.toml", '[run]\nstate = "real.sqlite"\n')
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "--sandbox", EXAMPLE, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "real.sqlite").exists()
    assert (tmp_path / "reports" / "sandbox-state.sqlite").exists()


# --- every way the file can be wrong: exit 2, one line naming file, line and key ---------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[api]\nrte = 3\n", "line 2: [api] rte is not a known setting (did you mean rate?)"),
        ("[apii]\nrate = 3\n", "line 1: [apii] is not a known section (did you mean api?)"),
        ('[run]\nmax_rows = "5"\n', '[run] max_rows = "5" must be a whole number'),
        ("[api]\nconcurrency = 0\n", "[api] concurrency = 0 must be at least 1"),
        ('[run]\nlog_format = "xml"\n', '[run] log_format = "xml" must be "text" or "json"'),
        ("[prospects]\nmove_own_duplicated = 1\n", "must be true or false"),
        ('[api]\nbase_url = "http://example.com"\n', "must use https"),
        (f'[names.style]\n"Founder voice" = "{STYLE[:-1]}"\n', "is not a uuid"),
        (
            f'[names.style]\n"A b" = "{STYLE}"\n"a  B" = "{OTHER}"\n',
            "line 3: [names.style] a  B = ",
        ),
        (f'[names.colour]\nx = "{STYLE}"\n', "[names.colour] is not a known section"),
        ('[defaults]\nmin_post_likes = "lots"\n', 'line 2: [defaults] min_post_likes = "lots"'),
        ("[defaults]\nmin_post_like = 3\n", "is not a column (did you mean min_post_likes?)"),
        ('[api]\napi_key = "secret-canary"\n', "[api] api_key is not read from a config file"),
        ('api_key = "secret-canary"\n', "line 1: api_key is not read from a config file"),
        ("[api\nrate = 3\n", "not valid TOML"),
    ],
)
def test_a_bad_config_is_exit_2_naming_file_line_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    """Every mistake in the file: exit 2, one line naming the file, the line and the key, for
    any command."""
    config = write(tmp_path / "campaigns.toml", text)
    for command in (["config"], ["validate", str(EXAMPLE)], ["status"]):
        result = invoke(*command, "--config", config)
        assert result.exit_code == 2, result.output
        first = result.stderr.splitlines()[0]
        assert first.startswith(f"Error: {config}"), first
        assert message in first, first
        assert "Traceback" not in result.output and "secret-canary" not in result.output


def test_an_api_key_entry_says_to_use_a_key_file(tmp_path: Path) -> None:
    """An api_key entry points at api_key_file and EXTROVERT_API_KEY."""
    config = write(tmp_path / "campaigns.toml", '[api]\napi_key = "x"\n')
    result = invoke("config", "--config", config)
    assert "api_key_file" in result.stderr and "EXTROVERT_API_KEY" in result.stderr


def test_a_missing_config_file_is_exit_2(tmp_path: Path) -> None:
    """A --config file that does not exist is exit 2 naming it."""
    result = invoke("config", "--config", tmp_path / "nope.toml")
    assert result.exit_code == 2
    assert "nope.toml: no such file" in result.stderr


def test_config_defaults_fill_empty_cells_and_lose_to_filled_ones(tmp_path: Path) -> None:
    """[defaults] fill empty cells; a filled cell wins."""
    sheet = write(
        tmp_path / "sheet.csv",
        "campaign_name,campaign_type,owner,style_id,context_id,min_post_likes\n"
        f"Empty,Topic,anna@example.com,{STYLE},{STYLE},\n"
        f"Filled,Topic,anna@example.com,{STYLE},{STYLE},5\n",
    )
    config = write(tmp_path / "c.toml", "[defaults]\nmin_post_likes = 77\n")
    out = tmp_path / "out"
    result = invoke("validate", "--config", config, sheet, "--out", out)
    assert result.exit_code == 0, result.output
    lines = (out / "payloads.jsonl").read_text(encoding="utf-8").splitlines()
    likes = [json.loads(line)["payload"]["postActivityFilter"]["minPostLikes"] for line in lines]
    assert likes == [77, 5]


def test_environment_defaults_override_the_file(tmp_path: Path) -> None:
    """CAMPAIGNS_DEFAULTS_<COLUMN> beats the file's [defaults]."""
    config = write(tmp_path / "c.toml", "[defaults]\nmin_post_likes = 77\n")
    env = {"CAMPAIGNS_DEFAULTS_MIN_POST_LIKES": "88"}
    shown = invoke("config", "--config", config, env=env).stdout
    assert 'min_post_likes = "88"  # environment CAMPAIGNS_DEFAULTS_MIN_POST_LIKES' in shown
    assert os.environ.get("CAMPAIGNS_DEFAULTS_MIN_POST_LIKES") is None


def test_the_readme_example_file_is_accepted_whole(tmp_path: Path) -> None:
    """The README's config files are accepted as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    complete, cron = re.findall(r"```toml\n(.*?)```", readme, re.S)
    assert read_config(write(tmp_path / "cron.toml", cron)).values
    config = write(tmp_path / "campaigns.toml", complete)
    (tmp_path / "extrovert.key").write_text("k", encoding="utf-8")
    shown = settings(invoke("config", "--config", config))
    assert shown["keep_reports"] == ("48", f"file {config} line 18")
    assert shown["api_key_file"][0] == f'"{tmp_path / "extrovert.key"}"'


@pytest.mark.parametrize(
    ("key", "section", "in_file", "in_env", "option"),
    [
        ("sheet", "run", '"plan"', "other", ["--sheet", "third"]),
        ("max_rows", "run", "10", "20", ["--max-rows", "30"]),
        ("max_bytes", "run", "1000", "2000", ["--max-bytes", "3000"]),
        ("keep_reports", "run", "4", "5", ["--keep-reports", "6"]),
        ("log_format", "run", '"json"', "text", ["--log-format", "json"]),
        ("archive", "run", '"done"', "/srv/env-done", ["--archive", "/srv/option-done"]),
        ("state", "run", '"s.sqlite"', "/srv/env.sqlite", ["--state", "/srv/option.sqlite"]),
        ("reports", "run", '"rep"', "/srv/env-rep", ["--reports", "/srv/option-rep"]),
        (
            "base_url",
            "api",
            '"https://a.example"',
            "https://b.example",
            ["--base-url", "https://c.example"],
        ),
    ],
)
def test_every_run_setting_takes_option_then_environment_then_file(
    tmp_path: Path, key: str, section: str, in_file: str, in_env: str, option: list[str]
) -> None:
    """Each [run] and [api] setting: the file beats the default, the environment beats
    the file, the option beats the environment."""
    config = write(tmp_path / "c.toml", f"[{section}]\n{key} = {in_file}\n")
    variable = (
        "EXTROVERT_BASE_URL" if key == "base_url" else f"CAMPAIGNS_{section.upper()}_{key.upper()}"
    )
    from_file = settings(invoke("config", "--config", config))[key]
    assert from_file[1] == f"file {config} line 2"
    from_env = settings(invoke("config", "--config", config, env={variable: in_env}))[key]
    assert from_env[1] == f"environment {variable}" and in_env in from_env[0]
    from_option = settings(invoke("config", "--config", config, *option, env={variable: in_env}))
    assert from_option[key][1] == f"option {option[0]}"


def test_the_ledger_follows_the_reports_folder_wherever_it_is_set(tmp_path: Path) -> None:
    """Without `state`, the ledger is state.sqlite in the reports folder, whether the
    folder comes from the file, the environment or the option, for every command."""
    config = write(tmp_path / "c.toml", '[run]\nreports = "rep"\n')
    shown = settings(invoke("config", "--config", config))
    assert shown["state"] == (
        f'"{tmp_path / "rep" / "state.sqlite"}"',
        "default: in the reports folder",
    )
    shown = settings(invoke("config", "--config", config, "--reports", tmp_path / "x"))
    assert shown["state"][0] == f'"{tmp_path / "x" / "state.sqlite"}"'
    env = {"CAMPAIGNS_RUN_REPORTS": str(tmp_path / "envrep")}
    result = invoke("status", env=env)
    assert result.exit_code == 2
    assert str(tmp_path / "envrep" / "state.sqlite") in result.stderr


def test_the_environment_key_beats_a_key_file_from_the_config(tmp_path: Path) -> None:
    """Key: --api-key-file, then EXTROVERT_API_KEY, then the config's api_key_file."""
    (tmp_path / "k").write_text("file-key", encoding="utf-8")
    config = write(tmp_path / "c.toml", '[api]\napi_key_file = "k"\n')
    env = {"EXTROVERT_API_KEY": "env-key"}
    assert (
        "# api_key: set (from EXTROVERT_API_KEY)"
        in invoke("config", "--config", config, env=env).stdout
    )
    assert "# api_key: set (from the file" in invoke("config", "--config", config).stdout
    given = invoke("config", "--config", config, "--api-key-file", tmp_path / "k", env=env)
    assert f"# api_key: set (from the file {tmp_path / 'k'})" in given.stdout


def test_log_level_debug_from_the_file_or_the_environment_means_verbose(tmp_path: Path) -> None:
    """`log_level = "debug"` (or CAMPAIGNS_RUN_LOG_LEVEL=debug) is --verbose."""
    config = write(tmp_path / "c.toml", '[run]\nlog_level = "debug"\n')
    assert settings(invoke("config", "--config", config))["log_level"] == (
        '"debug"',
        f"file {config} line 2",
    )
    env = {"CAMPAIGNS_RUN_LOG_LEVEL": "info"}
    shown = settings(invoke("config", "--config", config, env=env))["log_level"]
    assert shown == ('"info"', "environment CAMPAIGNS_RUN_LOG_LEVEL")
