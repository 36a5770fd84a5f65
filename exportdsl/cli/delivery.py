"""`exportdsl serve`, `exportdsl queue` and `exportdsl db`: the real-time intake and its outbox.

Imports only click here; the server, SQLite and httpx load when a command runs.
"""

from __future__ import annotations

import functools
import json
import math
import socket
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec

import click
from click.core import ParameterSource

from exportdsl.errors import ExportDslError
from exportdsl.vocabulary import DeliveryStatus

__all__ = [
    "CHAT_RETENTION",
    "DB_HELP",
    "STATUSES",
    "OutboxLocation",
    "db",
    "list_",
    "purge",
    "queue",
    "retry",
    "seconds_of",
    "serve",
    "show",
]

if TYPE_CHECKING:
    from collections.abc import Callable

    from exportdsl.delivery.connectors import Connectors
    from exportdsl.delivery.outbox import Attempt, Delivery, Outbox, Schedule

_P = ParamSpec("_P")
STATUSES = tuple(status.value for status in DeliveryStatus)  # click matches enums by name
CHAT_RETENTION = "30d"  # what `queue purge` keeps of chats no delivery needs, by default
SILENCE = 5.0  # nodes.SILENCE (not imported: the server's modules load when serve runs)


_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def seconds_of(span: str) -> float:
    """A time span in seconds: ``30d``, ``12h``, ``90m``, ``45s``; a bare number is days."""
    text = span.strip().lower()
    unit = _UNITS.get(text[-1:])
    try:
        seconds = float(text[:-1] if unit is not None else text) * (unit or _UNITS["d"])
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise click.BadParameter(f"{span!r}: expected a time span such as 30d, 12h, 90m or 45s")
    return seconds


def _age(_: click.Context, __: click.Parameter, value: str | None) -> float | None:
    return None if value is None else seconds_of(value)


def _retention(
    context: click.Context, parameter: click.Parameter, value: str | None
) -> float | None:
    if value is not None and value.strip().lower() == "off":
        return None
    seconds = _age(context, parameter, value)
    if seconds == 0:  # every chat would go the moment it is delivered: the button could never work
        raise click.BadParameter("a retention of 0 would remove every chat once delivered")
    return seconds


DB_HELP = (
    "The outbox: a SQLite file, or a postgresql://user@host/dbname URL (several serve nodes on "
    "one database; the password from PGPASSWORD or ~/.pgpass rather than the URL)."
)


class OutboxLocation(click.ParamType):  # type: ignore[type-arg]
    """``--db``: a ``postgresql://`` URL as given, or a SQLite file's path (which must exist
    when ``exists``); ``EXPORTDSL_DB`` stands in for it. Never echoed back in an error: a URL
    may carry a password."""

    name = "outbox"

    def __init__(self, exists: bool) -> None:
        self.path = click.Path(exists=exists, dir_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from exportdsl.delivery.store import is_postgres

        text = str(value)
        if is_postgres(text):
            return text
        if "://" in text:
            self.fail(
                "a URL other than postgresql:// (or postgres://); give a SQLite file's path or "
                "a PostgreSQL URL",
                param,
                ctx,
            )
        return str(self.path.convert(text, param, ctx))


class Seconds(click.FloatRange):
    """A number of seconds within a range, never NaN: click's FloatRange lets NaN through (every
    comparison with it is false). A lease of NaN is stored as NULL, a lease nobody holds, so every
    worker would claim and send the same delivery; a timeout of NaN would never cut anyone off."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):
            self.fail("expected a number of seconds, not nan", param, ctx)
        return seconds


@click.command(short_help="Take chats in real time and deliver them.")
@click.option(
    "--connectors",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Folder of connector files; a file's name (without suffix) is its URL name.",
)
@click.option(
    "--db",
    "database",
    type=OutboxLocation(exists=False),
    envvar="EXPORTDSL_DB",
    show_envvar=True,
    required=True,
    help=DB_HELP + " Created, or upgraded, when needed.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The port to listen on.",
)
@click.option(
    "--workers",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="How many threads deliver.",
)
@click.option(
    "--render-processes",
    type=click.IntRange(0, 64),
    show_default="one a CPU",
    help=(
        "Processes rendering the PDF transcripts, beside the worker threads; 0 renders them in the "
        "workers' threads, one at a time."
    ),
)
@click.option(
    "--per-target",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Deliveries in flight to one back end at most.",
)
@click.option(
    "--lease",
    default=120.0,
    show_default=True,
    type=Seconds(1, 3600),
    help=(
        "Seconds a worker holds a delivery unless it renews the lease (a worker stalled this "
        "long loses it); a node that dies is rescued sooner (--node-timeout)."
    ),
)
@click.option(
    "--node-timeout",
    default=SILENCE,
    show_default=True,
    type=Seconds(2, 600),
    help=(
        "Seconds without a heartbeat (one a second) after which a serve node on the same outbox "
        "is dead and its deliveries go to the others; a restarted node takes back its dead "
        "predecessor's at once."
    ),
)
@click.option(
    "--retry-schedule",
    default="5,300,1800,7200,18000,36000,36000",
    show_default=True,
    help=(
        "Seconds to wait after each failed attempt (±20% jitter); "
        "after the last, a delivery is dead."
    ),
)
@click.option(
    "--monitoring-token-env",
    metavar="NAME",
    help=(
        "Environment variable holding a token (16+ characters) that GET /healthz and /metrics "
        "then require as Authorization: Bearer; without it they are open."
    ),
)
@click.option(
    "--console-secret-env",
    metavar="NAME",
    help=(
        "Environment variable holding the admin secret (16+ characters) of the console served at "
        "/console (docs/console.md); without it there is no console."
    ),
)
@click.option(
    "--forwarded-allow-ips",
    metavar="IPS",
    help=(
        "Addresses of the reverse proxies (comma-separated IPs or networks) whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed; without it, none: a client's "
        "address is the socket's (docs/serve.md)."
    ),
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="The log on standard error: key=value text, or one JSON object a line.",
)
@click.option(
    "--retention",
    callback=_retention,
    default=CHAT_RETENTION,
    show_default=True,
    metavar="AGE",
    help=(
        "Remove deliveries delivered longer ago than this, and the chats no delivery needs any "
        "more received before then (checked every hour): 30d, 12h; `off` keeps them all."
    ),
)
@click.option(
    "--max-header-size",
    default=16384,
    show_default=True,
    type=click.IntRange(1024, 1 << 20),
    help="Bytes of request line and headers at most; a larger head is answered 431.",
)
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=Seconds(0.1, 3600),
    help="Seconds a client has to send a request's head; then it is answered 408 and cut off.",
)
@click.option(
    "--body-timeout",
    default=30.0,
    show_default=True,
    type=Seconds(0.1, 3600),
    help="Seconds a client has to send a request's body after its head; then 408 and cut off.",
)
@click.option(
    "--max-connections",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help=(
        "Open client connections at most; beyond, the one waiting longest for a request head is "
        "closed (or the new one answered 503 when all are busy)."
    ),
)
@click.option(
    "--max-bodies",
    default=8,
    show_default=True,
    type=click.IntRange(1, 1024),
    help=(
        "Hook bodies read at once, for token hooks and as many for signed ones (each up to "
        "10 MiB); a hook waits 2 s for a turn, then is answered 503."
    ),
)
def serve(
    folder: Path,
    database: str,
    host: str,
    port: int,
    workers: int,
    render_processes: int | None,
    per_target: int,
    lease: float,
    node_timeout: float,
    retry_schedule: str,
    monitoring_token_env: str | None,
    console_secret_env: str | None,
    forwarded_allow_ips: str | None,
    log_format: str,
    retention: float | None,
    max_header_size: int,
    header_timeout: float,
    body_timeout: float,
    max_connections: int,
    max_bodies: int,
) -> None:
    """Take Smartsupp-style POST hooks and Report Export presses, store them, deliver them.

    SIGHUP reloads the connector folder."""
    hangups = _note_hangups()  # first of all: until then a SIGHUP would end the starting server
    import os

    from exportdsl.delivery import logs
    from exportdsl.delivery.limits import (
        Limits,
        bound_receive_buffers,
        connection_cap,
        log_connection_cap,
        proxy_options,
        server_config,
    )
    from exportdsl.delivery.rendering import cpu_count
    from exportdsl.delivery.service import Settings, build, load_connectors
    from exportdsl.delivery.store import database_secrets, shown

    limits = Limits(
        max_head=max_header_size,
        head_timeout=header_timeout,
        body_timeout=body_timeout,
        max_connections=max_connections,
        max_bodies=max_bodies,
    )
    asked = click.get_current_context().get_parameter_source("max_connections")
    schedule = _schedule(retry_schedule)
    try:
        limits = connection_cap(limits, asked=asked is not ParameterSource.DEFAULT)
        settings = Settings(
            folder,
            database,
            workers,
            per_target,
            lease,
            schedule,
            retention=retention,
            monitoring_token_env=monitoring_token_env,
            limits=limits,
            beat=node_timeout / 5,
            silence=node_timeout,
            render_processes=cpu_count() if render_processes is None else render_processes,
        )
        connectors, loaded = load_connectors(folder, os.environ)
        intake = build(settings, os.environ, connectors)
        if console_secret_env is not None:  # loaded only when asked for (docs/console.md)
            from exportdsl.cli.console import console_routes

            intake.mounts.extend(
                console_routes(
                    database, console_secret_env, os.environ, connectors, intake.pool.wake
                )
            )
    except ExportDslError as error:
        _cannot_start(log_format, str(error))
    # The workers render PDFs in pure Python; a shorter switch interval lets the intake's event loop
    # take the GIL back sooner, so hooks are answered promptly while deliveries run.
    sys.setswitchinterval(0.001)
    names = (
        ", ".join(f"/hooks/{name}" for name, e in intake.endpoints.items() if e.intake_secret)
        or "none"
    )
    listener = _listen(host, port, log_format)
    bound_receive_buffers(listener)
    # every record, uvicorn's too, goes out through one redacting handler (log_config=None: uvicorn
    # installs no handler of its own); in JSON, every line is a record, the first one too
    secrets = logs.serve_secrets(intake.endpoints.values(), os.environ)
    for secret in database_secrets(database, os.environ):
        secrets.add(secret)
    if console_secret_env is not None:  # checked above: set, and long enough
        secrets.add(os.environ[console_secret_env])
    logs.install(log_format, secrets)
    logs.listening(_url(host, listener), names, shown(database))
    loaded.log()  # the connectors that do not serve, each problem a record; the others serve
    _log_held(connectors, intake.outbox)
    log_connection_cap(limits, max_connections)

    def reloaded() -> None:  # a new connector's $env values are secrets too; held ones may go
        secrets.merge(logs.serve_secrets(connectors.values(), os.environ))
        intake.pool.wake()
        _log_held(connectors, intake.outbox)

    _reload_on_hangup(connectors, reloaded, hangups)
    config = server_config(
        intake.app(),
        limits,
        log_level="warning",
        log_config=None,
        timeout_graceful_shutdown=30,
        access_log=False,
        **proxy_options(forwarded_allow_ips),
    )
    logs.Server(config, intake).run(sockets=[listener])


def _log_held(connectors: Connectors, outbox: Outbox) -> None:
    """Warnings for the deliveries no connector file in the folder is there to send."""
    try:
        pending = outbox.pending_by_connector()
    except Exception:  # /healthz says the storage's state; this is a courtesy
        return
    connectors.log_held(pending)


def _note_hangups() -> threading.Event:
    """From the start on, a SIGHUP is noted instead of ending the process (its default action): a
    start takes seconds (the outbox check reads every page), and a `systemctl reload` meanwhile
    killed the server without a word. The reload asked for is made once the server is ready."""
    import signal

    asked = threading.Event()
    signal.signal(signal.SIGHUP, lambda *_: asked.set())
    return asked


def _reload_on_hangup(
    connectors: Connectors, after: Callable[[], None], asked: threading.Event
) -> None:
    """SIGHUP reloads the connector folder. uvicorn handles only SIGINT and SIGTERM (graceful
    shutdown), so this handler is beside them, not instead of one. A SIGHUP during the start
    (``asked``) reloads now: the folder may have changed since it was read."""
    import signal

    from exportdsl.delivery.connectors import Reloader

    reloader = Reloader(connectors, after)
    reloader.start()
    signal.signal(signal.SIGHUP, lambda *_: reloader.request())
    if asked.is_set():
        reloader.request()


def _cannot_start(log_format: str, message: str) -> NoReturn:
    """Exit 1 saying why the server cannot start; with ``--log-format json`` as a record (level
    ERROR, ``error``: the message), since every line of standard error is one then: a log pipeline
    parsing the lines would otherwise lose the one that says why the server is down."""
    if log_format == "json":
        import logging

        from exportdsl.delivery import logs

        logs.install(log_format)
        logging.getLogger("exportdsl.intake").error(
            "cannot start", extra=logs.fields(error=message)
        )
    else:
        click.echo(f"exportdsl serve: {message}", err=True)
    sys.exit(1)


def _listen(host: str, port: int, log_format: str) -> socket.socket:
    """The listening socket, bound here rather than by uvicorn: a taken port or an address this
    machine does not have is a clear error (exit 1), not uvicorn's exit from inside its loop."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as error:
        _cannot_start(log_format, f"cannot listen on {host}:{port}: {error.strerror or error}")
    return listener


def _url(host: str, listener: socket.socket) -> str:
    """Where the server listens: the port bound (``--port 0`` takes a free one, and the log is the
    only place that says which), an IPv6 address in brackets."""
    return f"http://{f'[{host}]' if ':' in host else host}:{listener.getsockname()[1]}"


def _schedule(text: str) -> Schedule:
    from exportdsl.delivery.outbox import Schedule

    try:
        return Schedule(tuple(float(part) for part in text.split(",")))
    except (ValueError, ExportDslError):
        raise click.BadParameter(
            "a comma-separated list of seconds, finite and not negative",
            param_hint="--retry-schedule",
        ) from None


@click.group(short_help="Inspect and replay the outbox's deliveries.")
def queue() -> None:
    """Inspect and replay the outbox's deliveries (dead ones included)."""


_DB = click.option(
    "--db",
    "database",
    type=OutboxLocation(exists=True),
    envvar="EXPORTDSL_DB",
    show_envvar=True,
    required=True,
    help=DB_HELP,
)


_UNREACHABLE = "cannot connect to the outbox"  # PostgreSQL down or out of reach (exit 1)


def _outbox_errors(command: Callable[_P, None]) -> Callable[_P, None]:
    """A command whose outbox fails (a SQLite file held by another process past SQLite's 30 s
    wait, a PostgreSQL server out of reach, a full disk) says so and exits 1, rather than as an
    internal error (exit 3)."""

    @functools.wraps(command)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> None:
        from exportdsl.delivery.store import shown, storage_errors

        where = str(kwargs.get("database"))
        try:
            command(*args, **kwargs)
        except ExportDslError as error:
            if str(error).startswith(_UNREACHABLE):  # the database's fault, not the command's
                raise click.ClickException(str(error)) from None
            raise click.UsageError(str(error)) from None
        except storage_errors(where) as error:
            busy = str(getattr(error, "sqlite_errorname", "")).startswith("SQLITE_BUSY")
            why = " (another process held it all along: a VACUUM, an sqlite3 shell?)" * busy
            message = f"{shown(where)}: the outbox failed: {error}{why}; try again"
            raise click.ClickException(message) from None

    return run


def _queue(database: str, *, upgrade: bool = False, create: bool = False) -> Outbox:
    from exportdsl.delivery.store import open_outbox

    return open_outbox(database, create=create, upgrade=upgrade)


@queue.command(name="list")
@_DB
@click.option("--status", type=click.Choice(STATUSES), help="Only deliveries in this state.")
@click.option("--connector", help="Only this connector's deliveries (its URL name).")
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(1, 100000),
    help="How many deliveries to list at most.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per delivery.")
@_outbox_errors
def list_(
    database: str, status: str | None, connector: str | None, limit: int, as_json: bool
) -> None:
    """List deliveries, newest first, and the counts by state."""
    view = _queue(database)
    deliveries = view.deliveries(status, connector, limit)
    if as_json:
        for delivery in deliveries:
            click.echo(json.dumps(_record(delivery)))
        return
    for delivery in deliveries:
        click.echo(_line(delivery))
    counts = view.counts()
    # "retrying" is a part of "pending" (those that failed before): said so, so no reader adds them
    click.echo(
        f"{counts['pending']} pending ({counts['retrying']} of them retrying), "
        f"{counts['delivered']} delivered, {counts['dead']} dead",
        err=True,
    )


@queue.command()
@_DB
@click.argument("delivery_id", type=int)
@_outbox_errors
def show(database: str, delivery_id: int) -> None:
    """Show everything about one delivery, and its attempts."""
    view = _queue(database)
    delivery = view.delivery(delivery_id)
    if delivery is None:
        raise click.UsageError(f"no delivery {delivery_id}")
    for key, value in _record(delivery).items():
        click.echo(f"{key:16} {value}")
    attempts = view.attempts(delivery_id)
    click.echo(f"\nattempts ({len(attempts)})" + ":" * bool(attempts))
    for attempt in attempts:
        click.echo(_attempt_lines(attempt))


def _attempt_lines(attempt: Attempt) -> str:
    """One attempt of `queue show`: a line, then its error and answer indented (each line of
    them: an answer's own line breaks must not read as the next attempt)."""
    status = f"status {attempt.status}" if attempt.status is not None else "no answer"
    lines = [
        f"  #{attempt.number:<3} {_when(attempt.started_at)}  {attempt.seconds * 1000:8.1f} ms"
        f"  {attempt.outcome:<9} {status}"
    ]
    for label, text in (("error", attempt.error), ("answer", attempt.answer)):
        if text:
            shown = _printable(text.replace("\r\n", "\n")).split("\n")
            lines.append(f"       {label + ':':8}" + "\n               ".join(shown))
    return "\n".join(lines)


@queue.command(short_help="Send deliveries again now, with a fresh schedule.")
@_DB
@click.argument("delivery_ids", type=int, nargs=-1)
@click.option("--dead", is_flag=True, help="Every dead delivery.")
@_outbox_errors
def retry(database: str, delivery_ids: tuple[int, ...], dead: bool) -> None:
    """Send deliveries again now, with a fresh schedule (a running server picks them up)."""
    if not delivery_ids and not dead:
        raise click.UsageError("name deliveries, or say --dead")
    view = _queue(database)
    _known(view, delivery_ids)
    count = view.retry(delivery_ids, "dead" if dead and not delivery_ids else None)
    click.echo(f"{count} deliver{'y' if count == 1 else 'ies'} queued again", err=True)


@queue.command(short_help="Remove finished deliveries, and the chats no delivery needs.")
@_DB
@click.argument("delivery_ids", type=int, nargs=-1)
@click.option(
    "--status", type=click.Choice(["delivered", "dead"]), help="Every delivery in this state."
)
@click.option(
    "--older-than",
    callback=_age,
    metavar="AGE",
    help="Only deliveries finished longer ago than this (30d, 12h, 90m, 45s).",
)
@click.option(
    "--chats-older-than",
    callback=_age,
    metavar="AGE",
    help=(
        f"Remove the chats no delivery refers to any more received longer ago than this "
        f"(default {CHAT_RETENTION}: the Report Export button needs the stored chat)."
    ),
)
@click.option("--vacuum", is_flag=True, help="Then give the freed space back (rewrites the file).")
@_outbox_errors
def purge(
    database: str,
    delivery_ids: tuple[int, ...],
    status: str | None,
    older_than: float | None,
    chats_older_than: float | None,
    vacuum: bool,
) -> None:
    """Remove finished deliveries (pending ones are accepted work and are never purged), then the
    chats no delivery refers to any more (they hold visitors' personal data). A chat with a dead
    delivery stays until that is purged: `queue retry` needs it."""
    if older_than is not None and not status:
        raise click.UsageError("--older-than goes with --status delivered|dead")
    if not delivery_ids and not status and chats_older_than is None:
        raise click.UsageError(
            "name deliveries, say --status delivered|dead, or --chats-older-than AGE"
        )
    view = _queue(database)
    _known(view, delivery_ids)
    if delivery_ids or status:
        count = view.purge(delivery_ids, status if not delivery_ids else None, older_than)
        click.echo(f"{count} deliver{'y' if count == 1 else 'ies'} removed", err=True)
    keep = chats_older_than if chats_older_than is not None else seconds_of(CHAT_RETENTION)
    chats = view.purge_chats(keep)
    click.echo(
        f"{chats} chat{'' if chats == 1 else 's'} removed (no delivery refers to "
        f"{'it' if chats == 1 else 'them'}, received over {_span(keep)} ago)",
        err=True,
    )
    if vacuum:
        view.vacuum()


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _printable(text: str) -> str:
    """A back end's text as a terminal may show it: control characters (an escape sequence
    would move the cursor or recolour the screen) written as ``\\xNN``; line breaks kept."""
    return "".join(
        char if char.isprintable() or char == "\n" else f"\\x{ord(char):02x}" for char in text
    )


def _known(view: Outbox, delivery_ids: tuple[int, ...]) -> None:
    """Names that match no delivery are a mistake worth saying, not "0 deliveries"."""
    unknown = [str(number) for number in delivery_ids if view.delivery(number) is None]
    if unknown:
        raise click.UsageError(
            f"no delivery {', '.join(unknown)}; `exportdsl queue list` shows them"
        )


def _record(delivery: Delivery) -> dict[str, object]:
    record = asdict(delivery)
    for key in ("next_attempt_at", "lease_until", "created_at", "finished_at"):
        value = record.get(key)
        record[key] = _when(value) if isinstance(value, float) else value
    return record


def _line(delivery: Delivery) -> str:
    error = (
        f"  {delivery.last_error}" if delivery.last_error and delivery.status != "delivered" else ""
    )
    when = (
        f"next {_when(delivery.next_attempt_at)}"
        if delivery.status == "pending"
        else _when(delivery.finished_at or delivery.created_at)
    )
    return (
        f"{delivery.id:>6}  {delivery.status:<9} {delivery.connector:<16} "
        f"chat {delivery.chat_id:<10} "
        f"attempts {delivery.attempts:<2} {when}{error}"
    )


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


@click.group(short_help="Look after the outbox's database: its schema version.")
def db() -> None:
    """Look after the outbox's database (a SQLite file or a PostgreSQL database)."""


@db.command(short_help="Upgrade the outbox's schema to this exportdsl's version.")
@_DB
@_outbox_errors
def upgrade(database: str) -> None:
    """Upgrade the outbox's schema in place to the version this exportdsl knows (serve does it
    too as it starts); an outbox a newer exportdsl made is refused, and left as it is. An empty
    PostgreSQL database gets the schema made (a role that may create tables prepares it for
    nodes whose role may only read and write rows)."""
    from exportdsl.delivery.outbox import SCHEMA_VERSION
    from exportdsl.delivery.store import is_postgres, shown

    outbox = _queue(database, upgrade=True, create=is_postgres(database))
    before, after = outbox.found_version, outbox.schema_version()
    outbox.close()
    if before is None:
        change = f"{after}, made"
    else:
        change = f"upgraded from {before} to {after}" if before != after else f"{after}, up to date"
    click.echo(
        f"{shown(database)}: schema version {change} (this exportdsl knows {SCHEMA_VERSION})"
    )
