"""Which header names say their value is a credential: one list for the redactor (every such
value is a secret), the linter (XD503: a credential written into the file) and the hints (a quiet
reference is never suggested where it would send an empty credential)."""

from __future__ import annotations

__all__ = ["CREDENTIAL_HEADERS", "is_credential_header"]

CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "x-token",
        "x-csrf-token",
        "x-amz-security-token",
        "webhook-signature",
    }
)


def is_credential_header(name: str) -> bool:
    return name.lower() in CREDENTIAL_HEADERS
