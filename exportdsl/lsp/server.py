"""`exportdsl lsp`: a Language Server over standard input and output (pygls).

Diagnostics are `exportdsl check`'s own: the same library call (`lint.runner.lint_source`) on the
editor's text, with the settings of the nearest ``pyproject.toml`` above the workspace (as
`check` run there finds them), so codes, positions, severities, per-file ignores and suppression
comments agree. Hover, completion and go to definition come from `lsp.intel`; code actions are
`lint.fixes`, the fixes `check --fix` applies. Documents are synchronised whole (full sync): a
change re-checks the text, which takes milliseconds for a connector file (bench/bench_lsp.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import to_fs_path

from exportdsl import __version__
from exportdsl.errors import Diagnostic, ExportDslError, LoadError, Severity
from exportdsl.lint.fixes import Fix, fix_holds, fixes
from exportdsl.lint.runner import (
    CONNECTOR_SUFFIXES,
    FileReport,
    Linted,
    lint_source,
    unreadable,
)
from exportdsl.lint.settings import Settings, load_settings
from exportdsl.lsp.intel import complete, definition, hover
from exportdsl.lsp.positions import Lines
from exportdsl.lsp.view import View, quick_view, view_of
from exportdsl.source import LineIndex, Location

__all__ = [
    "KEYSTROKE",
    "SETTLE",
    "Checked",
    "ExportDslServer",
    "Glance",
    "check_document",
    "lsp_diagnostics",
    "serve",
]

_SEVERITIES = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}
_COMPLETION_KINDS = {
    "variable": types.CompletionItemKind.Variable,
    "property": types.CompletionItemKind.Property,
    "snippet": types.CompletionItemKind.Snippet,
}
_TRIGGERS = ["$", "{", ".", "("]
SETTLE = 0.020  # seconds, at most, that a change waits for the changes sent after it
KEYSTROKE = 0.080  # seconds between two keys of a fast typist


class _Positions:
    """Positions of one document's text, as the protocol and as exportdsl count them."""

    lines: Lines
    index: LineIndex

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(self.position(start), self.position(end))

    def position(self, offset: int) -> types.Position:
        line, character = self.lines.position(offset)
        return types.Position(line, character)

    def offset(self, position: types.Position) -> int:
        return self.lines.offset(position.line, position.character)

    def location_range(self, location: Location | None) -> types.Range:
        """A diagnostic's `Location` (1-based, end inclusive) as a protocol range."""
        if location is None:
            return self.range(0, 0)
        start = self.index.offset(location.line, location.column)
        end = self.index.offset(location.end_line, location.end_column) + 1
        return self.range(start, min(max(end, start), len(self.index.text)))


@dataclass(frozen=True)
class Checked(_Positions):
    """One version of a document: its check, its lines in the protocol's counting, its view."""

    uri: str
    linted: Linted
    lines: Lines

    @property
    def view(self) -> View:
        return view_of(self.linted)

    @property
    def index(self) -> LineIndex:  # type: ignore[override]
        assert self.linted.report.text is not None  # an editor's text is always text
        return self.linted.report.text


@dataclass(frozen=True)
class Glance(_Positions):
    """A document's latest text read without its check (what completion and go to definition
    need), while the check is still behind: a long template's check must not hold up typing."""

    uri: str
    lines: Lines
    index: LineIndex
    view: View


def check_document(
    uri: str, text: str, settings: Settings, encoding: str = "utf-16", language: str | None = None
) -> Checked:
    """The check of an editor's text, as `exportdsl check` makes it for the file. A lone UTF-16
    surrogate (which JSON-RPC can carry, and no file can hold) is reported where it stands, and
    the rest is checked as if it were U+FFFD (one for one: every position stays)."""
    file = _file_name(uri, language)
    surrogate = _LONE_SURROGATE.search(text)
    if surrogate is None:
        return Checked(uri, lint_source(text, file, settings), Lines(text, encoding))
    linted = lint_source(_LONE_SURROGATE.sub("\ufffd", text), file, settings)
    found = unreadable(_not_a_character(linted.report, surrogate), file, settings).diagnostics
    report = replace(linted.report, diagnostics=(*found, *linted.report.diagnostics))
    return Checked(uri, replace(linted, report=report), Lines(text, encoding))


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _not_a_character(report: FileReport, surrogate: re.Match[str]) -> LoadError:
    assert report.text is not None  # an editor's text is always text
    where = report.text.location(report.path, surrogate.start(), surrogate.start())
    return LoadError(
        f"U+{ord(surrogate.group()):04X} is half of a UTF-16 surrogate pair, alone: not a "
        "character, and the file cannot be saved as UTF-8",
        location=where,
        hint="delete it, or write the whole character it was meant to be part of",
    )


def lsp_diagnostics(checked: Checked) -> list[types.Diagnostic]:
    return [_diagnostic(checked, d) for d in checked.linted.report.diagnostics]


def _diagnostic(checked: Checked, diagnostic: Diagnostic) -> types.Diagnostic:
    message = diagnostic.message + (f"\nhint: {diagnostic.hint}" if diagnostic.hint else "")
    return types.Diagnostic(
        range=checked.location_range(diagnostic.location),
        message=message,
        severity=_SEVERITIES[diagnostic.severity],
        code=diagnostic.code,
        source="exportdsl",
    )


def _encoding(kind: types.PositionEncodingKind | str | None) -> str:
    """The negotiated position encoding's name ("utf-16" unless the client offered another)."""
    if isinstance(kind, types.PositionEncodingKind):
        return kind.value  # str() of the enum would give its Python name
    return kind or "utf-16"


def _file_name(uri: str, language: str | None = None) -> str:
    """The file's path (its suffix says YAML or JSON; per-file ignores match it). A document
    whose name says neither (an ``untitled:`` buffer) is read as the language the editor says."""
    name = to_fs_path(uri) or uri
    if language == "json" and not name.endswith(CONNECTOR_SUFFIXES):
        return name + ".json"
    return name


class ExportDslServer(LanguageServer):
    """Checks each document's latest text once: changes that arrive together (fast typing while a
    long template is checked) are checked as one, the last; a request (hover, completion, …)
    about a document whose check is behind checks it first, so every answer reads the text the
    editor shows."""

    def __init__(self) -> None:
        super().__init__(
            "exportdsl",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Full,
            protocol_cls=_Protocol,
        )
        self.settings = Settings()
        self.checked: dict[str, Checked] = {}
        self.latest: dict[str, tuple[str, int | None]] = {}  # text and version not checked yet
        self.took: dict[str, float] = {}  # seconds the document's last check took
        self.languages: dict[str, str] = {}  # the language id each document was opened with

    def configure(self, root: Path | None, check_env: bool = False) -> None:
        """`exportdsl check`'s settings as run in the workspace's root folder (with ``--env``
        when the editor's initialization options say ``{"env": true}``)."""
        env = dict(os.environ) if check_env else None
        try:
            self.settings = load_settings(root, env=env)
        except ExportDslError as error:  # bad [tool.exportdsl]: say so, check with the defaults
            self.window_show_message(
                types.ShowMessageParams(types.MessageType.Error, f"exportdsl: {error}")
            )
            self.settings = Settings(root=root or Path.cwd(), env=env)

    def received(self, uri: str, text: str, version: int | None) -> None:
        """A document's new text, checked at once when its checks keep up with typing; after a
        check slower than a keystroke (`KEYSTROKE`), a tenth of that check later (at most
        `SETTLE`): time to read the keystrokes that came in meanwhile, so that they are checked
        once, as the last text, instead of one after the other."""
        self.latest[uri] = (text, version)
        took = self.took.get(uri, 0.0)
        settle = 0.0 if took < KEYSTROKE else min(SETTLE, took / 10)
        asyncio.get_running_loop().call_later(settle, self.current, uri)

    def current(self, uri: str) -> Checked | None:
        """The check of the document's latest text (made and published now if it is behind)."""
        if uri in self.latest:
            text, version = self.latest.pop(uri)
            encoding = _encoding(self.workspace.position_encoding)
            started = time.perf_counter()
            try:
                language = self.languages.get(uri)
                checked = check_document(uri, text, self.settings, encoding, language)
            except Exception as error:  # a bug: say so as `check` does (exit 3), keep serving
                self.window_show_message(
                    types.ShowMessageParams(
                        types.MessageType.Error,
                        f"exportdsl: internal error: {type(error).__name__}: {error}. This is a "
                        "bug; please report it with the file that caused it.",
                    )
                )
                return self.checked.get(uri)
            self.took[uri] = time.perf_counter() - started
            self.checked[uri] = checked
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri, lsp_diagnostics(checked), version)
            )
        return self.checked.get(uri)

    def glance(self, uri: str) -> Checked | Glance | None:
        """The document's latest text as completion and definition need it, now."""
        if uri not in self.latest:
            return self.checked.get(uri)
        text = self.latest[uri][0]
        lines = Lines(text, _encoding(self.workspace.position_encoding))
        readable = _LONE_SURROGATE.sub("\ufffd", text)  # as checked: see `check_document`
        view = quick_view(readable, _file_name(uri, self.languages.get(uri)))
        return Glance(uri, lines, LineIndex(text), view)

    def forget(self, uri: str) -> None:
        self.latest.pop(uri, None)
        self.checked.pop(uri, None)
        self.took.pop(uri, None)
        self.languages.pop(uri, None)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))


class _Protocol(LanguageServerProtocol):
    """JSON-RPC as its specification says where pygls says nothing back: a request whose params
    do not read (a position's line -1) is answered with InvalidParams (-32602), and a request
    after ``shutdown`` with InvalidRequest (-32600), instead of being dropped while the client
    waits for its answer."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if "id" not in data or "method" not in data:
                raise  # a notification or an answer: nobody waits for a reply
            self._send_response(data["id"], error=error.to_response_error())
            return _ANSWERED

    def handle_message(self, message: Any) -> None:
        if message is _ANSWERED:
            return
        method = getattr(message, "method", None)
        if self._shutdown and getattr(message, "id", None) is not None and method != types.EXIT:
            if method is not None:  # a request (an answer from the client has no method)
                refused = JsonRpcInvalidRequest("the server is shut down: only exit is accepted")
                self._send_response(message.id, error=refused.to_response_error())
            return
        super().handle_message(message)


_ANSWERED = object()  # a message answered with an error while it was read


server = ExportDslServer()


@server.feature(types.INITIALIZE)
def _initialize(ls: ExportDslServer, params: types.InitializeParams) -> None:
    folders = params.workspace_folders or []
    root = (
        to_fs_path(folders[0].uri)
        if folders
        else (to_fs_path(params.root_uri) if params.root_uri else params.root_path)
    )
    options = params.initialization_options
    check_env = isinstance(options, dict) and options.get("env") is True
    ls.configure(Path(root) if root else None, check_env)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def _did_open(ls: ExportDslServer, params: types.DidOpenTextDocumentParams) -> None:
    document = params.text_document
    ls.languages[document.uri] = document.language_id
    ls.received(document.uri, document.text, document.version)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def _did_change(ls: ExportDslServer, params: types.DidChangeTextDocumentParams) -> None:
    document = ls.workspace.get_text_document(params.text_document.uri)
    ls.received(document.uri, document.source, params.text_document.version)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def _did_close(ls: ExportDslServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.forget(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def _hover(ls: ExportDslServer, params: types.HoverParams) -> types.Hover | None:
    checked = ls.current(params.text_document.uri)
    if checked is None:
        return None
    found = hover(checked.view, checked.offset(params.position))
    if found is None:
        return None
    return types.Hover(
        types.MarkupContent(types.MarkupKind.Markdown, found.markdown),
        checked.range(found.start, found.end),
    )


@server.feature(
    types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=_TRIGGERS)
)
def _completion(ls: ExportDslServer, params: types.CompletionParams) -> types.CompletionList:
    checked = ls.glance(params.text_document.uri)
    items: list[types.CompletionItem] = []
    if checked is not None:
        for found in complete(checked.view, checked.offset(params.position)):
            edit = types.TextEdit(checked.range(found.start, found.end), found.insert)
            items.append(
                types.CompletionItem(
                    found.label,
                    kind=_COMPLETION_KINDS[found.kind],
                    detail=found.detail,
                    text_edit=edit,
                    filter_text=found.filter or found.insert,
                )
            )
    return types.CompletionList(is_incomplete=False, items=items)


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def _definition(ls: ExportDslServer, params: types.DefinitionParams) -> types.Location | None:
    checked = ls.glance(params.text_document.uri)
    if checked is None:
        return None
    found = definition(checked.view, checked.offset(params.position))
    if found is None:
        return None
    return types.Location(params.text_document.uri, checked.location_range(found))


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
)
def _code_action(ls: ExportDslServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    checked = ls.current(params.text_document.uri)
    if checked is None:
        return []
    wanted = (checked.offset(params.range.start), checked.offset(params.range.end))
    # Each fix is tried on a copy first (as `check --fix` keeps only the fixes that hold): one
    # that leaves its problem or makes a new one is not offered; the others are certain.
    return [
        _action(checked, fix)
        for fix in fixes(checked.linted)
        if _touches(checked, fix.diagnostic, wanted) and fix_holds(checked.linted, fix, ls.settings)
    ]


def _touches(checked: Checked, diagnostic: Diagnostic, wanted: tuple[int, int]) -> bool:
    """Whether the diagnostic's range meets the range the editor asks about (the cursor, often)."""
    found = checked.location_range(diagnostic.location)
    start, end = checked.offset(found.start), checked.offset(found.end)
    return start <= wanted[1] and wanted[0] <= end


def _action(checked: Checked, fix: Fix) -> types.CodeAction:
    edits = [types.TextEdit(checked.range(edit.start, edit.end), edit.text) for edit in fix.edits]
    return types.CodeAction(
        fix.title,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[_diagnostic(checked, fix.diagnostic)],
        edit=types.WorkspaceEdit(changes={checked.uri: edits}),
        is_preferred=True,
    )


def serve() -> int:
    """Serve one editor over standard input and output until it says exit; the exit status the
    protocol asks for: 0 after ``shutdown``, 1 when the editor exits (or goes) without it."""
    server.start_io()  # pygls swallows the SystemExit its `exit` handler raises: decided here
    return 0 if server.protocol._shutdown else 1
