"""Basic credentials on a request (``auth``) and token requests sent with GET (issue 10, item 9)."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from backend import CLIENT_SECRET, ENV, TOKEN, Backend, Reply, loader_diagnostics, sample_chat

from exportdsl.cli.export import format_request
from exportdsl.compiler.analysis import compile_connector
from exportdsl.compiler.plan import Plan
from exportdsl.connector.reader import parse_connector
from exportdsl.errors import RenderError
from exportdsl.export.dryrun import dry_run
from exportdsl.export.exporter import Exporter
from exportdsl.export.timing import Timing
from exportdsl.lint.runner import lint_file
from exportdsl.lint.settings import Settings

CLIENT_ID = "acme client~1"  # a space and a '~': the two OAuth's form encoding treats apart


def connector(token: str, export_extra: str = "", base: str = "http://backend.test") -> str:
    return f"""connector: {{id: 7, name: Test connector}}
client: {{id: 1001}}
pdata: {{client_id: {CLIENT_ID}}}
token:
  url: {base}/token?grant_type=client_credentials
{token}
export:
  url: {base}/report
  headers:
    Authorization: Bearer $tokenResponse.body.JSON.access_token
    Content-Type: application/json
  body: '{{"at": "$dateTime"}}'
{export_extra}
"""


OAUTH_GET = """  method: GET
  auth:
    client_secret_basic: {client_id: $pdata.client_id, client_secret: $env.CLIENT_SECRET}
"""


def plan_of(text: str) -> Plan:
    return compile_connector(parse_connector(text, "auth.yaml"))


def basic_credentials(authorization: str) -> tuple[str, str]:
    scheme, _, encoded = authorization.partition(" ")
    assert scheme == "Basic"
    username, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    return username, password


def test_client_secret_basic_on_a_get_token_request(backend: Backend) -> None:
    backend.on("/token", TOKEN)  # the mock's path
    backend.on("/token?grant_type=client_credentials", TOKEN)  # the real server's
    backend.on("/report", Reply(201))
    plan = plan_of(connector(OAUTH_GET, base=backend.base_url))
    exporter = Exporter(plan, backend.client, env=ENV, timing=Timing(sleep=lambda _: None))
    result = exporter.run(sample_chat())
    assert result.ok, result.error
    (token,) = [item for item in backend.received if item.path.startswith("/token")]
    assert token.method == "GET"
    assert token.body == b""
    assert "content-length" not in token.headers or token.headers["content-length"] == "0"
    # RFC 6749 2.3.1: each part form-urlencoded, then joined and base64-encoded (RFC 7617)
    username, password = basic_credentials(token.headers["authorization"])
    assert username == "acme+client%7E1"
    assert (unquote_plus(username), unquote_plus(password)) == (CLIENT_ID, CLIENT_SECRET)
    # the secret never shows in the result's errors or the request as the CLI prints it
    text = format_request("token", result.phases[0].sent[0], exporter.redact)
    assert "Authorization: Basic [REDACTED]" in text


def test_basic_auth_follows_rfc_7617_on_the_report_request(backend: Backend) -> None:
    backend.on("/report", Reply(201))
    text = f"""connector: {{id: 7, name: Test connector}}
client: {{id: 1001}}
export:
  url: {backend.base_url}/report
  headers: {{Content-Type: application/json}}
  body: '{{"at": "$dateTime"}}'
  auth: {{basic: {{username: jan.novák, password: $env.CLIENT_SECRET}}}}
"""
    exporter = Exporter(plan_of(text), backend.client, env=ENV)
    assert exporter.run(sample_chat()).ok
    (report,) = backend.requests_to("/report")
    assert basic_credentials(report.headers["authorization"]) == ("jan.novák", CLIENT_SECRET)


def test_the_dry_run_shows_the_basic_header_redacted() -> None:
    run = dry_run(plan_of(connector(OAUTH_GET)), sample_chat(), env=ENV)
    (phase, request), _ = run.requests
    shown = format_request(phase, request, run.redact)
    assert shown.startswith("### token request\nGET http://backend.test/token?grant_type=")
    assert "Authorization: Basic [REDACTED]" in shown
    assert request.headers["authorization"].split()[1] not in shown


def test_a_basic_user_name_with_a_colon_is_a_render_error() -> None:
    text = connector("  auth: {basic: {username: 'a:b', password: $env.CLIENT_SECRET}}")
    with pytest.raises(RenderError, match=r"token.auth.basic.username: .* cannot hold ':'"):
        dry_run(plan_of(text), sample_chat(), env=ENV)


def test_a_credential_with_a_line_break_is_a_render_error() -> None:
    text = connector("  auth: {basic: {username: $env.USER, password: $env.CLIENT_SECRET}}")
    with pytest.raises(RenderError, match=r"token.auth.basic.username"):
        dry_run(plan_of(text), sample_chat(), env=ENV | {"USER": "jan\nX-Admin: 1"})


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (  # a GET has no body: where would the values go?
            "  method: GET\n  body: grant_type=client_credentials",
            (7, 9, "token.body: a GET request has no body"),
        ),
        (
            "  auth: {basic: {usename: x, password: $env.CLIENT_SECRET}}",
            (6, 18, "unknown key 'usename' in 'token.auth.basic'"),
        ),
        (
            "  auth: {client_secret: {client_id: x, client_secret: $env.CLIENT_SECRET}}",
            (6, 10, "unknown key 'client_secret' in 'token.auth'"),
        ),
        (
            "  auth: {basic: {username: x}}",
            (6, 17, "missing key 'password' in 'token.auth.basic': the password (template)"),
        ),
        (
            "  auth: {basic: {username: x, password: [y]}}",
            (6, 41, "token.auth.basic.password must be a template (text), not a list"),
        ),
        (
            "  headers: {Authorization: Basic abc}\n"
            "  auth: {basic: {username: x, password: $env.CLIENT_SECRET}}",
            (7, 9, "token sets both auth and an Authorization header; a request carries one"),
        ),
    ],
)
def test_the_new_keys_are_checked_with_positions(
    token: str, expected: tuple[int, int, str]
) -> None:
    assert expected in [found[:3] for found in loader_diagnostics(connector(token))]


def test_auth_keys_get_did_you_mean() -> None:
    found = loader_diagnostics(
        connector("  auth: {basic: {usename: x, password: $env.CLIENT_SECRET}}")
    )
    assert ("did you mean 'username'?") in [hint for *_, hint in found]
    found = loader_diagnostics(connector("  auht: {basic: {username: x, password: y}}"))
    assert "did you mean 'auth'?" in [hint for *_, hint in found]


def test_the_report_request_is_never_a_get() -> None:
    found = loader_diagnostics(connector("", export_extra="  method: GET"))
    assert any("not supported for the export request" in message for _, _, message, _ in found)


def test_a_password_written_into_auth_is_a_hardcoded_credential(tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text(
        connector("  auth: {client_secret_basic: {client_id: acme, client_secret: s3cret-V4lue}}"),
        encoding="utf-8",
    )
    report = lint_file(path, Settings())
    found = [(d.code, d.location.column if d.location else 0) for d in report.diagnostics]
    assert ("XD503", 64) in found  # at the secret itself
    path.write_text(connector(OAUTH_GET), encoding="utf-8")  # from the environment: fine
    assert not [d for d in lint_file(path, Settings()).diagnostics if d.code == "XD503"]
