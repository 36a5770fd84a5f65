"""`exportdsl lsp`: a real client (pygls's) talks to the server started as a subprocess over stdio.

Diagnostics must be `exportdsl check`'s own (compared with `check --format json` run on the same
files, settings and suppressions included); hover, completion, go to definition and code actions
are asked at given positions, inside a YAML block scalar and inside a directive.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from exportdsl.lsp.positions import Lines

ROOT = Path(__file__).parent.parent
MESSAGE_FIELDS = ("type", "name", "from", "content", "sentAt", "triggeredBy")
EXAMPLES = ROOT / "tests" / "lint" / "examples"
SERVER = [sys.executable, "-c", "from exportdsl.cli.main import run; run()", "lsp", "--stdio"]
TIMEOUT = 60  # seconds for one whole conversation with the server
_SEVERITIES = {1: "error", 2: "warning", 3: "info"}


class Editor:
    """A client with the documents it opened and the diagnostics it was sent."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.published: dict[str, list[types.Diagnostic]] = {}
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        self.arrived = asyncio.Condition()

    async def diagnostics(self, uri: str, version: int) -> list[types.Diagnostic]:
        """The diagnostics of the document's given version (waiting for them)."""
        async with self.arrived:
            await self.arrived.wait_for(lambda: self.versions.get(uri) == version)
        return self.published[uri]

    async def open(self, path: Path, text: str | None = None) -> list[types.Diagnostic]:
        uri = from_fs_path(str(path))
        assert uri is not None
        self.texts[uri] = path.read_text(encoding="utf-8") if text is None else text
        item = types.TextDocumentItem(uri, "yaml", 1, self.texts[uri])
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(item))
        return await self.diagnostics(uri, 1)

    async def change(self, uri: str, text: str, version: int) -> list[types.Diagnostic]:
        self.send(uri, text, version)
        return await self.diagnostics(uri, version)

    def send(self, uri: str, text: str, version: int) -> None:
        self.texts[uri] = text
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=version, uri=uri),
                [types.TextDocumentContentChangeWholeDocument(text)],
            )
        )

    def position(self, uri: str, marker: str, after: int = 0) -> types.Position:
        """The position of ``marker``'s first occurrence, plus ``after`` characters."""
        text = self.texts[uri]
        line, character = Lines(text).position(text.index(marker) + after)
        return types.Position(line, character)


@asynccontextmanager
async def editor(
    root: Path, encodings: list[str] | None = None, options: Any = None
) -> AsyncIterator[Editor]:
    client = LanguageClient("test-editor", "1")
    session = Editor(client)

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    async def _published(params: types.PublishDiagnosticsParams) -> None:
        async with session.arrived:
            session.published[params.uri] = list(params.diagnostics)
            session.versions[params.uri] = params.version or 0
            session.arrived.notify_all()

    await client.start_io(*SERVER, cwd=str(root))
    try:
        general = types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind(e) for e in encodings or ["utf-16"]]
        )
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(general=general),
                initialization_options=options,
                workspace_folders=[types.WorkspaceFolder(from_fs_path(str(root)) or "", "w")],
            )
        )
        client.initialized(types.InitializedParams())
        yield session
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        server = client._server  # a failed test must not leave the server waiting for `exit`
        if server is not None:
            if server.stdin is not None:
                server.stdin.close()  # its reader thread waits for input until the end of it
            try:
                await asyncio.wait_for(server.wait(), 5)
            except TimeoutError:
                server.kill()
        await client.stop()


def converse(
    root: Path,
    scenario: Callable[[Editor], Awaitable[None]],
    encodings: list[str] | None = None,
    options: Any = None,
) -> None:
    async def run() -> None:
        async with editor(root, encodings, options) as session:
            await scenario(session)

    asyncio.run(asyncio.wait_for(run(), TIMEOUT))


def as_records(diagnostics: list[types.Diagnostic]) -> list[tuple[Any, ...]]:
    """Code, severity and range as `check --format json` writes them (1-based, end inclusive)."""
    return sorted(
        (
            d.code,
            _SEVERITIES[d.severity or 1],
            d.range.start.line + 1,
            d.range.start.character + 1,
            d.message.split("\nhint: ")[0],
        )
        for d in diagnostics
    )


def check_json(root: Path, paths: list[Path]) -> dict[str, list[tuple[Any, ...]]]:
    result = subprocess.run(
        [*SERVER[:3], "check", "--format", "json", *map(str, paths)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    found: dict[str, list[tuple[Any, ...]]] = {str(path): [] for path in paths}
    for record in json.loads(result.stdout):
        fields = ("code", "severity", "line", "column", "message")
        found[record["file"]].append(tuple(record[name] for name in fields))
    return {file: sorted(records) for file, records in found.items()}


# --- diagnostics -----------------------------------------------------------------------------


def test_diagnostics_on_open_are_checks_own(tmp_path: Path) -> None:
    """Every lint example (all codes the checker reports, suppressions, a JSON file), with a
    pyproject that ignores one code and per-file-ignores another: the server publishes what
    `check` prints, code, severity, position and message."""
    examples = sorted(
        p
        for p in EXAMPLES.iterdir()
        if p.suffix in (".yaml", ".json")
        and not p.name.endswith(".out.json")
        and p.name != "invalid-utf8.yaml"  # an editor never holds bytes that are not UTF-8
    )
    for example in examples:
        shutil.copy(example, tmp_path / example.name)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.exportdsl]\nignore = ["XD508"]\n'
        'per-file-ignores = { "unknown-variables.yaml" = ["XD506"] }\n'
    )
    copies = [tmp_path / example.name for example in examples]
    expected = check_json(tmp_path, copies)
    assert any(code == "XD506" for records in expected.values() for code, *_ in records)

    async def scenario(session: Editor) -> None:
        for copy in copies:
            published = await session.open(copy)
            assert as_records(published) == expected[str(copy)], copy.name

    converse(tmp_path, scenario)


TYPO = """\
connector: {id: 1, name: typo}
client: {id: 1}
pdata: {tenant: acme}
export:
  url: https://crm.example/$ClientID/$pdata.tenant
  headers: {Content-Type: application/json}
  body: |
    {"pdf": "$report.encoded.base64",
     "texts": [#foreach($m in $chat.messages)"$m.contnet"#if($foreach.hasNext),#end#end]}
"""


def test_a_change_updates_the_diagnostics(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(TYPO)

    async def scenario(session: Editor) -> None:
        first = await session.open(path)
        assert [d.code for d in first] == ["XD201", "XD202"]
        uri = from_fs_path(str(path)) or ""
        fixed = TYPO.replace("$ClientID", "$ClientsID")
        assert [d.code for d in await session.change(uri, fixed, 2)] == ["XD202"]
        broken = fixed.replace("url:", "url: [")  # not YAML any more
        assert [d.code for d in await session.change(uri, broken, 3)] == ["XD001"]

    converse(tmp_path, scenario)


def test_changes_sent_together_are_checked_as_the_last_and_requests_read_it(
    tmp_path: Path,
) -> None:
    """Typing faster than a long template is checked: the server checks the latest text, and a
    hover sent right after the changes answers from that text, not from an older one."""
    path = tmp_path / "typo.yaml"
    path.write_text(TYPO)

    async def scenario(session: Editor) -> None:
        await session.open(path)
        uri = from_fs_path(str(path)) or ""
        name = ""
        for version, letter in enumerate("ClientsID", start=2):
            name += letter
            session.send(uri, TYPO.replace("$ClientID", f"${name}"), version)
        found = await session.client.text_document_hover_async(
            types.HoverParams(
                types.TextDocumentIdentifier(uri), session.position(uri, "$ClientsID", 2)
            )
        )
        assert found is not None and isinstance(found.contents, types.MarkupContent)
        assert "`$ClientsID`**: client account id" in found.contents.value
        assert [d.code for d in await session.diagnostics(uri, 10)] == ["XD202"]
        typing = session.texts[uri].replace(
            "  body: |", "  auth: {basic: {username: $chatConnector., password: x}}\n  body: |"
        )
        session.send(uri, typing, 11)  # completion reads this text, checked or not yet
        found_items = await session.client.text_document_completion_async(
            types.CompletionParams(
                types.TextDocumentIdentifier(uri),
                session.position(uri, "$chatConnector.", len("$chatConnector.")),
            )
        )
        assert isinstance(found_items, types.CompletionList)
        assert {item.label for item in found_items.items} == {"id", "name"}
        await session.diagnostics(uri, 11)

    converse(tmp_path, scenario)


@pytest.mark.parametrize(("encoding", "column"), [("utf-8", 35), ("utf-32", 31)])
def test_positions_in_the_encoding_the_client_chose(
    tmp_path: Path, encoding: str, column: int
) -> None:
    """Characters outside ASCII before a finding: its column in the client's own units (UTF-16,
    the default, in the other tests and in `test_positions_count_the_negotiated_units`)."""
    path = tmp_path / "unicode.yaml"
    path.write_text(
        TYPO.replace("https://crm.example/$ClientID", "https://crm.example/😀é/$ClientID")
    )

    async def scenario(session: Editor) -> None:
        found = await session.open(path)
        assert found[0].code == "XD201"
        assert (found[0].range.start.line, found[0].range.start.character) == (4, column)

    converse(tmp_path, scenario, [encoding])


def test_the_environment_is_checked_when_the_editor_asks_as_check_env_does(
    tmp_path: Path,
) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(TYPO.replace("$ClientID", "$env.EXPORTDSL_TEST_SURELY_UNSET"))

    async def scenario(session: Editor) -> None:
        codes = [d.code for d in await session.open(path)]
        assert ("XD509" in codes) == asked

    for asked in (False, True):
        converse(tmp_path, scenario, options={"env": True} if asked else None)


# --- code actions --------------------------------------------------------------------------------


def apply(text: str, edits: list[types.TextEdit]) -> str:
    lines = Lines(text)
    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character))[::-1]:
        start = lines.offset(edit.range.start.line, edit.range.start.character)
        end = lines.offset(edit.range.end.line, edit.range.end.character)
        text = text[:start] + edit.new_text + text[end:]
    return text


def test_code_actions_fix_did_you_mean_in_a_block_and_in_a_directive(tmp_path: Path) -> None:
    """The quick fix for `$ClientID` (a URL) and for `$m.contnet` (inside a #foreach in a `|`
    block), each applied as the editor would: the diagnostics go away."""
    path = tmp_path / "typo.yaml"
    path.write_text(TYPO)

    async def scenario(session: Editor) -> None:
        await session.open(path)
        uri = from_fs_path(str(path)) or ""
        version = 1
        for marker, after, title in (
            ("$ClientID", 3, "Replace $ClientID with $ClientsID"),
            ("$m.contnet", 5, "Replace .contnet with .content"),
        ):
            spot = session.position(uri, marker, after)
            actions = await session.client.text_document_code_action_async(
                types.CodeActionParams(
                    types.TextDocumentIdentifier(uri),
                    types.Range(spot, spot),
                    types.CodeActionContext(diagnostics=[]),
                )
            )
            assert actions is not None
            chosen = [a for a in actions if isinstance(a, types.CodeAction) and a.title == title]
            assert len(chosen) == 1, actions
            edit = chosen[0].edit
            assert edit is not None and edit.changes is not None
            version += 1
            text = apply(session.texts[uri], list(edit.changes[uri]))
            await session.change(uri, text, version)
        assert session.published[uri] == []
        assert "$ClientsID/" in session.texts[uri] and '"$m.content"' in session.texts[uri]

    converse(tmp_path, scenario)


HEADER_BLOCK = """\
connector: {id: 2, name: block}
client: {id: 1}
export:
  url: https://crm.example/reports
  headers:
    Authorization: |
      Bearer $env.CRM_TOKEN
    Enabled: yes
  body: $chat
  method: POST
"""


def test_code_actions_strip_a_block_and_quote_a_value(tmp_path: Path) -> None:
    path = tmp_path / "block.yaml"
    path.write_text(HEADER_BLOCK)

    async def scenario(session: Editor) -> None:
        uri = from_fs_path(str(path)) or ""
        found = await session.open(path)
        # the loader's error first; once the value is quoted, the compiler's (XD212)
        for version, code in ((2, "XD002"), (3, "XD212")):
            assert [d.code for d in found] == [code]
            whole = types.Range(types.Position(0, 0), types.Position(20, 0))
            actions = await session.client.text_document_code_action_async(
                types.CodeActionParams(
                    types.TextDocumentIdentifier(uri), whole, types.CodeActionContext([])
                )
            )
            assert actions is not None and len(actions) == 1
            action = actions[0]
            assert isinstance(action, types.CodeAction) and action.edit and action.edit.changes
            assert action.kind == types.CodeActionKind.QuickFix
            text = apply(session.texts[uri], list(action.edit.changes[uri]))
            found = await session.change(uri, text, version)
        assert found == []
        assert "Authorization: |-\n" in text and 'Enabled: "yes"' in text

    converse(tmp_path, scenario)


# --- hover, completion, definition ---------------------------------------------------------------

MESSAGES = """\
connector: {id: 3, name: messages}
client: {id: 1}
token:
  url: https://auth.example/token
  method: GET
pdata:
  tenant: acme
  tags: [a, b]
export:
  url: https://crm.example/$pdata.tenant/chats
  headers:
    Content-Type: application/json
    Authorization: Bearer $tokenResponse.body.JSON.access_token
  body: |
    {"pdf": "$report.encoded.base64", "tags": $pdata.tags,
     "texts": [#foreach($m in $chat.messages)"$m.content"#if($foreach.hasNext),#end#end]}
"""


def test_hover_says_what_phase_and_escaping(tmp_path: Path) -> None:
    path = tmp_path / "messages.yaml"
    path.write_text(MESSAGES)

    async def hover(session: Editor, uri: str, marker: str, after: int) -> str:
        found = await session.client.text_document_hover_async(
            types.HoverParams(
                types.TextDocumentIdentifier(uri), session.position(uri, marker, after)
            )
        )
        assert found is not None and isinstance(found.contents, types.MarkupContent)
        return found.contents.value

    async def scenario(session: Editor) -> None:
        assert await session.open(path) == []
        uri = from_fs_path(str(path)) or ""
        in_loop = await hover(session, uri, '"$m.content"', 5)  # on `content`, in the #foreach
        assert "`$m.content`" in in_loop and "text, or a system event" in in_loop
        assert "export request (phase 2)" in in_loop and "escaped as JSON string content" in in_loop
        in_url = await hover(session, uri, "$pdata.tenant/", 2)  # on `pdata`
        assert "`$pdata`**: connector pdata" in in_url and "`.tenant`, `.tags`" in in_url
        tenant = await hover(session, uri, "$pdata.tenant/", 8)
        assert "text, from this file's pdata" in tenant and "percent-encoded" in tenant
        base64 = await hover(session, uri, "$report.encoded.base64", 17)
        assert "base64 text" in base64 and "no escaping needed" in base64
        condition = await hover(session, uri, "$foreach.hasNext", 10)
        assert "true but for the last item" in condition and "not output here" in condition

    converse(tmp_path, scenario)


def test_completion_after_dollar_brace_dot_and_inside_foreach(tmp_path: Path) -> None:
    path = tmp_path / "messages.yaml"
    path.write_text(MESSAGES)

    async def labels(session: Editor, uri: str, text: str, marker: str, version: int) -> set[str]:
        await session.change(uri, text, version)
        found = await session.client.text_document_completion_async(
            types.CompletionParams(
                types.TextDocumentIdentifier(uri), session.position(uri, marker, len(marker))
            )
        )
        assert isinstance(found, types.CompletionList)
        return {item.label for item in found.items}

    async def scenario(session: Editor) -> None:
        await session.open(path)
        uri = from_fs_path(str(path)) or ""
        token_url = MESSAGES.replace("auth.example/token", "auth.example/$")
        heads = await labels(session, uri, token_url, "auth.example/$", 2)
        assert {"pdata", "chat", "ClientsID", "env"} <= heads
        assert not heads & {"report", "tokenResponse", "xmlTemplate"}  # not in the token phase
        export_url = MESSAGES.replace("/chats", "/${")
        heads = await labels(session, uri, export_url, "/${", 3)
        assert {"report", "tokenResponse", "pdata"} <= heads and "xmlTemplate" not in heads
        pdata = await labels(session, uri, MESSAGES.replace("/chats", "/$pdata."), "/$pdata.", 4)
        assert pdata == {"tenant", "tags"}
        answer = "$tokenResponse.body.JSON."
        fields = await labels(session, uri, MESSAGES.replace("/chats", "/" + answer), answer, 5)
        assert {"access_token", "expires_in"} <= fields
        in_loop = MESSAGES.replace('"$m.content"', '"$m.')
        assert await labels(session, uri, in_loop, '"$m.', 6) == set(MESSAGE_FIELDS)
        in_body = MESSAGES.replace('"$m.content"', '"$')
        loop_names = await labels(session, uri, in_body, 'messages)"$', 7)
        assert {"m", "foreach", "chat"} <= loop_names
        state = await labels(
            session, uri, MESSAGES.replace("$foreach.hasNext", "$foreach."), "#if($foreach.", 8
        )
        assert {"hasNext", "count", "index", "first", "last", "parent"} == state
        opened = MESSAGES.replace("#foreach($m in $chat.messages)", "#foreach(")
        loops = await labels(session, uri, opened, "#foreach(", 9)
        assert {"$message in $chat.messages", "$path in $chat.paths"} <= loops
        sources = MESSAGES.replace("#foreach($m in $chat.messages)", "#foreach($m in $")
        assert {"$chat.messages", "$pdata.tags"} <= await labels(
            session, uri, sources, "#foreach($m in $", 10
        )

    converse(tmp_path, scenario)


def test_go_to_definition_of_a_pdata_key_and_a_loop_variable(tmp_path: Path) -> None:
    path = tmp_path / "messages.yaml"
    path.write_text(MESSAGES)

    async def scenario(session: Editor) -> None:
        await session.open(path)
        uri = from_fs_path(str(path)) or ""

        async def where(marker: str, after: int) -> types.Position:
            found = await session.client.text_document_definition_async(
                types.DefinitionParams(
                    types.TextDocumentIdentifier(uri), session.position(uri, marker, after)
                )
            )
            assert isinstance(found, types.Location) and found.uri == uri
            return found.range.start

        assert await where("$pdata.tenant/", 9) == session.position(uri, "tenant: acme")
        assert await where("$pdata.tags", 8) == session.position(uri, "tags: [a, b]")
        assert await where('"$m.content"', 2) == session.position(uri, "$m in $chat")

    converse(tmp_path, scenario)


# --- pieces without a server ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "expected"), [("utf-16", (1, 8)), ("utf-8", (1, 11)), ("utf-32", (1, 7))]
)
def test_positions_count_the_negotiated_units(encoding: str, expected: tuple[int, int]) -> None:
    text = "a: 1\r\nb: '😀é' $x\rc"
    lines = Lines(text, encoding)
    offset = text.index("'", 10) + 1
    assert lines.position(offset) == expected
    assert lines.offset(*expected) == offset
    assert lines.offset(2, 0) == text.index("c")
    assert lines.offset(1, 999) == text.index("\rc")  # past a line's end: its end


def test_check_does_not_load_the_language_server() -> None:
    """pygls and lsprotocol load only for `exportdsl lsp`: `check` starts as fast as before."""
    probe = (
        "import sys\n"
        "from exportdsl.cli.main import main\n"
        "try:\n"
        "    main(['check', 'connectors/jtel-oauth-json.yaml'], standalone_mode=False)\n"
        "finally:\n"
        "    print(sorted(m for m in ('pygls', 'lsprotocol', 'cattrs') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr


# --- the source maps' fast path (the check of a long block scalar, bench/bench_lsp.py) -----------


def _align_char_by_char(raw: str, base: int, value: str, style: str) -> list[int]:
    """`yamlsource._align` as it was: one character at a time (the reference)."""
    from exportdsl.connector.yamlsource import _seek, _width

    position = {"'": 1, '"': 1}.get(style, 0)
    if style in ("|", ">"):
        position = raw.find("\n") + 1
    anchors: list[int] = []
    for char in value:
        position = _seek(raw, position, char, style)
        anchors.append(base + min(position, max(len(raw) - 1, 0)))
        position += _width(raw, position, style)
    anchors.append(base + min(position, len(raw)))
    return anchors


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "bc", " ", "'", '"', "\\", "\n", "é", "😀", "\t", "#", ":"])),
    st.sampled_from(["plain", "'", '"', "|", ">", "|-", ">+"]),
)
def test_source_maps_take_runs_at_once_as_the_character_walk_did(
    pieces: list[str], style: str
) -> None:
    import yaml

    from exportdsl.connector.yamlsource import _align

    body = "".join(pieces)
    if style == "'":
        raw = "'" + body.replace("'", "''").replace("\n", "\n\n") + "'"
    elif style == '"':
        raw = '"' + body.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    elif style == "plain":
        raw = body.replace("\n", " ")
    else:
        raw = style + "\n" + "".join(f"  {line}\n" for line in body.split("\n"))
    text = f"key: {raw}\n"
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return
    assert node is not None
    scalar = node.value[0][1]
    if not isinstance(scalar, yaml.ScalarNode):
        return
    start, end = scalar.start_mark.index, scalar.end_mark.index
    found = text[start:end], start, scalar.value, scalar.style or ""
    assert _align(*found) == _align_char_by_char(*found)


def test_hover_and_completion_work_while_the_file_does_not_load() -> None:
    """A key half typed elsewhere (the connector is refused): the templates still complete from
    the file's YAML, and hover says escaping is known once the file has no errors."""
    from exportdsl.lint.runner import lint_source
    from exportdsl.lint.settings import Settings
    from exportdsl.lsp.intel import complete, hover
    from exportdsl.lsp.view import view_of

    text = MESSAGES.replace("client: {id: 1}", "client: {id: 1}\ntimezon: UTC").replace(
        "/chats", "/$pdata."
    )
    linted = lint_source(text, "m.yaml", Settings())
    assert linted.connector is None
    view = view_of(linted)
    cursor = text.index("/$pdata.") + len("/$pdata.")
    assert {item.label for item in complete(view, cursor)} == {"tenant", "tags"}
    found = hover(view, text.index("$chat.messages") + 2)
    assert found is not None and "`$chat`" in found.markdown
    assert "known once the file has no errors" in found.markdown


def test_shell_completion_works_as_docs_editor_md_says() -> None:
    """docs/editor.md's completion scripts: click writes them, and they complete commands and
    option values."""
    command = [str(Path(sys.executable).parent / "exportdsl")]  # the script: its name is the prog
    script = subprocess.run(
        command,
        env={**os.environ, "_EXPORTDSL_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "_exportdsl_completion()" in script.stdout
    answer = subprocess.run(
        command,
        env={
            **os.environ,
            "_EXPORTDSL_COMPLETE": "bash_complete",
            "COMP_WORDS": "exportdsl check --format ",
            "COMP_CWORD": "3",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.stdout.split() == ["plain,text", "plain,json", "plain,github", "plain,sarif"]
    assert "_EXPORTDSL_COMPLETE=bash_source exportdsl" in (ROOT / "docs" / "editor.md").read_text()


def test_hover_and_definition_in_a_template_that_does_not_parse_yet() -> None:
    """A `${` half typed after a reference (in a JSON file, after a \\u escape): hover and go to
    definition still find the reference before it, at its place in the file."""
    from exportdsl.lint.runner import lint_source
    from exportdsl.lint.settings import Settings
    from exportdsl.lsp.intel import definition, hover
    from exportdsl.lsp.view import view_of

    text = (
        '{"connector": {"id": 1, "name": "j"}, "client": {"id": 1}, "pdata": {"b": 2},\n'
        ' "export": {"url": "https://x.example/\\u00e9$pdata.b/${pdata."}}\n'
    )
    linted = lint_source(text, "c.json", Settings())
    assert "XD100" in [d.code for d in linted.report.diagnostics]
    view = view_of(linted)
    on_b = text.index("$pdata.b") + 7
    found = hover(view, on_b)
    assert found is not None and text[found.start : found.end] == "$pdata.b"
    assert "a number, from this file's pdata" in found.markdown
    assert "once the template has no syntax error" in found.markdown
    assert definition(view, on_b) == linted.connector.pdata_locations["b"]  # type: ignore[union-attr]


def test_names_set_from_each_other_do_not_loop() -> None:
    from exportdsl.lsp.intel import complete, hover
    from exportdsl.lsp.view import quick_view

    text = (
        "connector: {id: 1, name: x}\nclient: {id: 1}\nexport:\n  url: https://b.example/\n"
        '  body: "#set($a = $b)#set($b = $a)$a $b."\n'
    )
    view = quick_view(text, "y.yaml")
    assert complete(view, text.index("$b.") + 3) == []
    found = hover(view, text.index("$a $b") + 1)
    assert found is not None and "a value written by #set" in found.markdown


_SOURCES = [
    p.read_text(encoding="utf-8")
    for p in sorted((ROOT / "connectors").glob("*.yaml")) + sorted(EXAMPLES.glob("*.yaml"))
    if p.name != "invalid-utf8.yaml"
]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(_SOURCES),
    st.integers(min_value=0),
    st.sampled_from(["", "$", "${", ".", "#foreach(", "#end", "'", '"', "\n", "|", ":", "\\"]),
    st.lists(st.integers(min_value=0), min_size=1, max_size=4),
)
def test_hover_completion_and_definition_never_fail_on_text_being_typed(
    source: str, at: int, typed: str, cursors: list[int]
) -> None:
    """Whatever half-written text and wherever the cursor: an answer or none, never an error
    (nor from the fixes)."""
    from exportdsl.lint.fixes import fix_source
    from exportdsl.lint.runner import lint_source
    from exportdsl.lint.settings import Settings
    from exportdsl.lsp.intel import complete, definition, hover
    from exportdsl.lsp.view import quick_view, view_of

    at %= len(source) + 1
    text = source[:at] + typed + source[at:]
    linted = lint_source(text, "c.yaml", Settings())
    fix_source(text, "c.yaml", Settings())
    for view in (view_of(linted), quick_view(text, "c.yaml")):
        for cursor in cursors:
            offset = cursor % (len(text) + 1)
            complete(view, offset)
            hover(view, offset)
            definition(view, offset)
