"""What only the PostgreSQL outbox does, on a real server (tests/pgcluster.py): nodes claiming and
accepting at once, LISTEN/NOTIFY, the database's clock, a schema made by nodes starting together,
and connection errors that never show the URL's password. The contract both back ends keep is
tested in tests/test_outbox_contract.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

import pgcluster
import psycopg
import pytest
from test_outbox_contract import chat

from exportdsl.delivery.outbox import SCHEMA_VERSION, Incoming, Node
from exportdsl.delivery.postgres import PostgresOutbox
from exportdsl.delivery.store import open_outbox
from exportdsl.errors import OutboxError

T = TypeVar("T")


@contextmanager
def nodes(url: str, count: int, **options: object) -> Iterator[list[PostgresOutbox]]:
    """``count`` outboxes on one database, each with its own pool: as many nodes."""
    opened = [PostgresOutbox(url, **options) for _ in range(count)]  # type: ignore[arg-type]
    try:
        yield opened
    finally:
        for outbox in opened:
            outbox.close()


def together(calls: list[Callable[[], T]]) -> list[T]:
    """The calls run at once, each in a thread of its own, released by one barrier."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        start.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def database_now(url: str) -> float:
    with psycopg.connect(url) as db:
        row = db.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
    assert row is not None
    return float(row[0])


def test_the_per_target_limit_holds_across_nodes_claiming_at_once(postgres_url: str) -> None:
    """Six nodes claim the same target at the same moment, round after round: each round exactly
    `per_target` of them get a delivery. Copying SQLite's claim across (count, then claim, with no
    lock between nodes) lets several see 1 of 2 and all claim."""
    per_target, rounds = 2, 15
    with nodes(postgres_url, 6) as outboxes:
        outboxes[0].accept_many([chat(number, target="one.example") for number in range(200)])
        for _ in range(rounds):
            got = together(
                [
                    partial(outbox.claim, f"node-{n}/worker-0", lease=60, per_target=per_target)
                    for n, outbox in enumerate(outboxes)
                ]
            )
            won = [(n, delivery) for n, delivery in enumerate(got) if delivery is not None]
            assert len(won) == per_target
            assert len({delivery.id for _, delivery in won}) == per_target
            for n, delivery in won:
                assert outboxes[n].succeed(delivery, f"node-{n}/worker-0")
        assert outboxes[0].counts()["delivered"] == per_target * rounds


def test_nodes_claiming_at_once_never_hold_the_same_delivery_nor_exceed_the_limit(
    postgres_url: str,
) -> None:
    """Four nodes work 120 deliveries of one target flat out, each attempt taking a moment: at
    no time are more than `per_target` of them in flight, and each is delivered once."""
    per_target, live, most, done = 3, [0], [0], []
    lock = threading.Lock()

    def work(outbox: PostgresOutbox, owner: str) -> None:
        while (delivery := outbox.claim(owner, per_target=per_target)) is not None or (
            outbox.counts()["pending"]
        ):
            if delivery is None:
                time.sleep(0.002)
                continue
            with lock:
                live[0] += 1
                most[0] = max(most[0], live[0])
            time.sleep(0.002)
            with lock:
                live[0] -= 1
                done.append(delivery.id)
            assert outbox.succeed(delivery, owner)

    with nodes(postgres_url, 4) as outboxes:
        outboxes[0].accept_many([chat(number, target="one.example") for number in range(120)])
        together([partial(work, outbox, f"node-{n}/w") for n, outbox in enumerate(outboxes)])
    assert 1 < most[0] <= per_target
    assert len(done) == len(set(done)) == 120


def test_two_nodes_accepting_the_same_chat_at_once_store_it_once(postgres_url: str) -> None:
    with nodes(postgres_url, 2) as (first, second):
        for number in range(25):
            results = together(
                [
                    partial(first.accept_many, [chat(number)]),
                    partial(second.accept_many, [chat(number)]),
                ]
            )
            assert sorted(result[0].duplicate for result in results) == [False, True]
        later = Incoming("acme", "0", b"{}", "crm.example", "later", 5)
        results = together(
            [lambda: first.accept_many([later]), lambda: second.accept_many([later])]
        )
        assert sorted(result[0].duplicate for result in results) == [False, True]
        assert first.counts() | {"pending": 0} == {
            "pending": 0,
            "delivered": 0,
            "dead": 0,
            "retrying": 0,
            "chats": 26,
        }
        assert len(first.deliveries(limit=1000)) == 26


def test_a_watcher_is_woken_by_another_nodes_accept_within_a_second(postgres_url: str) -> None:
    with nodes(postgres_url, 2) as (watched, accepting):
        woken, stopping = threading.Event(), threading.Event()
        watcher = threading.Thread(target=watched.watch, args=(woken.set, stopping), daemon=True)
        watcher.start()
        try:
            assert woken.wait(10)  # listening: it wakes once at once (work stored meanwhile)
            woken.clear()
            time.sleep(0.2)
            assert not woken.is_set()  # nothing stored: nobody woken
            accepting.accept_many([chat(1), chat(2)])
            assert woken.wait(1.0)
            woken.clear()
            accepting.accept_many([chat(1)])  # a duplicate: nothing new, no NOTIFY
            time.sleep(0.3)
            assert not woken.is_set()
            # the listening connection dropped (the server restarted, a proxy cut it): it listens
            # again after a pause, and wakes once then
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE query LIKE 'LISTEN%%' AND datname = current_database()"
                )
            assert woken.wait(10)
            woken.clear()
            time.sleep(0.2)
            woken.clear()
            accepting.accept_many([chat(3)])
            assert woken.wait(1.0)
        finally:
            stopping.set()
            watcher.join(10)
        assert not watcher.is_alive()


def test_lease_and_heartbeat_times_are_the_databases_never_the_nodes(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node whose clock is a day behind still leases for the lease's length by the database's
    clock (else its peers would take its work over at once, or never)."""
    outbox = PostgresOutbox(postgres_url)
    try:
        monkeypatch.setattr(time, "time", lambda: 1_000_000_000.0)  # 2001: this node's clock
        outbox.accept_many([chat(1)])
        before = database_now(postgres_url)
        delivery = outbox.claim("n/w", lease=60)
        after = database_now(postgres_url)
        assert delivery is not None and delivery.lease_until is not None
        assert before + 60 <= delivery.lease_until <= after + 60
        assert before - 5 <= delivery.created_at <= after
        outbox.join(Node("n", "host", 1, "p", 0.0, 0.0, "alive"))
        (joined,) = outbox.nodes()
        assert before <= joined.heartbeat_at <= database_now(postgres_url)
        assert before <= outbox.clock() <= database_now(postgres_url)
        assert outbox.rescue(silence=60).nodes == ()  # alive by the database's clock
    finally:
        outbox.close()


def test_nodes_starting_together_make_the_schema_once(postgres_url: str) -> None:
    opened = together([lambda: PostgresOutbox(postgres_url) for _ in range(4)])
    try:
        assert {outbox.schema_version() for outbox in opened} == {SCHEMA_VERSION}
        opened[0].accept_many([chat(1)])
        assert opened[3].counts()["chats"] == 1
    finally:
        for outbox in opened:
            outbox.close()


def test_a_database_holding_another_applications_tables_is_refused(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("CREATE TABLE chats (id integer)")
    with pytest.raises(OutboxError, match=r"not an exportdsl outbox .*chats") as refused:
        PostgresOutbox(postgres_url)
    assert refused.value.hint is not None and "search_path" in refused.value.hint
    with psycopg.connect(postgres_url, autocommit=True) as db:
        found = db.execute("SELECT to_regclass('exportdsl_schema')").fetchone()
    assert found == (None,)  # nothing was made


def test_both_url_schemes_open_the_postgresql_outbox(postgres_url: str) -> None:
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://")):
        outbox = open_outbox(url)
        try:
            assert isinstance(outbox, PostgresOutbox)
            assert outbox.location == url.replace(pgcluster.PASSWORD, "***")
        finally:
            outbox.close()


def test_a_password_in_the_url_never_shows_in_an_error(
    postgres_cluster: pgcluster.Cluster,
) -> None:
    secret = "S3cret-p%40ss"  # percent-encoded: "S3cret-p@ss" is what libpq sends
    wrong_password = postgres_cluster.url(password=secret)
    no_database = postgres_cluster.url("no_such_database")
    closed_port = no_database.replace(f":{postgres_cluster.port}/", ":1/")
    for url, reason in (
        (wrong_password, "password authentication failed"),
        (no_database, 'database "no_such_database" does not exist'),
        (closed_port, "Connection refused"),
    ):
        with pytest.raises(OutboxError) as refused:
            PostgresOutbox(url)
        shown = f"{refused.value} {refused.value.hint} {refused.value!r}"
        assert reason in shown and "***@127.0.0.1" in shown
        for password in (secret, "S3cret-p@ss", pgcluster.PASSWORD):
            assert password not in shown


def test_a_wrong_port_gives_a_clear_outbox_error(postgres_cluster: pgcluster.Cluster) -> None:
    url = postgres_cluster.url().replace(f":{postgres_cluster.port}/", ":1/")
    started = time.monotonic()
    with pytest.raises(OutboxError) as refused:
        open_outbox(url)
    assert time.monotonic() - started < 10
    assert str(refused.value).startswith(
        "cannot connect to the outbox postgresql://exportdsl_test:***@127.0.0.1:1/postgres:"
    )
    assert "port 1 failed: Connection refused" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert refused.value.hint is not None and "is PostgreSQL running there" in refused.value.hint


def test_a_role_with_only_the_documented_privileges_serves_the_outbox(
    postgres_cluster: pgcluster.Cluster, postgres_url: str
) -> None:
    """docs/serve.md: the tables made once by their owner, the nodes may run as a role that can
    only read and write their rows (no CREATE, no sequence privilege for the identity column).
    The owner makes them with `exportdsl db upgrade` on the empty database."""
    from click.testing import CliRunner

    from exportdsl.cli.main import main

    made = CliRunner().invoke(main, ["db", "upgrade", "--db", postgres_url])
    assert made.exit_code == 0, made.output
    assert f"schema version {SCHEMA_VERSION}, made" in made.output
    assert pgcluster.PASSWORD not in made.output
    again = CliRunner().invoke(main, ["db", "upgrade", "--db", postgres_url])
    assert f"schema version {SCHEMA_VERSION}, up to date" in again.output
    role = f"nodes_{postgres_url.rpartition('/')[2]}"
    with psycopg.connect(postgres_url, autocommit=True) as owner:
        owner.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'role-pw'")
        owner.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON exportdsl_schema, chats, deliveries, nodes,"
            " attempts"
            f" TO {role}"
        )
    url = postgres_url.replace(f"{pgcluster.USER}:{pgcluster.PASSWORD}", f"{role}:role-pw")
    with nodes(url, 1) as (outbox,):
        assert not outbox.accept_many([chat(1)])[0].duplicate
        outbox.join(Node("n", "host", 1, "p", 0.0, 0.0, "alive"))
        delivery = outbox.claim("n/w")
        assert delivery is not None and outbox.succeed(delivery, "n/w")
        outbox.request_export("acme", "1", "crm.example")
        assert outbox.expire(older_than=0).deliveries == 1
        outbox.probe()
        outbox.vacuum()  # not the owner: PostgreSQL skips the tables with a warning
        assert outbox.rescue(silence=60, gone=["n"]).nodes == ("n",)
    with psycopg.connect(postgres_url, autocommit=True) as owner:  # a role now holding no object
        owner.execute(f"DROP OWNED BY {role}")
        owner.execute(f"DROP ROLE {role}")


def test_an_outbox_in_a_schema_of_its_own_beside_another_applications_tables(
    postgres_url: str,
) -> None:
    """docs/serve.md: ``?options=-csearch_path%3Dexportdsl`` keeps the outbox in a schema of its
    own, so a database whose public schema has a table named chats can hold it too."""
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("CREATE TABLE chats (id integer)")
        db.execute("CREATE SCHEMA exportdsl")
    with nodes(f"{postgres_url}?options=-csearch_path%3Dexportdsl", 1) as (outbox,):
        outbox.accept_many([chat(1)])
        assert outbox.counts()["chats"] == 1
    with psycopg.connect(postgres_url, autocommit=True) as db:
        found = db.execute("SELECT count(*) FROM exportdsl.chats").fetchone()
        assert found == (1,)
