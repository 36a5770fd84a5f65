"""Redaction: a secret is hidden in every form a request or an answer can carry it in."""

from __future__ import annotations

import base64
import itertools
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from backend import ENV, TOKEN, Backend, Reply, make_plan, sample_chat, secret_forms
from hypothesis import given
from hypothesis import strategies as st

from exportdsl.export.exporter import Exporter
from exportdsl.export.redact import (
    REDACTED,
    LogRedaction,
    Redactor,
    SecretSet,
    cut,
    guard_logs,
    is_sensitive_name,
    release_logs,
)
from exportdsl.export.results import ExportResult
from exportdsl.export.timing import Timing
from exportdsl.vocabulary import Phase

SECRET = 'p@ss/w+rd=ü"<&>'
NOW = datetime(2024, 3, 1, 12, 30, 45, tzinfo=UTC)


@pytest.mark.parametrize("form", secret_forms(SECRET))
def test_every_encoding_is_redacted(form: str) -> None:
    redact = Redactor([SECRET])
    assert redact(f"before {form} after") == f"before {REDACTED} after"


@given(
    prefix=st.binary(max_size=5),
    suffix=st.binary(max_size=5),
    secret=st.text(min_size=6, max_size=40).filter(lambda text: text.strip() == text),
)
def test_secret_inside_a_longer_base64_text_is_found_at_any_alignment(
    prefix: bytes, suffix: bytes, secret: str
) -> None:
    redact = Redactor([secret])
    encoded = base64.b64encode(prefix + secret.encode() + suffix).decode()
    redacted = redact(encoded)
    assert REDACTED in redacted
    # every character that encodes the secret's bytes alone is gone (at most 2 partial ones remain)
    removed = len(encoded) - len(redacted.replace(REDACTED, ""))
    assert removed >= 4 * len(secret.encode()) // 3 - 2


def test_xml_escaped_and_form_encoded_base64() -> None:
    redact = Redactor([SECRET])
    assert redact("<k>p@ss/w+rd=ü&quot;&lt;&amp;&gt;</k>") == f"<k>{REDACTED}</k>"
    assert redact(quote(base64.b64encode(SECRET.encode()).decode(), safe="")) == REDACTED


def test_short_values_are_not_secrets() -> None:
    redact = Redactor(["abc", "1"])
    assert redact("abc 1") == "abc 1" and not redact


def test_auth_headers_keep_their_scheme() -> None:
    redact = Redactor()
    redact.add_header("Authorization", "Bearer abc.def.ghi")
    redact.add_header("X-Api-Key", "k-123456")
    redact.add_header("Content-Type", "application/json")
    assert (
        redact("Authorization: Bearer abc.def.ghi; X-Api-Key: k-123456; application/json")
        == f"Authorization: Bearer {REDACTED}; X-Api-Key: {REDACTED}; application/json"
    )


def test_token_answers_hide_tokens_not_their_type() -> None:
    redact = Redactor()
    redact.add_json(
        {
            "access_token": "tok-12345",
            "token_type": "Bearer",
            "expires_in": 3600,
            "nested": {"refresh_token": "ref-67890"},
            "user": "someone",
        }
    )
    assert (
        redact("tok-12345 Bearer ref-67890 3600 someone")
        == f"{REDACTED} Bearer {REDACTED} 3600 someone"
    )


def test_sensitive_names() -> None:
    assert all(
        map(
            is_sensitive_name,
            ["Authorization", "cookie", "X-Api-Key", "access_token", "client_secret"],
        )
    )
    assert not any(map(is_sensitive_name, ["Content-Type", "Accept", "name"]))


def test_data_redacts_keys_and_values() -> None:
    redact = Redactor([SECRET])
    assert redact.data({"a": [SECRET, 1], SECRET: None}) == {"a": [REDACTED, 1], REDACTED: None}


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    redact = Redactor([SECRET])
    guard_logs(redact)
    caplog.handler.addFilter(LogRedaction())  # as `exportdsl serve` puts it on its handler
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info(
            "HTTP Request: POST %s", f"https://x.example/?k={quote(SECRET, safe='')}"
        )
    assert SECRET not in caplog.text and quote(SECRET, safe="") not in caplog.text
    assert REDACTED in caplog.text
    release_logs(redact)


def test_a_secret_escaped_in_xml_and_then_base64_encoded_is_hidden() -> None:
    import base64

    from exportdsl.export.redact import Redactor

    secret = 'cl1ent-S3CRET/+&="ü'
    escaped = secret.replace("&", "&amp;").replace('"', "&quot;")
    for prefix in ("", "<a>", "<ab>"):  # each of the three base64 alignments
        encoded = base64.b64encode(f"{prefix}<key>{escaped}</key>".encode()).decode()
        assert "[REDACTED]" in Redactor([secret])(encoded)


# -- bounded for the life of a process (issue 10, item 7) -----------------------------------------


def test_a_scope_knows_its_parents_secrets_and_keeps_its_own() -> None:
    base = Redactor(["base-secret-1"])
    scope = base.scope()
    scope.add("scope-secret-2")
    base.add("added-later-3")  # a scope sees what its parent learns after it was made
    assert scope("base-secret-1 scope-secret-2 added-later-3") == " ".join([REDACTED] * 3)
    assert base("scope-secret-2") == "scope-secret-2"  # the export's secret goes with the export
    assert isinstance(scope, Redactor) and scope.parent is base


def test_the_longest_form_wins_across_scopes() -> None:
    """A connector secret inside a longer token: the token goes whole, not in two leaking halves."""
    base = Redactor(["abcd1234"])
    scope = base.scope()
    scope.add("xx-abcd1234-yy")
    assert scope("token xx-abcd1234-yy") == f"token {REDACTED}"


def test_a_literal_is_hidden_as_answers_show_it_but_not_as_base64() -> None:
    redact = Redactor()
    redact.add_literal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    assert redact("sig v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") == f"sig {REDACTED}"
    assert redact("v1%2Cg0hM9SsE%2BOTPJTGt%2FtmIKtSyZlE3uFJELVlNIOLJ1OE%3D") == REDACTED
    assert len(redact.ordered_forms()) <= 5  # no base64 fragments: a signature is no template value


def test_a_secret_set_is_worked_out_once_and_included_cheaply() -> None:
    secrets = SecretSet([SECRET])
    first, second = Redactor(), Redactor()
    first.include(secrets)
    second.include(secrets)
    for form in secret_forms(SECRET):
        assert first(form) == REDACTED and second(form) == REDACTED


def signed_failing_exports(count: int) -> tuple[Exporter, list[ExportResult]]:
    """``count`` exports of a signed connector with a token, each failing after three attempts
    with a new Set-Cookie on every answer: what made the old redactor grow without end."""
    backend = Backend("mock")
    backend.start_mock()
    backend.on("/token", TOKEN)
    backend.on(
        "/report",
        *[
            Reply(500, headers={"Set-Cookie": f"sid=c00kie-{n:06d}; Path=/"})
            for n in range(count * 3)
        ],
    )
    plan = make_plan(backend.base_url, extra="signing: {secret: $env.HOOK_SECRET}")
    ticks = itertools.count()
    exporter = Exporter(
        plan,
        backend.client,
        env=ENV | {"HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
        # a second passes at each reading of the clock: each attempt is signed anew
        timing=Timing(now=lambda: NOW + timedelta(seconds=next(ticks)), sleep=lambda _: None),
        render_pdf=lambda chat, zone: b"%PDF-1.4 a small stand-in",
    )
    return exporter, [exporter.run(sample_chat()) for _ in range(count)]


def test_the_redactor_does_not_grow_with_the_exports() -> None:
    exporter, results = signed_failing_exports(150)
    first, last = results[0], results[-1]
    assert not first.ok and not last.ok
    # what an export hides is the connector's secrets and its own: the same size every time
    assert len(last.redact.ordered_forms()) == len(first.redact.ordered_forms())
    assert len(exporter.secrets.ordered_forms()) == len(first.redact.parent.ordered_forms())  # type: ignore[union-attr]
    # the back end's cookie and our signature hide the export they belong to, and go with it
    report = first.phase(Phase.EXPORT)
    assert report is not None and report.answer is not None and report.request is not None
    cookie = "c00kie-000002"  # the third attempt's answer
    signature = report.request.headers["webhook-signature"]
    shown = f"{report.answer.headers} {signature}"
    assert cookie in shown and REDACTED not in shown
    assert first.redact(shown).count(REDACTED) == 2
    assert last.redact(shown) == shown == exporter.secrets(shown)


def test_an_export_no_longer_filters_the_logs_once_it_is_done() -> None:
    from exportdsl.export.redact import _LIVE, _LIVE_LOCK

    exporter, results = signed_failing_exports(3)
    with _LIVE_LOCK:
        live = set(_LIVE)
    assert exporter.secrets in live
    assert not any(result.redact in live for result in results)


ECHOED = "SECR/ET+TOK=EN~x y"


@pytest.mark.parametrize(
    "echo",
    [
        '{"t":"SECR\\/ET+TOK=EN~x y"}',  # PHP's json_encode escapes "/"
        "SECR%2fET%2bTOK%3dEN~x%20y",  # lowercase hex
        "SECR%2FET%2BTOK%3DEN%7Ex+y",  # "~" encoded too, "+" for the space
        "SECR/ET+TOK=EN~x%20y",  # only the space encoded (a path)
        "SECR\\u002fET+TOK=EN~x y",  # a JSON \u escape
        "SECR\\u002FET\\u002bTOK\\u003DEN\\u007ex\\u0020y",
        "SECR&#47;ET+TOK&#x3d;EN~x&#32;y",  # XML numeric entities
    ],
)
def test_a_secret_echoed_in_any_mix_of_encodings_is_redacted(echo: str) -> None:
    redact = Redactor([ECHOED])
    shown = redact(f"answer: {echo} (400)")
    assert REDACTED in shown and "SECR" not in shown and "EN~x" not in shown


_ENCODINGS = [  # each character as is, percent-encoded (as usual, all of it, either case), \u
    lambda c: c,
    lambda c: quote(c, safe=""),
    lambda c: "".join(f"%{byte:02x}" for byte in c.encode()),
    lambda c: "".join(f"%{byte:02X}" for byte in c.encode()),
    lambda c: "".join(f"\\u{unit:04x}" for unit in _utf16_units(c)),
    lambda c: "".join(f"\\u{unit:04X}" for unit in _utf16_units(c)),
]


def _utf16_units(character: str) -> list[int]:
    data = character.encode("utf-16-be")
    return [int.from_bytes(data[index : index + 2], "big") for index in range(0, len(data), 2)]


@given(
    secret=st.text(st.characters(exclude_categories=("Cs",)), min_size=6, max_size=30),
    choices=st.lists(st.integers(0, len(_ENCODINGS) - 1), min_size=30, max_size=30),
)
def test_any_character_of_a_secret_may_be_encoded_or_not(secret: str, choices: list[int]) -> None:
    # An encoder always escapes its own escape character: a '\\' or '%' left as is before an escape
    # would make another text ('\\' then '\\u0030' reads as an escaped backslash, then 'u0030').
    spelled = "".join(
        _ENCODINGS[choice or (1 if c in "\\%" else 0)](c)
        for c, choice in zip(secret, choices, strict=False)
    )
    assert Redactor([secret])(f"<{spelled}>") == f"<{REDACTED}>"


def test_an_export_answer_echoing_the_token_php_style_is_redacted() -> None:
    backend = Backend("mock")
    backend.start_mock()
    token = "SECR/ET+TOK=EN~x y"
    backend.on("/token", Reply(json={"access_token": token, "token_type": "Bearer"}))
    backend.on("/report", Reply(400, body=b'{"t":"SECR\\/ET+TOK=EN~x y"}'))
    result = Exporter(
        make_plan(backend.base_url),
        backend.client,
        env=ENV,
        timing=Timing(now=lambda: NOW, sleep=lambda _: None),
        render_pdf=lambda chat, zone: b"%PDF-1.4 a small stand-in",
    ).run(sample_chat())
    shown = result.redact(str(result.error))
    assert not result.ok and "SECR" not in shown and "TOK=EN" not in shown


def test_a_secret_percent_encoded_next_to_bytes_that_are_not_utf8_is_found() -> None:
    secret = "pässwörd€😀x"
    redact = Redactor([secret])
    assert redact(f"%ff{quote(secret)}%c3 end") == f"%ff{REDACTED}%c3 end"


@pytest.mark.parametrize("secret", ["\tENVSECRETTENANT", "  TENANTSECRET9  ", "SECRETLINE\r\n"])
def test_a_secret_is_hidden_trimmed_too(secret: str) -> None:
    """A header's value is trimmed before it is sent, and a back end echoes what it got: the
    trimmed form of every secret is a secret too, however it was made known."""
    trimmed = secret.strip()
    line = f"X-Tenant: {trimmed}; {quote(trimmed)}"
    assert Redactor([secret])(line) == f"X-Tenant: {REDACTED}; {REDACTED}"
    literal = Redactor()
    literal.add_literal(secret)
    assert trimmed not in literal(line)
    included = Redactor()
    included.include(SecretSet([secret]))
    assert trimmed not in included(line)


def test_a_secret_is_hidden_in_lowercase_too() -> None:
    """A URL's host is folded to lowercase before it is sent (and so shown): an `$env` value in it
    must not show folded either."""
    redact = Redactor(["TenantSecret42.Example"])
    assert redact("POST https://tenantsecret42.example/x") == f"POST https://{REDACTED}/x"
    assert redact("Host: TenantSecret42.Example") == f"Host: {REDACTED}"
    included = Redactor()
    included.include(SecretSet(["TenantSecret42.Example"]))
    assert included("tenantsecret42.example") == REDACTED


def test_cut_never_leaves_a_marker_cut_open() -> None:
    text = f"ab{REDACTED}cd"
    assert cut(text, 100) == text
    for limit in range(3, 3 + len(REDACTED)):  # the cut (before the ellipsis) inside the marker
        assert cut(text, limit) == "ab…"
    assert cut(text, 3 + len(REDACTED)) == f"ab{REDACTED}…"
    assert cut(text, 2) == "a…"
