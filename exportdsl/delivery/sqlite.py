"""The outbox in a SQLite file: the embedded default, for one machine.

A claim is a single write transaction (SQLite lets one writer in at a time), so two workers never
hold the same row and the per-target count cannot race; leases and heartbeats are by this
machine's clock, which every process on the file shares.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from exportdsl.delivery.database import Database
from exportdsl.delivery.outbox import (
    FAILED_BEFORE,
    MAX_CRASHES,
    NO_END,
    PURGE_BATCH,
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
from exportdsl.errors import OutboxError
from exportdsl.vocabulary import DeliveryStatus

__all__ = ["SqliteOutbox"]


class SqliteOutbox(Database, Outbox):
    """The outbox in a SQLite file (`database.Database`): the contract of `outbox.Outbox`."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        schedule: Schedule | None = None,
        rng: random.Random | None = None,
        durable: bool = True,
        create: bool = True,
        upgrade: bool = False,
    ) -> None:
        """``durable=False`` is for the workers: their bookkeeping (leases, attempts, results) is
        then committed without waiting for the disk. A process crash loses nothing in WAL mode; a
        power cut can lose the last of it, and the delivery is then made again, under the same key.
        Whatever accepts chats stays durable: a chat is on disk before its hook is answered."""
        super().__init__(path, durable=durable, create=create, upgrade=upgrade)
        self.location = self.path
        self.clock = clock
        self.schedule = schedule or Schedule()
        self.rng = rng or random.Random()

    def deliveries(
        self, status: str | None = None, connector: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        query, args = "SELECT * FROM deliveries WHERE 1 = 1", list[object]()
        if status:
            query, args = query + " AND status = ?", [*args, status]
        if connector:
            query, args = query + " AND connector = ?", [*args, connector]
        rows = (
            self._connection()
            .execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit))
            .fetchall()
        )
        return [_delivery(row) for row in rows]

    def find(self, query: DeliveryQuery) -> list[Delivery]:
        conditions = query.conditions()
        where = " AND ".join(condition for condition, _ in conditions) or "1 = 1"
        rows = self._connection().execute(
            f"SELECT * FROM deliveries WHERE {where} ORDER BY {query.order()} LIMIT ?",
            (*(value for _, value in conditions), query.limit),
        )
        return [_delivery(row) for row in rows]

    def recorded_attempts(self, delivery_ids: Sequence[int]) -> dict[int, int]:
        if not delivery_ids:
            return {}
        rows = self._connection().execute(
            "SELECT delivery_id, COUNT(*) FROM attempts WHERE delivery_id IN"
            f" ({', '.join('?' * len(delivery_ids))}) GROUP BY delivery_id",
            list(delivery_ids),
        )
        return {int(delivery_id): int(count) for delivery_id, count in rows}

    def delivery(self, delivery_id: int) -> Delivery | None:
        row = (
            self._connection()
            .execute("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
            .fetchone()
        )
        return _delivery(row) if row else None

    def attempts(self, delivery_id: int) -> list[Attempt]:
        rows = self._connection().execute(
            "SELECT * FROM attempts WHERE delivery_id = ? ORDER BY id", (delivery_id,)
        )
        return [_attempt(row) for row in rows]

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
            where = f"({where}) AND status IN ({', '.join('?' * len(states))})"
            args = [*args, *states]
        now = self.clock()
        with self._transaction() as db:
            return db.execute(
                f"UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?,"
                f" finished_at = NULL WHERE ({where}) AND (lease_until IS NULL OR lease_until < ?)",
                (now, *args, now),
            ).rowcount

    def purge(
        self, ids: Sequence[int] = (), status: str | None = None, older_than: float | None = None
    ) -> int:
        """Remove finished deliveries (never pending ones: they are accepted work); with
        ``older_than``, only those finished more than that many seconds ago."""
        where, args = _selection(ids, status)
        if older_than is not None:
            where, args = f"({where}) AND finished_at < ?", [*args, self.clock() - older_than]
        return self._delete("deliveries", f"status != 'pending' AND {where}", args)

    def purge_chats(self, older_than: float) -> int:
        """Remove the chats no delivery needs any more: none refers to them (pending, dead or
        delivered; a dead one may be retried) and they were received more than ``older_than``
        seconds ago (the Report Export button may still ask for a younger one). Each version of
        a re-opened chat is a chat of its own here."""
        unused = (
            "received_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries AS d"
            " WHERE d.connector = chats.connector AND d.chat_id = chats.chat_id"
            " AND d.end_at = chats.end_at)"
        )
        return self._delete("chats", unused, [self.clock() - older_than])

    def vacuum(self) -> None:
        """Give the space of removed rows back to the file system: SQLite rewrites the file, and
        every writer waits meanwhile (without it, later chats reuse the space)."""
        db = self._connection()
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # in WAL mode the file shrinks only then

    def _delete(self, table: str, where: str, args: Sequence[object]) -> int:
        """DELETE in transactions of `PURGE_BATCH` rows: a large purge never holds the write lock
        for long, so hooks are still committed while it runs."""
        removed = 0
        while True:
            with self._transaction() as db:
                count = db.execute(
                    f"DELETE FROM {table} WHERE rowid IN"
                    f" (SELECT rowid FROM {table} WHERE {where} LIMIT {PURGE_BATCH})",
                    args,
                ).rowcount
            removed += count
            if count < PURGE_BATCH:
                return removed

    def pending_by_connector(self) -> dict[str, int]:
        """Pending deliveries (accepted work not delivered yet) by connector name."""
        rows = self._connection().execute(
            "SELECT connector, COUNT(*) FROM deliveries WHERE status = 'pending' GROUP BY connector"
        )
        return {str(connector): int(count) for connector, count in rows}

    def counts(self) -> dict[str, int]:
        """Deliveries by state; "retrying" are the pending ones that have failed at least once."""
        db = self._connection()
        counts = {status: 0 for status in (*DeliveryStatus, "retrying", "chats")}
        for row in db.execute("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status"):
            counts[row["status"]] = row["n"]
        counts["retrying"] = db.execute(
            f"SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND {FAILED_BEFORE}"
        ).fetchone()[0]
        counts["chats"] = db.execute("SELECT COUNT(*) FROM chats").fetchone()[0]
        return counts

    # --- nodes -----------------------------------------------------------------------------------

    def join(self, node: Node) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO nodes (id, host, pid, process, started_at, heartbeat_at, state)"
                " VALUES (?, ?, ?, ?, ?, ?, 'alive')",
                (node.id, node.host, node.pid, node.process, self.clock(), self.clock()),
            )

    def heartbeat(self, node_id: str) -> bool:
        with self._transaction() as db:
            return (
                db.execute(
                    "UPDATE nodes SET heartbeat_at = ? WHERE id = ? AND state = 'alive'",
                    (self.clock(), node_id),
                ).rowcount
                == 1
            )

    def leave(self, node_id: str) -> int:
        with self._transaction() as db:
            db.execute("UPDATE nodes SET state = 'stopped' WHERE id = ?", (node_id,))
            return db.execute(
                "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL,"
                " attempts = attempts - 1 WHERE status = 'pending' AND lease_owner IS NOT NULL"
                " AND substr(lease_owner, 1, length(?) + 1) = ? || '/'",
                (node_id, node_id),
            ).rowcount

    def rescue(self, silence: float, gone: Collection[str] = ()) -> Rescue:
        now = self.clock()
        with self._transaction() as db:
            dead = [
                str(row[0])
                for row in db.execute(
                    "UPDATE nodes SET state = 'dead' WHERE state = 'alive' AND (heartbeat_at < ?"
                    " OR id IN (SELECT value FROM json_each(?))) RETURNING id",
                    (now - silence, json.dumps(sorted(gone))),
                )
            ]
            if not dead:
                return Rescue()
            leased = (
                "status = 'pending' AND lease_owner IS NOT NULL AND EXISTS (SELECT 1 FROM"
                " json_each(:dead) WHERE substr(lease_owner, 1, length(value) + 1) = value || '/')"
            )
            args = {"dead": json.dumps(dead), "now": now, "max": MAX_CRASHES}
            killed = db.execute(
                "UPDATE deliveries SET status = 'dead', lease_owner = NULL, lease_until = NULL,"
                " attempts = attempts - 1, crashes = crashes + 1, finished_at = :now,"
                f" last_error = :error WHERE {leased} AND crashes + 1 >= :max",
                {**args, "error": crash_error(MAX_CRASHES)},
            ).rowcount
            released = db.execute(
                "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL,"
                " attempts = attempts - 1, crashes = crashes + 1, next_attempt_at = :now"
                f" WHERE {leased}",
                args,
            ).rowcount
        return Rescue(tuple(dead), released, killed)

    def forget_nodes(self, older_than: float) -> int:
        with self._transaction() as db:
            return db.execute(
                "DELETE FROM nodes WHERE state != 'alive' AND heartbeat_at < ?",
                (self.clock() - older_than,),
            ).rowcount

    def nodes(self) -> list[Node]:
        rows = self._connection().execute(
            "SELECT * FROM nodes ORDER BY state != 'alive', heartbeat_at DESC"
        )
        return [Node(**{key: row[key] for key in row.keys()}) for row in rows]  # noqa: SIM118

    # --- accepting -------------------------------------------------------------------------------

    def accept_many(self, batch: Sequence[Incoming]) -> list[Accepted]:
        """Store chats and their deliveries in one transaction.

        A group commit: one fsync for all. A chat is a duplicate when the connector holds it
        already with the same ``endAt`` or a later one; with a later ``endAt`` it was re-opened,
        and is stored (beside the earlier version) and delivered again.
        """
        now = self.clock()
        results = []
        with self._transaction() as db:
            for item in batch:
                version = NO_END if item.end_at is None else item.end_at
                stored = db.execute(
                    "INSERT INTO chats (connector, chat_id, end_at, body, received_at, hook_key)"
                    " SELECT :connector, :chat, :version, :body, :now, :key"
                    " WHERE NOT EXISTS (SELECT 1 FROM chats WHERE connector = :connector"
                    " AND chat_id = :chat AND end_at >= :version)",
                    {
                        "connector": item.connector,
                        "chat": item.chat_id,
                        "version": version,
                        "body": item.body,
                        "now": now,
                        "key": item.key,
                    },
                ).rowcount
                if not stored:
                    results.append(Accepted(None, duplicate=True))
                    continue
                delivery = self._enqueue(
                    db, (item.connector, item.chat_id, version), "hook", item.target, item.key, now
                )
                results.append(Accepted(delivery, duplicate=False))
        return results

    def request_export(self, connector: str, chat_id: str, target: str) -> int:
        """The Report Export button: a new delivery of a stored chat (its latest version), with a
        key of its own (the hook's and a number), since pressing the button again means
        exporting again."""
        now = self.clock()
        with self._transaction() as db:
            chat = db.execute(
                "UPDATE chats SET presses = presses + 1 WHERE connector = ? AND chat_id = ?"
                " AND end_at = (SELECT MAX(end_at) FROM chats WHERE connector = ? AND chat_id = ?)"
                " RETURNING hook_key, presses, end_at",
                (connector, chat_id, connector, chat_id),
            ).fetchone()
            if chat is None:
                raise OutboxError(f"no chat {chat_id!r} stored for connector {connector!r}")
            key = f"{chat['hook_key']}.export-{chat['presses']}"
            version = (connector, chat_id, chat["end_at"])
            return self._enqueue(db, version, "button", target, key, now)

    def _enqueue(
        self,
        db: sqlite3.Connection,
        version: tuple[str, str, int],  # connector, chat id, end_at: the chat it delivers
        reason: str,
        target: str,
        key: str,
        now: float,
    ) -> int:
        cursor = db.execute(
            "INSERT INTO deliveries (connector, chat_id, end_at, reason, idempotency_key, target,"
            " status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (*version, reason, key, target, now, now),
        )
        return int(cursor.lastrowid or 0)

    # --- working ---------------------------------------------------------------------------------

    def claim(
        self,
        owner: str,
        lease: float = 60.0,
        per_target: int = 4,
        connectors: Collection[str] | None = None,
    ) -> Delivery | None:
        """The next due delivery, leased to ``owner``; counts as an attempt. None when nothing is
        due (or every due target is at its concurrency limit). With ``connectors``, only theirs:
        the deliveries of a connector that is not served are held, untouched, until it is."""
        now = self.clock()
        only = (
            "" if connectors is None else " AND connector IN (SELECT value FROM json_each(:only))"
        )
        with self._transaction() as db:
            row = db.execute(
                "SELECT id FROM deliveries AS d WHERE status = 'pending'"
                " AND next_attempt_at <= :now AND (lease_until IS NULL OR lease_until < :now)"
                " AND (SELECT COUNT(*) FROM deliveries AS busy WHERE busy.target = d.target"
                f"      AND busy.status = 'pending' AND busy.lease_until >= :now) < :limit{only}"
                " ORDER BY next_attempt_at, id LIMIT 1",
                {"now": now, "limit": per_target, "only": json.dumps(sorted(connectors or ()))},
            ).fetchone()
            if row is None:
                return None
            claimed = db.execute(
                "UPDATE deliveries SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
                " WHERE id = ? RETURNING *",
                (owner, now + lease, row["id"]),
            ).fetchone()
        return _delivery(claimed)

    def renew(self, delivery_ids: Sequence[int], owner: str, lease: float) -> int:
        """Extend the leases of deliveries still being attempted (a slow back end must not make
        another worker take them over); returns how many are still ``owner``'s."""
        if not delivery_ids:
            return 0
        marks = ", ".join("?" * len(delivery_ids))
        with self._transaction() as db:
            return db.execute(
                f"UPDATE deliveries SET lease_until = ? WHERE lease_owner = ? AND id IN ({marks})",
                (self.clock() + lease, owner, *delivery_ids),
            ).rowcount

    def release(self, delivery: Delivery, owner: str, hold: float = 1.0) -> bool:
        """Put a claimed delivery back, attempt uncounted, to be looked at again in ``hold``
        seconds (not the retry schedule: nothing was tried): its connector stopped being served
        between the claim and the attempt. False when the lease was lost."""
        with self._transaction() as db:
            return (
                db.execute(
                    "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL,"
                    " attempts = attempts - 1, next_attempt_at = MAX(next_attempt_at, ?)"
                    " WHERE id = ? AND lease_owner = ?",
                    (self.clock() + hold, delivery.id, owner),
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
        now = self.clock()
        with self._transaction() as db:
            finished = (
                db.execute(
                    "UPDATE deliveries SET status = 'delivered', lease_owner = NULL,"
                    " lease_until = NULL, finished_at = ?, last_status = ?, last_error = NULL"
                    " WHERE id = ? AND lease_owner = ?",
                    (now, status, delivery.id, owner),
                ).rowcount
                == 1
            )
            if finished:
                texts = AttemptTexts.of(None, answer, request)
                _record_attempt(db, delivery, now, seconds, "delivered", status, texts)
            return finished

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
        """Record a failed attempt: pending again after the schedule's delay, or dead, and the
        attempt in the history. Returns the new status, or None when the lease was lost (another
        worker owns the delivery now)."""
        now = self.clock()
        delay = None if permanent else self.schedule.delay(delivery.attempts, retry_after, self.rng)
        new_status = DeliveryStatus.DEAD if delay is None else DeliveryStatus.PENDING
        texts = AttemptTexts.of(error, answer, request)
        error = texts.error or ""
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE deliveries SET status = ?, next_attempt_at = ?, lease_owner = NULL,"
                " lease_until = NULL, last_error = ?, last_status = ?, finished_at = ?"
                " WHERE id = ? AND lease_owner = ?",
                (
                    new_status,
                    now + (delay or 0),
                    error,
                    status,
                    now if delay is None else None,
                    delivery.id,
                    owner,
                ),
            ).rowcount
            if changed:
                outcome = "dead" if delay is None else "retry"
                _record_attempt(db, delivery, now, seconds, outcome, status, texts)
        return new_status if changed else None

    def chat_body(self, connector: str, chat_id: str, end_at: int | None = None) -> bytes:
        """A stored chat as received: the version ``end_at`` (a delivery's), or the latest."""
        version, args = ("", ()) if end_at is None else (" AND end_at = ?", (end_at,))
        row = (
            self._connection()
            .execute(
                f"SELECT body FROM chats WHERE connector = ? AND chat_id = ?{version}"
                " ORDER BY end_at DESC LIMIT 1",
                (connector, chat_id, *args),
            )
            .fetchone()
        )
        if row is None:
            raise OutboxError(f"no chat {chat_id!r} stored for connector {connector!r}")
        return bytes(row["body"])


def _record_attempt(
    db: sqlite3.Connection,
    delivery: Delivery,
    now: float,
    seconds: float,
    outcome: str,
    status: int | None,
    texts: AttemptTexts,
) -> None:
    """An attempt into its delivery's history, in the transaction that records its finish. Its
    number goes on across retries: one more than the history's last, or the delivery's attempt
    count when that is higher (an attempt whose lease was lost is counted, never recorded); the
    same rule as postgres.py's `_with_attempt`."""
    db.execute(
        "INSERT INTO attempts (delivery_id, number, started_at, seconds, outcome, status, error,"
        " answer, request) VALUES (?, MAX((SELECT COALESCE(MAX(number), 0) + 1 FROM attempts"
        " WHERE delivery_id = ?), ?), ?, ?, ?, ?, ?, ?, ?)",
        (
            delivery.id,
            delivery.id,
            delivery.attempts,
            now - seconds,
            seconds,
            outcome,
            status,
            texts.error,
            texts.answer,
            texts.request,
        ),
    )


def _selection(ids: Sequence[int], status: str | None) -> tuple[str, list[object]]:
    if ids:
        return f"id IN ({', '.join('?' * len(ids))})", list(ids)
    if status:
        return "status = ?", [status]
    raise OutboxError("say which deliveries: ids or a status")


def _attempt(row: sqlite3.Row) -> Attempt:
    fields = {key: row[key] for key in row.keys() if key != "id"}  # noqa: SIM118
    return Attempt(**fields)


def _delivery(row: sqlite3.Row) -> Delivery:
    fields = {key: row[key] for key in row.keys()}  # noqa: SIM118 - sqlite3.Row has no iteration
    fields["status"] = DeliveryStatus(fields["status"])
    return Delivery(**fields)
