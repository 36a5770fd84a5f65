"""Attempt histories (issue 15, part 1): every attempt whose finish the outbox records is kept with
its delivery, on both back ends (a SQLite file and a fresh PostgreSQL database, as in
tests/test_outbox_contract.py): when, how long, what came of it, the status, the error and the
first KiB of the answer, redacted; fenced as the finish is; removed with its delivery; the schema
upgraded from version 3; shown by `exportdsl queue show`."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from click.testing import CliRunner

from exportdsl.cli.main import main
from exportdsl.delivery.deliver import answer_kept, outcome
from exportdsl.delivery.outbox import (
    MAX_ANSWER_CHARS,
    SCHEMA_VERSION,
    Attempt,
    Delivery,
    Incoming,
    Outbox,
)
from exportdsl.delivery.store import open_outbox
from exportdsl.delivery.workers import Outcome, PoolSettings, WorkerPool
from exportdsl.errors import ExportError
from exportdsl.export.redact import REDACTED, Redactor
from exportdsl.export.results import Answer, ExportResult
from exportdsl.vocabulary import DeliveryStatus, Phase

START = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Store:
    """Outboxes opened on one back end's store, sharing the test's clock."""

    def __init__(self, kind: str, location: str) -> None:
        self.kind, self.location, self.clock = kind, location, Clock()
        self.opened: list[Outbox] = []

    def open(self, **options: Any) -> Outbox:
        outbox = open_outbox(self.location, clock=self.clock, rng=random.Random(7), **options)
        self.opened.append(outbox)
        return outbox

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        """A query run on the store itself, behind the outbox's back."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.location) as db:
                return list(db.execute(query))
        with psycopg.connect(self.location, autocommit=True) as db:
            cursor = db.execute(query.encode())
            return list(cursor) if cursor.description is not None else []

    def make_version_3(self) -> None:
        """The store as schema 3 left it: no attempt histories."""
        self.rows("DROP TABLE attempts")
        if self.kind == "sqlite":
            self.rows("PRAGMA user_version = 3")
        else:
            self.rows("UPDATE exportdsl_schema SET version = 3")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        location = str(tmp_path / "queue.db")
    else:
        location = request.getfixturevalue("postgres_url")
    made = Store(request.param, location)
    try:
        yield made
    finally:
        for outbox in made.opened:
            outbox.close()


def accepted(outbox: Outbox, number: int = 1) -> int:
    incoming = Incoming("acme", str(number), b"{}", "crm.example", f"key-{number}")
    delivery_id = outbox.accept_many([incoming])[0].delivery_id
    assert delivery_id is not None
    return delivery_id


def claimed(outbox: Outbox, owner: str = "n/w") -> Delivery:
    delivery = outbox.claim(owner)
    assert delivery is not None
    return delivery


def test_each_finish_records_its_attempt_with_its_time_outcome_status_error_and_answer(
    store: Store,
) -> None:
    outbox = store.open()
    delivery_id = accepted(outbox)
    store.clock.now += 10
    outbox.fail(claimed(outbox), "n/w", "the back end answered 503", status=503, seconds=1.5)
    store.clock.now += 3600  # past the first retry's wait
    outbox.succeed(claimed(outbox), "n/w", 201, seconds=0.25, answer='{"id": 42}')
    assert outbox.attempts(delivery_id) == [
        Attempt(
            delivery_id, 1, START + 10 - 1.5, 1.5, "retry", 503, "the back end answered 503", None
        ),
        Attempt(delivery_id, 2, START + 3610 - 0.25, 0.25, "delivered", 201, None, '{"id": 42}'),
    ]
    assert store.open().attempts(delivery_id) == outbox.attempts(delivery_id)  # committed
    assert outbox.attempts(delivery_id + 1) == []


def test_a_dead_attempt_is_recorded_and_a_retry_numbers_on_keeping_the_history(
    store: Store,
) -> None:
    outbox = store.open()
    delivery_id = accepted(outbox)
    outbox.fail(claimed(outbox), "n/w", "410 gone", status=410, permanent=True, seconds=0.1)
    assert outbox.retry([delivery_id]) == 1
    outbox.fail(claimed(outbox), "n/w", "no answer: connection refused", seconds=0.2)
    history = [(a.number, a.outcome, a.status, a.error) for a in outbox.attempts(delivery_id)]
    assert history == [
        (1, "dead", 410, "410 gone"),
        (2, "retry", None, "no answer: connection refused"),  # numbered on (issue 15 review)
    ]


def test_a_worker_that_lost_its_lease_records_no_attempt(store: Store) -> None:
    outbox = store.open()
    delivery_id = accepted(outbox)
    stale = claimed(outbox, "n/first")
    store.clock.now += 120  # the lease (60 s) ran out: another worker takes it over
    fresh = claimed(outbox, "n/second")
    assert not outbox.succeed(stale, "n/first", 200, seconds=119.0, answer="late")
    assert outbox.fail(stale, "n/first", "late", seconds=119.0) is None
    assert outbox.attempts(delivery_id) == []
    assert outbox.succeed(fresh, "n/second", 200, seconds=0.5)
    assert [(a.number, a.outcome) for a in outbox.attempts(delivery_id)] == [(2, "delivered")]


def test_an_answer_is_stored_cut_to_a_kib_never_inside_a_redaction_marker(store: Store) -> None:
    outbox = store.open()
    delivery_id = accepted(outbox)
    answer = "x" * (MAX_ANSWER_CHARS - 5) + REDACTED + "y" * 5000
    outbox.succeed(claimed(outbox), "n/w", 200, answer=answer)
    kept = outbox.attempts(delivery_id)[0].answer
    assert kept is not None and len(kept) <= MAX_ANSWER_CHARS
    assert kept == "x" * (MAX_ANSWER_CHARS - 5) + "…"


def test_purge_and_retention_remove_the_attempts_with_their_deliveries(store: Store) -> None:
    outbox = store.open()
    purged, expired, kept = accepted(outbox, 1), accepted(outbox, 2), accepted(outbox, 3)
    for _ in range(3):
        outbox.fail(claimed(outbox), "n/w", "refused", permanent=True, seconds=0.1)
    outbox.retry([expired])
    outbox.succeed(claimed(outbox), "n/w", 200, seconds=0.1)
    assert store.rows("SELECT count(*) FROM attempts") == [(4,)]
    assert outbox.purge([purged]) == 1
    store.clock.now += 86400 * 31
    assert outbox.expire(older_than=86400 * 30).deliveries == 1
    assert outbox.attempts(purged) == [] and outbox.attempts(expired) == []
    assert [a.outcome for a in outbox.attempts(kept)] == ["dead"]
    assert store.rows("SELECT count(*) FROM attempts") == [(1,)]


def test_a_version_3_store_is_upgraded_to_keep_attempts(store: Store) -> None:
    delivery_id = accepted(store.open())
    store.make_version_3()
    old = store.open(create=False)  # `queue` opens without upgrading: it reads version 3 as is
    assert old.schema_version() == 3
    upgraded = store.open(upgrade=True)
    assert upgraded.found_version == 3 and upgraded.schema_version() == SCHEMA_VERSION == 5
    upgraded.succeed(claimed(upgraded), "n/w", 200, seconds=0.1)
    assert [a.outcome for a in upgraded.attempts(delivery_id)] == ["delivered"]


def test_the_workers_record_how_long_each_attempt_took_and_its_answer(store: Store) -> None:
    """The worker pool hands the outbox the attempt's duration and the outcome's answer."""
    delivery_id = accepted(store.open())
    calls: list[int] = []

    def deliver(delivery: Delivery, body: bytes) -> Outcome:
        calls.append(delivery.id)
        time.sleep(0.05)
        if len(calls) == 1:
            return Outcome(False, status=500, error="500 oops", retry_after=0.0, answer="oops")
        return Outcome(True, status=201, answer='{"ok": true}')

    pool = WorkerPool(
        store.location,
        deliver,
        PoolSettings(workers=1, idle=0.01),
        outbox_factory=lambda location: open_outbox(location, schedule=_no_waits()),
    )
    pool.start()
    try:
        deadline = time.monotonic() + 10
        view = store.open()
        while len(view.attempts(delivery_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        pool.stop(timeout=5)
    first, second = view.attempts(delivery_id)
    assert (first.outcome, first.status, first.answer) == ("retry", 500, "oops")
    assert (second.outcome, second.status, second.answer) == ("delivered", 201, '{"ok": true}')
    assert all(0.05 <= a.seconds < 5 for a in (first, second))


def _no_waits() -> Any:
    from exportdsl.delivery.outbox import Schedule

    return Schedule(waits=(0.0, 0.0), jitter=0.0)


# --- what a worker keeps of an answer -----------------------------------------------------------


def _result(phase: Phase, body: bytes, secrets: tuple[str, ...] = ()) -> ExportResult:
    result = ExportResult(7, "acme", "1", redact=Redactor(secrets))
    answered = result.begin(phase)
    answered.attempts = 1
    answered.answer = Answer(400, "Bad Request", (), body)
    result.error = ExportError("the back end answered 400")
    return result


def test_the_answer_kept_is_redacted_and_cut_to_a_kib() -> None:
    secret = "s3cr3t-t0ken-value"
    body = f'{{"error": "bad token {secret}", "pad": "{"p" * 3000}"}}'.encode()
    result = _result(Phase.EXPORT, body, (secret,))
    kept = answer_kept(result, result.phases[0])
    assert kept is not None and secret not in kept and REDACTED in kept
    assert len(kept) == MAX_ANSWER_CHARS and kept.endswith("…")
    assert outcome(result).answer == kept


def test_a_secret_cut_off_at_the_end_of_what_is_read_does_not_show_its_first_part() -> None:
    secret = "0123456789abcdef-secret"
    body = b"x" * (4 * MAX_ANSWER_CHARS - 10) + secret.encode() + b"tail"
    result = _result(Phase.EXPORT, body, (secret,))
    kept = answer_kept(result, result.phases[0])
    assert kept is not None and "0123456789" not in kept


def test_a_token_answer_is_never_kept() -> None:
    """XD602: a token request's answer is described, never quoted: it may be the token."""
    result = _result(Phase.TOKEN, b'{"access_token": "eyJ-a-token-kept-nowhere"}')
    assert answer_kept(result, result.phases[0]) is None
    assert outcome(result).answer is None


# --- queue show ----------------------------------------------------------------------------------


def test_queue_show_prints_the_attempt_history(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    clock = Clock()
    outbox = open_outbox(path, clock=clock, rng=random.Random(7))
    delivery_id = accepted(outbox)
    answer = 'line one\nline two \x1b[2J{"id": 1}'
    outbox.fail(claimed(outbox), "n/w", "the back end answered 503", status=503, seconds=0.5)
    clock.now += 3600
    outbox.succeed(claimed(outbox), "n/w", 201, seconds=0.125, answer=answer)
    outbox.close()
    shown = CliRunner().invoke(main, ["queue", "show", "--db", str(path), str(delivery_id)])
    assert shown.exit_code == 0, shown.output
    history = shown.output.split("attempts (2):\n", 1)[1]
    lines = history.splitlines()
    assert lines[0].split()[0] == "#1" and "500.0 ms" in lines[0] and "retry" in lines[0]
    assert "status 503" in lines[0]
    assert lines[1].split(None, 1) == ["error:", "the back end answered 503"]
    assert lines[2].split()[0] == "#2" and "125.0 ms" in lines[2] and "delivered" in lines[2]
    assert lines[3].split(None, 1) == ["answer:", "line one"]
    assert lines[4].strip() == 'line two \\x1b[2J{"id": 1}'  # no escape reaches the terminal
    assert "\x1b" not in shown.output


def test_queue_show_says_when_there_is_no_attempt_yet(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    outbox = open_outbox(path)
    delivery_id = accepted(outbox)
    outbox.close()
    shown = CliRunner().invoke(main, ["queue", "show", "--db", str(path), str(delivery_id)])
    assert shown.exit_code == 0 and shown.output.endswith("attempts (0)\n"), shown.output


# --- end to end: serve's deliverer against a back end on 127.0.0.1 -------------------------------


def test_a_real_attempts_answer_is_kept_redacted(tmp_path: Path) -> None:
    """The deliverer's outcome carries the back end's answer redacted with the connector's
    $env secret, which the back end echoes."""
    secret = "echoed-secret-value-123"

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, text=f"refused: {request.headers['authorization']}")

    from exportdsl.compiler.analysis import compile_connector
    from exportdsl.connector.reader import parse_connector
    from exportdsl.delivery.deliver import ExportDeliverer

    source = (
        "connector: {id: 1, name: t}\nclient: {id: 1}\nexport:\n"
        "  url: https://crm.example/in\n"
        "  headers: {Authorization: Bearer $env.CRM_KEY, Content-Type: application/json}\n"
        '  body: \'{"chat": "$chat.channel.id", "pdf": "$report.encoded.base64"}\'\n'
    )
    plan = compile_connector(parse_connector(source, "t.yaml"))
    deliverer = ExportDeliverer(
        {"t": plan},
        env={"CRM_KEY": secret},
        client_factory=lambda: httpx.Client(transport=httpx.MockTransport(echo)),
    )
    chat = (Path(__file__).parent.parent / "exportdsl/data/sample-chat.json").read_bytes()
    delivery = Delivery(
        1, "t", "1", "hook", "k", "crm.example", DeliveryStatus.PENDING, 1, 0.0, "n/w", 1.0,
        None, None, 0.0, None,
    )  # fmt: skip
    done = deliverer(delivery, chat)
    assert not done.delivered and done.status == 422
    assert done.answer == f"refused: Bearer {REDACTED}"
    assert secret not in (done.error or "")


# --- the console's listing (`Outbox.find`), on both back ends -------------------------------------


def test_find_filters_and_pages_by_keyset_on_both_back_ends(store: Store) -> None:
    from exportdsl.delivery.outbox import DeliveryQuery

    outbox = store.open()
    for number in range(1, 8):
        outbox.accept_many(
            [Incoming("a" if number % 2 else "b", str(number), b"{}", "t", f"k{number}")]
        )
        store.clock.now += 10
    first = claimed(outbox)
    outbox.fail(first, "n/w", "503", seconds=0.1)  # delivery 1: retrying
    second = claimed(outbox)
    outbox.fail(second, "n/w", "410", permanent=True)  # delivery 2: dead

    def found(**query: Any) -> list[int]:
        return [delivery.id for delivery in outbox.find(DeliveryQuery(**query))]

    assert found() == [7, 6, 5, 4, 3, 2, 1]
    assert found(connector="a", limit=2) == [7, 5]
    assert found(connector="a", before=5, limit=2) == [3, 1]
    assert found(status="retrying") == [1] and found(status="dead") == [2]
    assert found(status="pending") == [7, 6, 5, 4, 3, 1]
    assert found(chat_id="4") == [4]
    assert found(since=START + 20, until=START + 40) == [4, 3]
    assert found(status="pending", connector="b", before=6) == [4]
