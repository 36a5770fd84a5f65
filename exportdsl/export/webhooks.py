"""Standard Webhooks signatures (https://www.standardwebhooks.com): signing and verifying.

``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, keyed with the base64
part of a ``whsec_`` secret. The export signs its report POSTs with it; the intake verifies hooks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["TOLERANCE", "headers", "key_bytes", "signature", "verify"]

TOLERANCE = 300  # seconds a signed message may be early or late (older ones are replays)


def key_bytes(secret: str, *, strict: bool = False) -> bytes:
    """The HMAC key: the base64 after ``whsec_``. Not strict (an intake secret that is also used as
    a bearer token), any other secret is used as its bytes; strict, it must be a whsec_ secret."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            pass
    if strict:
        raise ValueError("not a whsec_ secret in base64")
    return secret.encode()


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers a signed request carries."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
    }


def verify(
    secret: str, message_id: str, timestamp: str, signatures: str, body: bytes, now: float
) -> bool:
    """True when one of the space-separated ``v1,…`` signatures matches and the time is fresh."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > TOLERANCE:
        return False
    expected = signature(key_bytes(secret), message_id, sent, body)
    return any(
        hmac.compare_digest(expected, candidate)
        for candidate in signatures.split()
        if candidate.startswith("v1,")
    )
