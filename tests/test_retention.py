"""Retention (issue 11, item 6): what no delivery needs any more goes (chats hold visitors'
personal data), never pending work, and a chat stays for the Report Export button as long as the
retention says: the outbox's methods, `exportdsl queue purge`, and serve's periodic pass."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest
from backend import TOKEN, Backend, Reply
from click.testing import CliRunner
from test_serve import (
    INTAKE_SECRET,
    SERVE_ENV,
    Running,
    chat_json,
    counts,
    wait_for,
    write_connectors,
)

from exportdsl.cli.main import main
from exportdsl.delivery import sqlite as outbox_module
from exportdsl.delivery.outbox import Expired, Incoming, Schedule
from exportdsl.delivery.service import Settings, build
from exportdsl.delivery.sqlite import SqliteOutbox
from exportdsl.errors import OutboxError
from exportdsl.vocabulary import DeliveryStatus

DAY = 86400.0
NOW = time.time()  # the CLI reads the real clock


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def accept(outbox: SqliteOutbox, chat_id: str, body: bytes = b"{}") -> int:
    (accepted,) = outbox.accept_many([Incoming("crm", chat_id, body, "t", f"key-{chat_id}")])
    assert accepted.delivery_id is not None
    return accepted.delivery_id


def finish(outbox: SqliteOutbox, delivered: bool) -> None:
    """The next due delivery: delivered, or dead at once."""
    delivery = outbox.claim("w")
    assert delivery is not None
    if delivered:
        assert outbox.succeed(delivery, "w", 201)
    else:
        assert outbox.fail(delivery, "w", "410 Gone", permanent=True) == DeliveryStatus.DEAD


def chats(outbox: SqliteOutbox) -> set[str]:
    rows = outbox._connection().execute("SELECT chat_id FROM chats").fetchall()
    return {row[0] for row in rows}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def aged(tmp_path: Path, clock: Clock) -> SqliteOutbox:
    """40 days ago: "old" delivered, "dead" dead, "pending" never tried, "pressed" delivered and
    its button pressed yesterday (delivered); 2 days ago: "young" delivered."""
    outbox = SqliteOutbox(tmp_path / "queue.db", clock=clock, schedule=Schedule((60,)))
    clock.now = NOW - 40 * DAY
    accept(outbox, "old")
    finish(outbox, delivered=True)
    accept(outbox, "dead")
    finish(outbox, delivered=False)
    accept(outbox, "pressed")
    finish(outbox, delivered=True)
    clock.now = NOW - 35 * DAY
    accept(outbox, "pending")
    outbox._connection().execute("UPDATE deliveries SET next_attempt_at = ?", (NOW + DAY,))
    clock.now = NOW - DAY
    outbox.request_export("crm", "pressed", "t")
    finish(outbox, delivered=True)
    clock.now = NOW - 2 * DAY
    accept(outbox, "young")
    finish(outbox, delivered=True)
    clock.now = NOW
    return outbox


def test_expire_removes_what_is_delivered_and_older_and_the_chats_no_delivery_needs(
    aged: SqliteOutbox,
) -> None:
    assert aged.expire(30 * DAY) == Expired(deliveries=2, chats=1)  # "old", and "pressed"'s first
    assert chats(aged) == {"dead", "pending", "pressed", "young"}
    left = {(d.chat_id, d.status) for d in aged.deliveries()}
    assert left == {
        ("dead", DeliveryStatus.DEAD),  # `queue retry` needs its chat: it stays until purged
        ("pending", DeliveryStatus.PENDING),  # accepted work: never removed
        ("pressed", DeliveryStatus.DELIVERED),  # pressed yesterday
        ("young", DeliveryStatus.DELIVERED),
    }
    assert aged.expire(30 * DAY) == Expired(0, 0)
    assert aged.expire(DAY / 2) == Expired(deliveries=2, chats=2)  # "pressed" and "young" now
    assert chats(aged) == {"dead", "pending"}


def test_a_chat_stays_for_the_button_until_the_retention_is_over(
    aged: SqliteOutbox, clock: Clock
) -> None:
    assert aged.purge(status=DeliveryStatus.DELIVERED) == 4  # every delivered one, at once
    assert aged.purge_chats(30 * DAY) == 2  # "old" and "pressed"; "young" is 2 days old
    aged.request_export("crm", "young", "t")  # so the button still finds it
    finish(aged, delivered=True)
    clock.now = NOW + 27 * DAY  # "young" was received 29 days ago
    assert aged.purge_chats(30 * DAY) == 0  # a delivery refers to it
    aged.purge(status=DeliveryStatus.DELIVERED)
    assert aged.purge_chats(30 * DAY) == 0  # none does, but it is younger than the retention
    clock.now = NOW + 29 * DAY
    assert aged.purge_chats(30 * DAY) == 1
    with pytest.raises(OutboxError, match="no chat 'young' stored"):
        aged.request_export("crm", "young", "t")
    assert aged.purge(status=DeliveryStatus.DEAD) == 1  # given up on: its chat may go now
    assert aged.purge_chats(30 * DAY) == 1
    assert chats(aged) == {"pending"}


def test_purge_older_than_keeps_the_recently_finished(aged: SqliteOutbox) -> None:
    assert aged.purge(status=DeliveryStatus.DELIVERED, older_than=30 * DAY) == 2
    assert aged.purge(status=DeliveryStatus.DELIVERED, older_than=30 * DAY) == 0
    assert aged.purge(status=DeliveryStatus.DELIVERED) == 2


def test_a_large_purge_goes_in_batches(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "PURGE_BATCH", 3)
    outbox = SqliteOutbox(tmp_path / "q.db", clock=clock)
    for number in range(10):
        accept(outbox, str(number))
        finish(outbox, delivered=True)
    clock.now += DAY
    statements: list[str] = []
    outbox._connection().set_trace_callback(statements.append)
    assert outbox.expire(DAY / 2) == Expired(10, 10)
    assert sum(s.startswith("BEGIN") for s in statements) == 9  # 4 + 4, and the nodes
    assert outbox.counts()["chats"] == 0


# --- exportdsl queue purge ------------------------------------------------------------------------


def run(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["queue", *arguments])
    return result.exit_code, result.output


def test_queue_purge_removes_the_chats_no_delivery_needs(aged: SqliteOutbox) -> None:
    database = aged.path
    code, output = run("purge", "--db", database, "--status", "delivered", "--older-than", "30d")
    assert code == 0, output
    assert "2 deliveries removed" in output
    assert "1 chat removed (no delivery refers to it, received over 30d ago)" in output
    assert chats(aged) == {"dead", "pending", "pressed", "young"}
    code, output = run("purge", "--db", database, "--status", "dead")
    assert code == 0 and "1 delivery removed" in output and "1 chat removed" in output
    code, output = run("purge", "--db", database, "--chats-older-than", "0")  # chats alone
    assert code == 0 and "0 chats removed" in output  # every other chat has a delivery
    assert chats(aged) == {"pending", "pressed", "young"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((), "name deliveries, say --status delivered|dead, or --chats-older-than AGE"),
        (("--older-than", "3d"), "--older-than goes with --status"),
        (("--chats-older-than", "soon"), "'soon': expected a time span such as 30d"),
        (("--status", "dead", "--older-than", "-1d"), "'-1d': expected a time span"),
    ],
)
def test_queue_purge_says_what_it_expected(
    aged: SqliteOutbox, arguments: tuple[str, ...], message: str
) -> None:
    code, output = run("purge", "--db", aged.path, *arguments)
    assert code == 2 and message in output and "Traceback" not in output


def test_queue_purge_vacuum_gives_the_space_back(tmp_path: Path) -> None:
    database = tmp_path / "q.db"
    outbox = SqliteOutbox(database, durable=False)
    for number in range(100):
        accept(outbox, str(number), body=b"x" * 20_000)
        finish(outbox, delivered=True)
    outbox.close()
    before = database.stat().st_size
    code, output = run(
        "purge", "--db", str(database), "--status", "delivered", "--chats-older-than", "0s"
    )
    assert code == 0 and "100 chats removed" in output
    assert database.stat().st_size >= before  # the pages are free, the file as large
    assert run("purge", "--db", str(database), "--chats-older-than", "0", "--vacuum")[0] == 0
    assert database.stat().st_size < before / 10


# --- serve --retention ----------------------------------------------------------------------------


def test_serve_removes_what_its_retention_no_longer_keeps(
    tmp_path: Path, real_backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}), Reply(503))
    folder = write_connectors(tmp_path / "connectors", real_backend.base_url)
    database = tmp_path / "queue.db"
    settings = Settings(
        folder, database, workers=1, schedule=Schedule((60,)), retention=0.5, sweep_every=0.1
    )
    caplog.set_level(logging.INFO, logger="exportdsl.retention")
    running = Running(build(settings, SERVE_ENV))

    def hook(chat_id: int) -> int:
        answer = running.hook("crm", chat_json(chat_id), params={"token": INTAKE_SECRET})
        return answer.status_code

    try:
        assert hook(1) == 202
        wait_for(lambda: counts(database) == {"delivered": 1})
        assert hook(2) == 202  # 503: pending, the next attempt in a minute
        wait_for(lambda: counts(database) == {"pending": 1}, seconds=10)
        wait_for(lambda: any(r.message == "retention: removed" for r in caplog.records))
    finally:
        running.stop()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT chat_id FROM chats").fetchall() == [("2",)]
    (removed,) = [r for r in caplog.records if r.message == "retention: removed"]
    assert removed.fields == {"deliveries": 1, "chats": 1}  # type: ignore[attr-defined]
    assert any(r.message == "retention on" for r in caplog.records)


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "a retention of 0 would remove every chat"), ("soon", "'soon': expected a time span")],
)
def test_serve_refuses_a_retention_that_means_nothing(
    tmp_path: Path, value: str, message: str
) -> None:
    folder = write_connectors(tmp_path / "connectors", "http://127.0.0.1:9")
    arguments = ["serve", "--connectors", str(folder), "--db", str(tmp_path / "q.db")]
    result = CliRunner().invoke(main, [*arguments, "--retention", value])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "q.db").exists()  # refused before anything started


@pytest.mark.parametrize(("given", "kept"), [((), 30 * DAY), (("--retention", "off"), None)])
def test_serve_keeps_30_days_by_default_and_everything_when_told(
    tmp_path: Path, given: tuple[str, ...], kept: float | None
) -> None:
    """Delivered rows no longer pile up forever by default (issue 13: the table must not bloat)."""
    from exportdsl.cli.delivery import serve

    folder = write_connectors(tmp_path / "connectors", "http://127.0.0.1:9")
    arguments = ["--connectors", str(folder), "--db", str(tmp_path / "q.db"), *given]
    assert serve.make_context("serve", arguments).params["retention"] == kept
