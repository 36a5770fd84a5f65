"""The console, server side (issue 15, parts 2 and 3): login and its throttle, signed session
cookies, CSRF on every POST, the Content-Security-Policy, escaping, the deliveries' filters and
keyset pages, a delivery's attempts, retry and purge; `serve --console-secret-env` and
`exportdsl console`; the console kept out of the one-shot commands. The pages as a browser shows
them: tests/test_console_browser.py."""

from __future__ import annotations

import html
import random
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.routing import Mount

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2; its TestClient works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from exportdsl.cli.main import main
from exportdsl.console.app import PAGE, Console
from exportdsl.console.security import LoginThrottle, Sessions
from exportdsl.delivery.outbox import DeliveryQuery, Incoming, Outbox
from exportdsl.delivery.server import Endpoint
from exportdsl.delivery.store import open_outbox

SECRET = "console-S3CRET-0123456789"
ROOT = Path(__file__).parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = 1_764_500_000.0  # 2025-11-30 10:53:20 UTC

    def __call__(self) -> float:
        return self.now


def incoming(number: int, connector: str = "crm", chat_id: str | None = None) -> Incoming:
    return Incoming(
        connector, chat_id or str(number), b"{}", "crm.example", f"key-{connector}-{number}"
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> Iterator[Outbox]:
    made = open_outbox(tmp_path / "queue.db", clock=clock, rng=random.Random(3))
    yield made
    made.close()


@pytest.fixture
def console(outbox: Outbox, clock: Clock) -> Console:
    return Console(outbox, SECRET, clock=clock, throttle=LoginThrottle(clock=clock))


@pytest.fixture
def client(console: Console) -> Iterator[TestClient]:
    app = Starlette(routes=[Mount("/console", console.app())])
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as made:
        yield made


def login_token(client: TestClient) -> str:
    page = client.get("/console/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def logged_in(client: TestClient) -> str:
    """Logs in; the session's CSRF token (from a page's forms)."""
    answer = client.post("/console/login", data={"csrf": login_token(client), "secret": SECRET})
    assert answer.status_code == 303, answer.text
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/").text)
    assert found is not None
    return found.group(1)


def ids_listed(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr class="delivery" data-id="(\d+)"', html)]


# --- logging in ----------------------------------------------------------------------------------


def test_every_page_but_the_login_needs_a_session(client: TestClient) -> None:
    for path in ("/console/", "/console/deliveries/1", "/console/connectors"):
        answer = client.get(path)
        location = answer.headers["location"].split("?")[0]  # ?next=: the page asked for
        assert answer.status_code == 303 and location == "/console/login"
    assert client.get("/console/deliveries/rows").status_code == 401  # the live update's fetch
    assert client.post("/console/deliveries/1/retry").headers["location"] == "/console/login"


def test_the_right_secret_logs_in_with_a_secure_httponly_strict_cookie(client: TestClient) -> None:
    answer = client.post("/console/login", data={"csrf": login_token(client), "secret": SECRET})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    cookie = next(
        value
        for value in answer.headers.get_list("set-cookie")
        if value.startswith("exportdsl_console=")
    )
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=strict", "path=/console"} <= attributes
    assert SECRET not in cookie
    assert client.get("/console/").status_code == 200


def test_a_wrong_secret_is_refused(client: TestClient) -> None:
    answer = client.post("/console/login", data={"csrf": login_token(client), "secret": "nope"})
    assert answer.status_code == 401 and "wrong secret" in answer.text
    assert "exportdsl_console=" not in answer.headers.get("set-cookie", "")
    assert client.get("/console/").status_code == 303


def test_a_login_posted_without_the_login_forms_token_is_refused(client: TestClient) -> None:
    """Login CSRF: a page elsewhere cannot log the operator into a session of its choosing."""
    login_token(client)
    answer = client.post("/console/login", data={"csrf": "forged", "secret": SECRET})
    assert answer.status_code == 403 and "exportdsl_console=" not in str(answer.headers)


def test_failed_logins_are_throttled_by_address_then_allowed_again(
    client: TestClient, clock: Clock
) -> None:
    token = login_token(client)
    for _ in range(5):
        assert client.post("/console/login", data={"csrf": token, "secret": "x"}).status_code == 401
    refused = client.post("/console/login", data={"csrf": token, "secret": SECRET})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    clock.now += 61
    assert client.post("/console/login", data={"csrf": token, "secret": SECRET}).status_code == 303


def test_a_forged_damaged_or_expired_session_is_no_session(clock: Clock) -> None:
    sessions = Sessions(SECRET, clock)
    cookie, session = sessions.issue()
    assert sessions.read(cookie) == session
    payload, signature = cookie.split(".")
    assert sessions.read(f"{payload}x.{signature}") is None
    assert sessions.read(f"{payload}.{signature[:-2]}AA") is None
    assert Sessions("another-secret-0123456789", clock).read(cookie) is None
    assert sessions.read("") is None and sessions.read("a.b.c") is None
    clock.now += 8 * 3600 + 1
    assert sessions.read(cookie) is None


def test_logging_out_ends_the_session_in_the_browser(client: TestClient) -> None:
    csrf = logged_in(client)
    assert client.post("/console/logout", data={"csrf": "forged"}).status_code == 403
    answer = client.post("/console/logout", data={"csrf": csrf})
    assert answer.status_code == 303 and 'exportdsl_console=""' in answer.headers["set-cookie"]


# --- headers, escaping ---------------------------------------------------------------------------


def test_every_answer_has_a_strict_csp_and_no_page_has_inline_script_or_style(
    client: TestClient, outbox: Outbox
) -> None:
    outbox.accept_many([incoming(1)])
    pages = [client.get("/console/login")]
    logged_in(client)
    for path in ("/console/", "/console/deliveries/1", "/console/connectors",
                 "/console/deliveries/rows", "/console/static/console.js"):  # fmt: skip
        pages.append(client.get(path))
    for page in pages:
        assert page.status_code == 200, page.request.url
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe" not in policy and "frame-ancestors 'none'" in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        if page.headers["content-type"].startswith("text/html"):
            assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), page.request.url
            assert "<style" not in page.text and " style=" not in page.text
            assert not re.search(r"\son[a-z]+=", page.text)  # no inline event handlers


def test_what_the_outbox_holds_is_escaped(client: TestClient, outbox: Outbox) -> None:
    evil = '<img src=x onerror="alert(1)">'
    outbox.accept_many([incoming(1, chat_id=evil)])
    delivery = outbox.claim("n/w")
    assert delivery is not None
    outbox.fail(delivery, "n/w", f"refused: {evil}", permanent=True, answer=f"<b>{evil}</b>")
    logged_in(client)
    for path in ("/console/", "/console/deliveries/1"):
        page = client.get(path).text
        assert evil not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page


# --- the deliveries -------------------------------------------------------------------------------


def test_filters_by_status_connector_chat_and_time(
    client: TestClient, outbox: Outbox, clock: Clock
) -> None:
    outbox.accept_many([incoming(1), incoming(2, "shop"), incoming(3)])
    clock.now += 3600
    outbox.accept_many([incoming(4, chat_id="77")])
    first = outbox.claim("n/w")
    assert first is not None and first.id == 1
    outbox.fail(first, "n/w", "410", permanent=True)  # dead
    second = outbox.claim("n/w")
    assert second is not None and second.id == 2
    outbox.fail(second, "n/w", "503")  # retrying
    logged_in(client)

    def listed(**filters: str) -> list[int]:
        return ids_listed(client.get("/console/", params=filters).text)

    assert listed() == [4, 3, 2, 1]
    assert listed(status="dead") == [1]
    assert listed(status="retrying") == [2]
    assert listed(status="pending") == [4, 3]  # waiting for a first attempt (2 is retrying)
    assert listed(connector="shop") == [2]
    assert listed(chat="77") == [4]
    assert listed(since="2025-11-30T11:30") == [4]
    assert listed(until="2025-11-30T11:30") == [3, 2, 1]
    for bad, said in [
        ({"status": "bogus"}, "status: expected one of pending, retrying, delivered, dead"),
        ({"since": "not a time"}, "since: expected a time such as 2026-11-30T18:40 (UTC)"),
        ({"until": "30/11/2025"}, "until: expected a time"),
    ]:
        answer = client.get("/console/", params=bad)  # never a list that looks filtered and is not
        assert answer.status_code == 400 and said in html.unescape(answer.text), answer.text
    rows = client.get("/console/deliveries/rows", params={"status": "dead"})
    assert ids_listed(rows.text) == [1] and 'id="listing"' in rows.text


def test_keyset_pages_walk_every_delivery_once(client: TestClient, outbox: Outbox) -> None:
    outbox.accept_many([incoming(number) for number in range(1, 2 * PAGE + 11)])
    logged_in(client)
    seen: list[int] = []
    page = client.get("/console/")
    while True:
        seen += ids_listed(page.text)
        older = re.search(r'href="\?([^"]*before=\d+[^"]*)" id="older"', page.text)
        if older is None:
            break
        page = client.get(f"/console/?{older.group(1).replace('&amp;', '&')}")
    assert seen == list(range(2 * PAGE + 10, 0, -1))


def test_find_pages_by_keyset_with_every_filter(outbox: Outbox) -> None:
    outbox.accept_many([incoming(number, "a" if number % 2 else "b") for number in range(1, 8)])
    query = DeliveryQuery(connector="a", limit=2)
    assert [d.id for d in outbox.find(query)] == [7, 5]
    assert [d.id for d in outbox.find(DeliveryQuery(connector="a", before=5, limit=2))] == [3, 1]


def test_a_delivery_shows_its_attempts_and_is_retried_and_purged_with_csrf(
    client: TestClient, outbox: Outbox, console: Console
) -> None:
    woken: list[bool] = []
    console.wake = lambda: woken.append(True)
    outbox.accept_many([incoming(1)])
    delivery = outbox.claim("n/w")
    assert delivery is not None
    outbox.fail(delivery, "n/w", "the back end answered 410", status=410, permanent=True,
                seconds=0.25, answer='{"error": "gone"}')  # fmt: skip
    csrf = logged_in(client)
    page = client.get("/console/deliveries/1").text
    assert 'data-outcome="dead"' in page and "250.0 ms" in page and "410" in page
    assert "{&#34;error&#34;: &#34;gone&#34;}" in page and "Send again" in page

    refused = client.post("/console/deliveries/1/retry", data={"csrf": "forged"})
    still = outbox.delivery(1)
    assert refused.status_code == 403 and still is not None and still.status == "dead"
    assert client.post("/console/deliveries/1/retry").status_code == 403  # no form at all
    done = client.post("/console/deliveries/1/retry", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"].startswith("/console/deliveries/1?")
    again = outbox.delivery(1)
    assert again is not None and again.status == "pending" and again.attempts == 0 and woken
    assert "queued again" in client.get(done.headers["location"]).text

    pending = client.post("/console/deliveries/1/purge", data={"csrf": csrf})
    assert "not-purged" in pending.headers["location"] and outbox.delivery(1) is not None
    claimed = outbox.claim("n/w")
    assert claimed is not None and outbox.succeed(claimed, "n/w", 200)
    purged = client.post("/console/deliveries/1/purge", data={"csrf": csrf})
    assert purged.status_code == 303 and outbox.delivery(1) is None
    assert outbox.attempts(1) == []
    assert client.get("/console/deliveries/1").status_code == 404


# --- serving it ----------------------------------------------------------------------------------


def test_serve_refuses_a_console_secret_variable_that_is_not_set(tmp_path: Path) -> None:
    folder = tmp_path / "connectors"
    folder.mkdir()
    (folder / "crm.yaml").write_text("connector: {id: 1, name: c}\nclient: {id: 1}\n")
    done = CliRunner().invoke(
        main,
        ["serve", "--connectors", str(folder), "--db", str(tmp_path / "q.db"),
         "--console-secret-env", "EXPORTDSL_TEST_NO_SUCH_VARIABLE"],
        env={"EXPORTDSL_TEST_NO_SUCH_VARIABLE": "short"},
    )  # fmt: skip
    assert done.exit_code == 1
    assert "EXPORTDSL_TEST_NO_SUCH_VARIABLE is shorter than 16 characters" in done.output


def test_the_console_command_refuses_an_outbox_older_than_it_knows(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "q.db"
    open_outbox(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE attempts")
        db.execute("PRAGMA user_version = 3")
    done = CliRunner().invoke(
        main, ["console", "--db", str(path), "--console-secret-env", "X"], env={"X": SECRET}
    )
    assert done.exit_code == 1 and "exportdsl db upgrade" in done.output, done.output
    missing = CliRunner().invoke(main, ["console", "--db", str(path)])
    assert missing.exit_code == 2 and "--console-secret-env" in missing.output


@pytest.mark.parametrize("command", [["check", "connectors"], ["queue", "list", "--db", "{db}"]])
def test_the_one_shot_commands_never_load_the_console(tmp_path: Path, command: list[str]) -> None:
    database = tmp_path / "q.db"
    open_outbox(database).close()
    code = (
        "import sys\n"
        "sys.argv = ['exportdsl', *sys.argv[1:]]\n"
        "from exportdsl.cli.main import run\n"
        "try:\n"
        "    run()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(n for n in sys.modules if n.startswith('exportdsl.console')))\n"
    )
    arguments = [part.replace("{db}", str(database)) for part in command]
    done = subprocess.run(
        [sys.executable, "-c", code, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


# --- the connectors -------------------------------------------------------------------------------


def test_the_connectors_page_says_what_serves_and_shows_checks_diagnostics(
    tmp_path: Path, outbox: Outbox, clock: Clock
) -> None:
    from exportdsl.console.views import connector_views
    from exportdsl.delivery.connectors import Connectors

    folder = tmp_path / "connectors"
    folder.mkdir()
    (folder / "hooks.yaml").write_text(
        "connector: {id: 1, name: h}\nclient: {id: 1}\nintake: {secret: $env.HOOKS_SECRET}\n"
        "export: {url: 'https://crm.example/in', headers: {Content-Type: text/plain}, body: hi}\n"
    )
    (folder / "quiet.yaml").write_text("connector: {id: 2, name: q}\nclient: {id: 1}\n")
    (folder / "broken.yaml").write_text(
        "connector: {id: 3, name: b}\nclient: {id: 1}\nexport:\n  url: https://x.example/$ClientID\n"
    )
    connectors = Connectors(folder, {"HOOKS_SECRET": "hooks-S3CRET-0123456789"})
    connectors.reload()
    console = Console(outbox, SECRET, clock=clock, connectors=lambda: connector_views(connectors))
    app = Starlette(routes=[Mount("/console", console.app())])
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        logged_in(client)
        page = client.get("/console/connectors").text
    rows = dict(re.findall(r'<tr class="connector" data-name="([^"]+)">(.*?)</tr>', page, re.S))
    assert set(rows) == {"broken", "hooks", "quiet"}
    assert "<td>yes</td>\n      <td>yes</td>\n      <td>yes</td>" in rows["hooks"]
    assert "no: the file has no intake" in rows["quiet"] and "has no export.url" in rows["quiet"]
    assert "<td>no</td>" in rows["broken"]
    assert "broken.yaml:4:27: export.url: undefined variable $ClientID [XD201]" in rows["broken"]
    assert "hint: did you mean $ClientsID?" in rows["broken"]
    # a file that serves: what `check` finds in it (a warning) and `explain` of its plan
    assert (
        "hooks.yaml:4:84: the export never sends the report: $report is used nowhere [XD507]"
        in rows["hooks"]
    )
    assert "<summary>explain</summary>" in rows["hooks"]
    assert "hooks.yaml: connector 1 &#39;h&#39;" in rows["hooks"]
    assert "hooks-S3CRET" not in page


# --- a delivery's requests and PDF ----------------------------------------------------------------


def test_a_deliverys_requests_are_shown_redacted_and_its_pdf_downloads(
    outbox: Outbox, clock: Clock
) -> None:
    from exportdsl.compiler.analysis import compile_connector
    from exportdsl.connector.reader import parse_connector
    from exportdsl.export.redact import REDACTED

    key = "crm-API-k3y-0123456789"
    plan = compile_connector(
        parse_connector(
            "connector: {id: 1, name: c}\nclient: {id: 1}\nexport:\n"
            "  url: https://crm.example/in\n"
            "  headers: {X-Api-Key: $env.CRM_KEY, Content-Type: application/json}\n"
            '  body: \'{"visitor": "$chat.visitor.name", "pdf": "$report.encoded.base64"}\'\n',
            "crm.yaml",
        )
    )
    chat = (ROOT / "exportdsl" / "data" / "sample-chat.json").read_bytes()
    outbox.accept_many([Incoming("crm", "1", chat, "crm.example", "key-1")])
    outbox.accept_many([Incoming("gone", "2", chat, "crm.example", "key-2")])
    served = {"crm": Endpoint("crm", plan, None, "crm.example")}
    console = Console(outbox, SECRET, clock=clock, served=lambda: served, env={"CRM_KEY": key})
    app = Starlette(routes=[Mount("/console", console.app())])
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert client.get("/console/deliveries/1/request").status_code == 303
        assert client.get("/console/deliveries/1/transcript.pdf").status_code == 303
        logged_in(client)
        page = client.get("/console/deliveries/1/request?now=1")  # rendered now, said so
        pdf = client.get("/console/deliveries/1/transcript.pdf")
        unserved = client.get("/console/deliveries/2/request?now=1")
    assert page.status_code == 200 and "### export request" in page.text
    assert "POST https://crm.example/in" in page.text
    assert f"x-api-key: {REDACTED}".lower() in page.text.lower() and key not in page.text
    assert "characters]" in page.text  # the PDF's base64, shortened
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"] == 'attachment; filename="delivery-1.pdf"'
    assert unserved.status_code == 404 and "connector gone is not served" in unserved.text


def test_the_report_export_button_shows_only_with_an_export_url_and_makes_a_new_delivery(
    outbox: Outbox, clock: Clock
) -> None:
    from exportdsl.compiler.analysis import compile_connector
    from exportdsl.connector.reader import parse_connector

    def endpoint(name: str, export: str) -> Endpoint:
        text = f"connector: {{id: 1, name: {name}}}\nclient: {{id: 1}}\n{export}"
        plan = compile_connector(parse_connector(text, f"{name}.yaml"))
        return Endpoint(name, plan, None, "crm.example")

    served = {
        "crm": endpoint("crm", "export: {url: 'https://crm.example/in', body: x}\n"),
        "quiet": endpoint("quiet", ""),
    }
    outbox.accept_many([incoming(1, "crm"), incoming(2, "quiet")])
    console = Console(outbox, SECRET, clock=clock, served=lambda: served)
    app = Starlette(routes=[Mount("/console", console.app())])
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        csrf = logged_in(client)
        assert 'id="report-export"' in client.get("/console/deliveries/1").text
        assert 'id="report-export"' not in client.get("/console/deliveries/2").text
        assert client.post("/console/deliveries/1/export", data={"csrf": "x"}).status_code == 403
        pressed = client.post("/console/deliveries/1/export", data={"csrf": csrf})
        refused = client.post("/console/deliveries/2/export", data={"csrf": csrf})
    assert pressed.status_code == 303 and pressed.headers["location"].startswith(
        "/console/deliveries/3?"
    )
    made = outbox.delivery(3)
    assert made is not None and made.reason == "button" and made.chat_id == "1"
    assert made.idempotency_key == "key-crm-1.export-1"
    assert "no-export" in refused.headers["location"] and outbox.delivery(4) is None


# --- the playground -------------------------------------------------------------------------------


def test_the_playground_checks_as_check_does_and_renders_without_the_servers_secrets(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exportdsl.console.playground import EXAMPLE

    monkeypatch.setenv("ACME_API_KEY", "the-servers-own-S3CRET")
    assert client.get("/console/playground").status_code == 303
    refused = client.post("/console/playground/check", json={"source": EXAMPLE, "chat": ""})
    assert refused.status_code == 401
    csrf = logged_in(client)
    page = client.get("/console/playground")
    assert page.status_code == 200 and 'data-csrf="' in page.text
    assert "crm.acme.example/api/v2/tenants/$pdata.tenant" in page.text

    def check(source: str, chat: str = "", token: str = csrf) -> Any:
        return client.post(
            "/console/playground/check",
            json={"source": source, "chat": chat},
            headers={"X-CSRF-Token": token},
        )

    assert check(EXAMPLE, token="forged").status_code == 403
    clean = check(EXAMPLE).json()
    assert clean["diagnostics"] == [] and clean["problem"] is None
    export = clean["requests"][-1]
    assert export.startswith(
        "### export request\nPOST https://crm.acme.example/api/v2/tenants/acme/"
    )
    assert "Bearer <env.ACME_API_KEY>" in export and "the-servers-own-S3CRET" not in export
    typo = check(EXAMPLE.replace('"$ClientsID"', '"$ClientID"')).json()
    assert [(d["code"], d["line"], d["column"], d["end_column"]) for d in typo["diagnostics"]] == [
        ("XD201", 11, 18, 25)  # as `exportdsl check` marks it: the name after the $
    ]
    assert typo["requests"] == [] and "did you mean $ClientsID?" in typo["diagnostics"][0]["hint"]
    bad_chat = check(EXAMPLE, chat='{"channel": 5}').json()
    assert bad_chat["requests"] == [] and "messages: missing" in bad_chat["problem"]
    assert check("x" * (257 << 10)).status_code == 413
    assert client.post(
        "/console/playground/check", content=b"[1]", headers={"X-CSRF-Token": csrf,
        "Content-Type": "application/json"}
    ).status_code == 400  # fmt: skip
