"""A request as the dry run shows it (``exportdsl render``, an export's ``--json``, the console):
request line, headers and body as on the wire, redacted, long base64 shortened.

Light on purpose (only `re`): the CLI imports it for every command, `check` included.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from exportdsl.export.redact import Redactor

__all__ = ["format_request", "format_sent", "shorten_base64"]

_LONG_BASE64 = re.compile(r"(?:[A-Za-z0-9+/_-]|%2[BbFf]|%3[Dd]){120,}(?:=|%3[Dd]){0,2}")
_KEPT_BASE64 = 48  # characters of a long base64 value that the dry run shows


def format_request(phase: str, request: httpx.Request, redact: Redactor, full: bool = False) -> str:
    """A request as on the wire (request line, headers as sent, body), redacted.

    Long base64 is shortened. ``phase`` names it: "token" or "export", the phase that sends it.
    """
    text = _head(phase, request, redact)
    body = redact(request.content.decode("utf-8", "replace"))
    if body:
        text += "\n\n" + (body if full else shorten_base64(body)).rstrip("\n")
    return text


def format_sent(phase: str, request: httpx.Request, redact: Redactor, limit: int) -> str:
    """A request as it went out, to keep with its attempt: as `format_request` shows it, but
    each long base64 run (the PDF, the XML template) replaced whole by a placeholder naming its
    size, so a stored attempt stays small and keeps no part of it; a body is kept up to about
    ``limit`` characters (redacted after the cut, less its cut-off tail: a secret cut in two is
    no longer recognised)."""
    text = _head(phase, request, redact)
    body = _LONG_BASE64.sub(_placeholder, request.content.decode("utf-8", "replace"))
    if len(body) > limit:
        body = redact.without_cut_off_tail(redact(body[:limit])) + "…[cut]"
    else:
        body = redact(body)
    if body:
        text += "\n\n" + body.rstrip("\n")
    return text


def _placeholder(run: re.Match[str]) -> str:
    size = len(run.group())
    return f"[base64 left out: {size:,} characters, about {size * 3 // 4:,} bytes]"


def _head(phase: str, request: httpx.Request, redact: Redactor) -> str:
    """The request line and headers, redacted."""
    lines = [f"### {phase} request", f"{request.method} {request.url}"]
    lines += [  # values are sent in UTF-8 (`build.build_request`); shown as the receiver reads them
        f"{name.decode('latin-1')}: {value.decode('utf-8', 'replace')}"
        for name, value in request.headers.raw
    ]
    return redact("\n".join(lines))


def shorten_base64(text: str) -> str:
    """Each run of 120 or more base64 characters as its start and its length.

    Percent-encoded runs too.
    """
    return _LONG_BASE64.sub(
        lambda m: f"{m.group()[:_KEPT_BASE64]}…[{len(m.group()):,} characters]", text
    )
