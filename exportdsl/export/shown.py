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

__all__ = ["format_request", "shorten_base64"]

_LONG_BASE64 = re.compile(r"(?:[A-Za-z0-9+/_-]|%2[BbFf]|%3[Dd]){120,}(?:=|%3[Dd]){0,2}")
_KEPT_BASE64 = 48  # characters of a long base64 value that the dry run shows


def format_request(phase: str, request: httpx.Request, redact: Redactor, full: bool = False) -> str:
    """A request as on the wire (request line, headers as sent, body), redacted.

    Long base64 is shortened. ``phase`` names it: "token" or "export", the phase that sends it.
    """
    lines = [f"### {phase} request", f"{request.method} {request.url}"]
    lines += [  # values are sent in UTF-8 (`build.build_request`); shown as the receiver reads them
        f"{name.decode('latin-1')}: {value.decode('utf-8', 'replace')}"
        for name, value in request.headers.raw
    ]
    text = redact("\n".join(lines))
    body = redact(request.content.decode("utf-8", "replace"))
    if body:
        text += "\n\n" + (body if full else shorten_base64(body)).rstrip("\n")
    return text


def shorten_base64(text: str) -> str:
    """Each run of 120 or more base64 characters as its start and its length.

    Percent-encoded runs too.
    """
    return _LONG_BASE64.sub(
        lambda m: f"{m.group()[:_KEPT_BASE64]}…[{len(m.group()):,} characters]", text
    )
