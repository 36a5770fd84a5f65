"""Issue 16's review: the language server, `check --fix` and the schema, at the places the
reviewer found wrong (each test failed before its fix)."""

from __future__ import annotations

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
