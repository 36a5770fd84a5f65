"""Redaction: a secret is hidden in every form a request or an answer can carry it in."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote

import pytest
from backend import secret_forms
from hypothesis import given
from hypothesis import strategies as st

from exportdsl.export.redact import REDACTED, Redactor, guard_logs, is_sensitive_name

SECRET = 'p@ss/w+rd=ü"<&>'


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
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info(
            "HTTP Request: POST %s", f"https://x.example/?k={quote(SECRET, safe='')}"
        )
    assert SECRET not in caplog.text and quote(SECRET, safe="") not in caplog.text
    assert REDACTED in caplog.text


def test_a_secret_escaped_in_xml_and_then_base64_encoded_is_hidden() -> None:
    import base64

    from exportdsl.export.redact import Redactor

    secret = 'cl1ent-S3CRET/+&="ü'
    escaped = secret.replace("&", "&amp;").replace('"', "&quot;")
    for prefix in ("", "<a>", "<ab>"):  # each of the three base64 alignments
        encoded = base64.b64encode(f"{prefix}<key>{escaped}</key>".encode()).decode()
        assert "[REDACTED]" in Redactor([secret])(encoded)
