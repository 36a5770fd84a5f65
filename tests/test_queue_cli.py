"""`exportdsl queue list|show|retry|purge` on a real outbox file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from exportdsl.cli.main import main
from exportdsl.delivery.outbox import Incoming
from exportdsl.delivery.sqlite import SqliteOutbox
from exportdsl.vocabulary import DeliveryStatus

DEAD = DeliveryStatus.DEAD


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "queue.db"
    outbox = SqliteOutbox(path)
    for number in range(3):
        outbox.accept_many([Incoming("crm", str(number), b"{}", "crm.example", f"key-{number}")])
    first = outbox.claim("w")
    assert first is not None
    outbox.succeed(first, "w", 201)
    second = outbox.claim("w")
    assert second is not None
    outbox.fail(second, "w", "HTTP 410 Gone", status=410, permanent=True)
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["queue", *args])
    return result.exit_code, result.output


def test_list_shows_states_and_errors(database: Path) -> None:
    code, output = run("list", "--db", str(database))
    assert code == 0
    assert (
        "delivered" in output
        and "dead" in output
        and "HTTP 410 Gone" in output
        and "pending" in output
    )
    assert "1 pending (0 of them retrying), 1 delivered, 1 dead" in output
    code, output = run("list", "--db", str(database), "--status", "dead", "--json")
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [r["last_status"] for r in records] == [410]


def test_show_one_delivery(database: Path) -> None:
    code, output = run("show", "--db", str(database), "2")
    assert code == 0 and "idempotency_key" in output and "key-1" in output
    assert run("show", "--db", str(database), "99")[0] == 2


def test_retry_dead_then_purge_delivered(database: Path) -> None:
    code, output = run("retry", "--db", str(database), "--dead")
    assert code == 0 and "1 delivery queued again" in output
    assert SqliteOutbox(database).counts()[DEAD] == 0
    code, output = run("purge", "--db", str(database), "--status", "delivered")
    assert code == 0 and "1 delivery removed" in output
    assert run("purge", "--db", str(database))[0] == 2  # says nothing about what to purge
    assert run("retry", "--db", str(database))[0] == 2


def test_a_file_that_is_not_a_queue_is_a_usage_error(tmp_path: Path) -> None:
    not_a_db = tmp_path / "x.db"
    not_a_db.write_text("hello")
    code, output = run("list", "--db", str(not_a_db))
    assert code == 2 and "Traceback" not in output
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    code, output = run("list", "--db", str(empty))
    assert code == 2 and "not an exportdsl queue" in output


def test_the_status_option_offers_every_delivery_status() -> None:
    from exportdsl.cli.delivery import STATUSES

    assert tuple(DeliveryStatus) == STATUSES


@pytest.mark.parametrize("command", ["retry", "purge"])
def test_naming_a_delivery_that_does_not_exist_is_a_usage_error(
    database: Path, command: str
) -> None:
    code, output = run(command, "--db", str(database), "1", "99")
    assert code == 2 and "no delivery 99" in output
    assert (
        SqliteOutbox(database).delivery(1) is not None
    )  # nothing was done with the good one either


def test_a_foreign_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    import sqlite3

    foreign = tmp_path / "other-app.db"
    db = sqlite3.connect(foreign)
    db.executescript("CREATE TABLE deliveries (a); INSERT INTO deliveries VALUES (1);")
    db.close()
    before = foreign.read_bytes()
    for command in (["list"], ["show", "1"], ["retry", "--dead"], ["purge", "--status", "dead"]):
        code, output = run(*command, "--db", str(foreign))
        assert code == 2 and "is not an exportdsl queue" in output, (command, output)
    assert foreign.read_bytes() == before  # not even switched to WAL
    assert not foreign.with_name("other-app.db-wal").exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    assert run("list", "--db", str(empty))[0] == 2 and empty.read_bytes() == b""
