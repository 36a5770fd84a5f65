"""The export: phases, retries, tokens, signing, escaping on the wire.

Tested against a mock and a real server.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from backend import (
    ACCESS_TOKEN,
    API_KEY,
    CLIENT_SECRET,
    ENV,
    TOKEN,
    Backend,
    Reply,
    connector_text,
    make_plan,
    sample_chat,
)

from exportdsl.compiler.analysis import compile_connector
from exportdsl.compiler.plan import Plan
from exportdsl.connector.model import RetryPolicy, Timeouts
from exportdsl.connector.reader import parse_connector
from exportdsl.errors import ExportDslError
from exportdsl.export.build import idempotency_key
from exportdsl.export.client import make_client
from exportdsl.export.dryrun import dry_run
from exportdsl.export.exporter import Exporter
from exportdsl.export.results import ExportResult
from exportdsl.export.timing import Timing
from exportdsl.export.webhooks import headers as sign
from exportdsl.export.webhooks import key_bytes, verify
from exportdsl.vocabulary import Phase

NOW = datetime(2024, 3, 1, 12, 30, 45, tzinfo=UTC)  # 13:30:45 in Europe/Prague


def exporter(
    backend: Backend,
    plan: Plan | None = None,
    sleeps: list[float] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    **options: Any,
) -> Exporter:
    sleep: Callable[[float], None] = sleeps.append if sleeps is not None else (lambda _: None)
    timing = Timing(now=lambda: NOW, sleep=sleep, jitter=lambda: 0.5, monotonic=monotonic)
    return Exporter(
        plan or make_plan(backend.base_url), backend.client, env=ENV, timing=timing, **options
    )


def failed(result: ExportResult) -> ExportDslError:
    assert result.error is not None, "the export should have failed"
    return result.error


# -- the two phases --------------------------------------------------------------------------------


def test_token_then_report(backend: Backend) -> None:
    backend.on("/token", TOKEN)
    backend.on("/report", Reply(201, json={"id": "r1"}))
    result = exporter(backend).run(sample_chat())
    assert result.ok, result.error
    token, report = backend.received
    assert (token.method, token.path, report.method, report.path) == (
        "POST",
        "/token",
        "POST",
        "/report",
    )
    assert token.body.decode() == (
        "grant_type=client_credentials&client_id=acme&client_secret="
        "cl1ent-S3CRET%2F%2B%26%3D%22%C3%BC"
    )
    assert report.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    body = report.json
    pdf = base64.b64decode(body["pdf"])
    assert pdf.startswith(b"%PDF-") and body["size"] == len(pdf)
    assert body["at"] == "2024-03-01 13:30:45"  # frozen once, in the connector's zone
    xml = base64.b64decode(body["xml"]).decode()
    assert xml.startswith('<chat at="2024-03-01 13:30:45"><visitor>Dusan Kmet</visitor>')
    assert [(phase.name, phase.status, phase.attempts) for phase in result.phases] == [
        ("token", 200, 1),
        ("export", 201, 1),
    ]


def test_no_token_phase(backend: Backend) -> None:
    backend.on("/report", Reply(200, json={}))
    result = exporter(backend, make_plan(backend.base_url, token=False)).run(sample_chat())
    assert result.ok, result.error
    (report,) = backend.received
    assert report.headers["authorization"] == f"Bearer {CLIENT_SECRET}"
    assert [phase.name for phase in result.phases] == ["export"]


def test_method_comes_from_the_connector(backend: Backend) -> None:
    backend.on("/report", Reply(204))
    text_plan = make_plan(backend.base_url, token=False)
    assert text_plan.export is not None
    plan = dataclasses.replace(
        text_plan, export=dataclasses.replace(text_plan.export, method="PUT")
    )
    assert exporter(backend, plan).run(sample_chat()).ok
    assert backend.received[0].method == "PUT"


def test_export_without_url_is_refused() -> None:
    plan = make_plan("http://backend.test", export_url="")
    error = failed(Exporter(plan, httpx_client_that_fails(), env=ENV).run(sample_chat()))
    assert error.code == "XD601"
    assert "has no export.url" in error.message


def httpx_client_that_fails() -> Any:
    import httpx

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    return httpx.Client(transport=httpx.MockTransport(refuse))


# -- retries ---------------------------------------------------------------------------------------


def test_500_then_200_is_delivered_once_with_the_same_key(backend: Backend) -> None:
    backend.on("/token", TOKEN)
    backend.on("/report", Reply(500, body=b"oops"), Reply(201, json={"id": "r1"}))
    sleeps: list[float] = []
    result = exporter(backend, sleeps=sleeps).run(sample_chat())
    assert result.ok, result.error
    reports = backend.requests_to("/report")
    assert len(reports) == 2
    keys = {item.headers["idempotency-key"] for item in reports}
    assert keys == {result.idempotency_key}
    assert reports[0].body == reports[1].body
    assert sleeps == [0.25]  # full jitter: 0.5 (the injected random) * backoff 0.5
    assert result.phase(Phase.EXPORT).attempts == 2  # type: ignore[union-attr]


def test_429_honours_retry_after_seconds_clamped(backend: Backend) -> None:
    backend.on("/token", TOKEN)
    backend.on(
        "/report",
        Reply(429, headers={"Retry-After": "3"}),
        Reply(429, headers={"Retry-After": "120"}),
        Reply(200, json={}),
    )
    sleeps: list[float] = []
    assert exporter(backend, sleeps=sleeps).run(sample_chat()).ok
    assert sleeps == [3.0, 4.0]  # 120 s is clamped to retry.max_delay


def test_retry_after_as_http_date() -> None:
    from exportdsl.export.sending import retry_after

    assert retry_after("Fri, 01 Mar 2024 12:30:55 GMT", NOW) == 10.0
    assert retry_after("Fri, 01 Mar 2024 12:00:00 GMT", NOW) == 0.0  # in the past: at once
    assert retry_after("soon", NOW) is None


def test_retries_are_bounded_and_the_error_says_why(backend: Backend) -> None:
    backend.on("/token", TOKEN)
    backend.on("/report", Reply(503, body=b"maintenance"))
    sleeps: list[float] = []
    error = failed(exporter(backend, sleeps=sleeps).run(sample_chat()))
    assert len(backend.requests_to("/report")) == 3
    assert sleeps == [0.25, 0.5]  # exponential: backoff * 2**n, times the jitter
    assert (
        "503" in error.message
        and "after 3 attempts" in error.message
        and "maintenance" in error.message
    )


def test_timeout_is_retried_then_reported(backend: Backend) -> None:
    plan = dataclasses.replace(
        make_plan(backend.base_url, token=False),
        timeout=Timeouts(connect=1, total=0.2),
        retry=RetryPolicy(attempts=2, backoff=0.1, max_delay=1),
    )
    backend.on("/report", Reply(200, json={}, delay=0.6))
    error = failed(exporter(backend, plan).run(sample_chat()))
    assert "timed out (2 attempts)" in error.message
    assert len(backend.requests_to("/report")) == 2


def test_connection_reset_is_retried(backend: Backend) -> None:
    backend.on("/token", TOKEN)
    backend.on("/report", Reply(reset=True), Reply(201, json={}))
    result = exporter(backend).run(sample_chat())
    assert result.ok, result.error
    assert result.phase(Phase.EXPORT).attempts == 2  # type: ignore[union-attr]


def test_410_is_not_retried(backend: Backend) -> None:
    backend.on("/token", TOKEN)
    backend.on("/report", Reply(410, json={"error": "gone"}))
    error = failed(exporter(backend).run(sample_chat()))
    assert len(backend.requests_to("/report")) == 1
    assert "410" in error.message and error.hint and "not retried" in error.hint


def test_redirect_is_never_followed(backend: Backend) -> None:
    metadata = "http://169.254.169.254/latest/meta-data/"
    backend.on("/token", TOKEN)
    backend.on("/report", Reply(307, headers={"Location": metadata}))
    error = failed(exporter(backend).run(sample_chat()))
    assert [item.path for item in backend.received] == ["/token", "/report"]  # and nothing more
    assert "307" in error.message and metadata in error.message
    assert error.hint and "never followed" in error.hint


# -- tokens ----------------------------------------------------------------------------------------


def test_401_fetches_a_fresh_token_once(backend: Backend) -> None:
    backend.on("/token", TOKEN, Reply(json={"access_token": "fresh-token-2", "expires_in": 3600}))
    backend.on("/report", Reply(401), Reply(201, json={}))
    result = exporter(backend).run(sample_chat())
    assert result.ok, result.error
    reports = backend.requests_to("/report")
    assert [item.headers["authorization"] for item in reports] == [
        f"Bearer {ACCESS_TOKEN}",
        "Bearer fresh-token-2",
    ]
    assert len(backend.requests_to("/token")) == 2


def test_401_twice_fails(backend: Backend) -> None:
    backend.on("/token", TOKEN)
    backend.on("/report", Reply(401))
    error = failed(exporter(backend).run(sample_chat()))
    assert len(backend.requests_to("/token")) == 2 and len(backend.requests_to("/report")) == 2
    assert "401" in error.message


def test_token_is_cached_until_expires_in(backend: Backend) -> None:
    clock = [0.0]
    backend.on("/token", Reply(json={"access_token": ACCESS_TOKEN, "expires_in": 100}))
    backend.on("/report", Reply(201, json={}))
    run = exporter(backend, monotonic=lambda: clock[0])
    assert run.run(sample_chat()).ok
    clock[0] = 85.0  # within expires_in less the margin (10 %, at most 30 s)
    second = run.run(sample_chat())
    assert second.phase(Phase.TOKEN).cached  # type: ignore[union-attr]
    clock[0] = 95.0
    assert not run.run(sample_chat()).phase(Phase.TOKEN).cached  # type: ignore[union-attr]
    assert len(backend.requests_to("/token")) == 2


@pytest.mark.parametrize(
    "reply",
    [
        Reply(
            200,
            body=b"<html>login page " + CLIENT_SECRET.encode() + b"</html>",
            headers={"Content-Type": "text/html"},
        ),
        Reply(400, json={"error": "invalid_client", "echo": CLIENT_SECRET}),
    ],
)
def test_unusable_token_answer_shows_status_and_never_the_body(
    backend: Backend, reply: Reply
) -> None:
    backend.on("/token", reply)
    error = failed(exporter(backend).run(sample_chat()))
    assert error.code == "XD602"
    assert str(reply.status) in error.message and f"{len(reply.content())} bytes" in error.message
    assert CLIENT_SECRET not in str(error) and "login page" not in str(error)
    assert backend.requests_to("/report") == []


# -- idempotency, signing, escaping ----------------------------------------------------------------


def test_idempotency_key_is_stable_across_runs_and_differs_by_chat() -> None:
    plan = make_plan("http://backend.test")
    assert idempotency_key(plan, sample_chat()) == idempotency_key(
        make_plan("http://other.test"), sample_chat()
    )
    other = sample_chat()
    other.raw["channel"]["id"] = 1
    from exportdsl.chat.reader import parse_chat

    assert idempotency_key(plan, parse_chat(other.raw)) != idempotency_key(plan, sample_chat())
    another_connector = dataclasses.replace(plan, connector_id=8)
    assert idempotency_key(another_connector, sample_chat()) != idempotency_key(plan, sample_chat())


def test_standard_webhooks_vector() -> None:
    key = key_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", strict=True)
    headers = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-id"] == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    assert headers["webhook-timestamp"] == "1614265330"


def test_report_is_signed_on_every_attempt(backend: Backend) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    plan = make_plan(backend.base_url, extra="signing: {secret: $env.HOOK_SECRET}")
    backend.on("/token", TOKEN)
    backend.on("/report", Reply(502), Reply(200, json={}))
    run = Exporter(
        plan,
        backend.client,
        env=ENV | {"HOOK_SECRET": secret},
        timing=Timing(now=lambda: NOW, sleep=lambda _: None),
    )
    assert run.run(sample_chat()).ok
    for item in backend.requests_to("/report"):
        key = key_bytes(secret, strict=True)
        expected = sign(key, item.headers["idempotency-key"], int(NOW.timestamp()), item.body)
        assert {name: item.headers[name] for name in expected} == expected
        # and the intake server's independent verifier accepts it
        assert verify(
            secret,
            item.headers["webhook-id"],
            item.headers["webhook-timestamp"],
            item.headers["webhook-signature"],
            item.body,
            NOW.timestamp(),
        )


def test_signing_secret_missing_is_an_error(backend: Backend) -> None:
    plan = make_plan(backend.base_url, extra="signing: {secret: $env.HOOK_SECRET}")
    backend.on("/token", TOKEN)
    error = failed(exporter(backend, plan).run(sample_chat()))
    assert error.code == "XD603" and "HOOK_SECRET" in error.message
    assert backend.requests_to("/report") == []


def test_hostile_visitor_name_lands_as_data(backend: Backend) -> None:
    name = 'Eve", "role": "admin <x>&'
    backend.on("/token", TOKEN)
    backend.on("/report", Reply(201, json={}))
    assert exporter(backend).run(sample_chat(name=name)).ok
    body = backend.requests_to("/report")[0].json
    assert body["visitor"] == name and "role" not in body
    document = ElementTree.fromstring(base64.b64decode(body["xml"]))
    assert document.findtext("visitor") == name
    raw = backend.requests_to("/report")[0].body.decode()
    assert raw.endswith(
        '"visitor": "Eve\\", \\"role\\": \\"admin <x>&"}\n'
    )  # exactly the JSON escapes
    assert (
        b"<visitor>Eve&quot;, &quot;role&quot;: &quot;admin &lt;x&gt;&amp;</visitor>"
        in base64.b64decode(body["xml"])
    )


# -- secrets ---------------------------------------------------------------------------------------


def test_secrets_never_reach_logs_or_errors(
    real_backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    real_backend.on("/token", TOKEN)
    plan = make_plan(
        real_backend.base_url, export_url=f"{real_backend.base_url}/report?k=$env.API_KEY"
    )
    real_backend.on(
        "/report?k=" + API_KEY, Reply(500, json={"echo": f"Bearer {ACCESS_TOKEN}", "key": API_KEY})
    )
    with caplog.at_level(logging.DEBUG):
        result = exporter(real_backend, plan).run(sample_chat())
    text = caplog.text + str(failed(result))
    assert "HTTP Request: POST" in caplog.text  # httpx did log each request
    for secret in (CLIENT_SECRET, ACCESS_TOKEN, API_KEY):
        assert secret not in text


def test_dry_run_sends_nothing_and_uses_placeholders() -> None:
    run = dry_run(
        make_plan("http://backend.test"), sample_chat(), env={"API_KEY": API_KEY}, now=lambda: NOW
    )
    (token_phase, token), (report_phase, report) = run.requests
    assert (token_phase, report_phase) == ("token", "export")
    assert b"client_secret=%3Cenv.CLIENT_SECRET%3E" in token.content
    assert report.headers["authorization"] == "Bearer <tokenResponse.body.JSON.access_token>"
    assert report.headers["idempotency-key"] == idempotency_key(
        make_plan("http://backend.test"), sample_chat()
    )
    assert run.missing_env == ("CLIENT_SECRET",)


def test_dry_run_with_a_token_answer() -> None:
    answer = json.dumps({"access_token": ACCESS_TOKEN}).encode()
    run = dry_run(
        make_plan("http://backend.test"),
        sample_chat(),
        env=ENV,
        now=lambda: NOW,
        token_answer=answer,
    )
    report = run.requests[-1][1]
    assert report.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert run.redact(report.headers["authorization"]) == "Bearer [REDACTED]"


PER_SEND = frozenset({"webhook-timestamp", "webhook-signature"})  # stamped when each attempt goes


def test_render_shows_what_export_sends(real_backend: Backend) -> None:
    """The dry run and a real export, same connector and chat: the same requests, headers included
    (the dry run once showed httpx's User-Agent while the export sent exportdsl's)."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    env = ENV | {"HOOK_SECRET": secret}
    plan = make_plan(real_backend.base_url, extra="signing: {secret: $env.HOOK_SECRET}")
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}))
    with make_client() as client:  # the client `exportdsl export` sends with
        result = Exporter(plan, client, env=env, timing=Timing(now=lambda: NOW)).run(sample_chat())
    assert result.ok, result.error
    token_answer = json.dumps(TOKEN.json).encode()
    shown = dry_run(plan, sample_chat(), env=env, now=lambda: NOW, token_answer=token_answer)
    assert [phase for phase, _ in shown.requests] == [Phase.TOKEN, Phase.EXPORT]
    for (_, request), received in zip(shown.requests, real_backend.received, strict=True):
        assert (request.method, request.url.path) == (received.method, received.path)
        headers = {name.lower(): value for name, value in request.headers.items()}
        assert headers["user-agent"].startswith("exportdsl/")
        assert {k: v for k, v in headers.items() if k not in PER_SEND} == {
            k: v for k, v in received.headers.items() if k not in PER_SEND
        }
        assert request.content == received.body


def test_render_shows_the_headers_in_the_order_they_are_sent() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"access_token": ACCESS_TOKEN})

    plan = make_plan("http://backend.test")
    with make_client(transport=httpx.MockTransport(answer)) as client:
        assert Exporter(plan, client, env=ENV, timing=Timing(now=lambda: NOW)).run(sample_chat()).ok
    token_answer = json.dumps({"access_token": ACCESS_TOKEN}).encode()
    shown = dry_run(plan, sample_chat(), env=ENV, now=lambda: NOW, token_answer=token_answer)
    assert [request.headers.raw for _, request in shown.requests] == [r.headers.raw for r in sent]


def test_render_without_the_signing_secret_shows_placeholders_where_the_signature_goes() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"access_token": ACCESS_TOKEN})

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    plan = make_plan("http://backend.test", extra="signing: {secret: $env.HOOK_SECRET}")
    with make_client(transport=httpx.MockTransport(answer)) as client:
        exporter = Exporter(plan, client, env=ENV | {"HOOK_SECRET": secret})
        assert exporter.run(sample_chat()).ok
    shown = dry_run(plan, sample_chat(), env=ENV).requests[-1][1]
    assert shown.headers["webhook-signature"] == "<v1,signature with $env.HOOK_SECRET>"
    assert [name for name, _ in shown.headers.raw] == [name for name, _ in sent[-1].headers.raw]


def test_retry_after_takes_ascii_digits_only() -> None:
    from exportdsl.export.sending import retry_after

    assert retry_after("\u00b2", NOW) is None and retry_after("120", NOW) == 120.0


def test_an_answer_whose_body_cannot_be_decoded_is_still_an_answer(real_backend: Backend) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, body=b"not gzip", headers={"Content-Encoding": "gzip"}))
    assert exporter(real_backend).run(sample_chat()).ok


def test_a_token_another_exporter_cached_is_still_redacted(backend: Backend) -> None:
    from exportdsl.export.tokens import TokenCache

    backend.on("/token", TOKEN)
    backend.on("/report", Reply(400, body=f"bad token {ACCESS_TOKEN}".encode()))
    shared = TokenCache()
    first = exporter(backend, tokens=shared).run(sample_chat())
    second = exporter(backend, tokens=shared).run(sample_chat())  # takes the token from the cache
    assert second.phase(Phase.TOKEN).cached  # type: ignore[union-attr]
    for result in (first, second):
        assert ACCESS_TOKEN not in str(result.error)


def test_set_cookie_of_the_report_answer_is_redacted(backend: Backend) -> None:
    backend.on("/token", TOKEN)
    cookie = {"Set-Cookie": "sid=s3ss10n-c00kie-value"}
    backend.on("/report", Reply(500, body=b"session s3ss10n-c00kie-value", headers=cookie))
    result = exporter(backend).run(sample_chat())
    assert "s3ss10n-c00kie-value" not in str(result.error)


def test_only_whsec_secrets_are_read_as_base64() -> None:
    from exportdsl.export.webhooks import key_bytes

    hex_secret = "0123456789abcdef0123456789abcdef0123456789abcdef"  # also valid base64
    assert key_bytes(hex_secret) == hex_secret.encode()
    with pytest.raises(ValueError):
        key_bytes(hex_secret, strict=True)


@pytest.mark.parametrize("name", [" \tacme\t ", "acme  ", "\tacme"])
def test_a_header_value_with_white_space_at_either_end_is_sent_trimmed(
    real_backend: Backend, name: str
) -> None:
    """docs/export.md: trimmed, not an error (the check that named it could never be reached)."""
    text = connector_text(real_backend.base_url, token=False).replace(
        "    X-Api-Key: $env.API_KEY\n",
        "    X-Api-Key: $env.API_KEY\n    X-Tenant: $chat.visitor.name\n",
    )
    plan = compile_connector(parse_connector(text, "test.yaml"))
    real_backend.on("/report", Reply(201))
    result = exporter(real_backend, plan).run(sample_chat(name=name))
    assert result.ok, result.error
    assert real_backend.requests_to("/report")[0].headers["x-tenant"] == "acme"


@pytest.mark.parametrize(
    ("export_lines", "env", "line", "column", "starts"),
    [
        (
            "  url: {base}/report\n  auth: {{basic: {{username: $env.U, password: $env.P}}}}\n",
            {"U": "a:b", "P": "secret-pass"},
            5,
            28,
            "export.auth.basic.username: a Basic user name cannot hold ':'",
        ),
        (
            "  url: http://$env.HOST/report\n",
            {"HOST": "a..b"},
            4,
            15,
            "export.url: the request's host name is not valid",
        ),
    ],
)
def test_a_run_time_render_error_has_the_place_of_its_field(
    backend: Backend, export_lines: str, env: dict[str, str], line: int, column: int, starts: str
) -> None:
    """Review item 7: checks made on the values at run time place their error as the plan's own
    render errors do, in `export` and in the dry run alike."""
    text = (
        "connector: {id: 2, name: T}\nclient: {id: 5}\nexport:\n"
        + export_lines.format(base=backend.base_url)
        + "  body: $report.encoded.base64\n"
    )
    plan = compile_connector(parse_connector(text, "placed.yaml"))
    run = Exporter(plan, backend.client, env=env, timing=Timing(now=lambda: NOW)).run(sample_chat())
    with pytest.raises(ExportDslError) as dry:
        dry_run(plan, sample_chat(), env=env)
    for error in (run.error, dry.value):
        assert error is not None and error.code == "XD300" and error.message.startswith(starts)
        assert error.location is not None
        assert (error.location.file, error.location.line, error.location.column) == (
            "placed.yaml",
            line,
            column,
        )
    assert backend.received == []
