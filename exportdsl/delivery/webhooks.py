"""Standard Webhooks signatures (https://www.standardwebhooks.com): signing and verifying.

``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, the key being the
secret's base64 part after ``whsec_`` (or the secret's bytes when it has no such prefix).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

TOLERANCE = 300  # seconds a signed message may be early or late (replays older than this fail)


def key_bytes(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key_bytes(secret), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, message_id: str, timestamp: str, signatures: str, body: bytes, now: float) -> bool:
    """True when one of the space-separated ``v1,…`` signatures matches and the time is fresh."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > TOLERANCE:
        return False
    expected = sign(secret, message_id, sent, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures.split()
               if candidate.startswith("v1,"))
