"""Nodes that know each other are alive (issue 13 item 2) and schema versions (item 3), on SQLite.

Real `exportdsl serve` processes on one outbox file, killed with SIGKILL or paused with SIGSTOP;
the receiver is a real HTTP server on 127.0.0.1. The same contract on PostgreSQL is in
tests/test_outbox_contract.py and the three-node run in tests/test_scale_out.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from exportdsl.delivery import database as database_module
from exportdsl.delivery.nodes import Membership, gone_here, this_process
from exportdsl.delivery.outbox import SCHEMA_VERSION, Incoming
from exportdsl.delivery.sqlite import SqliteOutbox
from tests.backend import TOKEN, Backend, Reply
from tests.test_serve import (
    SERVE_ENV,
    Running,
    counts,
    free_port,
    post_hooks,
    serve,
    start_process,
    wait_for,
    write_connectors,
)

__all__ = ["serve"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.timeout(120)

SLOW_LEASE = ("--lease", "120")  # rescue must not wait for a lease to run out


def rows(database: Path | str, query: str) -> list[tuple[object, ...]]:
    """What a query finds in the outbox at ``database``: a SQLite file or a PostgreSQL URL."""
    if str(database).startswith("postgresql://"):
        import psycopg

        with psycopg.connect(str(database)) as connection:
            return [tuple(row) for row in connection.execute(query).fetchall()]
    with sqlite3.connect(database) as db:
        return db.execute(query).fetchall()


def statuses(database: Path | str) -> dict[object, object]:
    return dict(rows(database, "SELECT status, COUNT(*) FROM deliveries GROUP BY status"))


@pytest.fixture(params=["sqlite", "postgresql"])
def outbox_at(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where the nodes of a test keep their outbox: a SQLite file, or a fresh PostgreSQL
    database (tests/conftest.py: skipped where PostgreSQL is not installed, unless required)."""
    if request.param == "sqlite":
        return tmp_path / "q.db"
    return str(request.getfixturevalue("postgres_url"))


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_a_restarted_node_rescues_its_killed_predecessors_work_at_once(
    tmp_path: Path, real_backend: Backend
) -> None:
    """Before nodes, the chats in flight at a ``kill -9`` waited for their whole lease (120 s)
    after the restart; now the restarted process finds its predecessor's process gone as it
    starts and takes the work back: everything is delivered well within 10 s of the restart."""
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}, delay=0.3))  # deliveries in flight at the kill
    folder = write_connectors(tmp_path / "c", real_backend.base_url)
    database, port = tmp_path / "q.db", free_port()
    process = start_process(folder, database, port, *SLOW_LEASE)
    accepted = post_hooks(port, range(100, 120))
    wait_for(lambda: len(real_backend.requests_to("/report")) >= 4)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    leased = rows(database, "SELECT id FROM deliveries WHERE lease_owner IS NOT NULL")
    assert leased, "the kill should catch deliveries in flight"
    process = start_process(folder, database, port, *SLOW_LEASE)
    try:  # 20 deliveries of 0.3 s over 4 workers: 1.5 s; the lease would hold them for 120 s
        wait_for(lambda: counts(database) == {"delivered": len(accepted)}, seconds=10)
    finally:
        stop(process)
    rescued = rows(database, "SELECT crashes, attempts FROM deliveries WHERE crashes > 0")
    # the attempt the kill cut short did not use up the retry schedule
    assert len(rescued) == len(leased) and set(rescued) == {(1, 1)}
    states = rows(database, "SELECT state FROM nodes ORDER BY started_at")
    assert states == [("dead",), ("stopped",)]  # the killed one, then the one stopped by SIGTERM


def test_a_paused_node_cannot_overwrite_its_successors_result(
    tmp_path: Path, real_backend: Backend, outbox_at: Path | str
) -> None:
    """Node A is paused (SIGSTOP) mid-attempt past its heartbeat; node B, on the same outbox,
    declares it dead and delivers the chat. When A resumes, the answer it was waiting for (a 500)
    changes nothing: its lease is gone. A then finds it was declared dead and joins again."""
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(500, json={}, delay=1.0), Reply(201, json={}))
    folder = write_connectors(tmp_path / "c", real_backend.base_url)
    database = outbox_at
    options = (*SLOW_LEASE, "--workers", "1", "--node-timeout", "2")
    first_port, second_port = free_port(), free_port()
    first = start_process(folder, database, first_port, *options)
    second: subprocess.Popen[bytes] | None = None
    try:
        assert post_hooks(first_port, range(7, 8)) == ["7"]
        wait_for(lambda: len(real_backend.requests_to("/report")) == 1)
        first.send_signal(signal.SIGSTOP)  # mid-attempt: its answer (500) is a second away
        second = start_process(folder, database, second_port, *options)
        wait_for(lambda: statuses(database) == {"delivered": 1}, seconds=10)
        first.send_signal(signal.SIGCONT)
        health = f"http://127.0.0.1:{first_port}/healthz"
        wait_for(lambda: httpx.get(health, timeout=5).json()["rescues"]["rejoined"] == 1)
        (delivery,) = rows(database, "SELECT status, last_status, crashes FROM deliveries")
        assert delivery == ("delivered", 201, 1)  # B's result stands; A's 500 was fenced off
        keys = [r.headers["idempotency-key"] for r in real_backend.requests_to("/report")]
        assert len(keys) == 2 and len(set(keys)) == 1  # the same key both times
        seen = httpx.get(f"http://127.0.0.1:{second_port}/healthz", timeout=5).json()
        assert seen["rescues"]["nodes"] == 1 and seen["rescues"]["deliveries"] == 1
        rejoined = httpx.get(health, timeout=5).json()["node"]
        assert rejoined in [peer["id"] for peer in seen["peers"]]  # B sees A's new node alive
    finally:
        stop(first)
        if second is not None:
            stop(second)


def test_a_node_of_this_host_whose_process_is_gone_is_dead_at_once(tmp_path: Path) -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    outbox = SqliteOutbox(tmp_path / "q.db")
    me = this_process()
    gone = replace(me, id="gone:1:x", pid=int(ended.stdout))  # its process has ended
    running = replace(me, id="running:2:y")  # this very process: alive
    elsewhere = replace(me, id="far:3:z", pid=int(ended.stdout), process="pid:[1]|other-boot|1")
    for node in (me, gone, running, elsewhere):
        outbox.join(node)
    assert gone_here(outbox.nodes(), me) == ["gone:1:x"]


def test_membership_rescues_as_it_starts_and_leaves_releasing_its_leases(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    outbox = SqliteOutbox(path)
    outbox.accept_many([Incoming("crm", str(n), b"{}", "t", f"k{n}") for n in range(2)])
    me = this_process()
    dead = replace(me, id="old:1:z", process=me.process + "-before")
    outbox.join(dead)  # a predecessor of this host whose process is no longer the one it names
    assert outbox.claim("old:1:z/worker-0", lease=120) is not None
    membership = Membership(lambda: SqliteOutbox(path), beat=0.05)
    membership.start()
    try:
        assert membership.rescues.nodes == 1 and membership.rescues.released == 1
        claimed = outbox.claim(membership.owner("worker-0"), lease=120)
        assert claimed is not None and claimed.crashes <= 1
    finally:
        membership.stop()
    assert outbox.delivery(claimed.id).lease_owner is None  # type: ignore[union-attr]
    states = {node.id: node.state for node in outbox.nodes()}
    assert states == {"old:1:z": "dead", membership.id: "stopped"}


# --- schema versions ------------------------------------------------------------------------------


def schema_2(path: Path) -> None:
    """An outbox as exportdsl made it before nodes: chats with versions, no crash counts, no nodes
    table, no user_version."""
    schema = database_module._SCHEMA
    schema = schema.replace(
        "    crashes         INTEGER NOT NULL DEFAULT 0,  -- attempts cut short by their node's"
        " death\n",
        "",
    )
    schema = schema[: schema.index("-- the serve processes")]
    with sqlite3.connect(path) as db:
        db.executescript(schema)
        db.execute("INSERT INTO chats VALUES ('crm', '1', 5, x'7b7d', 1.0, 'k', 0)")
        db.execute(
            "INSERT INTO deliveries (connector, chat_id, end_at, reason, idempotency_key, target,"
            " status, next_attempt_at, created_at) VALUES ('crm', '1', 5, 'hook', 'k', 't',"
            " 'pending', 0, 0)"
        )
    assert "crashes" not in str(rows(path, "PRAGMA table_info(deliveries)"))


def exportdsl(*arguments: str) -> subprocess.CompletedProcess[str]:
    executable = str(Path(sys.executable).with_name("exportdsl"))
    return subprocess.run(
        [executable, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | SERVE_ENV,
    )


def test_db_upgrade_upgrades_an_outbox_made_before_nodes_in_place(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    schema_2(path)
    done = exportdsl("db", "upgrade", "--db", str(path))
    assert done.returncode == 0, done.stderr
    assert f"schema version upgraded from 2 to {SCHEMA_VERSION}" in done.stdout
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    outbox = SqliteOutbox(path, create=False)
    claimed = outbox.claim("n/w")
    assert claimed is not None and claimed.crashes == 0 and claimed.end_at == 5
    again = exportdsl("db", "upgrade", "--db", str(path))
    assert f"schema version {SCHEMA_VERSION}, up to date" in again.stdout


def test_serving_opens_an_older_outbox_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    schema_2(path)
    outbox = SqliteOutbox(path)
    assert outbox.schema_version() == SCHEMA_VERSION
    assert [node.id for node in outbox.nodes()] == []


def test_an_outbox_a_newer_exportdsl_made_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    SqliteOutbox(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    folder = write_connectors(tmp_path / "c", "http://127.0.0.1:9")
    for command in (
        ["db", "upgrade", "--db", str(path)],
        ["queue", "list", "--db", str(path)],
        ["serve", "--connectors", str(folder), "--db", str(path), "--port", "0"],
    ):
        done = exportdsl(*command)
        assert done.returncode in (1, 2), (command, done.stderr)
        assert f"schema version {SCHEMA_VERSION + 1}" in done.stderr, (command, done.stderr)
        assert f"knows versions up to {SCHEMA_VERSION}" in done.stderr
        assert "Traceback" not in done.stderr
    assert path.read_bytes() == before


def test_db_names_the_outbox_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    schema_2(path)
    env = os.environ | {"EXPORTDSL_DB": str(path)}
    executable = str(Path(sys.executable).with_name("exportdsl"))
    done = subprocess.run(
        [executable, "queue", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "1 pending" in done.stderr


def test_a_url_other_than_postgresql_is_refused_without_echoing_it(tmp_path: Path) -> None:
    done = exportdsl("queue", "list", "--db", "mysql://root:hunter2@db/x")
    assert done.returncode == 2 and "postgresql://" in done.stderr
    assert "hunter2" not in done.stderr


def test_a_heartbeat_after_being_declared_dead_says_so(tmp_path: Path) -> None:
    clock = [1000.0]
    outbox = SqliteOutbox(tmp_path / "q.db", clock=lambda: clock[0])
    node = this_process()
    outbox.join(node)
    assert outbox.heartbeat(node.id)
    clock[0] += 10
    peer = this_process()
    outbox.join(peer)
    assert outbox.rescue(5.0).nodes == (node.id,)
    assert not outbox.heartbeat(node.id)  # it must join again under a new id
    assert outbox.heartbeat(peer.id)


def test_stalled_membership_judges_nobody(tmp_path: Path) -> None:
    """A node that could not beat for longer than the silence (the outbox was held, the process
    paused) judges nobody that round: its peers may have been held as long."""
    path = tmp_path / "q.db"
    clock = [1000.0]
    outbox = SqliteOutbox(path, clock=lambda: clock[0])
    peer = this_process()
    outbox.join(peer)
    membership = Membership(lambda: SqliteOutbox(path, clock=lambda: clock[0]), silence=5.0)
    membership.start()
    try:
        clock[0] += 60  # everyone silent for a minute, this node too
        membership._last_beat = time.monotonic() - 60
        membership._beat(outbox)
        assert {n.id: n.state for n in outbox.nodes()}[peer.id] == "alive"
        membership._beat(outbox)  # the next round: its peers get a whole silence to beat
        assert {n.id: n.state for n in outbox.nodes()}[peer.id] == "alive"
        membership._judge_from = time.monotonic()  # that silence over, the peer still silent
        membership._beat(outbox)
        assert {n.id: n.state for n in outbox.nodes()}[peer.id] == "dead"
    finally:
        membership.stop()


def test_health_and_metrics_show_the_node_its_peers_and_rescues(
    serve: Callable[..., Running], tmp_path: Path
) -> None:
    running = serve(workers=1)
    peer = this_process()
    SqliteOutbox(tmp_path / "queue.db").join(replace(peer, id="peer:1:a", process="elsewhere"))
    health = running.client.get("/healthz").json()
    assert health["node"] == running.intake.pool.membership.id
    assert [each["id"] for each in health["peers"]] == ["peer:1:a"]
    assert health["rescues"] == {
        "nodes": 0,
        "deliveries": 0,
        "dead": 0,
        "last": None,
        "rejoined": 0,
    }
    metrics = running.client.get("/metrics").text
    assert 'exportdsl_nodes{state="alive"} 2.0' in metrics
    assert 'exportdsl_rescued_deliveries_total{result="released"} 0.0' in metrics
