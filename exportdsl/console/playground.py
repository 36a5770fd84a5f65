"""The playground: a connector typed in the page, checked as `exportdsl check` checks a file, and,
when it compiles, its requests for a chat rendered as `exportdsl render` renders them, its XML
template as rendered, and its chat's PDF transcript. Nothing is sent, and no secret is read:
``$env`` values show as ``<env.NAME>`` (the server's environment is never given to a connector
typed in a page)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from exportdsl.chat.reader import ChatSession, parse_chat_bytes
from exportdsl.compiler.analysis import compile_connector
from exportdsl.compiler.plan import Plan
from exportdsl.connector.reader import parse_connector
from exportdsl.console.dryrun import transcript
from exportdsl.errors import Diagnostic, ExportDslError, Severity
from exportdsl.export.dryrun import dry_run
from exportdsl.export.shown import format_request
from exportdsl.lint.runner import lint_file
from exportdsl.lint.settings import Settings

__all__ = [
    "EXAMPLE",
    "MAX_CHAT",
    "MAX_PLAYGROUND_BODY",
    "MAX_SOURCE",
    "SAMPLE_CHAT",
    "check_source",
    "transcript_of",
]

MAX_SOURCE = 256 << 10  # bytes (UTF-8) of a connector typed in the page, as a file holds it
MAX_CHAT = 2 << 20  # bytes (UTF-8) of a chat pasted in the page, as a hook's body holds it
# the JSON request carrying both: its escapes (\uXXXX) may take 6 bytes for one byte of text
MAX_PLAYGROUND_BODY = 6 * (MAX_SOURCE + MAX_CHAT) + 4096
SAMPLE_CHAT = Path(__file__).parent.parent / "data" / "sample-chat.json"
FILE_NAME = "playground.yaml"  # what the diagnostics are about

EXAMPLE = """\
connector: {id: 7, name: ACME web chat}
client: {id: 1001}
timezone: Europe/Berlin
pdata: {tenant: acme}
export:
  url: https://crm.acme.example/api/v2/tenants/$pdata.tenant/chat-reports
  headers:
    Authorization: Bearer $env.ACME_API_KEY
    Content-Type: application/json
  body: |
    {"client": "$ClientsID", "pdf": "$report.encoded.base64", "size": $report.bytes,
     "at": "$dateTime", "visitor": "$!chat.visitor.name"}
"""


def check_source(source: str, chat: str) -> dict[str, Any]:
    """What the page shows for ``source`` (a connector file's text) and ``chat`` (a chat's JSON;
    empty: the sample chat): the diagnostics with their lines and columns, and, when nothing is
    an error, both requests as the dry run renders them and the XML template as rendered (None
    without one), redacted as the requests are; or why they cannot be rendered."""
    diagnostics = _diagnostics(source)
    shown: dict[str, Any] = {"diagnostics": [_record(d) for d in diagnostics], "xml": None}
    if any(d.severity == Severity.ERROR for d in diagnostics):
        return shown | {"requests": [], "problem": "fix the errors to see the requests"}
    try:
        plan, session = _compiled(source, chat)
        run = dry_run(plan, session, env={})
    except ExportDslError as error:
        return shown | {"requests": [], "problem": str(error)}
    requests = [format_request(phase, request, run.redact) for phase, request in run.requests]
    xml = None if run.xml_template is None else run.redact(run.xml_template)
    return shown | {"requests": requests, "problem": None, "xml": xml}


def transcript_of(source: str, chat: str) -> bytes:
    """The PDF transcript of ``chat`` (empty: the sample chat) with the transcript settings of
    the connector ``source``, as its export's ``$report``; the `ExportDslError` that stops it
    (the connector does not compile, the chat does not parse) otherwise."""
    return transcript(_plan(source), _chat_bytes(chat))


def _compiled(source: str, chat: str) -> tuple[Plan, ChatSession]:
    return _plan(source), parse_chat_bytes(_chat_bytes(chat))


def _plan(source: str) -> Plan:
    return compile_connector(parse_connector(source, FILE_NAME))


def _chat_bytes(chat: str) -> bytes:
    """The chat typed, pasted or uploaded; the sample chat when there is none."""
    return chat.encode("utf-8", "surrogatepass") if chat.strip() else SAMPLE_CHAT.read_bytes()


def _diagnostics(source: str) -> list[Diagnostic]:
    """`exportdsl check` of the text as a file (suppression comments and all), without --env."""
    with tempfile.TemporaryDirectory(prefix="exportdsl-playground-") as folder:
        path = Path(folder) / FILE_NAME
        path.write_text(source, encoding="utf-8")
        return list(lint_file(path, Settings(root=Path(folder))).diagnostics)


def _record(diagnostic: Diagnostic) -> dict[str, Any]:
    where = diagnostic.location
    return {
        "code": diagnostic.code,
        "severity": str(diagnostic.severity),
        "message": diagnostic.message,
        "hint": diagnostic.hint,
        "line": where.line if where else 1,
        "column": where.column if where else 1,
        "end_line": where.end_line if where else 1,
        "end_column": where.end_column if where else 1,
    }
