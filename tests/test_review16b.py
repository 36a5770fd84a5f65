"""Issue 16's second review: the places the reviewer found wrong in the language server and
`check --fix` (each test failed before its fix)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from test_lsp import Editor, converse

from exportdsl.lint.fixes import Edit, Fix, fix_holds, fix_source, fixes
from exportdsl.lint.runner import lint_source
from exportdsl.lint.settings import Settings

TAIL = (
    "client: {id: 1001}\nexport:\n  url: https://crm.example/api\n"
    "  headers: {Content-Type: application/json, X-A: a: b}\n"
    '  body: \'{"r": "$report.encoded.base64"}\'\n'
)
UNCLOSED = (
    "connector: {id: 7, name: x\nclient: {id: 1001}\nexport:\n  url: https://crm.example/api\n"
    '  headers: {Content-Type: application/json}\n  body: \'{"r": "$report.encoded.base64"}\'\n'
)

# --- 1. "quote it whole" only where the value is text, and only fixes that hold ----------------

MAPPINGS = {
    "a slip inside connector: {...}": "connector: {id: 7:, name: x}\n" + TAIL,
    "a key glued inside connector: {...}": "connector: {id: 7, name: Chat (XML)lient: {id: 1}\n"
    + TAIL,
    "a brace not closed above": UNCLOSED,
}


@pytest.mark.parametrize("case", sorted(MAPPINGS))
def test_a_mapping_that_must_stay_one_is_never_quoted_whole(case: str) -> None:
    text = MAPPINGS[case]
    linted = lint_source(text, "m.yaml", Settings())
    hints = [d.hint or "" for d in linted.report.diagnostics]
    assert hints and not any("quote it whole" in hint for hint in hints)
    assert fixes(linted) == []
    fixed = fix_source(text, "m.yaml", Settings())
    assert (fixed.text, fixed.applied) == (text, 0)  # nothing said "fixed" while it remains


def test_a_header_value_written_as_a_flow_mapping_is_still_quoted_whole() -> None:
    text = (
        "connector: {id: 7, name: x}\nclient: {id: 1001}\nexport:\n  url: https://crm.example/api\n"
        "  headers:\n    Content-Type: application/json\n    X-A: {a: b: c}\n"
        '  body: \'{"r": "$report.encoded.base64"}\'\n'
    )
    fixed = fix_source(text, "h.yaml", Settings())
    assert '    X-A: "{a: b: c}"\n' in fixed.text and fixed.applied == 1
    assert fixed.linted.report.diagnostics == ()


def test_a_fix_that_leaves_its_problem_is_refused() -> None:
    """The old fix for an unclosed brace above: quoting the next key's mapping. The error stays,
    and a new one would come: it does not hold (the editor does not offer it, --fix refuses it)."""
    linted = lint_source(UNCLOSED, "m.yaml", Settings())
    (error,) = linted.report.diagnostics
    start = UNCLOSED.index("{id: 1001}")
    wrong = Fix("Quote", error, (Edit(start, start + len("{id: 1001}"), '"{id: 1001}"'),))
    assert not fix_holds(linted, wrong, Settings())


def test_the_editor_offers_no_quick_fix_that_would_not_hold(tmp_path: Path) -> None:
    async def scenario(editor: Editor) -> None:
        diagnostics = await editor.open(tmp_path / "m.yaml", UNCLOSED)
        uri = next(iter(editor.texts))
        answer = await editor.client.text_document_code_action_async(
            types.CodeActionParams(
                types.TextDocumentIdentifier(uri),
                diagnostics[0].range,
                types.CodeActionContext(diagnostics),
            )
        )
        assert not answer

    converse(tmp_path, scenario)
