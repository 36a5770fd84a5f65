"""The durable outbox on a real SQLite file: accept, dedupe, lease, fence, retry schedule, dead,
replay, and two processes claiming from one database."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from backend import API_KEY, ENV, SAMPLE_CHAT, Backend, Reply, make_plan

from exportdsl.delivery.deliver import ExportDeliverer
from exportdsl.delivery.groupcommit import GroupCommitter
from exportdsl.delivery.outbox import MAX_ERROR_CHARS, Incoming, Schedule
from exportdsl.delivery.sqlite import SqliteOutbox
from exportdsl.errors import OutboxError
from exportdsl.export.redact import REDACTED
from exportdsl.vocabulary import DeliveryStatus

PENDING, DELIVERED, DEAD = DeliveryStatus


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def chat(number: int, connector: str = "acme", target: str = "crm.example") -> Incoming:
    return Incoming(
        connector,
        str(number),
        b'{"channel": {"id": %d}}' % number,
        target,
        f"key-{connector}-{number}",
    )


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


def test_the_same_chat_twice_is_one_delivery(outbox: SqliteOutbox) -> None:
    first, second = outbox.accept_many([chat(1)])[0], outbox.accept_many([chat(1)])[0]
    assert not first.duplicate and second.duplicate and second.delivery_id is None
    assert len(outbox.deliveries()) == 1
    assert not outbox.accept_many([chat(1, connector="other")])[
        0
    ].duplicate  # dedupe is per connector


def test_claim_leases_and_fences(outbox: SqliteOutbox, clock: Clock) -> None:
    outbox.accept_many([chat(1)])[0]
    claimed = outbox.claim("w1", lease=30)
    assert claimed is not None and claimed.attempts == 1
    assert outbox.claim("w2") is None  # leased
    clock.now += 31  # w1 crashed: its lease ran out
    taken = outbox.claim("w2")
    assert taken is not None and taken.id == claimed.id and taken.attempts == 2
    assert not outbox.succeed(claimed, "w1")  # the old owner cannot finish it any more
    assert outbox.succeed(taken, "w2", 200)
    assert outbox.delivery(taken.id).status == DELIVERED  # type: ignore[union-attr]


def test_failures_follow_the_schedule_then_die(outbox: SqliteOutbox, clock: Clock) -> None:
    outbox.accept_many([chat(1)])[0]
    waits = []
    while True:
        delivery = outbox.claim("w")
        if delivery is None:
            state = outbox.deliveries()[0]
            if state.status == DEAD:
                break
            waits.append(state.next_attempt_at - clock.now)
            clock.now = state.next_attempt_at
            continue
        outbox.fail(delivery, "w", "HTTP 503")
    expected = Schedule().waits
    assert len(waits) == len(expected) == 7
    for waited, delay in zip(waits, expected, strict=True):
        assert delay * 0.8 <= waited <= delay * 1.2
    final = outbox.deliveries()[0]
    assert final.attempts == 8 and final.last_error == "HTTP 503"


def test_retry_after_is_respected_and_clamped(outbox: SqliteOutbox, clock: Clock) -> None:
    outbox.accept_many([chat(1)])[0]
    delivery = outbox.claim("w")
    assert delivery is not None
    outbox.fail(delivery, "w", "HTTP 429", status=429, retry_after=120)
    assert outbox.deliveries()[0].next_attempt_at - clock.now == pytest.approx(120)
    clock.now += 120
    delivery = outbox.claim("w")
    assert delivery is not None
    outbox.fail(delivery, "w", "HTTP 429", retry_after=10 * 86400)
    assert outbox.deliveries()[0].next_attempt_at - clock.now == pytest.approx(86400)


def test_permanent_failure_is_dead_at_once_and_can_be_replayed(outbox: SqliteOutbox) -> None:
    outbox.accept_many([chat(1)])[0]
    delivery = outbox.claim("w")
    assert delivery is not None
    assert outbox.fail(delivery, "w", "HTTP 410", status=410, permanent=True) == DEAD
    assert outbox.retry(status=DEAD) == 1
    again = outbox.claim("w")
    assert (
        again is not None
        and again.attempts == 1
        and again.idempotency_key == delivery.idempotency_key
    )


def test_purge_never_removes_pending_work(outbox: SqliteOutbox) -> None:
    outbox.accept_many([chat(1)])[0]
    outbox.accept_many([chat(2)])[0]
    delivery = outbox.claim("w")
    assert delivery is not None
    outbox.succeed(delivery, "w")
    assert outbox.purge(ids=[d.id for d in outbox.deliveries()]) == 1
    assert [d.status for d in outbox.deliveries()] == [PENDING]
    with pytest.raises(OutboxError):
        outbox.purge()


def test_per_target_concurrency_limit(outbox: SqliteOutbox) -> None:
    for number in range(3):
        outbox.accept_many([chat(number, target="slow.example")])[0]
    outbox.accept_many([chat(9, target="fast.example")])[0]
    first, second = outbox.claim("a", per_target=2), outbox.claim("b", per_target=2)
    third = outbox.claim("c", per_target=2)
    assert {first.target, second.target} == {"slow.example"}  # type: ignore[union-attr]
    assert (
        third is not None and third.target == "fast.example"
    )  # the slow back end does not starve it
    assert outbox.claim("d", per_target=2) is None


def test_button_export_needs_a_stored_chat_and_gets_its_own_key(outbox: SqliteOutbox) -> None:
    with pytest.raises(OutboxError):
        outbox.request_export("acme", "404", "crm.example")
    hook = outbox.accept_many([chat(1)])[0]
    button = outbox.request_export("acme", "1", "crm.example")
    second = outbox.request_export("acme", "1", "crm.example")
    keys = {d.id: d.idempotency_key for d in outbox.deliveries()}
    assert keys[hook.delivery_id] == "key-acme-1"  # type: ignore[index]
    assert keys[button] == "key-acme-1.export-1" and keys[second] == "key-acme-1.export-2"


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


def test_button_keys_stay_unique_after_a_purge(outbox: SqliteOutbox) -> None:
    outbox.accept_many([chat(1)])[0]
    first = outbox.request_export("acme", "1", "crm.example")
    claimed = outbox.claim("w")
    while claimed is not None and claimed.id != first:
        outbox.succeed(claimed, "w")
        claimed = outbox.claim("w")
    assert claimed is not None
    outbox.succeed(claimed, "w")
    outbox.purge(status=DELIVERED)
    second = outbox.request_export("acme", "1", "crm.example")  # the chat is still stored
    keys = {d.id: d.idempotency_key for d in outbox.deliveries()}
    assert keys[second] == "key-acme-1.export-2" and second > first  # ids are never reused either


def test_retry_leaves_a_delivery_in_flight_alone(outbox: SqliteOutbox, clock: Clock) -> None:
    outbox.accept_many([chat(1)])[0]
    delivery = outbox.claim("w", lease=60)
    assert delivery is not None
    assert outbox.retry(ids=[delivery.id]) == 0
    assert outbox.succeed(delivery, "w")


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


def test_a_stored_error_is_never_cut_inside_a_redaction_marker(outbox: SqliteOutbox) -> None:
    outbox.accept_many([chat(1)])
    delivery = outbox.claim("w")
    assert delivery is not None
    outbox.fail(delivery, "w", "e" * (MAX_ERROR_CHARS - 4) + REDACTED + "tail")
    assert outbox.deliveries()[0].last_error == "e" * (MAX_ERROR_CHARS - 4) + "…"


# --- a re-opened chat, and a queue made before chats had versions -------------------------------


def test_a_later_end_at_is_a_new_version_an_earlier_or_equal_one_a_duplicate(
    outbox: SqliteOutbox,
) -> None:
    def version(end_at: int | None, body: bytes = b"{}") -> Incoming:
        return Incoming("acme", "1", body, "crm.example", f"key-{end_at}", end_at)

    results = outbox.accept_many(
        [version(None), version(100, b"v100"), version(100), version(50), version(200, b"v200")]
    )
    assert [result.duplicate for result in results] == [False, False, True, True, False]
    assert outbox.chat_body("acme", "1") == b"v200"  # the latest
    assert outbox.chat_body("acme", "1", 100) == b"v100"  # a delivery's own version
    keys = {delivery.end_at: delivery.idempotency_key for delivery in outbox.deliveries()}
    assert keys == {-1: "key-None", 100: "key-100", 200: "key-200"}


# The schema of the queues `exportdsl serve` made before chats had versions (issue 11).
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


def test_purging_chats_removes_a_version_no_delivery_needs_and_keeps_the_other(
    outbox: SqliteOutbox, clock: Clock
) -> None:
    outbox.accept_many([Incoming("acme", "1", b"first", "crm", "k1", 100)])
    outbox.accept_many([Incoming("acme", "1", b"reopened", "crm", "k2", 200)])
    claimed = outbox.claim("w1")
    assert claimed is not None and claimed.end_at == 100
    assert outbox.succeed(claimed, "w1") and outbox.purge(ids=[claimed.id]) == 1
    clock.now += 60
    assert outbox.purge_chats(older_than=30) == 1  # the first version: no delivery refers to it
    assert outbox.chat_body("acme", "1") == b"reopened"  # its pending delivery still needs it
    with pytest.raises(OutboxError):
        outbox.chat_body("acme", "1", 100)
