"""Review 15, second pass (helper t15-a): the outbox's side of the console's defects.

1. A NUL (or a lone surrogate) in an answer or an error made PostgreSQL (SQLite) refuse the
   attempt's record; the worker retried it for ever holding its lease, and nothing else moved.
2. An answer in another charset (UTF-16) was read as UTF-8: the secret it echoed passed
   redaction between NULs; hex and quoted-printable spellings of a secret were not redacted.
3. "The request as sent" was rendered anew from the connector as it is now.
4. A first attempt still under way was "retrying".
5. The list's attempts column disagreed with the delivery's page; no "newer" link from page 2
   on; "Send again" was offered for a connector without export.url.
"""

from __future__ import annotations

import html
import quopri
import random
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backend import CLIENT_SECRET, ENV, SAMPLE_CHAT, Backend, Reply, make_plan
from starlette.applications import Starlette
from starlette.routing import Mount
from test_attempts import Store
from test_console import SECRET, Clock, TestClient, incoming, logged_in

from exportdsl.compiler.analysis import compile_connector
from exportdsl.connector.reader import parse_connector
from exportdsl.console.app import PAGE, Console
from exportdsl.console.security import LoginThrottle
from exportdsl.delivery.deliver import ExportDeliverer
from exportdsl.delivery.outbox import Delivery, DeliveryQuery, Incoming, Outbox
from exportdsl.delivery.server import Endpoint
from exportdsl.delivery.sqlite import SqliteOutbox
from exportdsl.delivery.store import open_outbox
from exportdsl.delivery.workers import Outcome, PoolSettings, WorkerPool
from exportdsl.export.redact import REDACTED, Redactor
from exportdsl.vocabulary import DeliveryStatus


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    location = (
        str(tmp_path / "queue.db")
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    made = Store(request.param, location)
    try:
        yield made
    finally:
        for outbox in made.opened:
            outbox.close()


def hook(number: int, connector: str = "acme", body: bytes = b"{}") -> Incoming:
    return Incoming(connector, str(number), body, "127.0.0.1", f"key-{connector}-{number}")


def accepted(outbox: Outbox, number: int = 1) -> int:
    delivery_id = outbox.accept_many([hook(number)])[0].delivery_id
    assert delivery_id is not None
    return delivery_id


def claimed(outbox: Outbox) -> Any:
    delivery = outbox.claim("n/w")
    assert delivery is not None
    return delivery


def wait_for(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --- 1. every stored text storable; a record refused does not hold the worker -------------------


def test_a_nul_or_a_lone_surrogate_in_an_answer_or_error_is_stored_on_both_back_ends(
    store: Store,
) -> None:
    """PostgreSQL's text refuses NUL (the bug: psycopg.DataError), neither back end can encode a
    lone surrogate: each is stored as U+FFFD, and the attempt is recorded."""
    outbox = store.open()
    delivery_id = accepted(outbox)
    answer = "e\x00c\x00h\x00o\x00 \ud800!"
    state = outbox.fail(
        claimed(outbox), "n/w", "answered: e\x00c\x00h\x00o \udfff", status=500, answer=answer
    )
    assert state == DeliveryStatus.PENDING
    (attempt,) = outbox.attempts(delivery_id)
    assert attempt.answer == "e\ufffdc\ufffdh\ufffdo\ufffd \ufffd!"
    assert attempt.error == "answered: e\ufffdc\ufffdh\ufffdo \ufffd"
    found = outbox.delivery(delivery_id)
    assert found is not None and found.last_error == attempt.error
    store.clock.now += 3600
    assert outbox.succeed(claimed(outbox), "n/w", 200, answer="ok\x00")
    assert outbox.attempts(delivery_id)[-1].answer == "ok\ufffd"


def test_two_nul_answers_no_longer_stop_the_workers_on_postgres(postgres_url: str) -> None:
    """pg_nul.sh: a back end answering UTF-16 without a charset (NULs in the answer read as
    UTF-8) wedged its worker for ever; with one worker, the next delivery never went."""
    outbox = open_outbox(postgres_url)
    try:
        outbox.accept_many([hook(1), hook(2), hook(3)])

        def deliver(delivery: Any, body: bytes) -> Outcome:
            if delivery.chat_id == "3":
                return Outcome(True, status=200, answer='{"ok": true}')
            echoed = "echo hello".encode("utf-16-le").decode("utf-8")
            return Outcome(False, 410, f"410: {echoed}", permanent=True, answer=echoed)

        pool = WorkerPool(postgres_url, deliver, PoolSettings(workers=1, idle=0.05))
        pool.start()
        try:
            moved = wait_for(lambda: outbox.counts()[DeliveryStatus.DELIVERED] == 1)
        finally:
            pool.stop(timeout=5)
        assert moved, outbox.counts()
        assert outbox.counts()[DeliveryStatus.DEAD] == 2
        answer = outbox.attempts(1)[0].answer
        assert answer is not None and "\x00" not in answer and "h\ufffde\ufffdl" in answer
    finally:
        outbox.close()


def test_a_record_the_outbox_keeps_refusing_goes_in_without_its_texts_and_the_worker_moves_on(
    tmp_path: Path,
) -> None:
    """Whatever else a back end may refuse in a record: the outcome goes in without the
    answer's texts, and the worker goes on (before: it retried the same record for ever)."""
    path = str(tmp_path / "queue.db")

    class Refusing(SqliteOutbox):  # the real outbox, refusing any record that has an answer
        def fail(self, *args: Any, **kwargs: Any) -> str | None:
            if kwargs.get("answer") is not None:
                raise sqlite3.DataError("this text cannot be stored")
            return super().fail(*args, **kwargs)

    SqliteOutbox(path).accept_many([hook(1), hook(2)])

    def deliver(delivery: Any, body: bytes) -> Outcome:
        if delivery.chat_id == "2":
            return Outcome(True, status=200)
        return Outcome(False, 500, "500: the answer", permanent=True, answer="the answer")

    pool = WorkerPool(path, deliver, PoolSettings(workers=1, idle=0.05), outbox_factory=Refusing)
    pool.start()
    view = SqliteOutbox(path)
    try:
        moved = wait_for(lambda: view.counts()[DeliveryStatus.DELIVERED] == 1)
    finally:
        pool.stop(timeout=5)
    assert moved
    (attempt,) = view.attempts(1)
    assert attempt.outcome == "dead" and attempt.answer is None
    assert attempt.error == "the attempt failed; its error could not be recorded (HTTP 500)"


# --- 2. answers read by their charset; hex and quoted-printable secrets -------------------------


def _attempt_against(real_backend: Backend, reply: Reply) -> Outcome:
    real_backend.on("/report", reply)
    deliverer = ExportDeliverer({"acme": make_plan(real_backend.base_url, token=False)}, env=ENV)
    delivery = Delivery(
        1, "acme", "1", "hook", "k", "127.0.0.1", DeliveryStatus.PENDING, 1, 0.0, "n/w", 1.0,
        None, None, 0.0, None,
    )  # fmt: skip
    return deliverer(delivery, SAMPLE_CHAT.read_bytes())


@pytest.mark.parametrize(
    ("content_type", "encoding", "bom"),
    [
        ("text/plain; charset=utf-16le", "utf-16-le", b""),
        ('text/plain; charset="UTF-16BE"', "utf-16-be", b""),
        ("text/plain", "utf-16-le", b"\xff\xfe"),  # no charset: the byte-order mark says it
    ],
)
def test_an_answer_in_another_charset_is_read_so_and_its_echoed_secret_redacted(
    real_backend: Backend, content_type: str, encoding: str, bom: bytes
) -> None:
    """scan.py (delivery utf16): the echo was stored and shown as UTF-8 with NULs, the secret
    readable once the NULs were dropped; in the answer kept and in the error (serve's log)."""
    body = bom + f"echo Bearer {CLIENT_SECRET}".encode(encoding)
    done = _attempt_against(
        real_backend, Reply(410, body=body, headers={"Content-Type": content_type})
    )
    assert done.answer == f"echo Bearer {REDACTED}"
    assert f"echo Bearer {REDACTED}" in done.error and "\x00" not in done.error
    for text in (done.answer, done.error):
        assert CLIENT_SECRET[:10] not in text.replace("\x00", "")


@pytest.mark.parametrize(
    "spelling",
    [
        CLIENT_SECRET.encode().hex(),
        CLIENT_SECRET.encode().hex().upper(),
        quopri.encodestring(CLIENT_SECRET.encode()).decode(),
        re.sub(
            "=[0-9A-F]{2}",
            lambda m: m.group().lower(),
            quopri.encodestring(CLIENT_SECRET.encode()).decode(),
        ),
    ],
    ids=["hex", "HEX", "quoted-printable", "quoted-printable-lower"],
)
def test_a_secret_echoed_as_hex_or_quoted_printable_is_redacted(spelling: str) -> None:
    """scan3.py (qp), receiver.py /enc (hex of the Authorization line)."""
    redact = Redactor([CLIENT_SECRET])
    assert redact(f"auth={spelling};") == f"auth={REDACTED};"
    line = f"Bearer {CLIENT_SECRET}".encode().hex()
    assert redact(f"hex={line}") == f"hex={b'Bearer '.hex()}{REDACTED}"


# --- 3. the request as sent, kept with its attempt --------------------------------------------


def test_the_deliverer_keeps_the_request_as_it_went_out_redacted_without_the_pdf(
    real_backend: Backend,
) -> None:
    done = _attempt_against(real_backend, Reply(201, json={"ok": True}))
    assert done.delivered and done.request is not None
    sent = real_backend.requests_to("/report")[0]
    assert f"POST {real_backend.base_url}/report" in done.request
    assert f"Authorization: Bearer {REDACTED}" in done.request
    assert CLIENT_SECRET not in done.request and ENV["API_KEY"] not in done.request
    assert sent.json["at"] in done.request  # its $dateTime, as sent
    assert "[base64 left out: " in done.request and "JVBER" not in done.request  # no PDF
    assert len(done.request) < 4000


def test_the_request_as_sent_is_stored_with_its_attempt_on_both_back_ends_and_upgraded(
    store: Store,
) -> None:
    outbox = store.open()
    first = accepted(outbox, 1)
    outbox.fail(claimed(outbox), "n/w", "500", status=500, answer="x", request="POST /a\n\n{}")
    assert outbox.attempts(first)[0].request == "POST /a\n\n{}"
    # an outbox of schema 4: its attempts kept, without a request, when upgraded
    if store.kind == "sqlite":  # as schema 4 made the table (SQLite's DROP COLUMN trips on
        # the comment after the last column)
        columns = "id, delivery_id, number, started_at, seconds, outcome, status, error, answer"
        store.rows(f"CREATE TABLE attempts4 AS SELECT {columns} FROM attempts")
        store.rows("DROP TABLE attempts")
        store.rows("ALTER TABLE attempts4 RENAME TO attempts")
        store.rows("PRAGMA user_version = 4")
    else:
        store.rows("ALTER TABLE attempts DROP COLUMN request")
        store.rows("UPDATE exportdsl_schema SET version = 4")
    upgraded = store.open(upgrade=True)
    assert upgraded.found_version == 4 and upgraded.schema_version() == 5
    (kept,) = upgraded.attempts(first)
    assert kept.request is None and kept.answer == "x"


REQUEST_SENT = '### export request\nPOST https://crm.example/in\nx-api-key: [REDACTED]\n\n{"v": 1}'


@pytest.fixture
def console_outbox(tmp_path: Path, clock: Clock) -> Iterator[Outbox]:
    made = open_outbox(tmp_path / "queue.db", clock=clock, rng=random.Random(3))
    yield made
    made.close()


def _console(outbox: Outbox, clock: Clock, served: dict[str, Endpoint] | None = None) -> Any:
    console = Console(
        outbox,
        SECRET,
        clock=clock,
        throttle=LoginThrottle(clock=clock),
        served=lambda: served or {},
    )
    return TestClient(
        Starlette(routes=[Mount("/console", console.app())]),
        base_url="https://testserver",
        follow_redirects=False,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _plan(body: str, url: str | None = "https://crm.example/in") -> Any:
    source = (
        "connector: {id: 1, name: crm}\nclient: {id: 1}\nexport:\n"
        + (f"  url: {url}\n" if url else "")
        + "  headers: {Content-Type: application/json}\n"
        + f"  body: '{body}'\n"
    )
    return compile_connector(parse_connector(source, "crm.yaml"))


def test_the_console_shows_the_request_as_sent_not_as_rendered_now(
    console_outbox: Outbox, clock: Clock
) -> None:
    """as_sent.py: after the connector changed, the page showed the new body and a new
    $dateTime; it shows what each attempt sent, and says plainly when that was not recorded."""
    outbox = console_outbox
    outbox.accept_many([Incoming("crm", "1", SAMPLE_CHAT.read_bytes(), "crm.example", "k-1")])
    outbox.fail(claimed(outbox), "n/w", "503", status=503)  # before requests were recorded
    clock.now += 3600
    outbox.succeed(claimed(outbox), "n/w", 200, request=REQUEST_SENT)
    served = {"crm": Endpoint("crm", _plan('{"EDITED_AFTER_SENDING": 1}'), None, "crm.example")}
    with _console(outbox, clock, served) as client:
        logged_in(client)
        page = html.unescape(client.get("/console/deliveries/1/request").text)
        now = html.unescape(client.get("/console/deliveries/1/request?now=1").text)
    assert REQUEST_SENT in page and "EDITED_AFTER_SENDING" not in page
    assert page.count("Not recorded") == 1  # the first attempt's
    assert "EDITED_AFTER_SENDING" in now and "Not what was sent" in now


# --- 4. retrying means failed before -----------------------------------------------------------


def test_a_first_attempt_under_way_is_not_retrying_on_both_back_ends(store: Store) -> None:
    """inflight_state.py: `attempts` goes up at the claim, so the first attempt under way was
    counted, filtered and shown as retrying."""
    outbox = store.open()
    delivery_id = accepted(outbox)
    claimed(outbox)  # under way, nothing failed yet
    assert outbox.counts()["retrying"] == 0
    assert [d.id for d in outbox.find(DeliveryQuery(status="retrying"))] == []
    assert [d.id for d in outbox.find(DeliveryQuery(status="waiting"))] == [delivery_id]
    found = outbox.delivery(delivery_id)
    assert found is not None
    outbox.fail(found, "n/w", "503", status=503)
    assert outbox.counts()["retrying"] == 1
    assert [d.id for d in outbox.find(DeliveryQuery(status="retrying"))] == [delivery_id]


def test_the_console_shows_a_first_attempt_under_way_as_pending(
    console_outbox: Outbox, clock: Clock
) -> None:
    outbox = console_outbox
    outbox.accept_many([incoming(1)])
    claimed(outbox)
    with _console(outbox, clock) as client:
        logged_in(client)
        page = client.get("/console/deliveries/1").text
        retrying = client.get("/console/?status=retrying").text
        pending = client.get("/console/?status=pending").text
    assert 'class="state pending" id="state"' in page
    assert 'data-id="1"' not in retrying and 'data-id="1"' in pending


# --- 5. the list's attempts, the newer link, no Send again without export.url -----------------


def test_the_list_shows_the_same_attempt_total_as_the_delivery_page(
    console_outbox: Outbox, clock: Clock
) -> None:
    outbox = console_outbox
    outbox.accept_many([incoming(1)])
    outbox.fail(claimed(outbox), "n/w", "410", status=410, permanent=True)
    outbox.retry([1])  # sent again: its count since starts at 0
    outbox.fail(claimed(outbox), "n/w", "410", status=410, permanent=True)
    with _console(outbox, clock) as client:
        logged_in(client)
        listed = client.get("/console/").text
        page = client.get("/console/deliveries/1").text
    row = re.search(r'<tr class="delivery" data-id="1".*?</tr>', listed, re.S)
    assert row is not None
    cells = re.findall(r"<td>([^<]*)</td>", row.group())  # connector, chat, attempts, …
    assert cells[2] == "2"  # the total, not the count since it was sent again
    assert re.search(r'id="attempt-count">2 \(1 since it was last sent again\)', page)


def test_a_later_page_links_to_the_newer_page_before_it(
    console_outbox: Outbox, clock: Clock
) -> None:
    outbox = console_outbox
    outbox.accept_many([incoming(number) for number in range(1, 2 * PAGE + 11)])
    with _console(outbox, clock) as client:
        logged_in(client)
        first = client.get("/console/").text
        first_ids = [int(i) for i in re.findall(r'<tr class="delivery" data-id="(\d+)"', first)]
        older = re.search(r'href="\?([^"]*)" id="older"', first)
        assert older is not None and 'id="newer"' not in first
        second = client.get("/console/?" + html.unescape(older.group(1))).text
        newer = re.search(r'href="\?([^"]*)" id="newer"', second)
        assert newer is not None, second
        back = client.get("/console/?" + html.unescape(newer.group(1))).text
    back_ids = [int(i) for i in re.findall(r'<tr class="delivery" data-id="(\d+)"', back)]
    assert back_ids == first_ids
    assert 'id="older"' in back and 'id="newest"' in back and 'id="newer"' not in back


def test_send_again_is_not_offered_for_a_connector_without_export_url_and_is_refused(
    console_outbox: Outbox, clock: Clock
) -> None:
    outbox = console_outbox
    outbox.accept_many([incoming(1)])
    outbox.fail(claimed(outbox), "n/w", "no export.url", permanent=True)
    served = {"crm": Endpoint("crm", _plan('{"v": 1}', url=None), None, "crm.example")}
    with _console(outbox, clock, served) as client:
        csrf = logged_in(client)
        page = client.get("/console/deliveries/1").text
        refused = client.post("/console/deliveries/1/retry", data={"csrf": csrf})
    assert 'id="retry"' not in page and 'id="cannot-send"' in page
    assert refused.status_code == 409 and "has no export.url" in refused.text
    still = outbox.delivery(1)
    assert still is not None and still.status == DeliveryStatus.DEAD


def test_the_redacted_request_of_the_dry_run_is_unchanged_by_hex_forms() -> None:
    """Hex forms are of a secret's bytes: an unrelated hex text around one stays as it is."""
    redact = Redactor([CLIENT_SECRET])
    assert redact("id=0123456789abcdef") == "id=0123456789abcdef"
