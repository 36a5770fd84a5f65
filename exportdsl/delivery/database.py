"""The outbox's SQLite file: its schema and its version, one connection per thread, writes.

WAL lets readers go on while a writer commits; accepted chats are committed with synchronous=FULL
(on disk before their hook is answered), the workers' bookkeeping without waiting for the disk.
The schema's version is SQLite's ``user_version``: 0 in files made before it was kept (their
schema is read to tell 1 from 2), `SCHEMA_VERSION` once upgraded; a file a newer exportdsl made is
refused, never written.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from exportdsl.chat.reader import parse_chat_bytes
from exportdsl.delivery.outbox import NO_END, SCHEMA_VERSION
from exportdsl.errors import ExportDslError, OutboxError

__all__ = ["Database", "check_intact", "newer_schema"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    connector   TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    -- the version: the chat's endAt (ms since 1970), -1 without one. A re-opened chat (a later
    -- endAt) is stored again, beside the earlier version its deliveries may still need. No
    -- default: an older exportdsl, which does not name it, cannot store a chat (_OLDER_WRITERS)
    end_at      INTEGER NOT NULL,
    body        BLOB NOT NULL,            -- the JSON exactly as received
    received_at REAL NOT NULL,
    hook_key    TEXT NOT NULL,            -- the hook delivery's Idempotency-Key
    -- Report Export presses so far: each gets a key of its own
    presses     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (connector, chat_id, end_at)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused after a purge
    connector       TEXT NOT NULL,
    chat_id         TEXT NOT NULL,
    end_at          INTEGER NOT NULL,     -- the version of the chat it delivers (no default)
    reason          TEXT NOT NULL,        -- hook | button
    idempotency_key TEXT NOT NULL,
    target          TEXT NOT NULL,        -- the back end's host: the unit of the concurrency limit
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_owner     TEXT,
    lease_until     REAL,
    last_error      TEXT,
    last_status     INTEGER,
    created_at      REAL NOT NULL,
    finished_at     REAL,
    crashes         INTEGER NOT NULL DEFAULT 0,  -- attempts cut short by their node's death
    FOREIGN KEY (connector, chat_id, end_at) REFERENCES chats (connector, chat_id, end_at)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_target ON deliveries (target, lease_until);
-- a chat's deliveries: purging chats asks whether any refers to them (and so does the foreign key)
CREATE INDEX IF NOT EXISTS deliveries_chat ON deliveries (connector, chat_id, end_at);
-- the console's listings, latest first, by state, connector or chat (schema 4)
CREATE INDEX IF NOT EXISTS deliveries_status_id ON deliveries (status, id);
CREATE INDEX IF NOT EXISTS deliveries_connector_id ON deliveries (connector, id);
CREATE INDEX IF NOT EXISTS deliveries_chat_id ON deliveries (chat_id, id);
-- each delivery's attempt history (schema 4): removed with its delivery
CREATE TABLE IF NOT EXISTS attempts (
    id          INTEGER PRIMARY KEY,      -- the order they were made in
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,         -- the delivery's attempt count then (a retry restarts it)
    started_at  REAL NOT NULL,
    seconds     REAL NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    status      INTEGER,                  -- the back end's HTTP status, when it answered
    error       TEXT,                     -- redacted
    answer      TEXT,                     -- the answer's first KiB, redacted
    request     TEXT                      -- as it went out, redacted (schema 5: NULL before)
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts (delivery_id);
-- the serve processes working this file: each heartbeats, and a silent one is declared dead
CREATE TABLE IF NOT EXISTS nodes (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    process      TEXT NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('alive', 'dead', 'stopped'))
);
"""
# What a queue made by an earlier schema lacks; opening it adds them (`_upgrade`).
_VERSION_COLUMNS = frozenset({"end_at"})  # schema 2: chats have versions (the tables are rebuilt)
_LATER_COLUMNS = _VERSION_COLUMNS | {"crashes"}  # schema 3: crash counts (a column added)
_LATER_TABLES = frozenset({"nodes", "attempts"})  # schema 3: nodes; schema 4: attempt histories
# An older exportdsl still running on a queue upgraded under it (two processes serve one file)
# stores chats without a version, with INSERT OR IGNORE, which would ignore the missing value
# (its hook answered "duplicate", the chat lost). Its insert is refused instead: its hook gets
# 503 (nothing stored, the sender sends again) and its /healthz says why.
_OLDER_WRITERS = """
CREATE TRIGGER IF NOT EXISTS chats_need_a_version BEFORE INSERT ON chats WHEN NEW.end_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'an older exportdsl cannot store chats in this upgraded queue; stop it');
END
"""


class Database:
    """An outbox database file, opened (and its schema made) once per process and thread."""

    def __init__(
        self, path: str | Path, *, durable: bool = True, create: bool = True, upgrade: bool = False
    ) -> None:
        """``create``: make the file (or upgrade it) when needed; ``upgrade`` alone upgrades an
        existing file's schema without making one."""
        self.path = str(path)
        self.durable = durable
        self._writer = _writer_lock(self.path)
        self._local = threading.local()
        existing = Path(self.path).is_file() and Path(self.path).stat().st_size > 0
        self.found_version: int | None = None
        try:
            if existing:  # looked at read-only first: a foreign file is left as it was
                version = self.found_version = _check_schema(self.path)
                if version < SCHEMA_VERSION and (create or upgrade):
                    _upgrade(self.path, version)
            elif not create:
                raise OutboxError(f"{self.path} is not an exportdsl queue (an empty file)")
            if create:
                # its own transaction (executescript commits first)
                self._connection().executescript(
                    f"{_SCHEMA};{_OLDER_WRITERS};PRAGMA user_version = {SCHEMA_VERSION}"
                )
        except sqlite3.DatabaseError as error:
            raise OutboxError(
                f"{self.path}: {error}", hint="is this an exportdsl queue database?"
            ) from None

    # --- connections: one per thread; WAL lets readers go on while a writer commits --------------

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(
                    self.path, timeout=30, isolation_level=None, check_same_thread=True
                )
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
                db.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as error:
                raise OutboxError(f"cannot open the queue database {self.path}: {error}") from None
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: take the write lock first, so a read-then-write cannot race another
        writer. Writers of this process queue on a lock of ours first: SQLite's busy handler would
        make them poll with sleeps of up to 100 ms, and a hook waiting to be committed would wait
        with them."""
        db = self._connection()
        with self._writer:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def schema_version(self) -> int:
        return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    def probe(self) -> None:
        """A durable write that changes nothing: is the outbox writable again after a storage
        error? A table is made and dropped in one transaction, so the commit writes the schema
        page through the WAL and waits for the disk, as an accept's commit does, whatever the
        tables hold; raises the error SQLite gives."""
        with self._transaction() as db:
            db.execute("CREATE TABLE exportdsl_write_probe (x)")
            db.execute("DROP TABLE exportdsl_write_probe")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


# SQLite's names for a file another connection holds (SQLITE_BUSY, SQLITE_LOCKED and their kinds)
_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")

_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_lock(path: str) -> threading.Lock:
    """One lock per database file in this process (other processes wait in SQLite's own lock)."""
    key = str(Path(path).resolve())
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(key, threading.Lock())


@functools.cache
def _expected_columns() -> dict[str, frozenset[str]]:
    """The tables and columns `_SCHEMA` makes, read from a database made with it in memory."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(_SCHEMA)
        return {
            table: frozenset(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not table.startswith("sqlite_")
        }
    finally:
        db.close()


def _check_schema(path: str) -> int:
    """The schema version of an existing file, read-only so nothing in it changes; refuses a file
    that is not an exportdsl queue, and one a newer exportdsl made."""
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise newer_schema(path, version)
        found_columns: set[str] = set()
        for table, columns in _expected_columns().items():
            found = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if table in _LATER_TABLES:
                continue
            if not columns - _LATER_COLUMNS <= found:
                missing = "no such table" if not found else "other columns"
                raise OutboxError(
                    f"{path} is not an exportdsl queue (table {table}: {missing})",
                    hint="point --db at the file `exportdsl serve` writes",
                )
            found_columns |= found
        if version:
            return version
        return 2 if "end_at" in found_columns else 1
    finally:
        db.close()


def newer_schema(location: str, version: int) -> OutboxError:
    """A database a newer exportdsl made (or upgraded): never written by this one."""
    return OutboxError(
        f"{location}: the outbox has schema version {version}; this exportdsl knows versions up "
        f"to {SCHEMA_VERSION}",
        hint="run the newer exportdsl that upgraded it (or upgrade this one); nothing was changed",
    )


def _upgrade(path: str, version: int) -> None:
    """An earlier schema upgraded in place, in one transaction: to 2, both tables are made anew
    with ``end_at`` in their keys (SQLite cannot change a key otherwise), each stored chat's
    version read from its body, every delivery keeping its id, and ids still never reused; to 3,
    crash counts and the nodes table are added; to 4, the attempts table; to 5, its request
    column. Another process that opens the file meanwhile waits, then finds it upgraded."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("PRAGMA foreign_keys=OFF")  # the old tables are dropped before the check
        db.create_function("chat_end_at", 1, _end_at, deterministic=True)
        db.execute("BEGIN IMMEDIATE")
        try:
            if int(db.execute("PRAGMA user_version").fetchone()[0]) >= SCHEMA_VERSION:
                db.execute("ROLLBACK")  # upgraded by another process meanwhile
                return
            if "end_at" not in _columns(db, "chats"):
                _rebuild(db)
            if "crashes" not in _columns(db, "deliveries"):
                db.execute("ALTER TABLE deliveries ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0")
            attempts = _columns(db, "attempts")
            if attempts and "request" not in attempts:  # schema 4's history: kept, not re-made
                db.execute("ALTER TABLE attempts ADD COLUMN request TEXT")
            for statement in _SCHEMA.split(";"):
                db.execute(statement)
            db.execute(_OLDER_WRITERS)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.close()


def _rebuild(db: sqlite3.Connection) -> None:
    sequence = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'deliveries'").fetchone()
    old = {table: _columns(db, table) for table in ("chats", "deliveries")}
    for index in ("deliveries_due", "deliveries_target", "deliveries_chat"):  # names to reuse
        db.execute(f"DROP INDEX IF EXISTS {index}")
    for table in old:
        db.execute(f"ALTER TABLE {table} RENAME TO {table}_unversioned")
    for statement in _SCHEMA.split(";"):
        db.execute(statement)
    db.execute(_OLDER_WRITERS)
    chats = [column for column in old["chats"] if column != "end_at"]
    db.execute(
        f"INSERT INTO chats ({', '.join(chats)}, end_at) SELECT {', '.join(chats)},"
        " chat_end_at(body) FROM chats_unversioned"
    )
    kept = [column for column in old["deliveries"] if column != "end_at"]
    db.execute(
        f"INSERT INTO deliveries ({', '.join(kept)}, end_at)"
        f" SELECT {', '.join('d.' + column for column in kept)}, COALESCE(c.end_at, {NO_END})"
        " FROM deliveries_unversioned AS d LEFT JOIN chats AS c"
        " ON c.connector = d.connector AND c.chat_id = d.chat_id"
    )
    db.execute("DROP TABLE deliveries_unversioned")
    db.execute("DROP TABLE chats_unversioned")
    if sequence is not None:  # the highest id ever given, purged ones included
        db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'deliveries'", sequence)
        db.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'deliveries', ?"
            " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'deliveries')",
            sequence,
        )
    if db.execute("PRAGMA foreign_key_check").fetchone() is not None:
        raise OutboxError("the queue database could not be upgraded: a delivery lost its chat")


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def _end_at(body: bytes) -> int:
    """A stored chat's version (its ``endAt``); a body the chat model no longer reads has none."""
    try:
        end_at = parse_chat_bytes(bytes(body)).end_at
    except ExportDslError:
        return NO_END
    return NO_END if end_at is None else end_at


def check_intact(path: str | Path) -> None:
    """Refuses an outbox file that SQLite finds damaged (``PRAGMA quick_check``), read-only.

    Run before a server writes to the file: a damaged outbox would answer 202 to hooks it cannot
    read back. A file that does not exist yet is fine (it is made); one that is not a SQLite file
    at all is refused too, in the same words. quick_check reads every page once: seconds for a
    file of gigabytes, once per start."""
    file = Path(path)
    if not file.is_file() or file.stat().st_size == 0:
        return
    try:
        db = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = [str(row[0]) for row in db.execute("PRAGMA quick_check(20)")]
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        if str(getattr(error, "sqlite_errorname", "")).startswith(_BUSY):
            # another process holds the file: that says nothing about its pages, and "restore a
            # backup" would throw away every chat accepted since the backup
            raise OutboxError(
                f"{file}: cannot check the outbox: {error} (another process holds it)",
                hint="find what holds it (an sqlite3 shell, a VACUUM), then start again",
            ) from None
        found = [str(error)]
    if found != ["ok"]:
        raise OutboxError(
            f"{file}: the outbox is damaged (or not a SQLite file); PRAGMA quick_check says: "
            f"{'; '.join(found)}",
            hint=(
                "nothing was served from it; keep the file, then restore the outbox from a backup, "
                f"or save what SQLite can still read (`sqlite3 {file} .recover | sqlite3 NEW.db`) "
                "and serve NEW.db"
            ),
        )
