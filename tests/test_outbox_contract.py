"""The outbox's contract (`exportdsl.delivery.outbox.Outbox`) held against both back ends: a SQLite
file and a PostgreSQL database (a fresh one per test, of a throwaway cluster: tests/pgcluster.py).

Accept and dedupe, leases fenced by owner, the per-target limit and the connectors filter, the retry
schedule with jitter and Retry-After, dead letters, retry, purge and retention, the Report Export
button, counts, the nodes' membership and rescue, and the schema's version. What only one back end
does has its own file (tests/test_outbox.py: SQLite; tests/test_postgres.py: PostgreSQL)."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from exportdsl.delivery.outbox import (
    MAX_CRASHES,
    MAX_ERROR_CHARS,
    SCHEMA_VERSION,
    Incoming,
    Node,
    Outbox,
    Schedule,
    crash_error,
)
from exportdsl.delivery.store import open_outbox
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


@dataclass
class Store:
    """One back end's store under test: outboxes opened on it share the test's clock."""

    kind: str  # sqlite | postgres
    location: str
    clock: Clock
    opened: list[Outbox] = field(default_factory=list)

    def open(self, **options: Any) -> Outbox:
        outbox = open_outbox(self.location, clock=self.clock, rng=random.Random(7), **options)
        self.opened.append(outbox)
        return outbox

    def execute(self, *statements: str) -> None:
        """Statements run on the store itself, behind the outbox's back."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.location) as db:
                for statement in statements:
                    db.execute(statement)
            return
        with psycopg.connect(self.location, autocommit=True) as db:
            for statement in statements:
                db.execute(statement.encode())

    def set_version(self, version: int) -> None:
        if self.kind == "sqlite":
            self.execute(f"PRAGMA user_version = {version}")
        else:
            self.execute(f"UPDATE exportdsl_schema SET version = {version}")

    def make_version_2(self) -> None:
        """The store as schema 2 left it: no nodes, no crash counts."""
        self.execute("DROP TABLE nodes", "ALTER TABLE deliveries DROP COLUMN crashes")
        self.set_version(2)

    def close(self) -> None:
        for outbox in self.opened:
            outbox.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def outbox_factory(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Store]:
    """Where outboxes are opened: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        location = str(tmp_path / "queue.db")
    else:
        location = request.getfixturevalue("postgres_url")
    store = Store(request.param, location, clock)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def outbox(outbox_factory: Store) -> Outbox:
    return outbox_factory.open()


def claimed(outbox: Outbox, owner: str = "w", **options: Any) -> Any:
    delivery = outbox.claim(owner, **options)
    assert delivery is not None
    return delivery


# --- accepting ----------------------------------------------------------------------------------


def test_an_accepted_chat_is_stored_for_every_other_outbox_on_the_store(
    outbox_factory: Store,
) -> None:
    accepted = outbox_factory.open().accept_many([chat(1)])[0]
    other = outbox_factory.open()  # a different connection sees the committed rows
    assert other.chat_body("acme", "1") == b'{"channel": {"id": 1}}'
    assert [(d.id, d.status) for d in other.deliveries()] == [(accepted.delivery_id, PENDING)]
    assert other.counts()["chats"] == 1


def test_the_same_chat_twice_is_one_delivery(outbox: Outbox) -> None:
    first, second = outbox.accept_many([chat(1)])[0], outbox.accept_many([chat(1)])[0]
    assert not first.duplicate and second.duplicate and second.delivery_id is None
    assert len(outbox.deliveries()) == 1
    assert not outbox.accept_many([chat(1, connector="other")])[0].duplicate  # per connector
    assert [a.duplicate for a in outbox.accept_many([chat(2), chat(2)])] == [False, True]


def test_a_later_end_at_is_a_new_version_an_earlier_or_equal_one_a_duplicate(
    outbox: Outbox,
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
    with pytest.raises(OutboxError, match="no chat '2' stored"):
        outbox.chat_body("acme", "2")


def test_button_export_needs_a_stored_chat_and_gets_its_own_key(outbox: Outbox) -> None:
    with pytest.raises(OutboxError):
        outbox.request_export("acme", "404", "crm.example")
    hook = outbox.accept_many([chat(1)])[0]
    button = outbox.request_export("acme", "1", "crm.example")
    second = outbox.request_export("acme", "1", "crm.example")
    keys = {d.id: d.idempotency_key for d in outbox.deliveries()}
    assert keys[hook.delivery_id] == "key-acme-1"  # type: ignore[index]
    assert keys[button] == "key-acme-1.export-1" and keys[second] == "key-acme-1.export-2"
    pressed = outbox.delivery(button)
    assert pressed is not None and pressed.reason == "button" and pressed.status == PENDING


def test_button_keys_stay_unique_after_a_purge(outbox: Outbox) -> None:
    outbox.accept_many([chat(1)])
    first = outbox.request_export("acme", "1", "crm.example")
    for _ in range(2):
        outbox.succeed(claimed(outbox), "w")
    outbox.purge(status=DELIVERED)
    second = outbox.request_export("acme", "1", "crm.example")  # the chat is still stored
    keys = {d.id: d.idempotency_key for d in outbox.deliveries()}
    assert keys[second] == "key-acme-1.export-2" and second > first  # ids are never reused either


# --- working: leases, fencing, the limit ----------------------------------------------------------


def test_claim_leases_and_fences(outbox: Outbox, clock: Clock) -> None:
    outbox.accept_many([chat(1)])
    first = claimed(outbox, "w1", lease=30)
    assert first.attempts == 1 and first.lease_owner == "w1"
    assert first.lease_until == pytest.approx(clock.now + 30)
    assert outbox.claim("w2") is None  # leased
    clock.now += 31  # w1 crashed: its lease ran out
    taken = claimed(outbox, "w2")
    assert taken.id == first.id and taken.attempts == 2
    assert not outbox.succeed(first, "w1")  # the old owner cannot finish it any more
    assert outbox.fail(first, "w1", "late") is None
    assert not outbox.release(first, "w1")
    assert outbox.renew([first.id], "w1", 60) == 0
    assert outbox.succeed(taken, "w2", 200)
    done = outbox.delivery(taken.id)
    assert done is not None and done.status == DELIVERED and done.last_status == 200
    assert done.finished_at == clock.now and done.lease_owner is None


def test_renew_extends_a_lease_and_release_puts_it_back_uncounted(
    outbox: Outbox, clock: Clock
) -> None:
    outbox.accept_many([chat(1)])
    delivery = claimed(outbox, "w1", lease=30)
    clock.now += 20
    assert outbox.renew([delivery.id], "w1", 30) == 1
    clock.now += 20  # past the first lease, within the renewed one
    assert outbox.claim("w2") is None
    assert outbox.release(delivery, "w1", hold=5)
    back = outbox.delivery(delivery.id)
    assert back is not None and back.attempts == 0 and back.lease_owner is None
    assert back.next_attempt_at == pytest.approx(clock.now + 5)
    assert outbox.claim("w2") is None  # held
    clock.now += 5
    assert claimed(outbox, "w2").attempts == 1
    assert outbox.renew([], "w2", 30) == 0


def test_failures_follow_the_schedule_then_die(outbox: Outbox, clock: Clock) -> None:
    outbox.accept_many([chat(1)])
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
        outbox.fail(delivery, "w", "HTTP 503", status=503)
    expected = Schedule().waits
    assert len(waits) == len(expected) == 7
    for waited, delay in zip(waits, expected, strict=True):
        assert delay * 0.8 <= waited <= delay * 1.2
    assert len({round(w / d, 6) for w, d in zip(waits, expected, strict=True)}) > 1  # jittered
    final = outbox.deliveries()[0]
    assert final.attempts == 8 and final.last_error == "HTTP 503" and final.last_status == 503
    assert final.finished_at == clock.now and outbox.counts()[DEAD] == 1


def test_retry_after_is_respected_and_clamped(outbox: Outbox, clock: Clock) -> None:
    outbox.accept_many([chat(1)])
    delivery = claimed(outbox)
    assert outbox.fail(delivery, "w", "HTTP 429", status=429, retry_after=120) == PENDING
    assert outbox.deliveries()[0].next_attempt_at - clock.now == pytest.approx(120)
    assert outbox.counts()["retrying"] == 1
    clock.now += 120
    delivery = claimed(outbox)
    outbox.fail(delivery, "w", "HTTP 429", retry_after=10 * 86400)
    assert outbox.deliveries()[0].next_attempt_at - clock.now == pytest.approx(86400)


def test_permanent_failure_is_dead_at_once_and_can_be_replayed(outbox: Outbox) -> None:
    outbox.accept_many([chat(1)])
    delivery = claimed(outbox)
    assert outbox.fail(delivery, "w", "HTTP 410", status=410, permanent=True) == DEAD
    assert outbox.retry(status=DEAD) == 1
    again = claimed(outbox)
    assert again.attempts == 1 and again.idempotency_key == delivery.idempotency_key
    assert again.finished_at is None


def test_retry_leaves_a_delivery_in_flight_alone(outbox: Outbox) -> None:
    outbox.accept_many([chat(1)])
    delivery = claimed(outbox, lease=60)
    assert outbox.retry(ids=[delivery.id]) == 0
    assert outbox.succeed(delivery, "w")
    with pytest.raises(OutboxError, match="ids or a status"):
        outbox.retry()


def test_per_target_concurrency_limit(outbox: Outbox, clock: Clock) -> None:
    for number in range(3):
        outbox.accept_many([chat(number, target="slow.example")])
    clock.now += 1
    outbox.accept_many([chat(9, target="fast.example")])
    first, second = claimed(outbox, "a", per_target=2), claimed(outbox, "b", per_target=2)
    third = claimed(outbox, "c", per_target=2)
    assert {first.target, second.target} == {"slow.example"}  # the longest waiting first
    assert third.target == "fast.example"  # the slow back end does not starve it
    assert outbox.claim("d", per_target=2) is None
    assert outbox.succeed(first, "a")
    assert claimed(outbox, "d", per_target=2).target == "slow.example"


def test_connectors_filter_leaves_the_others_work_untouched(outbox: Outbox) -> None:
    outbox.accept_many([chat(1, connector="gone"), chat(2, connector="acme")])
    assert claimed(outbox, connectors=["acme"]).connector == "acme"
    assert outbox.claim("w", connectors=["acme"]) is None
    assert outbox.claim("w", connectors=[]) is None  # nothing served: nothing claimed
    untouched = outbox.deliveries(connector="gone")[0]
    assert untouched.attempts == 0 and untouched.lease_owner is None
    assert outbox.pending_by_connector() == {"gone": 1, "acme": 1}
    assert claimed(outbox).connector == "gone"  # no filter: everything


def test_a_stored_error_is_never_cut_inside_a_redaction_marker(outbox: Outbox) -> None:
    outbox.accept_many([chat(1)])
    outbox.fail(claimed(outbox), "w", "e" * (MAX_ERROR_CHARS - 4) + REDACTED + "tail")
    assert outbox.deliveries()[0].last_error == "e" * (MAX_ERROR_CHARS - 4) + "…"


# --- the operator's view, purge and retention -----------------------------------------------------


def test_counts_and_listings(outbox: Outbox) -> None:
    outbox.accept_many([chat(1), chat(2), chat(3, connector="other")])
    outbox.succeed(claimed(outbox), "w")
    outbox.fail(claimed(outbox), "w", "HTTP 410", permanent=True)
    assert outbox.counts() == {
        PENDING: 1,
        DELIVERED: 1,
        DEAD: 1,
        "retrying": 0,
        "chats": 3,
    }
    assert [d.chat_id for d in outbox.deliveries()] == ["3", "2", "1"]  # the latest first
    assert [d.chat_id for d in outbox.deliveries(limit=1)] == ["3"]
    assert [d.chat_id for d in outbox.deliveries(status=DEAD)] == ["2"]
    assert [d.chat_id for d in outbox.deliveries(connector="other")] == ["3"]
    assert outbox.delivery(404) is None


def test_purge_never_removes_pending_work(outbox: Outbox) -> None:
    outbox.accept_many([chat(1), chat(2)])
    outbox.succeed(claimed(outbox), "w")
    assert outbox.purge(ids=[d.id for d in outbox.deliveries()]) == 1
    assert [d.status for d in outbox.deliveries()] == [PENDING]
    assert outbox.purge(status=PENDING) == 0
    with pytest.raises(OutboxError):
        outbox.purge()


def test_purge_older_than_keeps_the_recently_finished(outbox: Outbox, clock: Clock) -> None:
    outbox.accept_many([chat(1), chat(2)])
    outbox.succeed(claimed(outbox), "w")
    clock.now += 100
    outbox.succeed(claimed(outbox), "w")
    assert outbox.purge(status=DELIVERED, older_than=50) == 1
    assert [d.chat_id for d in outbox.deliveries()] == ["2"]


def test_purging_chats_removes_a_version_no_delivery_needs_and_keeps_the_other(
    outbox: Outbox, clock: Clock
) -> None:
    outbox.accept_many([Incoming("acme", "1", b"first", "crm", "k1", 100)])
    outbox.accept_many([Incoming("acme", "1", b"reopened", "crm", "k2", 200)])
    first = claimed(outbox, "w1")
    assert first.end_at == 100
    assert outbox.succeed(first, "w1") and outbox.purge(ids=[first.id]) == 1
    assert outbox.purge_chats(older_than=30) == 0  # too young: the button may still ask
    clock.now += 60
    assert outbox.purge_chats(older_than=30) == 1  # the first version: no delivery refers to it
    assert outbox.chat_body("acme", "1") == b"reopened"  # its pending delivery still needs it
    with pytest.raises(OutboxError):
        outbox.chat_body("acme", "1", 100)


def test_expire_removes_old_delivered_work_and_the_chats_no_delivery_needs(
    outbox: Outbox, clock: Clock
) -> None:
    outbox.accept_many([chat(1), chat(2), chat(3)])
    outbox.succeed(claimed(outbox), "w")  # delivered: expires
    outbox.fail(claimed(outbox), "w", "HTTP 410", permanent=True)  # dead: stays, may be retried
    clock.now += 3600
    expired = outbox.expire(older_than=60)
    assert (expired.deliveries, expired.chats) == (1, 1)
    assert sorted(d.chat_id for d in outbox.deliveries()) == ["2", "3"]
    assert outbox.chat_body("acme", "2") and outbox.chat_body("acme", "3")
    outbox.vacuum()  # gives the space back (or leaves it to later rows); changes nothing
    assert outbox.counts()["chats"] == 2


def test_expire_forgets_the_nodes_gone_before_then_and_keeps_the_living(
    outbox: Outbox, clock: Clock
) -> None:
    """Every start and every rejoin records a node: the records of those long gone go with the
    retention, so the table (and /metrics' counts of dead and stopped nodes) does not grow for
    ever. A node alive by the table stays, however long silent: only a rescue declares it dead."""
    for name in ("dead", "left"):
        outbox.join(node(name))
    outbox.leave("left")
    clock.now += 10
    assert outbox.rescue(silence=5).nodes == ("dead",)
    outbox.join(node("alive"))
    clock.now += 3600
    outbox.join(node("fresh"))
    outbox.leave("fresh")  # stopped just now: kept for a while
    assert outbox.expire(older_than=60).nodes == 2
    assert [n.id for n in outbox.nodes()] == ["alive", "fresh"]


def test_a_large_purge_goes_in_batches(outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("exportdsl.delivery.sqlite", "exportdsl.delivery.postgres"):
        monkeypatch.setattr(f"{module}.PURGE_BATCH", 3)
    outbox.accept_many([chat(number) for number in range(8)])
    for _ in range(8):
        outbox.succeed(claimed(outbox), "w")
    assert outbox.purge(status=DELIVERED) == 8
    assert outbox.purge_chats(older_than=-1) == 8
    assert outbox.counts()["chats"] == 0


# --- nodes: heartbeats, leaving, rescue -----------------------------------------------------------


def node(name: str) -> Node:
    return Node(name, "host", 1, f"process-{name}", 0.0, 0.0, "alive")


def test_nodes_join_heartbeat_and_are_listed_alive_first(outbox: Outbox, clock: Clock) -> None:
    outbox.join(node("a"))
    clock.now += 1
    outbox.join(node("b"))
    assert outbox.leave("a") == 0
    clock.now += 1
    assert outbox.heartbeat("b") and not outbox.heartbeat("a")  # stopped: not alive any more
    listed = outbox.nodes()
    assert [(n.id, n.state) for n in listed] == [("b", "alive"), ("a", "stopped")]
    assert listed[0].heartbeat_at == clock.now and listed[0].started_at == clock.now - 1
    assert listed[0].process == "process-b" and listed[0].host == "host"


def test_a_silent_node_is_declared_dead_and_its_heartbeat_then_fails(
    outbox: Outbox, clock: Clock
) -> None:
    outbox.join(node("a"))
    outbox.join(node("b"))
    clock.now += 3
    assert outbox.heartbeat("b")
    assert outbox.rescue(silence=5).nodes == ()  # a: silent for 3 s, not 5
    clock.now += 3
    rescue = outbox.rescue(silence=5)
    assert rescue.nodes == ("a",) and rescue.released == 0
    assert not outbox.heartbeat("a")  # it must join again under a new id
    assert outbox.rescue(silence=5).nodes == ()  # declared once
    assert {n.id: n.state for n in outbox.nodes()} == {"a": "dead", "b": "alive"}


def test_a_node_known_gone_is_dead_without_waiting_for_its_silence(outbox: Outbox) -> None:
    outbox.join(node("a"))
    outbox.join(node("b"))
    assert outbox.rescue(silence=60, gone=["a"]).nodes == ("a",)
    assert outbox.heartbeat("b")


def test_a_dead_nodes_leases_are_released_uncounted_and_fenced(
    outbox: Outbox, clock: Clock
) -> None:
    outbox.join(node("a"))
    outbox.join(node("b"))
    outbox.accept_many([chat(1), chat(2)])
    lost = claimed(outbox, "a/worker-0", lease=120)
    other = claimed(outbox, "b/worker-0", lease=120)
    clock.now += 10
    outbox.heartbeat("b")
    rescue = outbox.rescue(silence=5)
    assert (rescue.nodes, rescue.released, rescue.dead) == (("a",), 1, 0)
    back = outbox.delivery(lost.id)
    assert back is not None and back.attempts == 0 and back.crashes == 1
    assert back.lease_owner is None and back.next_attempt_at == clock.now  # due at once
    assert outbox.delivery(other.id).lease_owner == "b/worker-0"  # type: ignore[union-attr]
    taken = claimed(outbox, "b/worker-1")  # long before a's lease would have run out
    assert taken.id == lost.id and taken.attempts == 1
    assert not outbox.succeed(lost, "a/worker-0")  # a was only paused: it cannot finish it
    assert outbox.succeed(taken, "b/worker-1")


def test_a_dead_nodes_leases_stop_counting_toward_the_target_limit(
    outbox: Outbox, clock: Clock
) -> None:
    outbox.join(node("a"))
    outbox.join(node("b"))
    outbox.accept_many([chat(1), chat(2)])
    claimed(outbox, "a/worker-0", per_target=1, lease=120)
    assert outbox.claim("b/worker-0", per_target=1) is None  # the target is at its limit
    outbox.rescue(silence=5, gone=["a"])
    assert claimed(outbox, "b/worker-0", per_target=1).attempts == 1


def test_a_chat_that_kills_its_node_every_time_goes_dead_after_max_crashes(
    outbox: Outbox,
) -> None:
    outbox.accept_many([chat(1)])
    for crash in range(1, MAX_CRASHES + 1):
        outbox.join(node(f"n{crash}"))
        delivery = claimed(outbox, f"n{crash}/worker-0")
        rescue = outbox.rescue(silence=60, gone=[f"n{crash}"])
        last = crash == MAX_CRASHES
        assert (rescue.released, rescue.dead) == ((0, 1) if last else (1, 0))
    dead = outbox.delivery(delivery.id)
    assert dead is not None and dead.status == DEAD and dead.crashes == MAX_CRASHES
    assert dead.attempts == 0 and dead.last_error == crash_error(MAX_CRASHES)
    assert dead.lease_owner is None and dead.finished_at is not None
    assert outbox.claim("w") is None


def test_leaving_releases_the_leases_still_held_uncounted(outbox: Outbox) -> None:
    outbox.join(node("a"))
    outbox.join(node("ab"))  # a prefix of another id is not that node
    outbox.accept_many([chat(1), chat(2)])
    held = claimed(outbox, "a/worker-0")
    kept = claimed(outbox, "ab/worker-0")
    assert outbox.leave("a") == 1
    back = outbox.delivery(held.id)
    assert back is not None and back.attempts == 0 and back.crashes == 0
    assert back.lease_owner is None
    assert outbox.delivery(kept.id).lease_owner == "ab/worker-0"  # type: ignore[union-attr]
    assert [(n.id, n.state) for n in outbox.nodes()] == [("ab", "alive"), ("a", "stopped")]


# --- the schema's version ---------------------------------------------------------------------


def test_a_new_store_carries_the_current_schema_version(outbox_factory: Store) -> None:
    outbox = outbox_factory.open()
    assert outbox.schema_version() == SCHEMA_VERSION
    outbox.probe()  # writable; changes nothing
    assert outbox.schema_version() == SCHEMA_VERSION and outbox.counts()["chats"] == 0
    assert outbox_factory.open(create=False).schema_version() == SCHEMA_VERSION


def test_a_store_a_newer_exportdsl_made_is_refused_and_left_unchanged(
    outbox_factory: Store,
) -> None:
    outbox_factory.open().accept_many([chat(1)])
    outbox_factory.set_version(SCHEMA_VERSION + 1)
    for options in ({}, {"upgrade": True}, {"create": False}):
        with pytest.raises(OutboxError, match=f"schema version {SCHEMA_VERSION + 1}") as refused:
            outbox_factory.open(**options)
        assert refused.value.hint is not None and "nothing was changed" in refused.value.hint
    outbox_factory.set_version(SCHEMA_VERSION)
    assert outbox_factory.open(create=False).counts()["chats"] == 1


def test_an_older_schema_is_upgraded_by_upgrade_alone(outbox_factory: Store) -> None:
    outbox_factory.open().accept_many([chat(1)])
    outbox_factory.make_version_2()
    upgraded = outbox_factory.open(create=False, upgrade=True)
    assert upgraded.schema_version() == SCHEMA_VERSION
    upgraded.join(node("a"))  # the nodes table is back
    delivery = claimed(upgraded, "a/worker-0")
    assert delivery.crashes == 0 and delivery.chat_id == "1"  # the work kept
    assert upgraded.rescue(silence=60, gone=["a"]).released == 1


def test_an_empty_store_is_not_an_outbox_without_create(outbox_factory: Store) -> None:
    for options in ({"create": False}, {"create": False, "upgrade": True}):
        with pytest.raises(OutboxError, match="not an exportdsl"):
            outbox_factory.open(**options)
