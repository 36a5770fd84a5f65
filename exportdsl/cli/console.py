"""`exportdsl console`, and the console `exportdsl serve` mounts at /console.

Imports only click here: the console (Starlette, Jinja2) loads when a command that serves it
runs, so `check` and the one-shot commands never load it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from exportdsl.cli.delivery import DB_HELP, OutboxLocation
from exportdsl.errors import ExportDslError

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from exportdsl.delivery.connectors import Connectors

__all__ = [
    "CONSOLE_SECRET_HELP",
    "FORWARDED_HELP",
    "console",
    "console_routes",
]

CONSOLE_SECRET_HELP = (
    "Environment variable holding the console's admin secret (16+ characters): operators log in "
    "with it at /console. Without it there is no console."
)
FORWARDED_HELP = (
    "Addresses of the reverse proxies (comma-separated IPs or networks) whose X-Forwarded-For "
    "and X-Forwarded-Proto are believed; without it, none: a client's address is the socket's "
    "(the console's login throttle counts by it)."
)


def console_routes(
    database: str,
    secret_env: str,
    env: Mapping[str, str],
    connectors: Connectors | None,
    wake: Callable[[], None] = lambda: None,
) -> list[BaseRoute]:
    """The console mounted at /console over the outbox at ``database``, and /console itself
    redirected to /console/ (relative, with the console's headers); raises `ServeError` when the
    secret's variable is not set or too short."""
    from starlette.requests import Request
    from starlette.responses import RedirectResponse, Response
    from starlette.routing import Mount, Route

    from exportdsl.console.app import PREFIX, Console
    from exportdsl.console.security import HEADERS, console_secret
    from exportdsl.console.views import connector_views
    from exportdsl.delivery.store import open_outbox

    secret = console_secret(secret_env, env)
    views = (lambda: connector_views(connectors)) if connectors is not None else tuple
    served = (lambda: connectors) if connectors is not None else dict
    made = Console(
        open_outbox(database, create=False),
        secret,
        connectors=views,
        wake=wake,
        served=served,
        env=env,
    )

    async def to_slash(_: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", 307, headers=dict(HEADERS))

    return [Route(PREFIX, to_slash), Mount(PREFIX, made.app())]


@click.command(short_help="Serve the console alone, over an outbox.")
@click.option(
    "--db",
    "database",
    type=OutboxLocation(exists=True),
    envvar="EXPORTDSL_DB",
    show_envvar=True,
    required=True,
    help=DB_HELP,
)
@click.option(
    "--connectors",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of connector files, for the connectors page.",
)
@click.option("--console-secret-env", metavar="NAME", required=True, help=CONSOLE_SECRET_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port", default=8081, show_default=True, type=click.IntRange(0, 65535), help="The port."
)
@click.option("--forwarded-allow-ips", metavar="IPS", help=FORWARDED_HELP)
def console(
    database: str,
    folder: Path | None,
    console_secret_env: str,
    host: str,
    port: int,
    forwarded_allow_ips: str | None,
) -> None:
    """The console (deliveries, their attempts, retry and purge; the connectors) without the
    intake: a look at an outbox. It writes only what an operator asks (retry, purge), and never
    upgrades the outbox: an older one is refused (`exportdsl db upgrade` first)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import RedirectResponse, Response
    from starlette.routing import Route

    from exportdsl.delivery import logs
    from exportdsl.delivery.connectors import Connectors
    from exportdsl.delivery.limits import proxy_options
    from exportdsl.delivery.outbox import SCHEMA_VERSION
    from exportdsl.delivery.store import database_secrets, open_outbox, shown
    from exportdsl.export.redact import Redactor

    try:
        outbox = open_outbox(database, create=False)
        version = outbox.schema_version()
        outbox.close()
        if version < SCHEMA_VERSION:
            raise click.ClickException(
                f"{shown(database)}: the outbox has schema version {version}; the console needs "
                f"{SCHEMA_VERSION}: run `exportdsl db upgrade --db …` first"
            )
        connectors = None
        if folder is not None:
            connectors = Connectors(folder, os.environ)
            connectors.reload()
        routes = console_routes(database, console_secret_env, os.environ, connectors)
    except ExportDslError as error:
        raise click.ClickException(str(error)) from None

    async def home(_: Request) -> Response:
        return RedirectResponse("/console/", 307)

    app = Starlette(routes=[Route("/", home), *routes])
    # the console's records (logins, actions) through serve's redacting handler, uvicorn's too
    secrets = Redactor([os.environ[console_secret_env], *database_secrets(database, os.environ)])
    logs.install("text", secrets)
    click.echo(f"exportdsl console on http://{host}:{port}/console/", err=True)
    sys.stdout.flush()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=None,
        access_log=False,
        **proxy_options(forwarded_allow_ips),
    )
