"""The outbox in a real SQLite file: what only it does (WAL on disk, the group commit's writer
lock, two processes claiming from one file, files made before chats had versions) and the workers
over it. The contract both back ends keep is tested in tests/test_outbox_contract.py."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from backend import API_KEY, ENV, SAMPLE_CHAT, Backend, Reply, make_plan
from test_outbox_contract import Clock, chat

from exportdsl.delivery.deliver import ExportDeliverer
from exportdsl.delivery.groupcommit import GroupCommitter
from exportdsl.delivery.outbox import Incoming
from exportdsl.delivery.sqlite import SqliteOutbox
from exportdsl.export.redact import REDACTED
from exportdsl.vocabulary import DeliveryStatus

PENDING, DELIVERED, DEAD = DeliveryStatus


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> SqliteOutbox:
    return SqliteOutbox(tmp_path / "queue.db", clock=clock, rng=random.Random(7))


def test_accepted_chat_is_on_disk_when_accept_returns(outbox: SqliteOutbox, tmp_path: Path) -> None:
    accepted = outbox.accept_many([chat(1)])[0]
    other = sqlite3.connect(tmp_path / "queue.db")  # a different connection sees the committed rows
    assert other.execute("SELECT body FROM chats").fetchone()[0] == b'{"channel": {"id": 1}}'
    assert other.execute("SELECT id, status FROM deliveries").fetchall() == [
        (accepted.delivery_id, PENDING)
    ]
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_group_commit_answers_every_waiter(tmp_path: Path) -> None:
    committer = GroupCommitter(SqliteOutbox(tmp_path / "queue.db"))
    futures = [committer.submit(chat(number % 150)) for number in range(300)]
    results = [future.result(timeout=30) for future in futures]
    committer.close()
    assert sum(not r.duplicate for r in results) == 150
    assert SqliteOutbox(tmp_path / "queue.db").counts()["pending"] == 150


def test_one_chat_the_outbox_cannot_store_fails_alone_not_its_whole_group(
    tmp_path: Path,
) -> None:
    """A group commit is one transaction: an item SQLite refuses failed every hook that shared it
    (18 of 40 in a review), each answered 503 for nothing of its own. The batch is tried again one
    by one, so only the item that cannot be stored fails."""
    outbox = SqliteOutbox(tmp_path / "queue.db")
    committer = GroupCommitter(SqliteOutbox(tmp_path / "queue.db"))
    with outbox._writer:  # hold the writers back, so the next three are one batch
        first = committer.submit(chat(1))
        deadline = time.monotonic() + 10
        while not committer._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        good = committer.submit(chat(2))
        unstorable = committer.submit(dataclasses.replace(chat(3), chat_id="\ud800"))
        other = committer.submit(chat(4))
    assert not first.result(timeout=30).duplicate
    assert not good.result(timeout=30).duplicate and not other.result(timeout=30).duplicate
    with pytest.raises(UnicodeEncodeError):
        unstorable.result(timeout=30)
    committer.close()
    assert outbox.counts()["pending"] == 3


def _claim_all(path: str, owner: str, found: multiprocessing.Queue[list[int]], start: Any) -> None:
    outbox = SqliteOutbox(path)
    start.wait(timeout=60)  # both processes begin together, so they really compete
    ids = []
    while (delivery := outbox.claim(owner, lease=600, per_target=1000)) is not None:
        ids.append(delivery.id)
        time.sleep(
            0.001
        )  # a worker works between claims; the other process gets the lock meanwhile
    found.put(ids)


def test_two_processes_never_claim_the_same_row(tmp_path: Path) -> None:
    path = str(tmp_path / "queue.db")
    outbox = SqliteOutbox(path)
    outbox.accept_many([chat(number) for number in range(400)])
    context = multiprocessing.get_context("spawn")
    found: multiprocessing.Queue[list[int]] = context.Queue()
    start = context.Barrier(2)
    workers = [
        context.Process(target=_claim_all, args=(path, f"p{n}", found, start)) for n in range(2)
    ]
    for worker in workers:
        worker.start()
    claimed = [found.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    everything = claimed[0] + claimed[1]
    assert len(everything) == len(set(everything)) == 400
    assert all(claimed)  # both really worked


def test_leases_are_renewed_while_an_attempt_runs(tmp_path: Path) -> None:
    from exportdsl.delivery.workers import Outcome, PoolSettings, WorkerPool

    path = str(tmp_path / "queue.db")
    SqliteOutbox(path).accept_many([chat(1)])
    calls: list[int] = []

    def slow(delivery: Any, body: bytes) -> Outcome:
        calls.append(delivery.id)
        time.sleep(2.5)  # longer than the lease: without renewal another worker would take it over
        return Outcome(True, status=201)

    pool = WorkerPool(path, slow, PoolSettings(workers=2, lease=1.0, idle=0.05))
    pool.start()
    deadline = time.monotonic() + 20
    while SqliteOutbox(path).counts()[DELIVERED] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pool.stop()
    assert calls == [1] and SqliteOutbox(path).deliveries()[0].attempts == 1


def test_a_worker_survives_a_failing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exportdsl.delivery.workers import Outcome, PoolSettings, WorkerPool

    path = str(tmp_path / "queue.db")
    SqliteOutbox(path).accept_many([chat(1)])
    failures = [sqlite3.OperationalError("database is locked")]
    real_claim = SqliteOutbox.claim

    def flaky(self: SqliteOutbox, *args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_claim(self, *args, **kwargs)

    monkeypatch.setattr(SqliteOutbox, "claim", flaky)
    pool = WorkerPool(
        path, lambda delivery, body: Outcome(True, status=200), PoolSettings(workers=1, idle=0.05)
    )
    pool.start()
    deadline = time.monotonic() + 20
    while SqliteOutbox(path).counts()[DELIVERED] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert pool.alive() == 1
    pool.stop()


def test_a_worker_whose_outbox_lost_its_server_opens_a_fresh_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A PostgreSQL pool that lost its server reconnects with a growing back-off (1, 2, 4 … 16
    s): after an outage the workers waited that long before delivering again. A worker whose
    outbox fails opens a fresh one (which connects at once), and says so once, not every second.
    Here the first outbox a worker opens stays broken for good: before, nothing was delivered."""
    from exportdsl.delivery.workers import Outcome, PoolSettings, WorkerPool

    path = str(tmp_path / "queue.db")
    SqliteOutbox(path).accept_many([chat(1)])
    opened: list[SqliteOutbox] = []

    class Broken(SqliteOutbox):
        def claim(self, *args: Any, **kwargs: Any) -> Any:
            raise sqlite3.OperationalError("server closed the connection unexpectedly")

    def factory(location: str) -> SqliteOutbox:  # the worker thread's first outbox is broken
        first = threading.current_thread().name == "exportdsl-worker-0" and not opened
        outbox = (Broken if first else SqliteOutbox)(location)
        if threading.current_thread().name == "exportdsl-worker-0":
            opened.append(outbox)
        return outbox

    pool = WorkerPool(
        path,
        lambda delivery, body: Outcome(True, status=200),
        PoolSettings(workers=1, idle=0.05),
        outbox_factory=factory,
    )
    caplog.set_level(logging.INFO, logger="exportdsl.delivery")
    pool.start()
    try:
        deadline = time.monotonic() + 20
        while SqliteOutbox(path).counts()[DELIVERED] != 1:
            assert time.monotonic() < deadline, "the worker kept its broken outbox"
            time.sleep(0.05)
    finally:
        pool.stop()
    said = [r.message for r in caplog.records if r.name == "exportdsl.delivery"]
    assert said.count("the outbox failed; the worker tries again every second") == 1
    assert "the outbox answers again" in said


def test_a_stored_error_holds_no_part_of_a_secret_cut_in_its_excerpt(
    outbox: SqliteOutbox, real_backend: Backend
) -> None:
    """A failed attempt's error as the outbox keeps it (and `queue list`, `queue show` and the
    serve log print it): the back end's answer quoted in it is redacted before it is cut, so no
    first part of a secret at the cut shows (issue 10)."""
    real_backend.on(
        "/report",
        Reply(
            401, body=b"x" * 190 + b" " + API_KEY.encode(), headers={"Content-Type": "text/plain"}
        ),
    )
    plan = make_plan(real_backend.base_url, token=False)
    deliver = ExportDeliverer({"acme": plan}, env=ENV)
    outbox.accept_many([chat(1)])
    delivery = outbox.claim("w")
    assert delivery is not None
    result = deliver(delivery, SAMPLE_CHAT.read_bytes())
    outbox.fail(delivery, "w", result.error, status=result.status, permanent=result.permanent)
    stored = outbox.deliveries()[0].last_error
    assert stored is not None and "answered 401" in stored and "x …" in stored
    assert API_KEY[:8] not in stored


def test_a_back_end_echoing_the_intake_secret_has_it_redacted_in_the_stored_error(
    outbox: SqliteOutbox, real_backend: Backend
) -> None:
    """The intake secret is never sent, but a back end that knows it may quote it: it is one of
    the connector's secrets like every ``$env`` value its templates name (review of issue 11)."""
    intake_secret = "intake-secret-0123456789abcdef"
    real_backend.on(
        "/report", Reply(400, body=f"bad: {intake_secret}".encode(), headers={"Content-Type": "x"})
    )
    plan = make_plan(real_backend.base_url, token=False, extra="intake: {secret: $env.INTAKE}\n")
    deliver = ExportDeliverer({"acme": plan}, env=ENV | {"INTAKE": intake_secret})
    outbox.accept_many([chat(1)])
    delivery = outbox.claim("w")
    assert delivery is not None
    result = deliver(delivery, SAMPLE_CHAT.read_bytes())
    assert "answered 400" in result.error and intake_secret not in result.error
    assert REDACTED in result.error


# --- a re-opened chat, and a queue made before chats had versions -------------------------------


UNVERSIONED_SCHEMA = """
CREATE TABLE chats (
    connector TEXT NOT NULL, chat_id TEXT NOT NULL, body BLOB NOT NULL, received_at REAL NOT NULL,
    hook_key TEXT NOT NULL, presses INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (connector, chat_id)
);
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, connector TEXT NOT NULL, chat_id TEXT NOT NULL,
    reason TEXT NOT NULL, idempotency_key TEXT NOT NULL, target TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, lease_owner TEXT,
    lease_until REAL, last_error TEXT, last_status INTEGER, created_at REAL NOT NULL,
    finished_at REAL,
    FOREIGN KEY (connector, chat_id) REFERENCES chats (connector, chat_id)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_target ON deliveries (target, lease_until);
"""


@pytest.mark.parametrize(
    "extra", ["", "CREATE INDEX deliveries_chat ON deliveries (connector, chat_id);"]
)  # the schema before retention (issue 11 item 6) added an index, and after
def test_a_queue_made_before_chats_had_versions_is_upgraded_on_open(
    tmp_path: Path, clock: Clock, extra: str
) -> None:
    path = tmp_path / "queue.db"
    sample = SAMPLE_CHAT.read_bytes()
    end_at = json.loads(sample)["endAt"]
    with sqlite3.connect(path) as db:
        db.executescript(UNVERSIONED_SCHEMA + extra)
        db.execute("PRAGMA journal_mode=WAL")
        db.executemany(
            "INSERT INTO chats VALUES ('acme', ?, ?, 1.0, ?, ?)",
            [("55039", sample, "hook-key", 1), ("7", b'{"channel": {"id": 7}}', "k7", 0)],
        )
        rows = [
            (1, "55039", "hook", "hook-key", "delivered"),
            (2, "55039", "button", "hook-key.export-1", "pending"),
            (3, "7", "hook", "k7", "dead"),
            (4, "7", "button", "k7.export-1", "dead"),
        ]
        db.executemany(
            "INSERT INTO deliveries (id, connector, chat_id, reason, idempotency_key, target,"
            " status, next_attempt_at, created_at) VALUES (?, 'acme', ?, ?, ?, 'crm', ?, 0, 0)",
            rows,
        )
        db.execute("DELETE FROM deliveries WHERE id = 4")  # purged: its id is never given again

    outbox = SqliteOutbox(path, clock=clock)
    assert [(d.id, d.chat_id, d.end_at, d.status) for d in outbox.deliveries()] == [
        (3, "7", -1, DEAD),  # a body without endAt
        (2, "55039", end_at, PENDING),
        (1, "55039", end_at, DELIVERED),
    ]
    assert outbox.chat_body("acme", "55039", end_at) == sample
    same = Incoming("acme", "55039", sample, "crm", "hook-key", end_at)
    later = Incoming("acme", "55039", b"{}", "crm", "later", end_at + 1)
    accepted = outbox.accept_many([same, later])
    assert [each.duplicate for each in accepted] == [True, False]  # as stored; re-opened
    assert outbox.deliveries(limit=1)[0].id == 5  # after the purged 4
    assert outbox.request_export("acme", "55039", "crm") == 6
    pressed = outbox.delivery(6)
    assert pressed is not None and pressed.idempotency_key == "later.export-1"  # the latest
    claimed = outbox.claim("w1")
    assert claimed is not None and claimed.id == 2  # the old pending one, with its own version
    assert outbox.chat_body(claimed.connector, claimed.chat_id, claimed.end_at) == sample
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    SqliteOutbox(path, clock=clock)  # opened again: nothing left to upgrade
