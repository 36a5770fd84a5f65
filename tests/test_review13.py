"""Issue 13 as an operator and an attacker meet it (review 13): what broke when tried for real,
each defect pinned by a test that failed before its fix. Real outboxes, real processes; loopback
only."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import httpx
import pgcluster
import psycopg
import pytest
from pgcluster import _run_as_server_user, _start_server

from exportdsl.delivery.nodes import Membership, this_process
from exportdsl.delivery.outbox import Node
from exportdsl.delivery.sqlite import SqliteOutbox
from exportdsl.delivery.store import database_secrets, open_outbox
from tests import test_scale_out as scale_out
from tests.test_serve import (
    INTAKE_SECRET,
    SERVE_ENV,
    chat_json,
    free_port,
    serve_command,
    start_process,
    wait_for,
    write_connectors,
)

EXPORTDSL = str(Path(sys.executable).with_name("exportdsl"))


def states(outbox: SqliteOutbox) -> dict[str, str]:
    return {node.id: node.state for node in outbox.nodes()}


def test_a_node_back_from_an_outage_gives_its_peers_a_whole_silence_to_beat(
    tmp_path: Path,
) -> None:
    """Found by stopping PostgreSQL for 10 s under three nodes: the first node whose heartbeat got
    through again declared a live peer dead one beat later (the peer's connection was still being
    made again), released its leases, and a chat was delivered twice."""
    path = tmp_path / "q.db"
    outbox = SqliteOutbox(path)
    peer = this_process()
    outbox.join(peer)
    silence = 1.0
    membership = Membership(lambda: SqliteOutbox(path), beat=3600, silence=silence)
    membership.start()
    try:
        time.sleep(silence * 1.3)  # the outbox out of reach: nobody beats
        membership._beat(outbox)  # back: stalled, it judges nobody
        membership._beat(outbox)  # the next beat: the peer has not beaten yet
        assert states(outbox)[peer.id] == "alive"
        assert outbox.heartbeat(peer.id)  # the peer's beat gets through: it was alive all along
        for _ in range(12):  # this node beating, the peer silent a whole silence: dead
            time.sleep(silence / 10)
            membership._beat(outbox)
        assert states(outbox)[peer.id] == "dead"
    finally:
        membership.stop()


def test_a_postgresql_server_out_of_reach_is_exit_1_not_a_usage_error() -> None:
    """docs/serve.md: "A database that cannot be reached is an error naming the URL (without its
    password) and PostgreSQL's reason, exit 1". The queue commands answered it with click's usage
    text and exit 2, as if the command line were wrong."""
    url = f"postgresql://someone:pw-never-shown@127.0.0.1:{free_port()}/exportdsl"
    for command in (["queue", "list"], ["queue", "show", "1"], ["db", "upgrade"]):
        done = subprocess.run(
            [EXPORTDSL, *command, "--db", url], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1, (command, done.stderr)
        assert "cannot connect to the outbox" in done.stderr
        assert "Usage:" not in done.stderr
        assert "pw-never-shown" not in done.stderr


def test_a_password_in_the_urls_query_is_never_shown(tmp_path: Path) -> None:
    """libpq takes the password as a query parameter too (``?password=…``, also spelt
    percent-encoded); the queue commands' errors and serve's log printed it in full."""
    port = free_port()
    urls = [
        f"postgresql://someone@127.0.0.1:{port}/x?password=Qp-never-shown&sslmode=disable",
        f"postgresql:///x?host=127.0.0.1&port={port}&pass%77ord=Qp-never-shown",
        f"postgresql://someone@127.0.0.1:{port}/x?sslpassword=Qp-never-shown",
        "postgresql://someone:Qp-never-shown@[127.0.0.1/x",  # libpq quotes it whole
    ]
    folder = write_connectors(tmp_path / "connectors", "http://127.0.0.1:9")
    for url in urls:
        listed = subprocess.run(
            [EXPORTDSL, "queue", "list", "--db", url], capture_output=True, text=True, timeout=60
        )
        assert "cannot connect to the outbox" in listed.stderr
        assert "Qp-never-shown" not in listed.stderr
        for log_format in ("text", "json"):
            served = subprocess.run(
                [*serve_command(folder, url, free_port()), "--log-format", log_format],
                capture_output=True,
                text=True,
                timeout=60,
                env=os.environ | SERVE_ENV,
            )
            assert served.returncode == 1 and "cannot connect to the outbox" in served.stderr
            assert "Qp-never-shown" not in served.stderr + served.stdout
    assert database_secrets(urls[1], {}) == ["Qp-never-shown"]


def gone_peer() -> Node:
    """A node of this machine whose process has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return replace(this_process(), id=f"gone:{child.pid}:a", pid=child.pid)


def test_a_node_back_from_an_outage_still_rescues_a_peer_whose_process_is_gone(
    tmp_path: Path,
) -> None:
    """The grace after an outage is for peers that may be alive; one whose process is gone from
    this machine (killed meanwhile) is rescued at once, as it would be without the outage."""
    path = tmp_path / "q.db"
    outbox = SqliteOutbox(path)
    alive, gone = this_process(), gone_peer()
    outbox.join(alive)
    membership = Membership(lambda: SqliteOutbox(path), beat=3600, silence=1.0)
    membership.start()
    try:
        time.sleep(1.3)  # the outbox out of reach; meanwhile a peer is killed
        outbox.join(gone)
        membership._beat(outbox)
        membership._beat(outbox)
        assert states(outbox)[gone.id] == "dead"
        assert states(outbox)[alive.id] == "alive"
    finally:
        membership.stop()


def test_postgresql_judges_by_silence_infinite_as_nobody(postgres_url: str) -> None:
    """What a node in its grace asks of the outbox: only the nodes named as gone are dead."""
    outbox = open_outbox(postgres_url)
    try:
        quiet, gone = this_process(), replace(this_process(), id="gone:1:a")
        outbox.join(quiet)
        outbox.join(gone)
        time.sleep(0.2)
        assert outbox.rescue(math.inf, [gone.id]).nodes == (gone.id,)
        assert outbox.rescue(0.1).nodes == (quiet.id,)
    finally:
        outbox.close()


def test_a_node_beats_again_within_a_second_or_two_of_the_database_coming_back(
    postgres_cluster: pgcluster.Cluster, postgres_url: str
) -> None:
    """Found by stopping PostgreSQL for 20 s under three nodes: after it came back, the nodes'
    heartbeats stayed failing for 10 s more (their connection pools wait 1, 2, 4, 8, 16 s between
    attempts to connect), so the first node back declared the others dead. The heartbeat now
    opens its outbox anew after a failure, and beats as soon as the database answers."""
    membership = Membership(partial(open_outbox, postgres_url), beat=0.2, silence=30.0)
    membership.start()
    try:
        time.sleep(0.5)
        pg_ctl = str(postgres_cluster.bindir / "pg_ctl")
        _run_as_server_user([pg_ctl, "stop", "-m", "fast", "-D", str(postgres_cluster.data)])
        time.sleep(8)  # the pool's attempts: ~0, 1, 3, 7 s after; its next ~15 s after
        assert _start_server(postgres_cluster)
        back = time.monotonic()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            while time.monotonic() - back < 10:
                silent = conn.execute(
                    "SELECT extract(epoch FROM clock_timestamp()) - heartbeat_at FROM nodes"
                    " WHERE id = %s",
                    [membership.id],
                ).fetchone()
                assert silent is not None
                if silent[0] < 0.5:
                    break
                time.sleep(0.1)
        assert time.monotonic() - back < 2.5, "the node stayed silent after the database was back"
    finally:
        membership.stop()


def test_a_delivery_finished_while_postgresql_restarts_does_not_hold_its_target(
    postgres_cluster: pgcluster.Cluster,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by stopping PostgreSQL for 20 s under three nodes: the attempts that ended meanwhile
    could not be recorded, their leases stayed, and being as many as --per-target they held every
    delivery to that back end, on every node, until the leases ran out (120 s by default)."""
    monkeypatch.setattr(scale_out, "ANSWER_DELAY", 3.0)  # the first report outlasts the restart
    receiver = scale_out.Receiver()
    folder = write_connectors(tmp_path / "connectors", receiver.base_url)
    port = free_port()
    process = start_process(folder, postgres_url, port, "--per-target", "1", "--lease", "60")
    try:
        for chat_id in (1, 2):
            answer = httpx.post(
                f"http://127.0.0.1:{port}/hooks/forward",
                content=chat_json(chat_id),
                params={"token": INTAKE_SECRET},
                timeout=10,
            )
            assert answer.status_code == 202
        wait_for(lambda: receiver.now == 1, 10)  # the first report is being answered
        pg_ctl = str(postgres_cluster.bindir / "pg_ctl")
        _run_as_server_user([pg_ctl, "stop", "-m", "fast", "-D", str(postgres_cluster.data)])
        assert _start_server(postgres_cluster)
        wait_for(lambda: len(receiver.keys) == 2, 15)  # not after the 60 s lease
    finally:
        process.terminate()
        process.wait(30)
        receiver.close()
