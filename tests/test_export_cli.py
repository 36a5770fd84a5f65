"""render, export and demo from the command line: output, exit codes, and no secret in any of it."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest
from backend import (
    ACCESS_TOKEN,
    API_KEY,
    CLIENT_SECRET,
    SAMPLE_CHAT,
    TOKEN,
    Backend,
    Reply,
    connector_text,
    sample_chat_file,
    secret_forms,
)
from click.testing import CliRunner

from exportdsl.cli.export import SHOWN_BODY_BYTES
from exportdsl.cli.main import main
from exportdsl.export.redact import REDACTED


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.stdout, result.stderr


def assert_no_secret(*outputs: str) -> None:
    text = "\n".join(outputs)
    for secret in (CLIENT_SECRET, ACCESS_TOKEN, API_KEY):
        for form in secret_forms(secret):
            assert text.count(form) == 0, f"{form!r} leaked"


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("API_KEY", API_KEY)


def write_connector(tmp_path: Path, base: str, **options: str) -> Path:
    path = tmp_path / "connector.yaml"
    path.write_text(connector_text(base, **options), encoding="utf-8")  # type: ignore[arg-type]
    return path


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the dry run opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# -- render ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("secrets_in_env", "no_network")
def test_render_prints_both_requests_redacted_and_sends_nothing(tmp_path: Path) -> None:
    connector = write_connector(tmp_path, "https://crm.example")
    code, out, err = invoke("render", str(connector), str(SAMPLE_CHAT))
    assert code == 0, err
    assert out.startswith("### token request\nPOST https://crm.example/token\nHost: crm.example\n")
    assert "### export request\nPOST https://crm.example/report\n" in out
    assert "Authorization: Bearer <tokenResponse.body.JSON.access_token>" in out
    assert "Idempotency-Key: " in out and "client_secret=[REDACTED]" in out
    assert "X-Api-Key: [REDACTED]" in out
    assert "characters]" in out  # the PDF's base64, shortened
    assert_no_secret(out, err)


@pytest.mark.usefixtures("secrets_in_env", "no_network")
def test_render_full_with_a_token_response(tmp_path: Path) -> None:
    connector = write_connector(tmp_path, "https://crm.example")
    answer = tmp_path / "token.json"
    answer.write_text(json.dumps({"access_token": ACCESS_TOKEN, "token_type": "Bearer"}))
    code, out, err = invoke(
        "render", str(connector), str(SAMPLE_CHAT), "--token-response", str(answer), "--full"
    )
    assert code == 0, err
    assert "Authorization: Bearer [REDACTED]" in out
    assert "characters]" not in out
    body = out.rsplit("\n\n", 1)[1]
    assert base64.b64decode(json.loads(body)["pdf"]).startswith(b"%PDF-")
    assert_no_secret(out, err)


@pytest.mark.usefixtures("no_network")
def test_render_shows_a_non_ascii_header_value_as_sent(tmp_path: Path) -> None:
    # Header values go out in UTF-8; the dry run once showed them decoded as latin-1 (DuÅ¡an).
    connector = tmp_path / "visitor.yaml"
    connector.write_text(
        "connector: {id: 9, name: CRM}\nclient: {id: 1001}\nexport:\n"
        "  url: https://crm.example/r\n  headers: {X-Visitor: $chat.visitor.name}\n"
        "  body: $report.encoded.base64\n",
        encoding="utf-8",
    )
    chat = sample_chat_file(tmp_path, name="Dušan Kmeť")
    code, out, err = invoke("render", str(connector), str(chat))
    assert code == 0, err
    assert "X-Visitor: Dušan Kmeť\n" in out


@pytest.mark.usefixtures("secrets_in_env", "no_network")
def test_render_takes_a_form_encoded_token_response(tmp_path: Path) -> None:
    # GitHub's token endpoint answers form-encoded unless asked for JSON: the stand-in may be too.
    connector = write_connector(tmp_path, "https://crm.example")
    answer = tmp_path / "token.txt"
    answer.write_text(f"access_token={ACCESS_TOKEN}&token_type=bearer&scope=repo\n")
    code, out, err = invoke(
        "render", str(connector), str(SAMPLE_CHAT), "--token-response", str(answer)
    )
    assert code == 0, err
    assert "Authorization: Bearer [REDACTED]" in out
    assert_no_secret(out, err)


@pytest.mark.usefixtures("no_network")
def test_render_shows_the_path_behind_an_origin_only_the_export_knows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The origin comes from the token answer and from an unset variable: the dry run stands an
    # unresolvable .invalid origin in for each and shows the rest of the URL.
    monkeypatch.delenv("AUTH_HOST", raising=False)
    connector = tmp_path / "origin.yaml"
    connector.write_text(
        "connector: {id: 9, name: CRM}\nclient: {id: 1001}\n"
        "token: {url: 'https://$env.AUTH_HOST/token'}\n"
        "export:\n  url: $tokenResponse.body.JSON.instance_url/api/chats?id=$chat.channel.id\n"
        "  body: $report.encoded.base64\n"
    )
    code, out, err = invoke("render", str(connector), str(SAMPLE_CHAT))
    assert code == 0, err
    assert "POST https://env.auth_host.invalid/token\n" in out
    assert "POST https://tokenresponse.body.json.instance_url.invalid/api/chats?id=" in out
    assert "shown as <env.AUTH_HOST> (as env.auth_host.invalid where a URL needs a host)" in err


def test_render_notes_unset_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLIENT_SECRET", raising=False)
    monkeypatch.setenv("API_KEY", API_KEY)
    code, out, err = invoke(
        "render", str(write_connector(tmp_path, "https://crm.example")), str(SAMPLE_CHAT)
    )
    assert code == 0
    assert (
        "${env.CLIENT_SECRET} is not set" in err and "client_secret=%3Cenv.CLIENT_SECRET%3E" in out
    )


def test_render_bad_inputs_exit_1_without_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("connector: {id: 1}\n")
    code, _, err = invoke("render", str(broken), str(SAMPLE_CHAT))
    assert code == 1 and "missing key 'name'" in err
    bad_chat = tmp_path / "chat.json"
    bad_chat.write_text("{")
    code, _, err = invoke(
        "render", str(write_connector(tmp_path, "https://crm.example")), str(bad_chat)
    )
    assert code == 1 and "invalid JSON" in err and "Traceback" not in err


# -- export ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("secrets_in_env")
def test_export_json_lines_and_summary(tmp_path: Path, real_backend: Backend) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on(
        "/report",
        Reply(
            201,
            json={"id": "r1", "seen": f"Bearer {ACCESS_TOKEN}"},
            headers={"X-Request-Id": "abc"},
        ),
    )
    connector = write_connector(tmp_path, real_backend.base_url)
    code, out, err = invoke("export", str(connector), str(SAMPLE_CHAT), str(SAMPLE_CHAT), "--json")
    assert code == 0, err
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["ok"] and first["connector"] == {"id": 7, "name": "Test connector"}
    assert first["chat"]["id"] == 55039
    assert first["phases"]["token"]["status"] == 200 and first["phases"]["export"]["attempts"] == 1
    assert second["phases"]["token"]["cached"] is True
    assert first["idempotency_key"] == second["idempotency_key"]
    assert (
        first["response"]["status"] == 201 and first["response"]["headers"]["x-request-id"] == "abc"
    )
    assert json.loads(first["response"]["body"])["seen"] == "Bearer [REDACTED]"
    assert "2 sent, 0 failed" in err
    assert_no_secret(out, err)


@pytest.mark.usefixtures("secrets_in_env")
def test_export_failures_exit_1_with_reasons(tmp_path: Path, real_backend: Backend) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(400, json={"error": "bad", "echo": API_KEY}))
    bad_chat = tmp_path / "bad.json"
    bad_chat.write_text('{"messages": 1}')
    connector = write_connector(tmp_path, real_backend.base_url)
    code, out, err = invoke("export", str(connector), str(SAMPLE_CHAT), str(bad_chat))
    assert code == 1
    assert "FAILED: export request: the back end answered 400" in out
    assert "0 sent, 2 failed" in err and "messages: expected a list" in out  # once, on its line
    assert_no_secret(out, err)


@pytest.mark.usefixtures("secrets_in_env")
def test_export_json_reports_the_error_redacted(tmp_path: Path, real_backend: Backend) -> None:
    real_backend.on("/token", Reply(200, body=f"<html>{CLIENT_SECRET}</html>".encode()))
    code, out, err = invoke(
        "export", str(write_connector(tmp_path, real_backend.base_url)), str(SAMPLE_CHAT), "--json"
    )
    assert code == 1
    outcome = json.loads(out)
    assert outcome["error"]["code"] == "XD602" and outcome["response"]["status"] == 200
    assert_no_secret(out, err)


def test_export_names_an_unset_environment_variable_and_where_it_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.delenv("CLIENT_SECRET", raising=False)
    monkeypatch.setenv("API_KEY", API_KEY)
    connector = write_connector(tmp_path, "https://crm.example")
    code, out, err = invoke("export", str(connector), str(SAMPLE_CHAT), "--json")
    error = json.loads(out)["error"]
    assert code == 1 and error["code"] == "XD300"
    assert error["message"].endswith("the environment variable CLIENT_SECRET is not set")
    assert error["location"]["file"] == str(connector) and error["location"]["line"] > 0
    assert "check --env" in error["hint"]
    assert f"FAILED: {connector}:" in err or f": {connector}:" in err


def test_export_refuses_a_connector_without_url(tmp_path: Path) -> None:
    connector = write_connector(tmp_path, "https://crm.example", export_url="")
    code, out, err = invoke("export", str(connector), str(SAMPLE_CHAT))
    assert code == 1 and "has no export.url" in out + err


# -- demo ------------------------------------------------------------------------------------------


def test_demo_exports_the_sample_chat_and_saves_the_pdf(tmp_path: Path) -> None:
    code, out, err = invoke("demo", "--output", str(tmp_path))
    assert code == 0, out + err
    assert "token endpoint: client secret checked" in out
    assert "Authorization: Bearer [REDACTED]" in out and "client_secret=[REDACTED]" in out
    assert "seen before, kept one copy" in out
    (pdf,) = tmp_path.glob("*.pdf")
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert f"saved at {pdf}" in out


@pytest.mark.usefixtures("no_network")
def test_export_json_of_a_broken_connector_gives_a_line_for_each_chat(tmp_path: Path) -> None:
    # A program reading --json lines learns why nothing was exported, with check's diagnostics.
    connector = tmp_path / "broken.yaml"
    connector.write_text(
        "connector: {id: 1, name: x}\nclient: {id: 2}\n"
        "export: {url: 'https://crm.example/$chat.visitor.nmae', body: $report.encoded.base64}\n"
    )
    code, out, err = invoke("export", "--json", str(connector), str(SAMPLE_CHAT), str(SAMPLE_CHAT))
    assert code == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["ok"] for line in lines] == [False, False]
    (diagnostic,) = lines[0]["error"]["diagnostics"]
    assert (diagnostic["code"], diagnostic["line"], diagnostic["file"]) == (
        "XD202",
        3,
        str(connector),
    )
    assert "did you mean" in diagnostic["hint"] and "[XD202]" in err


def test_rules_xd300_keeps_quiet_references_for_chat_values_never_credentials() -> None:
    code, out, _ = invoke("rules", "XD300")
    assert code == 0
    text = " ".join(out.split())
    assert "never for a credential" in text and "$tokenResponse" in text and "$env" in text


@pytest.mark.usefixtures("no_network")
def test_render_words_a_run_time_error_as_export_does_with_its_code(tmp_path: Path) -> None:
    """One function words both: `render` used to drop the [XDnnn] code `export` prints."""
    connector = tmp_path / "keys.yaml"
    connector.write_text(
        "connector: {id: 2, name: T}\nclient: {id: 5}\nexport:\n"
        "  url: http://127.0.0.1:9/x\n  headers: {Content-Type: application/json}\n"
        '  body: |\n    {"$chat.visitor.name": "$report.encoded.base64", "admin": false}\n',
        encoding="utf-8",
    )
    chat = sample_chat_file(tmp_path, name="admin")
    rendered, _, render_err = invoke("render", str(connector), str(chat))
    exported, export_out, _ = invoke("export", str(connector), str(chat))
    assert rendered == exported == 1
    line = render_err.strip()
    assert (
        line.startswith(f"{connector}:7:7: export.body: the key made by")
        and "[XD300] (hint:" in line
    )
    assert export_out.strip() == f"{chat}: FAILED: {line}"


def test_rules_xd602_explains_the_destination_refusal() -> None:
    code, out, _ = invoke("rules", "XD602")
    text = " ".join(out.split())
    assert code == 0 and "allow_hosts" in text and "link-local" in text


def test_export_help_says_the_token_request_may_be_a_get() -> None:
    code, out, _ = invoke("export", "--help")
    text = " ".join(out.split())
    assert code == 0 and "token POST" not in text and "POST or GET" in text


@pytest.mark.usefixtures("secrets_in_env")
@pytest.mark.parametrize(
    ("padding", "as_json"),
    [
        (190, False),  # the XD600 excerpt (200 characters) ends inside the secret
        (190, True),  # the same in --json's error.message
        ((64 << 10) - 8, True),  # --json's response.body (64 KiB) ends inside it
    ],
)
def test_a_secret_cut_by_a_shortened_answer_shows_no_part(
    tmp_path: Path, real_backend: Backend, padding: int, as_json: bool
) -> None:
    """The answer is redacted whole, then cut: cut first, the secret's first part is no longer
    recognised and shows (issue 10: "api-K3Y-" was printed)."""
    body = ("x" * padding + " " + API_KEY).encode()
    real_backend.on("/report", Reply(401, body=body, headers={"Content-Type": "text/plain"}))
    connector = write_connector(tmp_path, real_backend.base_url, token=False)
    flags = ["--json"] if as_json else []
    code, out, err = invoke("export", str(connector), str(SAMPLE_CHAT), *flags)
    assert code == 1 and "answered 401" in out + err
    assert API_KEY[:8] not in out + err
    if as_json and padding > 200:
        response = json.loads(out)["response"]
        assert response["truncated"] and response["body"] == "x" * padding + " "
    assert_no_secret(out, err)


@pytest.mark.usefixtures("no_network")
def test_render_hides_an_env_value_trimmed_in_a_header_and_folded_in_a_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header's value goes out trimmed and the URL's host lowercased: both are a form of the
    `$env` value, and are hidden as it is (issue 10)."""
    monkeypatch.setenv("HOST", "TenantSecret42.Example")
    monkeypatch.setenv("TENANT", "\tENVSECRETTENANT")
    connector = tmp_path / "connector.yaml"
    connector.write_text(
        "connector: {id: 3, name: T}\nclient: {id: 5}\nexport:\n  url: https://$env.HOST/x\n"
        "  headers:\n    X-Tenant: $env.TENANT\n  body: $report.encoded.base64\n",
        encoding="utf-8",
    )
    code, out, err = invoke("render", str(connector), str(SAMPLE_CHAT))
    assert code == 0, err
    assert f"POST https://{REDACTED}/x" in out and f"X-Tenant: {REDACTED}" in out
    assert "ENVSECRETTENANT" not in out + err and "tenantsecret42" not in (out + err).lower()


def test_json_hides_a_secret_cut_when_the_answer_was_read(
    tmp_path: Path, real_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer is read up to 1 MiB, before it is redacted: when it ends in the first part of a
    secret and its redacted body fits in --json, that part must not show (a long key echoed over
    and over redacts to little)."""
    key = "K" + "".join(f"{number:03d}" for number in range(134))  # 403 characters
    monkeypatch.setenv("CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("API_KEY", key)
    echo = (key + " ").encode() * (
        (1 << 20) // (len(key) + 1) + 2
    )  # read up to 1 MiB: cut in a key
    real_backend.on("/report", Reply(500, body=echo, headers={"Content-Type": "text/plain"}))
    connector = write_connector(tmp_path, real_backend.base_url, token=False)
    code, out, err = invoke("export", str(connector), str(SAMPLE_CHAT), "--json")
    assert code == 1, err
    response = json.loads(out)["response"]
    assert response["truncated"] and response["body"].startswith(f"{REDACTED} {REDACTED} ")
    assert len(response["body"]) < SHOWN_BODY_BYTES  # not cut by --json: the read cut shows
    assert key[:20] not in out + err
