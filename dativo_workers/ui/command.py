"""The `dativo ui` command (registered in dativo_workers.cli); the web stack is imported only here."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Annotated

import typer

from dativo_workers.errors import ConfigError

DEFAULT_TOKEN_SECRET = "dativo_ui_token"


def resolve_token(name: str, tenant: str | None) -> str:
    """The dashboard's token from the runner's secret provider: the tenant's secret NAME first (with
    --tenant), then the global one. ConfigError naming the secret, never a value, when it is missing."""
    from dativo_workers.secrets import SecretError, SecretRef, active
    from dativo_workers.secrets.base import check_scope

    ref = SecretRef(name)
    resolver = active()
    provider = resolver.provider
    locations = provider.locations(tenant or "dativo-ui", name)
    if tenant:
        check_scope(tenant, ref)
    else:
        locations = locations[-1:]  # the global secret only: no tenant to look under
    from dativo_workers.secrets.resolve import describe_location

    for location in locations:
        text = provider.fetch(location, None)
        if text:
            from dativo_workers.secrets import redact

            redact.remember(text)
            return text.strip()
    where = " and ".join(describe_location(provider, loc) for loc in locations)
    raise SecretError(f"secret {ref} not found by the {provider.name} provider (looked for {where})")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--port {port}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def ui(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port).")] = 8790,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; beyond loopback the token is required.")
    ] = "127.0.0.1",
    runner: Annotated[Path | None, typer.Option("--runner", help="runner.yaml (default as for `dativo run`).")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Show only this tenant's runs.")] = None,
    token_secret: Annotated[
        str | None,
        typer.Option(
            "--token-secret",
            help=f"Secret NAME holding the access token (default {DEFAULT_TOKEN_SECRET}; required when --host "
            "is not loopback, optional on loopback), resolved by the runner's secret provider.",
        ),
    ] = None,
) -> None:
    """Serve a read-only web dashboard of the ledger's runs: progress, partition timelines,
    snapshots, quality, governance tags, schema changes, a job's throughput over time."""
    try:
        import uvicorn

        from dativo_workers.ui.app import create_app, is_loopback
    except ImportError as exc:
        missing = exc.name
        raise ConfigError(
            f"dativo ui needs the `ui` extra: pip install 'dativo-workers[ui]' ({missing} missing)"
        ) from None
    from dativo_workers.config import load_runner
    from dativo_workers.ledger import Ledger
    from dativo_workers.secrets import SecretError, SecretUnavailable
    from dativo_workers.ui.data import Dashboard

    runner_cfg = load_runner(runner)
    token = None
    if not is_loopback(host) or token_secret:
        name = token_secret or DEFAULT_TOKEN_SECRET
        try:
            token = resolve_token(name, tenant)
        except (SecretError, SecretUnavailable) as exc:
            why = f"--host {host} is not loopback" if not is_loopback(host) else f"--token-secret {name}"
            raise ConfigError(
                f"refusing to start the dashboard: {why} and it needs a token: {exc}. Set the secret "
                f"(e.g. DATIVO_SECRET__GLOBAL__{name.upper()} with the env provider) or pass --token-secret NAME"
            ) from None
        if len(token) < 16:
            raise ConfigError(f"refusing to start the dashboard: the token in secret {name} is under 16 characters")
    sock = bind(host, port)
    app = create_app(Dashboard(runner_cfg, Ledger(runner_cfg.ledger_url), tenant), token)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(
        f"dativo ui: http://{shown}:{sock.getsockname()[1]}/ (read-only{', token required' if token else ''}); "
        "Ctrl-C stops it",
        err=True,
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    # uvicorn shuts down cleanly on Ctrl-C, then re-raises it: exit 0, no traceback
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
