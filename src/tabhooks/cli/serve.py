"""``tabhooks serve``: the REST API (and, as they land, the dispatcher and UI) in one process."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from tabhooks.config import Settings

console = Console(stderr=True)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def _prepare(settings: Settings) -> None:
    from tabhooks.services.bootstrap import bootstrap
    from tabhooks.store import migrate, open_store

    store = open_store(settings.database_url)
    try:
        await migrate(store)
        report = await bootstrap(store, settings)
    finally:
        await store.dispose()
    if report.generated_password:
        console.print(
            f"[bold yellow]Created server administrator[/] '{report.admin_username}' "
            f"with generated password: [bold]{report.generated_password}[/]\n"
            "It is shown only this once; set TABHOOKS_ADMIN_PASSWORD to choose your own."
        )


def _prepare_or_exit(settings: Settings) -> None:
    """Load the keys that seal stored secrets (tabhooks.store.keys), then migrate and
    bootstrap; missing or wrong keys stop the server with one line (exit 1), never a key."""
    from tabhooks.store.crypto import SecretKeyError
    from tabhooks.store.keys import install_secret_box

    try:
        install_secret_box(settings)
        asyncio.run(_prepare(settings))
    except SecretKeyError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None


def _announce_dev() -> None:
    console.print(
        "[bold red]DEVELOPMENT MODE (--dev):[/] webhook destinations may use plain http:// and "
        "may resolve to loopback, private and link-local addresses (the SSRF guard is relaxed). "
        "Do not expose this server to untrusted users."
    )


def _announce_hosts(settings: Settings) -> None:
    """On every interface, say which Host names are answered: others get 400 (tabhooks.hosts)."""
    from tabhooks import hosts

    if not hosts.wildcard_bind(settings) or settings.public_url or settings.allowed_hosts:
        return
    console.print(
        f"[bold yellow]Listening on every address ({settings.host}):[/] requests are answered "
        f"only when their Host is {', '.join(hosts.LOOPBACK_HOSTS)}; any other host name or "
        'address gets 400 "Invalid host header". Set TABHOOKS_PUBLIC_URL to the URL clients '
        "use (e.g. https://tabhooks.example.com), or TABHOOKS_ALLOWED_HOSTS to the host names "
        "they use (comma-separated)."
    )


def serve(
    host: str = typer.Option(
        None,
        "--host",
        envvar="TABHOOKS_HOST",
        help="Address to listen on (default 127.0.0.1). On 0.0.0.0 or :: also set "
        "TABHOOKS_PUBLIC_URL or TABHOOKS_ALLOWED_HOSTS: other Host names get 400.",
    ),
    port: int = typer.Option(
        None, "--port", envvar="TABHOOKS_PORT", help="Port to listen on; 0 picks a free one."
    ),
    dev: bool = typer.Option(
        False, "--dev", envvar="TABHOOKS_DEV", help="Allow http:// and internal destinations."
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
    dispatcher: bool = typer.Option(
        None,
        "--dispatcher/--no-dispatcher",
        envvar="TABHOOKS_DISPATCHER_ENABLED",
        help="Deliver webhooks in this process (default) or leave it to `tabhooks worker`.",
    ),
) -> None:
    """Serve Tableau's REST API on the store in TABHOOKS_DATABASE_URL.

    Example: [bold]tabhooks serve --dev --port 8000[/]
    """
    # The server is imported when it runs, so client commands start in a fraction of a second.
    import uvicorn

    from tabhooks.api.app import create_app
    from tabhooks.config import Settings
    from tabhooks.store import open_store

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if dev:
        overrides["dev"] = True
    if dispatcher is not None:
        overrides["dispatcher_enabled"] = dispatcher
    settings = Settings(**overrides)  # type: ignore[arg-type]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    if settings.dev:
        _announce_dev()
    _announce_hosts(settings)
    _prepare_or_exit(settings)
    sock = _bind(settings.host, settings.port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    app = create_app(settings, open_store(settings.database_url))
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=access_log,
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    # Printed after binding so callers (and tests) learn the real port when --port 0.
    print(f"tabhooks listening on http://{shown_host}:{bound_port}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])
