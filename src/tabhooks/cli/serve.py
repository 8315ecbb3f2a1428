"""``tabhooks serve``: the REST API, the dispatcher and the UI in one process.

Start-up is ordered so that what a user gets wrong is told in one line before anything is
created (:mod:`tabhooks.cli.startup`): settings first, then the socket, then the store.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tabhooks.cli import output, startup, terminal

if TYPE_CHECKING:
    from tabhooks.config import Settings

console = Console(stderr=True)


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
        name = terminal.markup(report.admin_username)
        console.print(
            f"[bold yellow]Created server administrator[/] '{name}' "
            f"with generated password: [bold]{report.generated_password}[/]\n"
            "It is shown only this once; set TABHOOKS_ADMIN_PASSWORD to choose your own."
        )


def _prepare_or_exit(settings: Settings) -> None:
    """Load the keys that seal stored secrets (tabhooks.store.keys), then migrate and
    bootstrap; missing or wrong keys, a database that cannot be opened or a folder that cannot
    be written stop the server with one line (exit 1), never a key."""
    from tabhooks.store.keys import install_secret_box

    with startup.store_errors(settings.database_url):
        install_secret_box(settings)
        asyncio.run(_prepare(settings))


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
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Address to listen on (TABHOOKS_HOST, default 127.0.0.1). On 0.0.0.0 or :: "
            "also set TABHOOKS_PUBLIC_URL or TABHOOKS_ALLOWED_HOSTS: other Host names get 400.",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", help="Port to listen on (TABHOOKS_PORT, default 8000); 0 picks a free one."
        ),
    ] = None,
    dev: Annotated[
        bool,
        typer.Option("--dev", help="Allow http:// and internal destinations (TABHOOKS_DEV)."),
    ] = False,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request.")] = False,
    dispatcher: Annotated[
        bool | None,
        typer.Option(
            "--dispatcher/--no-dispatcher",
            help="Deliver webhooks in this process (default) or leave it to `tabhooks worker` "
            "(TABHOOKS_DISPATCHER_ENABLED).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve Tableau's REST API on the store in TABHOOKS_DATABASE_URL.

    Prints the URLs of the dashboard, the inspector, the API docs and the REST API once it
    listens. A port in use, a bad setting or a database it cannot open or create stops it with
    one line saying what to change (exit 1).

    Example: [bold]tabhooks serve --dev --port 8000[/]
    """
    run(host=host, port=port, dev=dev, access_log=access_log, dispatcher=dispatcher)


def urls(settings: Settings, listening: str) -> list[tuple[str, str]]:
    """What to open or give a client, by name, once the server listens on ``listening``.

    Links use ``TABHOOKS_PUBLIC_URL`` when it is set (what clients are told to use), else the
    address listened on — ``127.0.0.1`` for a wildcard bind, the one name always answered.
    """
    from tabhooks import hosts
    from tabhooks.config import REST_API_VERSION

    base = listening
    if settings.public_url:
        base = settings.public_url.rstrip("/")
    elif hosts.wildcard_bind(settings):
        base = f"http://127.0.0.1:{listening.rsplit(':', 1)[1]}"
    if settings.roles == "relay":
        return [("relay", f"{base}/relay/ROUTE_ID"), ("health", f"{base}/tabhooks/v1/health")]
    return [
        ("dashboard", f"{base}/ui/"),
        ("inspector", f"{base}/ui/bins"),
        ("API docs", f"{base}/tabhooks/docs"),
        ("REST API", f"{base}/api/{REST_API_VERSION}  (TSC: TSC.Server('{base}'))"),
    ]


def run(
    *,
    host: str | None,
    port: int | None,
    dev: bool,
    access_log: bool,
    dispatcher: bool | None,
) -> None:
    """Start the server: settings, socket, store, then uvicorn until a signal stops it.

    The socket is bound before the store is opened, so a port in use is reported before
    anything (a database, a key file) is created.
    """
    # The server is imported when it runs, so client commands start in a fraction of a second.
    import uvicorn

    from tabhooks.api.app import create_app
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
    settings = startup.load_settings(**overrides)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    sock = startup.bind(settings.host, settings.port)
    if settings.dev:
        _announce_dev()
    _announce_hosts(settings)
    _prepare_or_exit(settings)
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    with startup.store_errors(settings.database_url):
        app = create_app(settings, open_store(settings.database_url))
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=access_log,
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    # Printed after binding so callers (and tests) learn the real port when --port 0.
    listening = f"http://{shown_host}:{bound_port}"
    print(f"tabhooks listening on {listening}", flush=True)
    width = max(len(name) for name, _ in urls(settings, listening))
    for name, url in urls(settings, listening):
        print(f"  {name:<{width}}  {url}", flush=True)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:  # the app's start-up failed; uvicorn has said why
        raise typer.Exit(output.EXIT_ERROR)
