"""Issue 16's review: the language server, `check --fix` and the schema, at the places the
reviewer found wrong (each test failed before its fix)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from lsprotocol import types
from test_lsp import Editor, converse

from exportdsl.lint.runner import lint_source
from exportdsl.lint.settings import Settings
from exportdsl.lsp.intel import complete, definition, hover
from exportdsl.lsp.view import quick_view, view_of

ROOT = Path(__file__).parent.parent
HEAD = "connector: {id: 41, name: x}\nclient: {id: 1001}\npdata:\n  tenant: acme\nexport:\n"

# --- 1. hover, completion and definition while the YAML (or JSON) does not parse --------------

BEING_TYPED = {
    "a key half typed below": (HEAD + "  url: https://x.example.com/$pdata.\n  hea\n", "y.yaml"),
    "a quote not closed yet": (
        HEAD + '  url: https://x.example.com/\n  body: "$pdata.\n',
        "y.yaml",
    ),
    "a quote not closed, keys after it": (
        HEAD + '  body: "$pdata.\n  headers: {X-A: b}\n',
        "y.yaml",
    ),
    "a flow mapping not closed above": (
        HEAD.replace("name: x}", "name: x") + "  url: https://x.example.com/$pdata.\n",
        "y.yaml",
    ),
    "JSON being typed": (
        '{"connector": {"id": 41, "name": "x"}, "client": {"id": 1001},\n'
        ' "pdata": {"tenant": "acme"}, "export": {"url": "https://x.example.com/$pdata.',
        "c.json",
    ),
    "JSON key half typed": (
        '{"connector": {"id": 41, "name": "x"}, "client": {"id": 1001},\n'
        ' "pdata": {"tenant": "acme"}, "export": {"url": "https://x.example.com/$pdata.", "he',
        "c.json",
    ),
}


@pytest.mark.parametrize("case", sorted(BEING_TYPED))
def test_completion_while_the_yaml_does_not_parse(case: str) -> None:
    text, file = BEING_TYPED[case]
    linted = lint_source(text, file, Settings())
    assert linted.connector is None  # the file's syntax error is what the editor shows meanwhile
    assert {"XD001", "XD100"} & {d.code for d in linted.report.diagnostics}  # YAML, JSON
    cursor = text.index("$pdata.") + len("$pdata.")
    for view in (quick_view(text, file), view_of(linted)):
        assert [item.label for item in complete(view, cursor)] == ["tenant"]
        found = complete(view, cursor)[0]
        assert (found.start, found.end) == (cursor, cursor)  # where the editor shows the cursor


def test_hover_and_definition_while_a_quote_is_open_elsewhere() -> None:
    text = HEAD + '  url: https://x.example.com/$pdata.tenant\n  body: "#foreach($m in\n'
    view = quick_view(text, "y.yaml")
    on_tenant = text.index("$pdata.tenant") + 8
    found = hover(view, on_tenant)
    assert found is not None and text[found.start : found.end] == "$pdata.tenant"
    where = definition(view, on_tenant)
    assert where is not None and (where.line, where.column) == (4, 3)


def test_the_language_server_completes_while_the_yaml_does_not_parse(tmp_path: Path) -> None:
    """Over the protocol: the YAML error is published, and completion still answers."""
    text = HEAD + '  url: https://x.example.com/\n  body: "$pdata.\n'

    async def scenario(editor: Editor) -> None:
        diagnostics = await editor.open(tmp_path / "typing.yaml", text)
        assert [d.code for d in diagnostics] == ["XD001"]  # the YAML error, as check reports it
        uri = next(iter(editor.texts))
        position = editor.position(uri, "$pdata.", len("$pdata."))
        answer = await editor.client.text_document_completion_async(
            types.CompletionParams(types.TextDocumentIdentifier(uri), position)
        )
        assert isinstance(answer, types.CompletionList)
        assert [item.label for item in answer.items] == ["tenant"]
        found = await editor.client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), position)
        )
        assert found is None  # not on a reference: no hover, and no error either

    converse(tmp_path, scenario)


# --- 2. numbers YAML reads otherwise than written ------------------------------------------------

NUMBERS = (
    "connector: {id: 41, name: x}\nclient: {id: 1001}\n"
    "pdata: {ver: 1.10, zip: 1_000, rate: 1.0, limit: 1000}\n"
    "export:\n  url: https://b.example.com/v/$pdata.ver/$pdata.zip/$pdata.rate/$pdata.limit\n"
    '  body: "$report.encoded.base64"\n'
)


def test_a_version_and_grouped_digits_are_flagged_and_quoted_by_fix() -> None:
    linted = lint_source(NUMBERS, "n.yaml", Settings())
    found = {(d.location.column if d.location else 0): d.message for d in linted.report.diagnostics}
    assert found == {
        14: "YAML 1.1 reads '1.10' as 1.1, which is seldom what is meant",
        25: "YAML 1.1 reads '1_000' as 1000, which is seldom what is meant",
    }  # 1.0 and 1000 are sent as written: not flagged
    from exportdsl.lint.fixes import fix_source

    fixed = fix_source(NUMBERS, "n.yaml", Settings())
    assert "{ver: '1.10', zip: '1_000', rate: 1.0, limit: 1000}" in fixed.text
    assert fixed.linted.report.diagnostics == ()


def test_json_numbers_are_json_numbers() -> None:
    text = (
        '{"connector": {"id": 41, "name": "x"}, "client": {"id": 1001}, "pdata": {"ver": 1.10},'
        ' "export": {"url": "https://b.example.com/$pdata.ver",'
        ' "body": "$report.encoded.base64"}}'
    )
    assert lint_source(text, "n.json", Settings()).report.diagnostics == ()


# --- 3. --fix leaves a null alone ----------------------------------------------------------------


def test_fix_never_turns_a_null_into_the_word() -> None:
    from exportdsl.lint.fixes import fix_source

    text = (
        "connector: {id: 41, name: x}\nclient: {id: 1001}\nexport:\n  url: https://b.example.com/\n"
        "  headers:\n    X-A:\n    X-B: null\n    X-C: ~\n    X-D: NULL\n"
        '    X-E: yes\n  body: "$report.encoded.base64"\n'
    )
    fixed = fix_source(text, "h.yaml", Settings())
    assert fixed.text == text.replace("X-E: yes", 'X-E: "yes"')  # the one value it means to fix
    assert [d.location.line for d in fixed.linted.report.diagnostics if d.location] == [6, 7, 8, 9]


# --- 4, 5. check --fix -: the input's bytes but for the fixes; a machine format alone -----------

FIXABLE = (
    "connector: {id: 41, name: x}\r\nclient: {id: 1001}\r\nexport:\r\n"
    "  url: https://b.example.com/\r\n  headers: {X-On: yes}\r\n"
    '  body: "$report.encoded.base64"\r\n'
)
BOM = b"\xef\xbb\xbf"


def test_fix_stdin_keeps_the_byte_order_mark_and_line_breaks() -> None:
    from test_fix import exportdsl

    clean = BOM + NUMBERS.replace("1.10", "'1.10'").replace("1_000", "'1_000'").encode()
    assert exportdsl("check", "--fix", "-", stdin=clean).stdout == clean
    result = exportdsl("check", "--fix", "-", stdin=BOM + FIXABLE.encode())
    assert result.stdout == BOM + FIXABLE.replace("yes}", '"yes"}').encode()
    assert b"fixed 1 problem" in result.stderr


@pytest.mark.parametrize("output_format", ["json", "sarif"])
def test_fix_stdin_writes_the_report_alone_on_standard_error(output_format: str) -> None:
    import json

    from test_fix import exportdsl

    broken = FIXABLE.replace("url:", "urll:").replace("  body", "  url: https://a.example/\n  body")
    result = exportdsl("check", "--fix", "--format", output_format, "-", stdin=broken.encode())
    assert result.stdout.decode() == broken.replace("yes}", '"yes"}')  # the fixed file, only
    report = json.loads(result.stderr)  # the whole of standard error: no summary line in it
    found = report if output_format == "json" else report["runs"][0]["results"]
    assert len(found) == 1 and result.returncode == 1
    clean = exportdsl("check", "--fix", "--format", output_format, "-", stdin=FIXABLE.encode())
    assert json.loads(clean.stderr) is not None and clean.returncode == 0


# --- 6. a lone surrogate in the editor's text ----------------------------------------------------


def test_a_lone_surrogate_is_a_diagnostic_at_its_place() -> None:
    from exportdsl.lsp.server import check_document, lsp_diagnostics

    text = HEAD + "  url: https://x.example.com/\udcff$pdata.tenant\n"
    checked = check_document("file:///tmp/s.yaml", text, Settings())
    found = lsp_diagnostics(checked)
    assert found[0].code == "XD001" and found[0].message.startswith("U+DCFF is half of a UTF-16")
    start = found[0].range.start
    assert (start.line, start.character) == (5, len("  url: https://x.example.com/"))
    on_tenant = text.index("$pdata.tenant") + 8
    shown = hover(checked.view, on_tenant)  # the rest of the file still reads
    assert shown is not None and text[shown.start : shown.end] == "$pdata.tenant"


# --- 7. hover on what a directive declares; $tokenResponse goes to `token:` ----------------------

DECLARING = (
    "connector: {id: 41, name: x}\nclient: {id: 1001}\n"
    "token:\n  url: https://t.example.com/\n  body: a\nexport:\n"
    "  url: https://x.example.com/$tokenResponse.body.JSON.a\n  body: |\n"
    "    #foreach($m in $chat.messages)$m.type#end #set($x = 1)$x $report.encoded.base64\n"
)


@pytest.mark.parametrize(
    ("probe", "after", "expected"),
    [
        ("$m in", 1, "**`$m`**: a message"),
        ("#foreach", 2, "**`$m`**: a message"),
        ("$x =", 1, "**`$x`**: a value written by #set"),
        ("#set", 2, "**`$x`**: a value written by #set"),
    ],
)
def test_hover_on_a_name_where_a_directive_declares_it(
    probe: str, after: int, expected: str
) -> None:
    view = quick_view(DECLARING, "d.yaml")
    found = hover(view, DECLARING.index(probe) + after)
    assert found is not None and found.markdown.startswith(expected)
    assert "declared here" in found.markdown
    assert DECLARING[found.start : found.end] == expected.split("`")[1]  # the name, underlined


@pytest.mark.parametrize("checked", [True, False])
def test_definition_of_token_response_is_the_token_key(checked: bool) -> None:
    text = DECLARING if checked else DECLARING + "oops: [\n"
    view = (
        view_of(lint_source(text, "d.yaml", Settings())) if checked else quick_view(text, "d.yaml")
    )
    where = definition(view, text.index("$tokenResponse") + 3)
    assert where is not None
    assert (where.line, where.column, where.end_line, where.end_column) == (3, 1, 3, 5)
    json_text = (
        '{"connector": {"id": 41, "name": "x"}, "client": {"id": 1001}, "token": {"url": '
        '"https://t.example/"}, "export": {"url": "https://x.example/$tokenResponse.body.JSON.a",'
        ' "body": "$report.encoded.base64"}}'
    )
    where = definition(quick_view(json_text, "d.json"), json_text.index("$tokenResponse") + 3)
    assert where is not None and where.column == json_text.index('"token"') + 1


# --- 8. JSON-RPC: invalid params, requests after shutdown, exit without shutdown -----------------


WATCHDOG = 20  # seconds a whole raw conversation may take


class RawClient:
    """The server as a subprocess, spoken to in JSON-RPC messages as they are written."""

    def __init__(self) -> None:
        import subprocess

        from test_lsp import SERVER

        self.process = subprocess.Popen(
            SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        # a request left unanswered must fail the test, not hang it: the server is stopped then
        self.watchdog = threading.Timer(WATCHDOG, self.process.kill)
        self.watchdog.start()

    def close(self) -> None:
        self.watchdog.cancel()
        self.process.kill()

    def send(self, message: dict[str, object]) -> None:
        import json

        assert self.process.stdin is not None
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def answer(self, number: int) -> dict[str, object]:
        """The answer to request ``number`` (notifications the server sends are passed)."""
        import json

        assert self.process.stdout is not None
        while True:
            length = 0
            while True:
                line = self.process.stdout.readline()
                assert line, "no answer: the server closed its output (or the watchdog did)"
                if not line.strip():
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            message = json.loads(self.process.stdout.read(length))
            if message.get("id") == number and "method" not in message:
                return dict(message)

    def initialize(self) -> None:
        self.send({"id": 0, "method": "initialize", "params": {"capabilities": {}}})
        self.answer(0)
        self.send({"method": "initialized", "params": {}})


HOVER_AT = {"textDocument": {"uri": "file:///tmp/x.yaml"}, "position": {"line": 0, "character": 0}}


def test_json_rpc_errors_are_answered_and_exit_says_whether_shut_down() -> None:
    client = RawClient()
    try:
        client.initialize()
        wrong = {**HOVER_AT, "position": {"line": -1, "character": 0}}
        client.send({"id": 1, "method": "textDocument/hover", "params": wrong})
        assert client.answer(1)["error"]["code"] == -32602  # type: ignore[index]
        client.send({"id": 2, "method": "textDocument/hover", "params": HOVER_AT})
        assert client.answer(2)["result"] is None  # and the server goes on serving
        client.send({"id": 3, "method": "shutdown"})
        assert client.answer(3)["result"] is None
        client.send({"id": 4, "method": "textDocument/hover", "params": HOVER_AT})
        assert client.answer(4)["error"]["code"] == -32600  # type: ignore[index]
        client.send({"method": "exit"})
        assert client.process.wait(30) == 0
    finally:
        client.close()
    without_shutdown = RawClient()
    try:
        without_shutdown.initialize()
        without_shutdown.send({"method": "exit"})
        assert without_shutdown.process.wait(30) == 1
    finally:
        without_shutdown.close()


# --- 9. docs/editor.md maps the schema for .yaml, .yml and .json, to the shipped file -----------

SHIPPED = (ROOT / "exportdsl" / "data" / "connector.schema.json").resolve()
EDITOR_MD = ROOT / "docs" / "editor.md"


def _blocks(language: str) -> list[str]:
    import re

    return re.findall(rf"```{language}\n(.*?)```", EDITOR_MD.read_text(encoding="utf-8"), re.S)


def _matches(pattern: str, path: str) -> bool:
    """A settings glob against a workspace-relative path (`/x` and `x` both from its root)."""
    from fnmatch import fnmatchcase

    return fnmatchcase(path, pattern.removeprefix("/"))


def test_the_documented_schema_mappings_cover_yaml_yml_and_json_with_the_shipped_file() -> None:
    import json

    settings = next(json.loads(b) for b in _blocks("json") if "yaml.schemas" in b)
    for schema, patterns in settings["yaml.schemas"].items():
        assert (ROOT / schema).resolve() == SHIPPED
        for name in ("connectors/acme.yaml", "connectors/acme.yml"):
            assert any(_matches(p, name) for p in patterns), name
    (mapping,) = settings["json.schemas"]
    assert (ROOT / mapping["url"]).resolve() == SHIPPED
    assert any(_matches(p, "connectors/acme.json") for p in mapping["fileMatch"])
    (lua,) = [b for b in _blocks("lua") if "yamlls" in b]
    assert '"/exportdsl/data/connector.schema.json"' in lua  # joined to the repository's root
    for glob in ('"connectors/*.yaml"', '"connectors/*.yml"', '"/connectors/*.json"'):
        assert glob in lua, glob
    (first_line,) = [b for b in _blocks("yaml") if "$schema=" in b]
    relative = first_line.split("$schema=")[1].split()[0]
    assert (ROOT / "connectors" / relative).resolve() == SHIPPED  # from a connector in connectors/
    glspc = next(json.loads(b) for b in _blocks("json") if "glspc.server.command" in b)
    assert set(glspc["glspc.server.languageId"]) == {"yaml", "json"}


def test_a_number_field_takes_grouped_digits_and_a_trailing_zero_as_the_number() -> None:
    """Only a value sent as text (pdata) must keep its written form; `backoff: 1.50` is 1.5."""
    text = NUMBERS.replace("1.10", "'1.10'").replace("1_000", "'1_000'") + (
        "retry: {attempts: 3, backoff: 1.50}\ntimeout: {total: 1_000}\n"
    )
    found = [d.message for d in lint_source(text, "n.yaml", Settings()).report.diagnostics]
    assert not [m for m in found if "YAML 1.1 reads" in m], found
