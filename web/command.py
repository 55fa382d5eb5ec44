"""`campaigns serve`: the local web page, on 127.0.0.1 only, until Ctrl-C.

A shell like the other commands: options, the environment and the config file (the same
names and precedence as `campaigns run`: option > environment > config > default) become
`ServeSettings`; the API key is read once, here, from EXTROVERT_API_KEY, the key file or
the config's `api_key_file` (never from the page); the socket is bound before the app is
made (the app checks the Host header against the port it really got); the link with a
fresh secret token is printed, and opened in the browser unless --no-browser.

The settings without an option here (the sending limits of `[api]`, `sheet` and
`max_rows` of `[run]`, `[defaults]`, `[names.*]` and `[prospects]`) come from the config
file as `campaigns run` reads it. Importing this module is cheap (`campaigns --help`
imports it): click and the settings; the server, Starlette, uvicorn and pandas load
when the command runs. It is a command of the same command line as `run`, so it reads
the config, the key and the ledger's place through `pipeline.cli`'s own helpers
(imported at run time: that module imports this one); the page's library calls start
the sandbox through `pipeline.rehearsal`, as `run --sandbox` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from pipeline.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_REPORTS,
    DEFAULT_STATE,
    SANDBOX_STATE,
)

if TYPE_CHECKING:
    from web.workspace import ServeSettings

DEFAULT_PORT: Final = 8760
_SEND_KEYS: Final = ("rate", "concurrency", "timeout", "max_attempts", "max_consecutive_errors")


def _load_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """`--config`, read as every other command reads it (`pipeline.cli`)."""
    from pipeline.cli import _load_config as load

    load(ctx, param, value)


@click.command(name="serve")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port on 127.0.0.1 to listen on; 0 picks a free one.",
)
@click.option(
    "--config",
    envvar="CAMPAIGNS_CONFIG",
    type=click.Path(path_type=Path, dir_okay=False),
    is_eager=True,
    expose_value=False,
    callback=_load_config,
    metavar="FILE",
    help="Settings file (default: campaigns.toml in the working folder, if any).",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Rehearse: plans and applies go to the built-in stand-in API (needs no key).",
)
@click.option("--no-browser", is_flag=True, help="Print the page's link without opening a browser.")
@click.option(
    "--max-bytes",
    envvar="CAMPAIGNS_RUN_MAX_BYTES",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Refuse an uploaded file, or a sheet's link, larger than this many bytes.",
)
@click.option(
    "--reports",
    envvar="CAMPAIGNS_RUN_REPORTS",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_REPORTS,
    show_default=True,
    metavar="DIR",
    help="The folder that holds a folder of reports per plan and run (and the ledger).",
)
@click.option(
    "--state",
    envvar="CAMPAIGNS_RUN_STATE",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"The SQLite ledger (default: {DEFAULT_STATE.name} in the reports folder, or "
    f"{SANDBOX_STATE.name} with --sandbox).",
)
@click.option(
    "--base-url",
    envvar=["EXTROVERT_BASE_URL", "CAMPAIGNS_API_BASE_URL"],
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="The API's address, the part before /api/client/v2 (env EXTROVERT_BASE_URL).",
)
@click.option(
    "--api-key-file",
    envvar="CAMPAIGNS_API_API_KEY_FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read the API key from this file (default: the EXTROVERT_API_KEY environment "
    "variable). The page never asks for the key.",
)
def serve_command(**given: Any) -> None:
    """Open a local web page to upload a sheet, see every problem at its cell, plan,
    apply with live progress, download the reports and see the ledger.

    Listens on 127.0.0.1 only; the printed link holds a secret token for this session.
    Ctrl-C stops the server (a run in progress finishes its requests in flight first).
    """
    from pipeline import cli

    cli._fails_cleanly(_serve)(**given)


def _serve(
    port: int,
    sandbox: bool,
    no_browser: bool,
    max_bytes: int,
    reports: Path,
    state: Path | None,
    base_url: str,
    api_key_file: Path | None,
) -> None:
    import secrets

    from pipeline import cli
    from web.app import make_app
    from web.server import base_url_of, bind_loopback, serve

    settings = _settings(
        sandbox=sandbox,
        max_bytes=max_bytes,
        reports=reports,
        state=state,
        base_url=base_url,
        api_key_file=api_key_file,
    )
    try:
        sock = bind_loopback(port)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}. "
            "Try another --port (0 picks a free one)."
        ) from None
    token = secrets.token_urlsafe(32)
    address = base_url_of(sock)
    app = make_app(settings, port=int(sock.getsockname()[1]), token=token)
    link = f"{address}/?token={token}"
    click.echo(f"The campaigns page: {link}")
    if settings.sandbox:
        click.echo(f"Rehearsing against the built-in sandbox (ledger {settings.sandbox_state}).")
    elif settings.api_key is not None:
        click.echo(f"Sending to {settings.base_url} with the key from {settings.key_source}.")
    else:
        click.echo(
            "No API key: the page can check and plan; to apply, set EXTROVERT_API_KEY "
            "(or --api-key-file) and restart, or rehearse with --sandbox."
        )
    click.echo("The link holds this session's secret: keep it to yourself. Ctrl-C stops.")
    if not no_browser:
        import webbrowser

        webbrowser.open(link)
    serve(app, sock, say=cli._say)
    click.echo("Stopped.")


def _settings(
    *,
    sandbox: bool,
    max_bytes: int,
    reports: Path,
    state: Path | None,
    base_url: str,
    api_key_file: Path | None,
) -> ServeSettings:
    """The settings the page runs with, as `campaigns run` would find them."""
    from pipeline import cli
    from pipeline.rehearsal import paced
    from pipeline.settings import SendSettings, check_base_url
    from web.workspace import ServeSettings

    ctx = click.get_current_context()
    real = cli._connection(ctx, sandbox=False, sandbox_faults={}, state=state, reports=reports)
    rehearsal = reports / SANDBOX_STATE.name
    if sandbox:
        rehearsal = cli._connection(
            ctx, sandbox=True, sandbox_faults={}, state=state, reports=reports
        )
    key_file = cli._key_file(ctx, api_key_file)
    key = cli._read_key(key_file)
    source = "" if key is None else f"the key file {key_file}" if key_file else cli.KEY_VARIABLE
    config = cli._config_of(ctx)
    found = ctx.default_map or {}
    send = SendSettings(**{name: found[name] for name in _SEND_KEYS if name in found})
    return ServeSettings(
        reports=reports,
        state=real,
        sandbox_state=rehearsal,
        base_url=check_base_url(base_url),
        api_key=key,
        key_source=source,
        sandbox=sandbox,
        max_bytes=max_bytes,
        max_rows=int(found.get("max_rows", DEFAULT_MAX_ROWS)),
        sheet=found.get("sheet"),
        defaults=cli._defaults(ctx),
        names=config.names,
        send=send,
        sandbox_send=paced(send, rate_given="rate" in found),
        move_own_duplicated=cli._prospect_switch(ctx, "move_own_duplicated"),
        delete_if_inactive=cli._prospect_switch(ctx, "delete_if_inactive"),
    )
