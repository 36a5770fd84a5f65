"""The console's review (issue 15): each defect the reviewer found, held down by a test that failed
before its fix. The login throttle under concurrent guesses and spoofed X-Forwarded-For, secrets
echoed as mojibake, query parameters that made 500s, retrying a delivered delivery, attempt
numbers across retries, the counts, the log of security events, the /console redirect, linting on
every page, the page of exactly 50, the playground's limits, and the minor ones (``done=``, purge
of nothing, the deep link through the login)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from test_console import SECRET, Clock, ids_listed, incoming, logged_in, login_token
from test_serve import free_port

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2; its TestClient works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from exportdsl.console.app import PAGE, Console
from exportdsl.console.security import LOGIN_COOKIE, LoginThrottle
from exportdsl.delivery.outbox import Outbox
from exportdsl.delivery.store import open_outbox
from exportdsl.export.redact import REDACTED, Redactor
from exportdsl.vocabulary import DeliveryStatus

HUGE = 2**63  # one beyond the largest id either back end stores


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def outbox(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Outbox]:
    location = (
        str(tmp_path / "queue.db")
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    made = open_outbox(location, clock=clock, rng=random.Random(3))
    yield made
    made.close()


@pytest.fixture
def sqlite_outbox(tmp_path: Path, clock: Clock) -> Iterator[Outbox]:
    made = open_outbox(tmp_path / "queue.db", clock=clock, rng=random.Random(3))
    yield made
    made.close()


def client_of(console: Console) -> TestClient:
    app = Starlette(routes=[Mount("/console", console.app())])
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


@pytest.fixture
def console(sqlite_outbox: Outbox, clock: Clock) -> Console:
    return Console(sqlite_outbox, SECRET, clock=clock, throttle=LoginThrottle(clock=clock))


@pytest.fixture
def client(console: Console) -> Iterator[TestClient]:
    with client_of(console) as made:
        yield made


def failed_once(outbox: Outbox, permanent: bool = False) -> int:
    """A delivery that failed its one attempt: retrying (or dead); its id."""
    claimed = outbox.claim("n/w")
    assert claimed is not None
    outbox.fail(claimed, "n/w", "the back end answered 503", status=503, permanent=permanent)
    return claimed.id


# --- 1. the login throttle, guesses at once -------------------------------------------------------


async def _login_guesses(console: Console, guesses: int) -> list[int]:
    """``guesses`` wrong logins sent at once, each body held back until all have arrived (as a
    client that sends heads first and bodies later): their statuses."""
    app = console.app()
    bodies_may_come = asyncio.Event()
    body = b"csrf=token&secret=wrong"

    async def one() -> int:
        scope: dict[str, Any] = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "scheme": "https",
            "path": "/login",
            "raw_path": b"/login",
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"testserver"),
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", str(len(body)).encode()),
                (b"cookie", f"{LOGIN_COOKIE}=token".encode()),
            ],
            "client": ("203.0.113.9", 50000),
            "server": ("testserver", 443),
        }
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            await bodies_may_come.wait()
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        return statuses[0]

    tasks = [asyncio.create_task(one()) for _ in range(guesses)]
    for _ in range(50):  # every request reaches its body (or its answer)
        await asyncio.sleep(0)
    bodies_may_come.set()
    return list(await asyncio.gather(*tasks))


def test_guesses_sent_at_once_are_counted_before_their_bodies_are_read(
    sqlite_outbox: Outbox, clock: Clock
) -> None:
    console = Console(sqlite_outbox, SECRET, clock=clock, throttle=LoginThrottle(clock=clock))
    statuses = asyncio.run(_login_guesses(console, 12))
    assert sorted(statuses) == [401] * 5 + [429] * 7, statuses


def test_the_right_secret_and_an_expired_form_give_their_attempt_back(
    client: TestClient,
) -> None:
    for _ in range(10):  # neither is a failed guess: ten of them never throttle
        token = login_token(client)
        assert client.post("/console/login", data={"csrf": "stale", "secret": "x"}).status_code == (
            403
        )
        answer = client.post("/console/login", data={"csrf": token, "secret": SECRET})
        assert answer.status_code == 303


def test_the_throttle_table_is_bounded(clock: Clock) -> None:
    throttle = LoginThrottle(clock=clock, max_addresses=100)
    for number in range(1000):
        throttle.failed(f"10.0.{number >> 8}.{number & 255}")
    assert throttle.addresses == 100
    clock.now += 61  # every failure left the window: each call forgets a few, never walks all
    for _ in range(20):
        assert throttle.wait("192.0.2.1") == 0.0
    assert throttle.addresses == 0


# --- 2. X-Forwarded-For, and 9. the /console redirect (a real server) -----------------------------


@pytest.fixture
def console_process(tmp_path: Path, sqlite_outbox: Outbox) -> Iterator[str]:
    """`exportdsl console` on 127.0.0.1 (no proxy named): its base URL."""
    port = free_port()
    env = {**os.environ, "REVIEW15_SECRET": SECRET}
    command = [
        str(Path(sys.executable).with_name("exportdsl")),
        "console",
        "--db",
        str(tmp_path / "queue.db"),
        "--console-secret-env",
        "REVIEW15_SECRET",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/console/login", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


def test_a_spoofed_x_forwarded_for_gets_no_bucket_of_its_own(console_process: str) -> None:
    with httpx.Client(base_url=console_process) as client:
        page = client.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None

        def guess(forwarded: str) -> int:
            form = {"csrf": token.group(1), "secret": "wrong"}
            # the cookie is Secure: httpx keeps it from http://127.0.0.1, a browser would not
            cookie = f"{LOGIN_COOKIE}={token.group(1)}"
            headers = {"X-Forwarded-For": forwarded, "Cookie": cookie}
            return client.post("/console/login", data=form, headers=headers).status_code

        assert [guess(f"198.51.100.{n}") for n in range(5)] == [401] * 5
        assert guess("198.51.100.77") == 429  # the socket's address counts: 127.0.0.1


def test_slashless_console_redirects_relatively_with_the_consoles_headers(
    console_process: str,
) -> None:
    answer = httpx.get(f"{console_process}/console")
    assert answer.status_code == 307 and answer.headers["location"] == "/console/"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"


# --- 3. a non-ASCII secret echoed as mojibake ----------------------------------------------------


def test_a_non_ascii_secret_echoed_as_mojibake_is_redacted() -> None:
    secret = 'cl1ent-S3CRET/+&="ü'
    mojibake = secret.encode().decode("latin-1")  # cl1ent-S3CRET/+&="Ã¼
    redact = Redactor([secret])
    for echoed in (
        f"Authorization: Bearer {mojibake}",
        json.dumps({"echo": f"Bearer {mojibake}"}),  # \u00c3\u00bc
        json.dumps({"echo": mojibake}, ensure_ascii=False),
        f"token={quote(mojibake, safe='')}",
    ):
        shown = redact(echoed)
        assert REDACTED in shown and "S3CRET" not in shown, shown
    euro = "€-secret-9876"  # as Windows-1252 reads its UTF-8 bytes
    shown = Redactor([euro])(f"echo: {euro.encode().decode('cp1252')}")
    assert shown == f"echo: {REDACTED}"


# --- 4. query parameters that made 500s -----------------------------------------------------------


def test_bad_ids_and_bounds_are_400_or_404_never_500(client: TestClient) -> None:
    csrf = logged_in(client)
    for path, expected in (
        (f"/console/deliveries/{HUGE}", 404),
        (f"/console/deliveries/{HUGE}/request", 404),
        (f"/console/deliveries/{HUGE}/transcript.pdf", 404),
        ("/console/?before=²", 400),
        (f"/console/?before={HUGE}", 400),
        ("/console/deliveries/rows?before=²", 400),
        ("/console/?chat=%00", 400),
        ("/console/?connector=a%00b", 400),
    ):
        answer = client.get(path)
        assert answer.status_code == expected, (path, answer.status_code)
        assert "content-security-policy" in answer.headers
    assert "before: expected a delivery id" in client.get("/console/?before=²").text
    for action in ("retry", "purge", "export"):
        answer = client.post(f"/console/deliveries/{HUGE}/{action}", data={"csrf": csrf})
        assert answer.status_code == 404, action


def test_a_nul_in_a_filter_is_400_on_both_back_ends(outbox: Outbox, clock: Clock) -> None:
    console = Console(outbox, SECRET, clock=clock, throttle=LoginThrottle(clock=clock))
    with client_of(console) as client:
        logged_in(client)
        for query in ("chat=%00", "connector=a%00b", f"before={HUGE}"):
            assert client.get(f"/console/?{query}").status_code == 400, query


def test_a_page_that_fails_is_answered_500_and_the_server_goes_on(
    sqlite_outbox: Outbox, clock: Clock
) -> None:
    """A bug in a page is a 500 answer (with the console's headers), not an exception out of the
    app (uvicorn then reset the connection, and the next request on it)."""

    class Broken(type(sqlite_outbox)):  # type: ignore[misc]
        def counts(self) -> dict[str, int]:
            raise RuntimeError("a bug")

    broken = Broken(Path(sqlite_outbox.location), clock=clock)
    console = Console(broken, SECRET, clock=clock, throttle=LoginThrottle(clock=clock))
    with client_of(console) as client:
        logged_in_token = login_token(client)
        client.post("/console/login", data={"csrf": logged_in_token, "secret": SECRET})
        answer = client.get("/console/")
        assert answer.status_code == 500 and "content-security-policy" in answer.headers
        assert client.get("/console/connectors").status_code == 200
    broken.close()


# --- 5. retry of a delivered delivery -------------------------------------------------------------


def test_retry_of_a_delivered_delivery_is_refused_409(
    client: TestClient, sqlite_outbox: Outbox
) -> None:
    sqlite_outbox.accept_many([incoming(1)])
    claimed = sqlite_outbox.claim("n/w")
    assert claimed is not None and sqlite_outbox.succeed(claimed, "n/w", 200)
    csrf = logged_in(client)
    answer = client.post("/console/deliveries/1/retry", data={"csrf": csrf})
    assert answer.status_code == 409 and "delivered already" in answer.text
    after = sqlite_outbox.delivery(1)
    assert after is not None and after.status == DeliveryStatus.DELIVERED


def test_the_outbox_retries_only_the_states_asked_for_in_its_update(outbox: Outbox) -> None:
    from exportdsl.delivery.outbox import RETRYABLE

    outbox.accept_many([incoming(1), incoming(2)])
    first = outbox.claim("n/w")
    assert first is not None and outbox.succeed(first, "n/w", 200)
    dead = failed_once(outbox, permanent=True)
    assert outbox.retry([first.id, dead], states=RETRYABLE) == 1
    delivered = outbox.delivery(first.id)
    assert delivered is not None and delivered.status == DeliveryStatus.DELIVERED


# --- 6. attempt numbers across a retry, 8. the counts ---------------------------------------------


def test_attempts_are_numbered_on_after_a_retry_and_a_resent_dead_one_is_retrying(
    outbox: Outbox, clock: Clock
) -> None:
    outbox.accept_many([incoming(1)])
    delivery_id = failed_once(outbox, permanent=True)  # dead after attempt 1
    assert outbox.retry([delivery_id]) == 1
    failed_once(outbox)  # attempt 2
    clock.now += 3600
    failed_once(outbox)  # attempt 3
    assert [attempt.number for attempt in outbox.attempts(delivery_id)] == [1, 2, 3]
    console = Console(outbox, SECRET, clock=clock, throttle=LoginThrottle(clock=clock))
    with client_of(console) as client:
        logged_in(client)
        page = client.get(f"/console/deliveries/{delivery_id}").text
    assert re.search(r'<dd id="attempt-count">3 \(2 since it was last sent again\)', page), page
    assert 'id="state">retrying<' in page


def test_a_dead_delivery_sent_again_is_retrying_before_its_next_attempt(
    client: TestClient, sqlite_outbox: Outbox
) -> None:
    sqlite_outbox.accept_many([incoming(1)])
    failed_once(sqlite_outbox, permanent=True)
    assert sqlite_outbox.retry([1]) == 1
    logged_in(client)
    assert 'id="state">retrying<' in client.get("/console/deliveries/1").text
    assert ids_listed(client.get("/console/?status=retrying").text) == [1]


def test_a_delivery_waiting_to_be_retried_is_counted_once(
    client: TestClient, sqlite_outbox: Outbox
) -> None:
    sqlite_outbox.accept_many([incoming(1), incoming(2)])
    failed_once(sqlite_outbox)  # 1: retrying; 2: pending (never tried)
    logged_in(client)
    page = client.get("/console/").text
    counts = re.search(r'<p class="counts" id="counts">(.*?)</p>', page, re.S)
    assert counts is not None
    words = re.sub(r"<[^>]+>", "", counts.group(1)).split()
    assert words == ["1", "pending", "1", "retrying", "0", "delivered", "0", "dead"]
    assert ids_listed(client.get("/console/?status=pending").text) == [2]


# --- 7. the log of security events and actions ----------------------------------------------------


def test_logins_logouts_and_actions_are_logged_with_the_client_and_the_delivery(
    client: TestClient, console: Console, sqlite_outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    sqlite_outbox.accept_many([incoming(1)])
    failed_once(sqlite_outbox, permanent=True)
    caplog.set_level(logging.INFO, logger="exportdsl.console")
    token = login_token(client)
    for _ in range(6):
        client.post("/console/login", data={"csrf": token, "secret": "wrong"})
    console.throttle = LoginThrottle()  # a minute later
    csrf = logged_in(client)
    client.post("/console/deliveries/1/retry", data={"csrf": csrf})
    client.post("/console/deliveries/1/purge", data={"csrf": csrf})
    client.post("/console/logout", data={"csrf": csrf})
    records = [r for r in caplog.records if r.name == "exportdsl.console"]
    said = [(r.getMessage(), getattr(r, "fields", {})) for r in records]
    messages = [message for message, _ in said]
    assert messages.count("console: login failed (wrong secret)") == 5
    assert "console: login throttled" in messages and "console: login" in messages
    assert ("console: retry", {"client": "testclient", "delivery": 1}) in said
    assert ("console: purge refused (pending)", {"client": "testclient", "delivery": 1}) in said
    assert "console: logout" in messages
    assert all(fields.get("client") == "testclient" for _, fields in said)
    assert not any(SECRET in message or "wrong" in str(f) for message, f in said)


# --- 10. linting, 11. the page of exactly 50 ------------------------------------------------------


def test_the_deliveries_page_lints_nothing_and_the_connectors_page_lints_a_file_once(
    tmp_path: Path, sqlite_outbox: Outbox, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exportdsl.console import views
    from exportdsl.delivery.connectors import Connectors

    folder = tmp_path / "connectors"
    folder.mkdir()
    file = folder / "crm.yaml"
    file.write_text("connector: {id: 2, name: q}\nclient: {id: 1}\n")
    connectors = Connectors(folder, {})
    connectors.reload()
    linted: list[Path] = []
    real_lint = views.lint_file

    def counting(path: Path, settings: Any) -> Any:
        linted.append(path)
        return real_lint(path, settings)

    monkeypatch.setattr(views, "lint_file", counting)
    console = Console(
        sqlite_outbox,
        SECRET,
        clock=clock,
        connectors=lambda: views.connector_views(connectors),
        throttle=LoginThrottle(clock=clock),
    )
    with client_of(console) as client:
        logged_in(client)  # the deliveries page: no lint
        client.get("/console/")
        assert linted == []
        first = client.get("/console/connectors").text
        client.get("/console/connectors")
        assert linted == [file]  # unchanged: linted once
        file.write_text(file.read_text() + "bogus_key: 1\n")
        edited = client.get("/console/connectors").text
        assert linted == [file, file] and edited != first


def test_exactly_a_page_of_deliveries_has_no_older_link(
    client: TestClient, sqlite_outbox: Outbox
) -> None:
    sqlite_outbox.accept_many([incoming(number) for number in range(1, PAGE + 1)])
    logged_in(client)
    page = client.get("/console/").text
    assert len(ids_listed(page)) == PAGE and 'id="older"' not in page
    sqlite_outbox.accept_many([incoming(PAGE + 1)])
    page = client.get("/console/").text
    assert len(ids_listed(page)) == PAGE and 'id="older"' in page


# --- 12. the playground's limits ------------------------------------------------------------------


def test_the_playground_counts_bytes_and_says_which_limit(client: TestClient) -> None:
    from exportdsl.console.playground import MAX_CHAT

    logged_in(client)
    token = re.search(r'data-csrf="([^"]+)"', client.get("/console/playground").text)
    assert token is not None
    csrf = token.group(1)

    def check(chat: str) -> httpx.Response:
        """The JSON ASCII-escaped (``\u00fc``: 6 bytes for ü), as some clients send it."""
        body = json.dumps({"source": "a: 1", "chat": chat}).encode()
        headers = {"x-csrf-token": csrf, "content-type": "application/json"}
        return client.post("/console/playground/check", content=body, headers=headers)

    within = check('{"x": "' + "ü" * (MAX_CHAT // 4) + '"}')  # half the limit in bytes
    assert within.status_code == 200, within.text[:200]
    over = check('{"x": "' + "ü" * (MAX_CHAT // 2) + '"}')  # within in characters, not bytes
    assert over.status_code == 413
    assert "the chat is" in over.json()["error"] and f"{MAX_CHAT:,} bytes" in over.json()["error"]


# --- 13. done=, purge of nothing, the deep link ---------------------------------------------------


def test_done_shows_only_the_consoles_own_messages(
    client: TestClient, sqlite_outbox: Outbox
) -> None:
    sqlite_outbox.accept_many([incoming(1)])
    logged_in(client)
    page = client.get("/console/deliveries/1", params={"done": "Call +1 555 0100 now"}).text
    assert "555 0100" not in page and 'id="done"' not in page
    assert "queued again" in client.get("/console/deliveries/1?done=queued").text


def test_purging_a_delivery_that_is_not_there_is_404(client: TestClient) -> None:
    csrf = logged_in(client)
    answer = client.post("/console/deliveries/99/purge", data={"csrf": csrf})
    assert answer.status_code == 404 and "No delivery 99" in answer.text


def test_the_login_goes_back_to_the_page_asked_for_and_only_inside_the_console(
    client: TestClient, sqlite_outbox: Outbox
) -> None:
    sqlite_outbox.accept_many([incoming(1)])
    asked = client.get("/console/deliveries/1?done=queued")
    assert asked.status_code == 303
    login_url = asked.headers["location"]
    assert login_url.startswith("/console/login?next=")
    form = client.get(login_url).text
    kept = re.search(r'name="next" value="([^"]+)"', form)
    assert kept is not None and kept.group(1) == "/console/deliveries/1?done=queued"
    for given, expected in (
        ("/console/deliveries/1?done=queued", "/console/deliveries/1?done=queued"),
        ("https://evil.example/console/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/elsewhere", "/console/"),
        ("/console/\\\\evil.example", "/console/"),
    ):
        client.cookies.delete("exportdsl_console")
        token = login_token(client)  # a login takes the login form's cookie away
        answer = client.post(
            "/console/login", data={"csrf": token, "secret": SECRET, "next": given}
        )
        assert answer.status_code == 303 and answer.headers["location"] == expected, given
