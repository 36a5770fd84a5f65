"""The console's second review (issue 15), the server's side: the playground's XML template and
PDF, a logout that ends the session for every copy of its cookie, the connectors page as
`exportdsl check --env` and `exportdsl explain` print them, and the login throttle by IPv6 /64.
(The upload, the emoji columns and the phone width are in tests/test_review15b_browser.py.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from test_console import SECRET, Clock, logged_in

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2; its TestClient works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from exportdsl.console.app import Console
from exportdsl.console.security import LoginThrottle
from exportdsl.delivery.outbox import Outbox
from exportdsl.delivery.store import open_outbox

EXPORTDSL = str(Path(sys.executable).with_name("exportdsl"))

XML_CONNECTOR = """\
connector: {id: 7, name: XML}
client: {id: 1001}
transcript: {title: Playground transcript}
export:
  url: https://crm.example/in
  headers: {Authorization: Bearer $env.API_KEY, Content-Type: application/json}
  body: |
    {"xml": "$xmlTemplate.encoded.base64", "pdf": "$report.encoded.base64"}
xml_template: |
  <chat id="$chat.channel.id"><visitor>$!chat.visitor.name</visitor></chat>
"""


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> Iterator[Outbox]:
    made = open_outbox(tmp_path / "queue.db", clock=clock)
    yield made
    made.close()


def client_of(console: Console) -> TestClient:
    app = Starlette(routes=[Mount("/console", console.app())])
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


@pytest.fixture
def client(outbox: Outbox, clock: Clock) -> Iterator[TestClient]:
    console = Console(outbox, SECRET, clock=clock, throttle=LoginThrottle(clock=clock))
    with client_of(console) as made:
        yield made


def playground_csrf(client: TestClient) -> str:
    logged_in(client)
    found = re.search(r'data-csrf="([^"]+)"', client.get("/console/playground").text)
    assert found is not None
    return found.group(1)


def sample_chat_with_visitor(name: str) -> str:
    from exportdsl.console.playground import SAMPLE_CHAT

    chat = json.loads(SAMPLE_CHAT.read_text(encoding="utf-8"))
    chat["visitor"]["name"] = name
    return json.dumps(chat)


# --- 1. the playground: the XML template as rendered, the PDF, the upload's field ---------------


def test_the_playground_shows_the_xml_template_as_rendered(client: TestClient) -> None:
    csrf = playground_csrf(client)
    chat = sample_chat_with_visitor("Ann <b>&amp; Bob")
    answer = client.post(
        "/console/playground/check",
        json={"source": XML_CONNECTOR, "chat": chat},
        headers={"x-csrf-token": csrf},
    ).json()
    assert answer["problem"] is None, answer
    # the XML as the template renders it (the chat's value escaped for XML, by the template)
    assert answer["xml"].startswith('<chat id="')
    assert "<visitor>Ann &lt;b&gt;&amp;amp; Bob</visitor></chat>" in answer["xml"]
    # a connector without an xml_template has none; one with errors has none either
    plain = XML_CONNECTOR.split("xml_template")[0].replace("$xmlTemplate.encoded.base64", "x")
    for source in (plain, "connector: {id: 1}\n"):
        shown = client.post(
            "/console/playground/check",
            json={"source": source, "chat": ""},
            headers={"x-csrf-token": csrf},
        ).json()
        assert shown["xml"] is None, shown


def test_the_playground_page_has_the_upload_the_xml_panel_and_the_pdf_button(
    client: TestClient,
) -> None:
    logged_in(client)
    page = client.get("/console/playground").text
    assert '<input type="file" id="chat-file"' in page
    assert '<pre class="request" id="xml"></pre>' in page
    assert '<button type="button" id="pdf">' in page
    assert 'data-transcript="/console/playground/transcript.pdf"' in page
    script = client.get("/console/static/playground.js").text
    assert "FileReader" in script and "readAsText" in script  # read here, never sent as a file


def test_the_playground_renders_the_pdf_of_its_connector_and_chat(client: TestClient) -> None:
    from pypdf import PdfReader

    csrf = playground_csrf(client)
    given = {"source": XML_CONNECTOR, "chat": sample_chat_with_visitor("Ann Example")}
    answer = client.post(
        "/console/playground/transcript.pdf", json=given, headers={"x-csrf-token": csrf}
    )
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == "application/pdf"
    assert 'filename="playground.pdf"' in answer.headers["content-disposition"]
    assert answer.content.startswith(b"%PDF-")
    import io

    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)
    assert "Playground transcript" in text and "Ann Example" in text  # its settings, its chat


def test_the_playgrounds_pdf_is_guarded_and_bounded_as_its_check_is(client: TestClient) -> None:
    from exportdsl.console.playground import MAX_CHAT

    csrf = playground_csrf(client)
    url = "/console/playground/transcript.pdf"
    given = {"source": XML_CONNECTOR, "chat": ""}
    assert client.post(url, json=given).status_code == 403  # no CSRF token
    assert client.post(url, json=given, headers={"x-csrf-token": "x" * 43}).status_code == 403
    broken = client.post(
        url, json={"source": "connector: [", "chat": ""}, headers={"x-csrf-token": csrf}
    )
    assert broken.status_code == 422 and broken.json()["error"].startswith("no transcript: ")
    bad_chat = client.post(
        url, json={"source": XML_CONNECTOR, "chat": "{not json"}, headers={"x-csrf-token": csrf}
    )
    assert bad_chat.status_code == 422, bad_chat.text
    over = client.post(
        url,
        json={"source": XML_CONNECTOR, "chat": "x" * (MAX_CHAT + 1)},
        headers={"x-csrf-token": csrf},
    )
    assert over.status_code == 413 and "the chat is" in over.json()["error"]
    client.cookies.clear()
    assert client.post(url, json=given, headers={"x-csrf-token": csrf}).status_code == 401


# --- 2. logging out ends the session, for every copy of its cookie --------------------------------


def test_a_cookie_copied_before_the_logout_opens_nothing_after_it(
    client: TestClient, outbox: Outbox, clock: Clock
) -> None:
    csrf = logged_in(client)
    copied = client.cookies["exportdsl_console"]
    assert client.post("/console/logout", data={"csrf": csrf}).status_code == 303
    console = Console(outbox, SECRET, clock=clock)  # not the same process: see below
    assert "exportdsl_console" not in client.cookies  # gone from the browser...
    client.cookies.set("exportdsl_console", copied, path="/console")  # ...but a copy was kept
    for path in ("/console/", "/console/connectors", "/console/playground"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith(
            "/console/login"
        ), path
    check = client.post(
        "/console/playground/check", json={"source": "a: 1"}, headers={"x-csrf-token": csrf}
    )
    assert check.status_code == 401
    refused = client.post("/console/deliveries/1/purge", data={"csrf": csrf})
    assert refused.headers["location"] == "/console/login"
    client.cookies.clear()
    # another session goes on; logging in again makes a new one
    csrf_again = logged_in(client)
    assert csrf_again != csrf and client.get("/console/").status_code == 200
    # the revocation is this process's memory (docs/console.md): documented, and held down here
    assert console.sessions.read(copied) is not None


def test_sessions_logged_out_are_forgotten_once_they_would_have_expired(clock: Clock) -> None:
    from exportdsl.console.security import SESSION_SECONDS, Sessions

    sessions = Sessions(SECRET, clock)
    cookie, session = sessions.issue()
    other_cookie, _ = sessions.issue()
    sessions.revoke(session)
    assert sessions.read(cookie) is None and sessions.read(other_cookie) is not None
    clock.now += SESSION_SECONDS + 1
    _, later = sessions.issue()
    sessions.revoke(later)  # the first one's entry is dropped: it has expired
    assert sessions.revoked == 1 and sessions.read(cookie) is None


# --- 4 and 7. the connectors page as `check --env` and `explain` print them -----------------------


def connector_folder(root: Path) -> Path:
    folder = root / "conn"
    folder.mkdir()
    # does not serve: compile errors at two places and a lint warning (XD507) check prints
    (folder / "warn.yaml").write_text(
        "connector: {id: 9, name: Warn}\nclient: {id: 1001}\nexport:\n"
        "  url: http://127.0.0.1:9/ok\n  headers:\n    Authorization: Bearer $env.NOT_SET_VAR\n"
        "    Content-Type: application/json\n  body: |\n"
        '    {"v": "$chat.visitor.name", "x": $chat.visitor.nme}\n'
        "intake: {secret: $env.INTAKE_SECRET}\n"
    )
    # serves, with warnings
    (folder / "quiet.yaml").write_text(
        "connector: {id: 2, name: q}\nclient: {id: 1}\n"
        "export: {url: 'https://crm.example/in', headers: {Content-Type: text/plain}, body: hi}\n"
    )
    # does not serve: an error check finds; and a short intake secret only serving finds
    (folder / "short.yaml").write_text(
        "connector: {id: 3, name: s}\nclient: {id: 1}\nintake: {secret: $env.SHORT_SECRET}\n"
        "export: {url: 'https://x.example/$ClientID', headers: {Content-Type: text/plain}, "
        "body: $report.encoded.base64}\n"
    )
    (folder / "ok.yaml").write_text(
        "connector: {id: 4, name: ok}\nclient: {id: 1}\n"
        "export: {url: 'https://crm.example/in', headers: {Content-Type: text/plain}, "
        "body: $report.encoded.base64}\n"
    )
    return folder


def test_the_connectors_page_says_what_check_env_prints_in_its_order(
    tmp_path: Path, outbox: Outbox, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exportdsl.console.views import connector_views
    from exportdsl.delivery.connectors import Connectors

    connector_folder(tmp_path)
    monkeypatch.chdir(tmp_path)  # the folder given as a relative path, as `serve` is often run
    env = {"INTAKE_SECRET": "intake-S3CRET-0123456789", "SHORT_SECRET": "short"}
    connectors = Connectors(Path("conn"), env)
    connectors.reload()
    views = {view.name: view for view in connector_views(connectors)}
    assert set(views) == {"warn", "quiet", "short", "ok"}
    for name, view in views.items():
        cli = subprocess.run(
            [EXPORTDSL, "check", "--env", f"conn/{name}.yaml"],
            capture_output=True,
            text=True,
            env={"PATH": os.environ.get("PATH", "")} | env,
            cwd=tmp_path,
        )
        shown = view.problems[0] if view.problems else ""
        if name == "short":  # check's findings, then what only serving finds
            assert shown.startswith(cli.stdout.rstrip("\n") + "\n"), (shown, cli.stdout)
            assert "shorter than" in shown.split(cli.stdout.rstrip("\n"))[1]
        else:
            assert shown.rstrip("\n") == cli.stdout.rstrip("\n"), name
    assert "[XD507]" in views["warn"].problems[0]  # the warning the page had left out
    codes = re.findall(
        r"^conn/warn\.yaml:(\d+):(\d+): .*\[(XD\d+)\]$", views["warn"].problems[0], re.M
    )
    assert codes == sorted(codes, key=lambda found: (int(found[0]), int(found[1]))), codes
    # the page itself shows it so
    console = Console(outbox, SECRET, clock=clock, connectors=lambda: connector_views(connectors))
    with client_of(console) as client:
        logged_in(client)
        page = client.get("/console/connectors").text
    assert "conn/warn.yaml:9:5: the export never sends the report" in page


def test_the_connectors_explain_is_what_exportdsl_explain_prints_for_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exportdsl.console.views import connector_views
    from exportdsl.delivery.connectors import Connectors

    connector_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    connectors = Connectors(Path("conn"), {})
    connectors.reload()
    served = [view for view in connector_views(connectors) if view.served]
    assert {view.name for view in served} == {"quiet", "ok"}
    for view in served:
        cli = subprocess.run(
            [EXPORTDSL, "explain", f"conn/{view.name}.yaml"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert cli.returncode == 0, cli.stderr
        assert view.explained.strip("\n") == cli.stdout.strip("\n")
        assert view.explained.startswith(f"conn/{view.name}.yaml: ")


# --- 6. the login throttle by IPv6 /64 ------------------------------------------------------------


def test_failed_logins_count_by_ipv6_64_and_by_ipv4_address(clock: Clock) -> None:
    from exportdsl.console.security import client_bucket

    throttle = LoginThrottle(clock=clock)
    for n in range(1, 6):
        assert throttle.reserve(f"2001:db8:1:2::{n:x}")[0] == 0
    # a sixth address of the same /64 must wait: they are one client's
    assert throttle.reserve("2001:db8:1:2:ffff:ffff:ffff:ffff")[0] > 0
    assert throttle.wait("2001:db8:1:2::99") > 0
    # the next /64 and IPv4 addresses count apart
    assert throttle.reserve("2001:db8:1:3::1")[0] == 0
    for _ in range(5):
        assert throttle.reserve("192.0.2.1")[0] == 0
    assert throttle.reserve("192.0.2.1")[0] > 0 and throttle.reserve("192.0.2.2")[0] == 0
    # an IPv4 client seen as IPv4-mapped IPv6 is the IPv4 address
    assert throttle.wait("::ffff:192.0.2.1") > 0
    assert client_bucket("2001:DB8:1:2:0:0:0:7") == "2001:db8:1:2::/64"
    assert client_bucket("fe80::1%eth0") == "fe80::/64"
    assert client_bucket("?") == "?" and client_bucket("203.0.113.9") == "203.0.113.9"


def test_a_real_console_behind_a_proxy_throttles_a_64(tmp_path: Path) -> None:
    """As the review did it: `exportdsl console` believing 127.0.0.1's X-Forwarded-For, clients
    of one /64 each with a new address."""
    from test_serve import free_port

    port = free_port()
    open_outbox(tmp_path / "queue.db").close()
    process = subprocess.Popen(
        [
            EXPORTDSL,
            "console",
            "--db",
            str(tmp_path / "queue.db"),
            "--port",
            str(port),
            "--console-secret-env",
            "CONSOLE_SECRET",
            "--forwarded-allow-ips",
            "127.0.0.1",
        ],
        env=os.environ | {"CONSOLE_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        statuses = []
        for n in range(1, 8):
            headers = {"x-forwarded-for": f"2001:db8:1:2::{n:x}"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as browser:
                page = _until_up(browser)
                token = re.search(r'name="csrf" value="([^"]+)"', page)
                assert token is not None  # its cookie is Secure: httpx keeps it for https only
                browser.cookies.set(
                    "exportdsl_console_login", token.group(1), path="/console/login"
                )
                form = {"csrf": token.group(1), "secret": f"guess-{n}-xxxxxxxxxxxxxx"}
                statuses.append(browser.post("/console/login", data=form).status_code)
        assert statuses == [401] * 5 + [429] * 2, statuses
    finally:
        process.terminate()
        process.wait(30)


def _until_up(browser: httpx.Client) -> str:
    import time

    deadline = time.monotonic() + 20
    while True:
        try:
            return browser.get("/console/login").text
        except httpx.TransportError:
            assert time.monotonic() < deadline, "exportdsl console did not start"
            time.sleep(0.1)
