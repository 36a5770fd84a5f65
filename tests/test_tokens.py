"""The token phase: every format of a token answer, all of it secret; clamped lifetimes; clean
errors for numbers no request can carry; one token request per connector however many threads
need it; a misspelt token field named with the answer's field names.

Against the scripted back end of `backend` (a mock and a real server on 127.0.0.1).
"""

from __future__ import annotations

import codecs
import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from backend import (
    ACCESS_TOKEN,
    CLIENT_SECRET,
    ENV,
    SAMPLE_CHAT,
    TOKEN,
    Backend,
    Reply,
    connector_text,
    make_plan,
    sample_chat,
    secret_forms,
)
from click.testing import CliRunner

from exportdsl.cli.export import result_json
from exportdsl.cli.main import main
from exportdsl.compiler.analysis import compile_connector
from exportdsl.compiler.plan import Plan
from exportdsl.connector.reader import parse_connector
from exportdsl.delivery.deliver import outcome
from exportdsl.errors import ExportDslError
from exportdsl.export.exporter import Exporter
from exportdsl.export.results import ExportResult
from exportdsl.export.timing import Timing
from exportdsl.export.tokens import (
    DEFAULT_TOKEN_LIFETIME,
    MAX_TOKEN_LIFETIME,
    TokenCache,
    expires_in_seconds,
)
from exportdsl.vocabulary import Phase

GITHUB_TOKEN = "gho_16C7e42F292c6912E7710c838347Ae178B4a"  # GitHub's documented example
FORM_ANSWER = f"access_token={GITHUB_TOKEN}&scope=repo%2Cgist&token_type=bearer".encode()
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def exporter(
    backend: Backend,
    plan: Plan | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    **options: Any,
) -> Exporter:
    timing = Timing(sleep=lambda _: None, jitter=lambda: 0.0, monotonic=monotonic)
    return Exporter(
        plan or make_plan(backend.base_url), backend.client, env=ENV, timing=timing, **options
    )


def every_output(result: ExportResult) -> str:
    """What a user or an operator sees of a result: the CLI line and --json object, the outbox's
    last_error (and so `queue show` and the serve log, which print it)."""
    return "\n".join(
        [
            str(result.error),
            json.dumps(result_json(result, Path("chat.json"), result.redact)),
            outcome(result).error,
        ]
    )


def assert_hidden(secret: str, text: str) -> None:
    for form in secret_forms(secret):
        assert form not in text, f"{form!r} leaked"


# -- every format of a token answer is secret (item 6) ---------------------------------------------


def test_a_form_encoded_answer_is_a_token(backend: Backend) -> None:
    """GitHub's default answer: its fields are read into .body.JSON, as a JSON answer's are."""
    backend.on("/token", Reply(200, body=FORM_ANSWER, headers=FORM))
    backend.on("/report", Reply(201, json={}))
    result = exporter(backend).run(sample_chat())
    assert result.ok, result.error
    assert backend.requests_to("/report")[0].headers["authorization"] == f"Bearer {GITHUB_TOKEN}"


def test_a_form_encoded_token_is_hidden_in_every_output(backend: Backend) -> None:
    backend.on("/token", Reply(200, body=FORM_ANSWER, headers=FORM))
    backend.on("/report", Reply(500, body=f"Bearer {GITHUB_TOKEN} is not welcome".encode()))
    result = exporter(backend).run(sample_chat())
    assert not result.ok
    assert_hidden(GITHUB_TOKEN, every_output(result))


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, body=GITHUB_TOKEN.encode() + b"\n", headers={"Content-Type": "text/plain"}),
        Reply(400, body=FORM_ANSWER, headers=FORM),
        Reply(401, json={"error": "invalid_grant", "error_description": f"{GITHUB_TOKEN} expired"}),
        Reply(200, body=b"<p>your token: " + GITHUB_TOKEN.encode(), headers={"X-Frame": "deny"}),
        Reply(302, headers={"Location": f"https://sso.example/cb?code={GITHUB_TOKEN}"}),
    ],
    ids=["plain-text", "form-400", "json-401", "html-200", "redirect"],
)
def test_an_unusable_answer_is_described_never_echoed(backend: Backend, reply: Reply) -> None:
    backend.on("/token", reply)
    result = exporter(backend).run(sample_chat())
    error = result.error
    assert error is not None and error.code == "XD602"
    length = len(reply.content())
    assert f"answered {reply.status}" in error.message and f"{length:,} bytes" in error.message
    assert_hidden(GITHUB_TOKEN, every_output(result))
    assert "your token" not in every_output(result) and backend.requests_to("/report") == []


def test_an_error_answer_names_its_fields_and_oauth_code_only(backend: Backend) -> None:
    description = "client secret r0tated-0n-m0nday is wrong"
    backend.on("/token", Reply(401, json={"error": "invalid_client", "hint": description}))
    error = exporter(backend).run(sample_chat()).error
    assert error is not None
    assert "its fields: error, hint; OAuth error invalid_client" in error.message
    assert "r0tated" not in str(error)


def test_json_with_a_byte_order_mark_is_read(backend: Backend) -> None:
    answer = codecs.BOM_UTF8 + json.dumps({"access_token": ACCESS_TOKEN}).encode()
    backend.on("/token", Reply(200, body=answer, headers={"Content-Type": "application/json"}))
    backend.on("/report", Reply(201, json={}))
    result = exporter(backend).run(sample_chat())
    assert result.ok, result.error
    assert backend.requests_to("/report")[0].headers["authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_every_value_of_a_json_answer_is_secret_whatever_its_name(backend: Backend) -> None:
    """Not only access_token and its kin: a server's own name for its credential is hidden too;
    token_type, expires_in and scope are not (they hold no secret)."""
    answer = {"ticket": "t1cket-f0r-the-api", "token_type": "Bearer", "expires_in": 3600}
    backend.on("/token", Reply(json={**answer, "access_token": ACCESS_TOKEN}))
    backend.on("/report", Reply(500, json={"echo": "t1cket-f0r-the-api", "type": "Bearer"}))
    result = exporter(backend).run(sample_chat())
    shown = every_output(result)
    assert "t1cket" not in shown and '"type": "Bearer"' in shown.replace('\\"', '"')


def test_export_json_never_shows_a_form_encoded_token(
    tmp_path: Path, real_backend: Backend
) -> None:
    """The user's report: GitHub's answer, then a failing report; `export --json`, its summary."""
    real_backend.on("/token", Reply(200, body=FORM_ANSWER, headers=FORM))
    real_backend.on("/report", Reply(502, body=f"upstream saw {GITHUB_TOKEN}".encode()))
    connector = tmp_path / "connector.yaml"
    connector.write_text(connector_text(real_backend.base_url), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["export", "--json", str(connector), str(SAMPLE_CHAT)], env=ENV
    )
    assert result.exit_code == 1, result.output
    assert_hidden(GITHUB_TOKEN, result.stdout + result.stderr)
    assert json.loads(result.stdout.splitlines()[0])["phases"]["token"]["status"] == 200


@pytest.mark.parametrize(
    ("reply", "unused"),
    [
        (  # JSON keeps the last copy: the first is the one not used
            Reply(
                200,
                body=b'{"access_token": "SECRETVALdup", "access_token": "SECRETVALdup2",'
                b' "nested": {"key": "NESTEDdupONE", "key": "NESTEDdupTWO"},'
                b' "list": {"l": ["LISTdupONE"], "l": ["LISTdupTWO"]}}',
                headers={"Content-Type": "application/json"},
            ),
            ["SECRETVALdup", "NESTEDdupONE", "LISTdupONE"],
        ),
        (  # a form keeps the first copy: the second is the one not used
            Reply(
                200, body=b"access_token=SECRETVALform1&access_token=SECRETVALform2", headers=FORM
            ),
            ["SECRETVALform2"],
        ),
    ],
    ids=["json", "form"],
)
def test_every_copy_of_a_repeated_field_is_secret(
    tmp_path: Path, real_backend: Backend, reply: Reply, unused: list[str]
) -> None:
    """A back end that repeats a field in its token answer may use, or echo, the copy that was not
    read: every value of every pair is hidden, not only those the parsed fields keep (issue 10)."""
    real_backend.on("/token", reply)
    real_backend.on("/report", Reply(502, body=reply.body))  # echoes the token answer
    connector = tmp_path / "connector.yaml"
    connector.write_text(connector_text(real_backend.base_url), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["export", "--json", str(connector), str(SAMPLE_CHAT)], env=ENV
    )
    assert result.exit_code == 1, result.output
    shown = result.stdout + result.stderr
    assert json.loads(result.stdout)["response"]["status"] == 502
    for value in unused:
        assert_hidden(value, shown)


def test_every_pair_is_read_with_the_number_checks_kept() -> None:
    from exportdsl import strictjson

    value, pairs = strictjson.loads_with_pairs('{"a": "1st", "b": {"a": 2}, "a": "2nd"}')
    assert value == {"a": "2nd", "b": {"a": 2}}
    assert ("a", "1st") in pairs and ("a", "2nd") in pairs and ("a", 2) in pairs
    for text in ('{"a": NaN}', '{"a": 1e999}', '{"a": ' + "9" * 400 + "}"):
        with pytest.raises(strictjson.NumberError):
            strictjson.loads_with_pairs(text)


# -- numbers and lifetimes (item 5) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (3600, 3600.0),
        ("3599", 3599.0),  # some servers quote it
        (" 60 ", 60.0),
        (0, 0.0),
        (-5, 0.0),
        (-math.inf, 0.0),
        (10**400, MAX_TOKEN_LIFETIME),  # float() of it overflows
        (math.inf, MAX_TOKEN_LIFETIME),
        ("1e999", DEFAULT_TOKEN_LIFETIME),
        ("inf", DEFAULT_TOKEN_LIFETIME),
        (math.nan, DEFAULT_TOKEN_LIFETIME),
        ("soon", DEFAULT_TOKEN_LIFETIME),
        (True, DEFAULT_TOKEN_LIFETIME),
        (None, DEFAULT_TOKEN_LIFETIME),
        ([3600], DEFAULT_TOKEN_LIFETIME),
    ],
)
def test_expires_in_is_clamped(value: Any, seconds: float) -> None:
    assert expires_in_seconds(value) == seconds


def test_a_huge_expires_in_is_a_day_not_a_crash(backend: Backend) -> None:
    """A 250-digit expires_in kept the token for ever; over 308 digits, float() of it raised
    OverflowError out of Exporter.run (now refused when the answer is read: the test below)."""
    clock = [0.0]
    answer = b'{"access_token": "%s", "expires_in": 1%s}' % (ACCESS_TOKEN.encode(), b"0" * 249)
    backend.on("/token", Reply(200, body=answer, headers={"Content-Type": "application/json"}))
    backend.on("/report", Reply(201, json={}))
    run = exporter(backend, monotonic=lambda: clock[0])
    assert run.run(sample_chat()).ok
    clock[0] = MAX_TOKEN_LIFETIME - 31  # a day less the 30 s margin: still cached
    assert run.run(sample_chat()).phase(Phase.TOKEN).cached  # type: ignore[union-attr]
    clock[0] = MAX_TOKEN_LIFETIME
    assert not run.run(sample_chat()).phase(Phase.TOKEN).cached  # type: ignore[union-attr]


@pytest.mark.parametrize("expires_in", [0, -60])
def test_an_expired_token_is_used_once_and_not_cached(backend: Backend, expires_in: int) -> None:
    backend.on("/token", Reply(json={"access_token": ACCESS_TOKEN, "expires_in": expires_in}))
    backend.on("/report", Reply(201, json={}))
    run = exporter(backend, monotonic=lambda: 0.0)
    assert run.run(sample_chat()).ok and run.run(sample_chat()).ok
    assert len(backend.requests_to("/token")) == 2


@pytest.mark.parametrize(
    ("number", "said"),
    [
        (b"1e999", "beyond"),
        (b"-1e999", "beyond"),
        (b"NaN", "NaN"),
        (b"Infinity", "Infinity"),
        (b"9" * 301, "digits"),
        (b"1" + b"0" * 400, "digits"),  # as expires_in, float() of it raised OverflowError
        (b"9" * 5000, "digits"),
    ],
)
def test_numbers_no_request_can_carry_are_a_clean_error(
    backend: Backend, number: bytes, said: str
) -> None:
    answer = b'{"access_token": "%s", "id": %s}' % (ACCESS_TOKEN.encode(), number)
    backend.on("/token", Reply(200, body=answer, headers={"Content-Type": "application/json"}))
    result = exporter(backend).run(sample_chat())
    assert result.error is not None and result.error.code == "XD602"
    assert said in result.error.message and ACCESS_TOKEN not in every_output(result)
    if number[-1:].isdigit():  # the answer's own text is never shown
        assert number.decode()[:20] not in result.error.message


# -- single flight (item 8) ------------------------------------------------------------------------


def test_threads_of_one_connector_make_one_token_request(real_backend: Backend) -> None:
    """Eight workers (each its exporter and keep-alive client, one shared cache, as the outbox's
    workers) need the token at once; the slow token endpoint is asked once."""
    real_backend.on("/token", Reply(json={"access_token": ACCESS_TOKEN}, delay=0.3))
    real_backend.on("/report", Reply(201, json={}))
    plan, cache = make_plan(real_backend.base_url), TokenCache()
    start = threading.Barrier(8)
    results: list[ExportResult] = []

    def work() -> None:
        with httpx.Client() as client:
            worker = Exporter(plan, client, env=ENV, tokens=cache)
            start.wait()
            results.append(worker.run(sample_chat()))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 8 and all(result.ok for result in results), results
    assert len(real_backend.requests_to("/token")) == 1
    assert sum(not r.phase(Phase.TOKEN).cached for r in results) == 1  # type: ignore[union-attr]
    assert len(real_backend.requests_to("/report")) == 8


def test_a_refused_token_is_renewed_once_for_all_who_held_it(backend: Backend) -> None:
    """Two exporters got a 401 with the same cached token; the second takes the token the first
    fetched after it, rather than fetching (and revoking) another."""
    backend.on("/token", TOKEN, Reply(json={"access_token": "fresh-token-2", "expires_in": 3600}))
    cache = TokenCache()
    first, second = exporter(backend, tokens=cache), exporter(backend, tokens=cache)
    backend.on("/report", Reply(201, json={}))
    assert first.run(sample_chat()).ok  # caches TOKEN
    held = cache.get(first.token.key, time.monotonic())  # type: ignore[union-attr]
    assert held is not None
    backend.on("/report", Reply(401), Reply(201, json={}))
    assert first.run(sample_chat()).ok  # 401: fetches fresh-token-2
    variables = second.variables(sample_chat())
    renewed = second.token.run(  # type: ignore[union-attr]
        variables,
        ExportResult(7, "x", 1).begin(Phase.TOKEN),
        lambda phase, request: pytest.fail("fetched again"),
        second.redact,
        refused=held.response,
    )
    assert renewed["body"].fields["JSON"]["access_token"] == "fresh-token-2"
    assert len(backend.requests_to("/token")) == 2


# -- a misspelt token field (item 12) --------------------------------------------------------------


def test_a_misspelt_token_field_says_did_you_mean_and_lists_the_names(backend: Backend) -> None:
    text = connector_text(backend.base_url).replace(
        "$tokenResponse.body.JSON.access_token", "$tokenResponse.body.JSON.acess_token"
    )
    plan = compile_connector(parse_connector(text, "test.yaml"))
    backend.on("/token", TOKEN)
    result = exporter(backend, plan).run(sample_chat())
    error: ExportDslError | None = result.error
    assert error is not None and error.code == "XD300"
    assert error.hint is not None
    # no quiet reference suggested: `$!{…acess_token}` would send `Bearer ` silently for ever
    assert error.hint == "did you mean access_token? it has: access_token, token_type, expires_in"
    assert ACCESS_TOKEN not in every_output(result) and CLIENT_SECRET not in every_output(result)


@pytest.mark.parametrize(
    ("path", "depth", "keys", "hint_starts"),
    [
        (
            ("chat", "visitor", "variables", "plann"),
            3,
            ("plan", "tier"),
            "did you mean plan? it has",
        ),
        (("tokenResponse", "body", "JSONN"), 2, ("JSON",), "did you mean JSON? it has: JSON"),
        (("tokenResponse", "body", "JSON", "zzz"), 3, ("a",), "it has: a; check the name"),
        (("env", "HOME", "x"), 2, ("PATH", "HOME"), "set it"),  # the environment's names: never
        (("pdata", "tennant"), 1, ("tenant",), "write"),  # a variable's own: compile-checked
    ],
)
def test_a_missing_value_lists_the_names_below_dynamic_data_only(
    path: tuple[str, ...], depth: int, keys: tuple[str, ...], hint_starts: str
) -> None:
    from exportdsl.compiler.values import describe_missing
    from exportdsl.errors import MissingValue

    hint = describe_missing(MissingValue(depth, null=False, keys=keys), path).hint
    assert hint is not None and hint.startswith(hint_starts)
    assert ("PATH" in hint) is False


@pytest.mark.parametrize(
    ("path", "depth", "null", "keys"),
    [
        (("tokenResponse", "body", "JSON", "acess_token"), 3, False, ("access_token", "x")),
        (("tokenResponse", "body", "JSON", "zzz"), 3, False, ("access_token",)),
        (("tokenResponse", "body", "JSON", "access_token"), 4, True, ()),
        (("env", "CRM"), 1, True, ()),
        (("env", "CRM", "x"), 1, False, ()),
        (("chat", "visitor", "variables", "plann"), 3, False, ("plan", "tier")),
    ],
)
def test_no_hint_suggests_a_quiet_credential_or_a_quiet_misspelling(
    path: tuple[str, ...], depth: int, null: bool, keys: tuple[str, ...]
) -> None:
    """Review D8: a quiet reference to a token field or an `$env` value sends an empty credential
    without a word, and after a "did you mean" it would hide the misspelling."""
    from exportdsl.compiler.values import describe_missing
    from exportdsl.errors import MissingValue

    hint = describe_missing(MissingValue(depth, null=null, keys=keys), path).hint
    assert hint is not None and "$!" not in hint


@pytest.mark.parametrize(
    ("keys", "listed"),
    [
        (("PLAINSECRETTOKENVALUE",), "it has: 1 other field"),
        (("access_token", "PLAINSECRETTOKENVALUE", "x" * 40), "it has: access_token and 2 other"),
        (("accessToken", "a1b2c3d4e5", "id.token", "not-before-policy"), "it has: accessToken,"),
        (("3f2a9c", "tok en", "ünïcode"), "it has: 3 other fields"),
    ],
)
def test_field_names_that_do_not_look_like_names_are_counted_not_shown(
    keys: tuple[str, ...], listed: str
) -> None:
    """Review D7: a server may put its secret in a field's name."""
    from exportdsl.compiler.values import describe_missing
    from exportdsl.errors import MissingValue

    path = ("tokenResponse", "body", "JSON", "nothing_like_it")
    hint = describe_missing(MissingValue(3, null=False, keys=keys), path).hint
    assert hint is not None and hint.startswith(listed)
    for hidden in ("PLAINSECRETTOKENVALUE", "x" * 40, "a1b2c3d4e5", "3f2a9c", "tok en", "ünïcode"):
        assert hidden not in hint


@pytest.mark.parametrize(
    ("status", "code", "listed"), [(400, "XD602", "its fields"), (200, "XD300", "it has")]
)
def test_a_token_answer_names_only_the_fields_that_look_like_names(
    backend: Backend, status: int, code: str, listed: str
) -> None:
    answer = {"PLAINSECRETTOKENVALUE": 1, "error_description": "x"}
    backend.on("/token", Reply(status, json=answer))
    result = exporter(backend).run(sample_chat())
    assert result.error is not None and result.error.code == code
    shown = every_output(result)
    assert "PLAINSECRETTOKENVALUE" not in shown
    assert f"{listed}: error_description and 1 other field" in shown


def test_neither_the_reason_phrase_nor_the_type_parameters_are_quoted() -> None:
    """Both are the server's free text: the standard phrase and the bare media type stand in."""
    from exportdsl.export.redact import Redactor
    from exportdsl.export.results import Answer
    from exportdsl.export.tokens import read_token_answer

    headers = (("Content-Type", f"text/plain; note={GITHUB_TOKEN}"),)
    answer = Answer(403, f"Forbidden for {GITHUB_TOKEN}", headers, b"no")
    with pytest.raises(ExportDslError) as caught:
        read_token_answer(answer, 1, Redactor())
    assert "answered 403 Forbidden (text/plain, 2 bytes)" in caught.value.message
    assert GITHUB_TOKEN not in str(caught.value)


def test_the_outbox_stores_no_token_from_an_unusable_answer(real_backend: Backend) -> None:
    """A queued delivery's attempt: what the outbox keeps as last_error (and `queue show` and the
    serve log print) is the Outcome's error."""
    from exportdsl.delivery.deliver import ExportDeliverer
    from exportdsl.delivery.outbox import Delivery
    from exportdsl.vocabulary import DeliveryStatus

    real_backend.on("/token", Reply(400, body=FORM_ANSWER, headers=FORM))
    deliver = ExportDeliverer({"acme": make_plan(real_backend.base_url)}, env=ENV)
    delivery = Delivery(
        1, "acme", "55039", "hook", "key", "127.0.0.1", DeliveryStatus.PENDING, 0, 0.0,
        None, None, None, None, 0.0, None,
    )  # fmt: skip
    result = deliver(delivery, SAMPLE_CHAT.read_bytes())
    assert not result.delivered and "answered 400 Bad Request" in result.error
    assert_hidden(GITHUB_TOKEN, result.error)
