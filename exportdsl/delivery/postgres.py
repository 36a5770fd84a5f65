"""The outbox in a PostgreSQL database: several ``serve`` nodes on one shared, durable outbox.

The same contract as the SQLite file (`outbox.Outbox`), kept with what PostgreSQL offers where
SQLite lets one writer in at a time:

- claims take rows with ``FOR UPDATE SKIP LOCKED`` (two nodes never hold the same delivery), and
  a target's concurrency limit holds across all nodes because each claim takes that target's
  advisory lock in its transaction before counting the target's live leases: two nodes cannot
  both see 3 of 4 and both claim;
- a chat is accepted under an advisory lock of its own (connector and id), so two nodes accepting
  it at once store it once, whichever ``endAt`` each holds;
- accepted chats are committed with ``synchronous_commit = on`` (on disk before the 2xx); the
  workers' bookkeeping (``durable=False``) with it off, as with SQLite's ``synchronous=NORMAL``;
- every "now" is the database's clock (``clock_timestamp()``), never a node's, so nodes whose
  clocks differ agree on every lease and heartbeat; a ``clock`` given (tests) stands in for it;
- a batch of accepted chats sends one ``NOTIFY exportdsl_work``; `PostgresOutbox.watch` LISTENs.

Times are stored as seconds since 1970 (``double precision``), as in the SQLite file, so a
`Delivery` reads the same from both.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from exportdsl.delivery.database import newer_schema
from exportdsl.delivery.logs import fields
from exportdsl.delivery.outbox import (
    FAILED_BEFORE,
    MAX_CRASHES,
    NO_END,
    PURGE_BATCH,
    SCHEMA_VERSION,
    Accepted,
    Attempt,
    AttemptTexts,
    Delivery,
    DeliveryQuery,
    Incoming,
    Node,
    Outbox,
    Rescue,
    Schedule,
    crash_error,
)
from exportdsl.delivery.store import shown, url_secrets
from exportdsl.errors import OutboxError
from exportdsl.vocabulary import DeliveryStatus

__all__ = ["CHANNEL", "PostgresOutbox"]

log = logging.getLogger("exportdsl.outbox")

CHANNEL = "exportdsl_work"  # NOTIFY'd when work is stored or made due; `watch` LISTENs
POOL_SIZE = 4  # connections of one outbox at most (each thread of a node opens its own outbox)
CONNECT_TIMEOUT = 10  # seconds to reach the database before giving up with its reason
LOCK_TIMEOUT = "5s"  # waiting longer for a lock is an error: nothing here holds one for long
IDLE_IN_TRANSACTION = "10s"  # a session idle that long in a transaction is ended by the server
WATCH_PAUSE = 1.0  # seconds between two attempts to listen again after the connection dropped

Connection = psycopg.Connection[DictRow]

# "Now" in every statement: the clock given (tests), else the database's own.
NOW = "COALESCE(%(now)s::double precision, extract(epoch FROM clock_timestamp())::double precision)"

# The schema, every statement idempotent: made and upgraded by the same script (`_prepare`). A
# later version adds what it needs here the same way (ADD COLUMN IF NOT EXISTS, …).
_SCHEMA = """
-- the schema's version: one row, `SCHEMA_VERSION` once made or upgraded
CREATE TABLE IF NOT EXISTS exportdsl_schema (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    version integer NOT NULL
);
CREATE TABLE IF NOT EXISTS chats (
    connector   text NOT NULL,
    chat_id     text NOT NULL,
    end_at      bigint NOT NULL,          -- the version: the chat's endAt (ms), -1 without one
    body        bytea NOT NULL,           -- the JSON exactly as received
    received_at double precision NOT NULL,
    hook_key    text NOT NULL,            -- the hook delivery's Idempotency-Key
    presses     integer NOT NULL DEFAULT 0,  -- Report Export presses so far
    PRIMARY KEY (connector, chat_id, end_at)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- never reused
    connector       text NOT NULL,
    chat_id         text NOT NULL,
    end_at          bigint NOT NULL,
    reason          text NOT NULL,        -- hook | button
    idempotency_key text NOT NULL,
    target          text NOT NULL,        -- the back end's host: the unit of the concurrency limit
    status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL,
    lease_owner     text,                 -- node-id/worker
    lease_until     double precision,
    last_error      text,
    last_status     integer,
    created_at      double precision NOT NULL,
    finished_at     double precision,
    crashes         integer NOT NULL DEFAULT 0,  -- attempts cut short by their node's death
    FOREIGN KEY (connector, chat_id, end_at) REFERENCES chats (connector, chat_id, end_at)
);
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS crashes integer NOT NULL DEFAULT 0;
-- the claim: per target, its due work in order (only pending rows: delivered ones pile up)
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (target, next_attempt_at, id)
    WHERE status = 'pending';
-- the claim's count of a target's live leases, and the rescue of a dead node's
CREATE INDEX IF NOT EXISTS deliveries_leased ON deliveries (target)
    WHERE status = 'pending' AND lease_owner IS NOT NULL;
-- a chat's deliveries: purging chats asks whether any refers to them (and so does the foreign key)
CREATE INDEX IF NOT EXISTS deliveries_chat ON deliveries (connector, chat_id, end_at);
-- retention and the operator's listings
CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (status, finished_at);
-- the console's listings, latest first, by state, connector or chat (schema 4)
CREATE INDEX IF NOT EXISTS deliveries_status_id ON deliveries (status, id);
CREATE INDEX IF NOT EXISTS deliveries_connector_id ON deliveries (connector, id);
CREATE INDEX IF NOT EXISTS deliveries_chat_id ON deliveries (chat_id, id);
-- each delivery's attempt history (schema 4): removed with its delivery
CREATE TABLE IF NOT EXISTS attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- the order they were made in
    delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number      integer NOT NULL,         -- the delivery's attempt count then (a retry restarts it)
    started_at  double precision NOT NULL,
    seconds     double precision NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    status      integer,                  -- the back end's HTTP status, when it answered
    error       text,                     -- redacted
    answer      text                      -- the answer's first KiB, redacted
);
-- the request as it went out, redacted (schema 5: NULL for the attempts made before)
ALTER TABLE attempts ADD COLUMN IF NOT EXISTS request text;
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts (delivery_id);
CREATE TABLE IF NOT EXISTS nodes (
    id           text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    process      text NOT NULL,
    started_at   double precision NOT NULL,
    heartbeat_at double precision NOT NULL,   -- by the database's clock
    state        text NOT NULL CHECK (state IN ('alive', 'dead', 'stopped'))
);
"""
_TABLES = ("chats", "deliveries", "nodes", "attempts")

# Advisory lock keys: 64-bit, from a name of ours, so they do not meet another application's
_SCHEMA_LOCK_NAME = "schema"

# A due delivery that no live lease holds; with ``connectors``, only theirs.
_DUE = (
    f"status = 'pending' AND next_attempt_at <= {NOW}"
    f" AND (lease_until IS NULL OR lease_until < {NOW})"
)
_ONLY = " AND (%(only)s::text[] IS NULL OR connector = ANY(%(only)s::text[]))"


def _live_leases(target: str) -> str:
    """How many deliveries of ``target`` are leased right now (a lease that ran out is free)."""
    return (
        f"(SELECT count(*) FROM deliveries WHERE target = {target} AND status = 'pending'"
        f" AND lease_owner IS NOT NULL AND lease_until >= {NOW})"
    )


# Every target with pending work (a skip scan over the index deliveries_due: one probe per
# target, whatever the backlog) that has due work and seems to have room (a snapshot without the
# lock: only a hint, the claim counts again), the one waiting longest first.
_DUE_TARGETS = f"""
WITH RECURSIVE targets AS (
    (SELECT target FROM deliveries WHERE status = 'pending' ORDER BY target LIMIT 1)
    UNION ALL
    SELECT (SELECT d.target FROM deliveries AS d WHERE d.status = 'pending'
            AND d.target > targets.target ORDER BY d.target LIMIT 1)
    FROM targets WHERE targets.target IS NOT NULL
)
SELECT targets.target FROM targets CROSS JOIN LATERAL (
    SELECT next_attempt_at, id FROM deliveries
    WHERE target = targets.target AND {_DUE}{_ONLY}
    ORDER BY next_attempt_at, id LIMIT 1
) AS first
WHERE {_live_leases("targets.target")} < %(limit)s
ORDER BY first.next_attempt_at, first.id
"""

# The claim of a target's first due delivery, when its live leases are under the limit; run
# while holding the target's advisory lock, in a statement after it (a snapshot that sees every
# lease committed before the lock was granted).
_CLAIM = f"""
UPDATE deliveries SET lease_owner = %(owner)s, lease_until = {NOW} + %(lease)s,
    attempts = attempts + 1
WHERE id = (
    SELECT id FROM deliveries WHERE target = %(target)s AND {_DUE}{_ONLY}
    ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
) AND {_live_leases("%(target)s")} < %(limit)s
RETURNING *
"""

# The dead's leases: owners are "node-id/worker"
_HELD_BY_DEAD = (
    "status = 'pending' AND lease_owner IS NOT NULL AND EXISTS (SELECT 1 FROM"
    " unnest(%(dead)s::text[]) AS dead WHERE starts_with(lease_owner, dead || '/'))"
)


class PostgresOutbox(Outbox):
    """The outbox in a PostgreSQL database (``postgresql://`` URL): the contract of
    `outbox.Outbox`, shared by any number of ``serve`` nodes. Safe to share between threads:
    each call takes a connection from a small pool."""

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float] | None = None,
        schedule: Schedule | None = None,
        rng: random.Random | None = None,
        durable: bool = True,
        create: bool = True,
        upgrade: bool = False,
    ) -> None:
        """``clock`` None: every "now" is the database's. ``durable=False`` is for the workers:
        their bookkeeping is committed without waiting for the disk (a crash of the database
        may lose the last of it, and a delivery is then made again, under the same key)."""
        self.url = url
        self.location = shown(url)
        self._given_clock = clock
        self.clock = clock or self._database_now
        self.schedule = schedule or Schedule()
        self.rng = rng or random.Random()
        self.durable = durable
        with self._connect() as conn:  # its reason, at once, when the database is out of reach
            try:
                self.found_version = _prepare(conn, self.location, create=create, upgrade=upgrade)
            except psycopg.Error as error:  # no privilege, no schema to create the tables in
                raise OutboxError(
                    f"cannot use the outbox {self.location}: {self._reason(error)}",
                    hint="the role needs CREATE on the database's schema the first time, then "
                    "SELECT, INSERT, UPDATE and DELETE on its tables (docs/serve.md, PostgreSQL)",
                ) from None
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True, "row_factory": dict_row},
            configure=self._configure,
            connection_class=Connection,
            name="exportdsl-outbox",
            timeout=CONNECT_TIMEOUT,
            num_workers=1,
            open=True,
        )
        try:  # its first connection made now: a call meanwhile would make the pool grow a second
            self._pool.wait(timeout=CONNECT_TIMEOUT)
        except PoolTimeout:
            self._pool.close()
            raise OutboxError(
                f"cannot connect to the outbox {self.location}: no connection within "
                f"{CONNECT_TIMEOUT} s",
                hint="is PostgreSQL running there, and does it accept more connections?",
            ) from None

    # --- connections -----------------------------------------------------------------------------

    def _connect(self) -> Connection:
        """A connection of its own (not from the pool): the schema's check, and `watch`."""
        try:
            return psycopg.connect(
                self.url, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT
            )
        except psycopg.Error as error:
            raise OutboxError(
                f"cannot connect to the outbox {self.location}: {self._reason(error)}",
                hint="is PostgreSQL running there, and do the URL's user, password and database "
                "name hold? (postgresql://USER:PASSWORD@HOST:PORT/DATABASE)",
            ) from None

    def _reason(self, error: BaseException) -> str:
        """psycopg's words on one line, with the URL's password never in them."""
        return _without_password(" ".join(str(error).split()) or type(error).__name__, self.url)

    def _configure(self, conn: Connection) -> None:
        """Each pooled connection: the bookkeeping's durability for the whole session (an accept
        still sets it on for its own transaction), and no lock waited for without end: a node
        paused (SIGSTOP, a VM migrated) in the middle of a transaction must not hold up the
        others' claims (`LOCK_TIMEOUT`), and its session ends when it stays idle in it."""
        conn.execute(
            f"SET synchronous_commit = {'on' if self.durable else 'off'};"
            f" SET lock_timeout = '{LOCK_TIMEOUT}';"
            f" SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION}'"
        )

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    @contextmanager
    def _statement(self) -> Iterator[Connection]:
        """A connection for one statement, its own transaction (autocommit): no BEGIN and COMMIT
        round trips for the workers' one-statement finishes."""
        with self._pool.connection() as conn:
            yield conn

    def _rows(self, query: str, args: dict[str, Any] | None = None) -> list[DictRow]:
        with self._pool.connection() as conn:
            return conn.execute(query, args or {}).fetchall()

    def _now(self) -> float | None:
        """The "now" statements are given: the clock's, or None for the database's."""
        return None if self._given_clock is None else self._given_clock()

    def _database_now(self) -> float:
        return float(self._rows(f"SELECT {NOW} AS now", {"now": None})[0]["now"])

    # --- accepting -------------------------------------------------------------------------------

    def accept_many(self, batch: Sequence[Incoming]) -> list[Accepted]:
        """Store chats and their deliveries in one transaction, durable before it returns.

        Each chat's advisory lock is taken first (in one order, so two batches never wait on each
        other in a circle): a chat accepted by two nodes at once is stored once, and a later
        ``endAt`` is a new version as on SQLite. One NOTIFY for the batch wakes every node."""
        if not batch:
            return []
        now = self._now()
        with self._transaction() as db:
            db.execute("SET LOCAL synchronous_commit = on")  # whatever the role's default
            db.execute(
                "SELECT pg_advisory_xact_lock(key) FROM unnest(%(keys)s::bigint[]) AS key"
                " ORDER BY key",
                {"keys": sorted({_lock_key("chat", i.connector, i.chat_id) for i in batch})},
            )
            stored = _each_row(db, _ACCEPT, [_accept_args(item, now) for item in batch])
            results = [
                Accepted(int(row["id"]), duplicate=False) if row else Accepted(None, duplicate=True)
                for row in stored
            ]
            if any(not result.duplicate for result in results):
                db.execute(f"NOTIFY {CHANNEL}")
        return results

    def request_export(self, connector: str, chat_id: str, target: str) -> int:
        """The Report Export button: a new delivery of a stored chat (its latest version), with a
        key of its own (the hook's and a number). The chat's row lock orders two presses."""
        with self._transaction() as db:
            chat = db.execute(
                "UPDATE chats SET presses = presses + 1 WHERE connector = %(connector)s"
                " AND chat_id = %(chat)s AND end_at = (SELECT max(end_at) FROM chats"
                " WHERE connector = %(connector)s AND chat_id = %(chat)s)"
                " RETURNING hook_key, presses, end_at",
                {"connector": connector, "chat": chat_id},
            ).fetchone()
            if chat is None:
                raise OutboxError(f"no chat {chat_id!r} stored for connector {connector!r}")
            row = db.execute(
                "INSERT INTO deliveries (connector, chat_id, end_at, reason, idempotency_key,"
                " target, status, next_attempt_at, created_at) VALUES (%(connector)s, %(chat)s,"
                f" %(version)s, 'button', %(key)s, %(target)s, 'pending', {NOW}, {NOW})"
                " RETURNING id",
                {
                    "connector": connector,
                    "chat": chat_id,
                    "version": chat["end_at"],
                    "key": f"{chat['hook_key']}.export-{chat['presses']}",
                    "target": target,
                    "now": self._now(),
                },
            ).fetchone()
            db.execute(f"NOTIFY {CHANNEL}")
        assert row is not None  # an INSERT … RETURNING returns its row
        return int(row["id"])

    # --- working ---------------------------------------------------------------------------------

    def claim(
        self,
        owner: str,
        lease: float = 60.0,
        per_target: int = 4,
        connectors: Collection[str] | None = None,
    ) -> Delivery | None:
        """The next due delivery, leased to ``owner``; counts as an attempt.

        The targets with due work are tried in the order of their longest-waiting delivery. For
        each, its advisory lock is taken (waiting only for the first: the claim then holds no
        other lock, so no two claims can wait on each other in a circle; for the later ones a
        target another claim holds right now is passed over), then its live leases are counted
        and its first due delivery taken with ``FOR UPDATE SKIP LOCKED``, in one statement."""
        args = {
            "owner": owner,
            "lease": lease,
            "limit": per_target,
            "only": None if connectors is None else sorted(connectors),
            "now": self._now(),
        }
        try:
            with self._transaction() as db:
                targets = [row["target"] for row in db.execute(_DUE_TARGETS, args)]
                for number, target in enumerate(targets):
                    if not _lock_target(db, target, wait=number == 0):
                        continue
                    claimed = db.execute(_CLAIM, {**args, "target": target}).fetchone()
                    if claimed is not None:
                        return _delivery(claimed)
        except psycopg.errors.LockNotAvailable:  # a claim held the lock past LOCK_TIMEOUT
            log.warning("a target's claim lock was held for longer than %s", LOCK_TIMEOUT)
        return None

    def renew(self, delivery_ids: Sequence[int], owner: str, lease: float) -> int:
        if not delivery_ids:
            return 0
        with self._statement() as db:
            return db.execute(
                f"UPDATE deliveries SET lease_until = {NOW} + %(lease)s"
                " WHERE lease_owner = %(owner)s AND id = ANY(%(ids)s)",
                {"lease": lease, "owner": owner, "ids": list(delivery_ids), "now": self._now()},
            ).rowcount

    def release(self, delivery: Delivery, owner: str, hold: float = 1.0) -> bool:
        with self._statement() as db:
            return (
                db.execute(
                    "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL,"
                    f" attempts = attempts - 1, next_attempt_at = greatest(next_attempt_at,"
                    f" {NOW} + %(hold)s) WHERE id = %(id)s AND lease_owner = %(owner)s",
                    {"hold": hold, "id": delivery.id, "owner": owner, "now": self._now()},
                ).rowcount
                == 1
            )

    def succeed(
        self,
        delivery: Delivery,
        owner: str,
        status: int | None = None,
        *,
        seconds: float = 0.0,
        answer: str | None = None,
        request: str | None = None,
    ) -> bool:
        texts = AttemptTexts.of(None, answer, request)
        finish = (
            "UPDATE deliveries SET status = 'delivered', lease_owner = NULL,"
            f" lease_until = NULL, finished_at = {NOW}, last_status = %(status)s,"
            " last_error = NULL WHERE id = %(id)s AND lease_owner = %(owner)s"
        )
        with self._statement() as db:
            return (
                db.execute(
                    _with_attempt(finish),
                    {
                        "status": status,
                        "id": delivery.id,
                        "owner": owner,
                        "now": self._now(),
                        **_attempt_args(delivery, "delivered", texts, seconds),
                    },
                ).rowcount
                == 1
            )

    def fail(
        self,
        delivery: Delivery,
        owner: str,
        error: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
        seconds: float = 0.0,
        answer: str | None = None,
        request: str | None = None,
    ) -> str | None:
        delay = None if permanent else self.schedule.delay(delivery.attempts, retry_after, self.rng)
        new_status = DeliveryStatus.DEAD if delay is None else DeliveryStatus.PENDING
        texts = AttemptTexts.of(error, answer, request)
        outcome = "dead" if delay is None else "retry"
        finish = (
            f"UPDATE deliveries SET status = %(new)s, next_attempt_at = {NOW} + %(delay)s,"
            " lease_owner = NULL, lease_until = NULL, last_error = %(error)s,"
            f" last_status = %(status)s, finished_at = CASE WHEN %(dead)s THEN {NOW} END"
            " WHERE id = %(id)s AND lease_owner = %(owner)s"
        )
        with self._statement() as db:
            changed = db.execute(
                _with_attempt(finish),
                {
                    "new": str(new_status),
                    "delay": delay or 0.0,
                    "error": texts.error or "",
                    "status": status,
                    "dead": delay is None,
                    "id": delivery.id,
                    "owner": owner,
                    "now": self._now(),
                    **_attempt_args(delivery, outcome, texts, seconds),
                },
            ).rowcount
        return new_status if changed else None

    def chat_body(self, connector: str, chat_id: str, end_at: int | None = None) -> bytes:
        rows = self._rows(
            "SELECT body FROM chats WHERE connector = %(connector)s AND chat_id = %(chat)s"
            " AND (%(version)s::bigint IS NULL OR end_at = %(version)s::bigint)"
            " ORDER BY end_at DESC LIMIT 1",
            {"connector": connector, "chat": chat_id, "version": end_at},
        )
        if not rows:
            raise OutboxError(f"no chat {chat_id!r} stored for connector {connector!r}")
        return bytes(rows[0]["body"])

    def watch(self, wake: Callable[[], None], stopping: threading.Event) -> None:
        """LISTEN on a connection of its own, calling ``wake`` on each NOTIFY until ``stopping``.
        When the connection drops it listens again after a pause, and wakes once then (what was
        stored meanwhile sent its NOTIFY to nobody). An outage is logged once, not each pause."""
        lost = False
        while not stopping.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if lost:
                        log.info(
                            "listening to the outbox again", extra=fields(outbox=self.location)
                        )
                    lost = False
                    wake()
                    while not stopping.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            wake()
            except (OutboxError, psycopg.Error) as error:
                if not lost:
                    reason = (
                        error.message if isinstance(error, OutboxError) else self._reason(error)
                    )
                    log.warning(
                        "not listening to the outbox (the workers poll it): %s",
                        reason,
                        extra=fields(outbox=self.location),
                    )
                lost = True
                stopping.wait(WATCH_PAUSE)

    # --- nodes -----------------------------------------------------------------------------------

    def join(self, node: Node) -> None:
        with self._statement() as db:
            db.execute(
                "INSERT INTO nodes (id, host, pid, process, started_at, heartbeat_at, state)"
                f" VALUES (%(id)s, %(host)s, %(pid)s, %(process)s, {NOW}, {NOW}, 'alive')",
                {
                    "id": node.id,
                    "host": node.host,
                    "pid": node.pid,
                    "process": node.process,
                    "now": self._now(),
                },
            )

    def heartbeat(self, node_id: str) -> bool:
        with self._statement() as db:
            return (
                db.execute(
                    f"UPDATE nodes SET heartbeat_at = {NOW} WHERE id = %(id)s AND state = 'alive'",
                    {"id": node_id, "now": self._now()},
                ).rowcount
                == 1
            )

    def leave(self, node_id: str) -> int:
        with self._transaction() as db:
            db.execute("UPDATE nodes SET state = 'stopped' WHERE id = %(id)s", {"id": node_id})
            released = db.execute(
                "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL,"
                f" attempts = attempts - 1 WHERE {_HELD_BY_DEAD}",
                {"dead": [node_id]},
            ).rowcount
            if released:
                db.execute(f"NOTIFY {CHANNEL}")
        return released

    def rescue(self, silence: float, gone: Collection[str] = ()) -> Rescue:
        """Two nodes rescuing at once: the second waits for the first's row locks on the nodes,
        then finds them dead already, and releases nothing twice."""
        args: dict[str, Any] = {"now": self._now(), "silence": silence, "gone": sorted(gone)}
        with self._transaction() as db:
            dead = [
                str(row["id"])
                for row in db.execute(
                    "UPDATE nodes SET state = 'dead' WHERE state = 'alive'"
                    f" AND (heartbeat_at < {NOW} - %(silence)s OR id = ANY(%(gone)s::text[]))"
                    " RETURNING id",
                    args,
                )
            ]
            if not dead:
                return Rescue()
            args |= {"dead": dead, "max": MAX_CRASHES, "error": crash_error(MAX_CRASHES)}
            killed = db.execute(
                "UPDATE deliveries SET status = 'dead', lease_owner = NULL, lease_until = NULL,"
                f" attempts = attempts - 1, crashes = crashes + 1, finished_at = {NOW},"
                f" last_error = %(error)s WHERE {_HELD_BY_DEAD} AND crashes + 1 >= %(max)s",
                args,
            ).rowcount
            released = db.execute(
                "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL,"
                f" attempts = attempts - 1, crashes = crashes + 1, next_attempt_at = {NOW}"
                f" WHERE {_HELD_BY_DEAD}",
                args,
            ).rowcount
            if released:
                db.execute(f"NOTIFY {CHANNEL}")
        return Rescue(tuple(dead), released, killed)

    def forget_nodes(self, older_than: float) -> int:
        with self._transaction() as db:
            return db.execute(
                f"DELETE FROM nodes WHERE state != 'alive' AND heartbeat_at < {NOW} - %(age)s",
                {"now": self._now(), "age": older_than},
            ).rowcount

    def nodes(self) -> list[Node]:
        rows = self._rows(
            "SELECT id, host, pid, process, started_at, heartbeat_at, state FROM nodes"
            " ORDER BY state != 'alive', heartbeat_at DESC"
        )
        return [Node(**row) for row in rows]

    # --- the operator's view ---------------------------------------------------------------------

    def deliveries(
        self, status: str | None = None, connector: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        rows = self._rows(
            "SELECT * FROM deliveries WHERE (%(status)s::text IS NULL OR status = %(status)s)"
            " AND (%(connector)s::text IS NULL OR connector = %(connector)s)"
            " ORDER BY id DESC LIMIT %(limit)s",
            {"status": status or None, "connector": connector or None, "limit": limit},
        )
        return [_delivery(row) for row in rows]

    def find(self, query: DeliveryQuery) -> list[Delivery]:
        """Only the filters given are in the statement (``x IS NULL OR …`` would keep a prepared
        statement's generic plan off the indexes)."""
        conditions = query.conditions()
        where = " AND ".join(
            condition.replace("?", f"%(p{number})s")
            for number, (condition, _) in enumerate(conditions)
        )
        args: dict[str, Any] = {f"p{n}": value for n, (_, value) in enumerate(conditions)}
        rows = self._rows(
            f"SELECT * FROM deliveries WHERE {where or 'true'} ORDER BY {query.order()}"
            " LIMIT %(limit)s",
            {**args, "limit": query.limit},
        )
        return [_delivery(row) for row in rows]

    def delivery(self, delivery_id: int) -> Delivery | None:
        rows = self._rows("SELECT * FROM deliveries WHERE id = %(id)s", {"id": delivery_id})
        return _delivery(rows[0]) if rows else None

    def attempts(self, delivery_id: int) -> list[Attempt]:
        rows = self._rows(
            "SELECT delivery_id, number, started_at, seconds, outcome, status, error, answer,"
            " request FROM attempts WHERE delivery_id = %(id)s ORDER BY id",
            {"id": delivery_id},
        )
        return [Attempt(**row) for row in rows]

    def recorded_attempts(self, delivery_ids: Sequence[int]) -> dict[int, int]:
        if not delivery_ids:
            return {}
        rows = self._rows(
            "SELECT delivery_id, count(*) AS n FROM attempts WHERE delivery_id = ANY(%(ids)s)"
            " GROUP BY delivery_id",
            {"ids": list(delivery_ids)},
        )
        return {int(row["delivery_id"]): int(row["n"]) for row in rows}

    def retry(
        self,
        ids: Sequence[int] = (),
        status: str | None = None,
        *,
        states: Collection[str] | None = None,
    ) -> int:
        """Send deliveries again now, with a fresh schedule (dead ones included). One a worker is
        attempting right now is left alone: taking it from under the worker would send it twice;
        with ``states``, one in another state too (in the same UPDATE)."""
        where, args = _selection(ids, status)
        if states is not None:
            where, args = f"({where}) AND status = ANY(%(states)s)", args | {"states": [*states]}
        with self._transaction() as db:
            count = db.execute(
                f"UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = {NOW},"
                f" finished_at = NULL WHERE ({where}) AND (lease_until IS NULL"
                f" OR lease_until < {NOW})",
                {**args, "now": self._now()},
            ).rowcount
            if count:
                db.execute(f"NOTIFY {CHANNEL}")
        return count

    def purge(
        self, ids: Sequence[int] = (), status: str | None = None, older_than: float | None = None
    ) -> int:
        where, args = _selection(ids, status)
        if older_than is not None:
            where = f"({where}) AND finished_at < {NOW} - %(older)s"
            args |= {"older": older_than, "now": self._now()}
        return self._delete("deliveries", "id", f"status != 'pending' AND {where}", args)

    def purge_chats(self, older_than: float) -> int:
        """The chats no delivery refers to (pending, dead or delivered: a dead one may be
        retried), received more than ``older_than`` seconds ago; each version is a chat."""
        unused = (
            f"received_at < {NOW} - %(older)s AND NOT EXISTS (SELECT 1 FROM deliveries AS d"
            " WHERE d.connector = chats.connector AND d.chat_id = chats.chat_id"
            " AND d.end_at = chats.end_at)"
        )
        return self._delete(
            "chats", "connector, chat_id, end_at", unused, {"older": older_than, "now": self._now()}
        )

    def _delete(self, table: str, key: str, where: str, args: dict[str, Any]) -> int:
        """DELETE in transactions of `PURGE_BATCH` rows: a large purge never holds many row locks
        for long, and autovacuum can reclaim each batch's rows while the next is removed."""
        removed = 0
        while True:
            with self._statement() as db:
                count = db.execute(
                    f"DELETE FROM {table} WHERE ({key}) IN"
                    f" (SELECT {key} FROM {table} WHERE {where} LIMIT {PURGE_BATCH})",
                    args,
                ).rowcount
            removed += count
            if count < PURGE_BATCH:
                return removed

    def vacuum(self) -> None:
        """VACUUM ANALYZE the tables (outside a transaction: the pool's connections autocommit).
        PostgreSQL keeps the space for later rows rather than giving it back to the file system
        (VACUUM FULL would, locking the tables meanwhile): autovacuum does this on its own."""
        with self._pool.connection() as conn:
            conn.execute(f"VACUUM ANALYZE {', '.join(_TABLES)}")

    def pending_by_connector(self) -> dict[str, int]:
        rows = self._rows(
            "SELECT connector, count(*) AS n FROM deliveries WHERE status = 'pending'"
            " GROUP BY connector"
        )
        return {str(row["connector"]): int(row["n"]) for row in rows}

    def counts(self) -> dict[str, int]:
        counts = {status: 0 for status in (*DeliveryStatus, "retrying", "chats")}
        rows = self._rows(
            "SELECT status, count(*) AS n FROM deliveries GROUP BY status"
            " UNION ALL SELECT 'retrying', count(*) FROM deliveries"
            f" WHERE status = 'pending' AND {FAILED_BEFORE}"
            " UNION ALL SELECT 'chats', count(*) FROM chats"
        )
        for row in rows:
            counts[row["status"]] = int(row["n"])
        return counts

    # --- the database itself ---------------------------------------------------------------------

    def schema_version(self) -> int:
        rows = self._rows("SELECT version FROM exportdsl_schema")
        return int(rows[0]["version"]) if rows else 0

    def probe(self) -> None:
        """A durable write that changes nothing: the version row written again as it is, and
        committed with ``synchronous_commit = on``, so the commit waits for the disk as an
        accept's does; raises what PostgreSQL says (out of disk space, read-only, no privilege)."""
        with self._transaction() as db:
            db.execute("SET LOCAL synchronous_commit = on")
            db.execute("UPDATE exportdsl_schema SET version = version")

    def close(self) -> None:
        self._pool.close()


# One statement per chat: stored unless a version as late is held, then its delivery.
_ACCEPT = f"""
WITH stored AS (
    INSERT INTO chats (connector, chat_id, end_at, body, received_at, hook_key)
    SELECT %(connector)s, %(chat)s, %(version)s, %(body)s, {NOW}, %(key)s
    WHERE NOT EXISTS (SELECT 1 FROM chats WHERE connector = %(connector)s
        AND chat_id = %(chat)s AND end_at >= %(version)s)
    ON CONFLICT DO NOTHING
    RETURNING connector, chat_id, end_at, received_at
)
INSERT INTO deliveries (connector, chat_id, end_at, reason, idempotency_key, target, status,
    next_attempt_at, created_at)
SELECT connector, chat_id, end_at, 'hook', %(key)s, %(target)s, 'pending', received_at,
    received_at FROM stored
RETURNING id
"""


def _with_attempt(finish: str) -> str:
    """A finish (an UPDATE of the delivery, fenced by its lease) and its attempt in the history,
    in one statement: the attempt is recorded only when the finish is (a lost lease records
    neither); its row count is the finish's."""
    return (
        f"WITH finished AS ({finish} RETURNING id) INSERT INTO attempts (delivery_id, number,"
        " started_at, seconds, outcome, status, error, answer, request) SELECT id, GREATEST((SELECT"
        " COALESCE(max(a.number), 0) + 1 FROM attempts AS a WHERE a.delivery_id = finished.id),"
        " %(number)s::integer),"
        f" {NOW} - %(seconds)s::double precision, %(seconds)s::double precision,"
        " %(outcome)s::text, %(status)s::integer, %(attempt_error)s::text, %(answer)s::text,"
        " %(request)s::text FROM finished"
    )


def _attempt_args(
    delivery: Delivery, outcome: str, texts: AttemptTexts, seconds: float
) -> dict[str, Any]:
    return {
        "number": delivery.attempts,  # numbered on across retries (sqlite.py's _record_attempt)
        "seconds": seconds,
        "outcome": outcome,
        "attempt_error": texts.error,
        "answer": texts.answer,
        "request": texts.request,
    }


def _accept_args(item: Incoming, now: float | None) -> dict[str, Any]:
    return {
        "connector": item.connector,
        "chat": item.chat_id,
        "version": NO_END if item.end_at is None else item.end_at,
        "body": item.body,
        "key": item.key,
        "target": item.target,
        "now": now,
    }


def _each_row(db: Connection, query: str, each: list[dict[str, Any]]) -> list[DictRow | None]:
    """``query`` run with each of the arguments in one pipeline (one round trip for all, not one
    each); the first row each returned, None where it returned none."""
    cursor = db.cursor()
    cursor.executemany(query, each, returning=True)
    rows = []
    while True:
        rows.append(cursor.fetchone())
        if not cursor.nextset():
            break
    assert len(rows) == len(each)
    return rows


def _prepare(conn: Connection, location: str, *, create: bool, upgrade: bool) -> int | None:
    """The schema checked, and made or upgraded (``create``, or ``upgrade`` alone for an existing
    outbox) in one transaction under an advisory lock: nodes starting together do not race, the
    later ones find it made. A database a newer exportdsl made is refused, nothing changed. The
    version found (None: there was no outbox)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": _lock_key(_SCHEMA_LOCK_NAME)})
        found = _found_version(conn, location)
        if found is not None and found > SCHEMA_VERSION:
            raise newer_schema(location, found)
        if found == SCHEMA_VERSION or (found is not None and not (create or upgrade)):
            return found
        if found is None and not create:
            raise OutboxError(
                f"{location} is not an exportdsl outbox (no table exportdsl_schema)",
                hint="start `exportdsl serve --db URL` once to make it, or check the URL's "
                "database name",
            )
        conn.execute(_SCHEMA)
        conn.execute(
            "INSERT INTO exportdsl_schema (one, version) VALUES (true, %(version)s)"
            " ON CONFLICT (one) DO UPDATE SET version = excluded.version",
            {"version": SCHEMA_VERSION},
        )
        return found


def _found_version(conn: Connection, location: str) -> int | None:
    """The version the database carries; None when it has no outbox. Tables of the outbox's
    names without the version table belong to someone else: refused, never written."""
    tables = {
        str(row["name"])
        for row in conn.execute(
            "SELECT c.relname AS name FROM pg_class AS c"
            " WHERE c.relname = ANY(%(names)s) AND c.relkind IN ('r', 'p', 'v')"
            " AND c.relnamespace = to_regnamespace(current_schema())::oid",
            {"names": ["exportdsl_schema", *_TABLES]},
        )
    }
    if "exportdsl_schema" not in tables:
        if tables:
            raise OutboxError(
                f"{location} is not an exportdsl outbox (it has tables named "
                f"{', '.join(sorted(tables))} of another application)",
                hint="give exportdsl a database (or a schema, ?options=-csearch_path=NAME) "
                "of its own",
            )
        return None
    row = conn.execute("SELECT version FROM exportdsl_schema").fetchone()
    return int(row["version"]) if row else 0


def _lock_target(db: Connection, target: str, *, wait: bool) -> bool:
    """The target's advisory lock for this transaction; without ``wait``, only if free now."""
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    row = db.execute(
        f"SELECT {function}(%(key)s)::text AS got", {"key": _lock_key("target", target)}
    ).fetchone()
    return row is not None and row["got"] != "false"


def _without_password(text: str, url: str) -> str:
    """``text`` with the URL's passwords (as given, and as decoded) replaced by ``***``."""
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


def _lock_key(*names: str) -> int:
    """A 64-bit advisory lock key for a name of ours ("exportdsl" first: other applications'
    keys are their own)."""
    digest = hashlib.blake2b("\0".join(("exportdsl", *names)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _selection(ids: Sequence[int], status: str | None) -> tuple[str, dict[str, Any]]:
    if ids:
        return "id = ANY(%(ids)s)", {"ids": list(ids)}
    if status:
        return "status = %(status)s", {"status": status}
    raise OutboxError("say which deliveries: ids or a status")


def _delivery(row: DictRow) -> Delivery:
    return Delivery(**{**row, "status": DeliveryStatus(row["status"])})
