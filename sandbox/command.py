"""`campaigns sandbox`: serve the stand-in Extrovert API until Ctrl-C or SIGTERM.

A shell around `sandbox.server`: options become a `SandboxConfig`, a bad value becomes
one usage line (exit 2), a port that cannot be bound one error line (exit 1). Importing
it is cheap (`campaigns --help` imports it): the server, and with it uvicorn, Starlette,
httpx and jsonschema, is imported only when the command runs.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from sandbox.config import (
    DEFAULT_API_KEY,
    DEFAULT_PROSPECT_LIMIT,
    DEFAULT_PROSPECT_TOTAL_LIMIT,
    FAULT_KINDS,
    SandboxConfig,
    check_faults,
)

DEFAULT_PORT = 8750


def _parse_faults(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, float]:
    faults: dict[str, float] = {}
    for value in values:
        kind, sep, text = value.partition("=")
        if not sep:
            raise click.BadParameter(f"{value!r} is not KIND=P, e.g. 503=0.1", ctx, param)
        if kind not in FAULT_KINDS:
            raise click.BadParameter(
                f"unknown fault kind {kind!r}; choose from {', '.join(FAULT_KINDS)}", ctx, param
            )
        if kind in faults:
            raise click.BadParameter(f"fault kind {kind} is given twice", ctx, param)
        try:
            probability = float(text)
        except ValueError:
            raise click.BadParameter(
                f"{kind}: {text!r} is not a probability (a number from 0 to 1)", ctx, param
            ) from None
        faults[kind] = probability
    try:
        check_faults(faults)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return faults


def _shown(faults: dict[str, float]) -> str:
    return ", ".join(f"{kind}={p:g}" for kind, p in faults.items())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command(name="sandbox")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Keep it loopback unless others must reach the sandbox.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--api-key",
    default=DEFAULT_API_KEY,
    show_default=True,
    help="The X-API-Key value the sandbox accepts.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=None,
    help="Requests per second allowed per API key; beyond it, 429. Unset or 0: unlimited.",
)
@click.option(
    "--burst",
    type=click.IntRange(min=1),
    default=None,
    help="Requests a key may save up and send at once. Default: one second's worth.",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Milliseconds every API request waits before it is answered.",
)
@click.option(
    "--jitter-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Up to this many more milliseconds of random extra latency.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="KIND=P",
    callback=_parse_faults,
    help=(
        f"Give campaign create and update requests fault KIND with probability P (0 to 1). "
        f"Repeatable. KIND is one of {', '.join(FAULT_KINDS)}."
    ),
)
@click.option(
    "--prospect-fault",
    "prospect_faults",
    multiple=True,
    metavar="KIND=P",
    callback=_parse_faults,
    help=(
        "Give prospect-list requests (create a list, add to a list) fault KIND with "
        "probability P, drawn apart from --fault. Repeatable; same kinds as --fault."
    ),
)
@click.option(
    "--prospect-limit",
    type=click.IntRange(min=0),
    default=DEFAULT_PROSPECT_LIMIT,
    show_default=True,
    help=(
        "New prospects the account may add a month; past it, URLs come back in "
        "outOfLimitUrls. POST /_sandbox/new-month starts the next month."
    ),
)
@click.option(
    "--prospect-total-limit",
    type=click.IntRange(min=0),
    default=DEFAULT_PROSPECT_TOTAL_LIMIT,
    show_default=True,
    help="Prospects the account may hold in all its lists at once.",
)
@click.option(
    "--hold-seconds",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    help="How long a timeout_after fault holds the response.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the fault and jitter draws; the same seed repeats a run.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite file that keeps campaigns, lists and prospects across restarts. Default: memory.",
)
@click.option(
    "--no-campaign-list",
    is_flag=True,
    help="Answer 404 to GET /campaign, as if the API had no campaign list.",
)
def sandbox_command(
    host: str,
    port: int,
    api_key: str,
    rate: float | None,
    burst: int | None,
    latency_ms: float,
    jitter_ms: float,
    faults: dict[str, float],
    prospect_faults: dict[str, float],
    prospect_limit: int,
    prospect_total_limit: int,
    hold_seconds: float,
    seed: int,
    db: Path | None,
    no_campaign_list: bool,
) -> None:
    """Serve a stand-in Extrovert API that checks every payload against the contract."""
    import sqlite3

    from sandbox.server import base_url_of, bind, create_app, serve

    try:
        config = SandboxConfig(
            api_keys=frozenset({api_key}),
            rate=rate,
            burst=burst,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            faults=faults,
            prospect_faults=prospect_faults,
            prospect_limit=prospect_limit,
            prospect_total_limit=prospect_total_limit,
            seed=seed,
            db=db,
            campaign_list=not no_campaign_list,
            hold_seconds=hold_seconds,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        app = create_app(config)
    except sqlite3.Error as exc:
        raise click.ClickException(f"cannot open --db {db}: {exc}") from None
    try:
        sock = bind(host, port)
    except OSError as exc:
        app.state.sandbox.close()
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}. "
            "Try another --port (0 picks a free one)."
        ) from None
    if not _is_loopback(host):
        click.echo(f"warning: {host} is not loopback; others may reach this sandbox", err=True)
    shown = _shown(faults) or "none"
    if prospect_faults:
        shown += f"; prospect lists {_shown(prospect_faults)}"
    click.echo(f"base URL: {base_url_of(sock)}")
    click.echo(f"API key:  {api_key}")
    click.echo(f"faults:   {shown} (seed {seed})")
    click.echo("Serving the Extrovert sandbox; Ctrl-C stops it.")
    serve(app, sock)
    click.echo("Sandbox stopped.")
