"""Which back end keeps the outbox: ``--db`` names a SQLite file or a PostgreSQL database.

``postgresql://…`` (or ``postgres://…``) is a PostgreSQL connection URL, anything else a path;
the CLI reads ``EXPORTDSL_DB`` in place of a missing ``--db``. A URL may carry a password: it is
never shown (`shown`), in logs, errors or ``/healthz``.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from exportdsl.delivery.outbox import Outbox, Schedule
from exportdsl.errors import OutboxError

__all__ = [
    "POSTGRES_SCHEMES",
    "database_secrets",
    "is_postgres",
    "open_outbox",
    "shown",
    "storage_errors",
    "url_secrets",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# libpq's parameters a URL's query may carry that are secrets (`?password=…` works as `:pw@`)
SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


def is_postgres(location: str | Path) -> bool:
    return str(location).startswith(POSTGRES_SCHEMES)


def shown(location: str | Path) -> str:
    """The location as it may be shown: a URL's password (and a ``?password=`` in its query)
    replaced by ``***``."""
    text = str(location)
    if not is_postgres(text):
        return text
    try:
        parts = urlsplit(text)
        if parts.password is not None:
            user = parts.username or ""
            host = parts.netloc.rpartition("@")[2]
            text = urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
        head, mark, query = text.partition("?")
        pairs = (each.partition("=") for each in query.split("&"))
        hidden = (
            f"{name}=***" if unquote(name) in SECRET_PARAMETERS else f"{name}{equals}{value}"
            for name, equals, value in pairs
        )
        return head + mark + "&".join(hidden)
    except ValueError:  # a URL urllib cannot read: nothing of it is shown
        return "postgresql://(a URL that cannot be read)"


def database_secrets(location: str | Path, env: Mapping[str, str]) -> list[str]:
    """The passwords a PostgreSQL outbox is reached with (in its URL, or PGPASSWORD): redacted
    in every log line, as the connectors' secrets are."""
    if not is_postgres(location):
        return []
    return [secret for secret in [env.get("PGPASSWORD", ""), *url_secrets(location)] if secret]


def url_secrets(location: str | Path) -> list[str]:
    """The secrets a PostgreSQL URL carries (its password, a ``?password=`` or ``?sslpassword=``),
    each as given and as decoded, the longest first."""
    # Read by hand, not by urllib: a URL it cannot read (libpq quotes it whole in its error)
    # still has its password found.
    rest = str(location).partition("://")[2]
    authority, _, rest = rest.partition("/")
    userinfo = authority.split("?")[0].split("#")[0].rpartition("@")[0]
    found = {userinfo.partition(":")[2]}
    query = str(location).partition("?")[2].partition("#")[0]
    for name, _, value in (each.partition("=") for each in query.split("&")):
        if unquote(name) in SECRET_PARAMETERS:
            found.add(value)
    found |= {unquote(secret) for secret in found}
    return sorted((secret for secret in found if secret), key=len, reverse=True)


def open_outbox(
    location: str | Path,
    *,
    clock: Callable[[], float] | None = None,
    schedule: Schedule | None = None,
    rng: random.Random | None = None,
    durable: bool = True,
    create: bool = True,
    upgrade: bool = False,
) -> Outbox:
    """The outbox at ``location``, its schema made or upgraded when ``create`` (or ``upgrade``).

    ``clock`` stands in for "now" (tests); without one, SQLite uses this machine's clock and
    PostgreSQL the database's, so that nodes whose clocks differ agree on every lease."""
    if is_postgres(location):
        from exportdsl.delivery.postgres import PostgresOutbox

        outbox: Outbox = PostgresOutbox(
            str(location),
            clock=clock,
            schedule=schedule,
            rng=rng,
            durable=durable,
            create=create,
            upgrade=upgrade,
        )
        return outbox
    from exportdsl.delivery.sqlite import SqliteOutbox

    return SqliteOutbox(
        location,
        clock=clock or time.time,
        schedule=schedule,
        rng=rng,
        durable=durable,
        create=create,
        upgrade=upgrade,
    )


def storage_errors(location: str | Path) -> tuple[type[Exception], ...]:
    """What the back end at ``location`` raises when it fails (held, unreachable, full)."""
    if is_postgres(location):
        import psycopg

        return (psycopg.Error, OutboxError)
    return (sqlite3.Error, OutboxError)
