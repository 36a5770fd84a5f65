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
from exportdsl.lsp.intel import complete, hover
from exportdsl.lsp.positions import Lines
from exportdsl.lsp.view import quick_view, view_of

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


# --- 2. completion while a quote or a comma is missing in the middle of the file ----------------

ROOT = Path(__file__).parent.parent
JTEL = (ROOT / "connectors" / "jtel-oauth-json.yaml").read_text(encoding="utf-8")
AFTER_AUTHORIZATION = "    Authorization: Bearer $tokenResponse.body.JSON.access_token\n"
JSON_CONNECTOR = (
    '{"connector": {"id": 5, "name": "json"},\n'
    ' "client": {"id": 1001},\n'
    ' "pdata": {"tenant": "acme"},\n'
    ' "export": {"url": "https://crm.example/$pdata.tenant",\n'
    '            "headers": {"Content-Type": "application/json", "X-A": "$chat.visitor.name"},\n'
    '            "body": "{\\"pdf\\": \\"$report.encoded.base64\\", '
    '\\"a\\": \\"$pdata.tenant\\"}"}}\n'
)
JSON_BROKEN = {
    "a string not closed": JSON_CONNECTOR.replace('"$chat.visitor.name"}', '"$chat.}'),
    "a comma missing": JSON_CONNECTOR.replace('{"id": 1001},', '{"id": 1001}'),
    "a key half typed": JSON_CONNECTOR.replace('"acme"},\n', '"acme"},\n "tim\n'),
}
QUOTE_OPEN_ABOVE_A_BODY = (
    "connector: {id: 7, name: x}\nclient: {id: 1001}\npdata: \"{tenant:'acme'}\"\nexport:\n"
    '  url: https://crm.example/api\n  headers:\n    X-New: "$chat.\n'
    "    Content-Type: application/json\n  body: |\n    {\n"
    + "".join(f'      "k{i}": "$pdata.tenant",\n' for i in range(10))
    + '      "r": "$report.encoded.base64"\n    }\n'
)


async def _labels(editor: Editor, uri: str, offset: int) -> list[str]:
    line, character = Lines(editor.texts[uri]).position(offset)
    answer = await editor.client.text_document_completion_async(
        types.CompletionParams(types.TextDocumentIdentifier(uri), types.Position(line, character))
    )
    assert isinstance(answer, types.CompletionList)
    return [item.label for item in answer.items]


def test_completion_keeps_up_while_typing_in_the_middle_of_a_file(tmp_path: Path) -> None:
    """The reviewer's sequences, typed key by key over the protocol: a header with its double quote
    not closed yet above a JSON body; a quote left open above ten body lines; JSON with a string
    not closed, a comma missing or a key half typed."""

    async def scenario(editor: Editor) -> None:
        await editor.open(tmp_path / "typing.yaml", JTEL)
        uri = next(iter(editor.texts))
        at = JTEL.index(AFTER_AUTHORIZATION) + len(AFTER_AUTHORIZATION)
        typed = '    X-Visitor: "$chat.visitor.'
        empty: list[str] = []
        for count in range(1, len(typed) + 1):
            text = JTEL[:at] + typed[:count] + "\n" + JTEL[at:]
            await editor.change(uri, text, count + 1)
            if typed[count - 1] in "$." and not await _labels(editor, uri, at + count):
                empty.append(typed[:count])
        assert empty == []

        await editor.open(tmp_path / "open.yaml", QUOTE_OPEN_ABOVE_A_BODY)
        uri = next(u for u in editor.texts if u.endswith("open.yaml"))
        cursor = QUOTE_OPEN_ABOVE_A_BODY.index('"$chat.') + len('"$chat.')
        assert "visitor" in await _labels(editor, uri, cursor)

        for number, (case, text) in enumerate(sorted(JSON_BROKEN.items())):
            diagnostics = await editor.open(tmp_path / f"broken{number}.json", text)
            assert [d.code for d in diagnostics] == ["XD001"], case
            uri = next(u for u in editor.texts if u.endswith(f"broken{number}.json"))
            body = text.index("$pdata.tenant\\") + len("$pdata.")
            assert await _labels(editor, uri, body) == ["tenant"], case
            header = text.index('"$chat.') + len('"$chat.')
            assert "visitor" in await _labels(editor, uri, header), case

    converse(tmp_path, scenario)


# --- 3. a property's phase is its root's -------------------------------------------------------

PHASES = (
    "connector: {id: 7, name: x}\nclient: {id: 1001}\npdata: \"{tenant:'acme'}\"\ntoken:\n"
    "  url: https://auth.example/token\n  headers: {Content-Type: application/json}\n"
    '  body: \'{"a": "$tokenResponse.body.JSON.x", "r": "$report.bytes"}\'\n'
    "export:\n  url: https://crm.example/api\n  headers: {Content-Type: application/json}\n"
    '  body: \'{"r": "$report.encoded.base64"}\'\n'
)


@pytest.mark.parametrize(
    "written", ["$tokenResponse.body", "$tokenResponse.body.JSON.x", "$report.bytes"]
)
def test_hover_on_a_property_says_where_its_root_is_available(written: str) -> None:
    linted = lint_source(PHASES, "p.yaml", Settings())
    assert "XD203" in {d.code for d in linted.report.diagnostics}  # not in the token request
    on_property = PHASES.index(written) + len(written) - 1
    found = hover(view_of(linted), on_property)
    assert found is not None
    (phase,) = [line for line in found.markdown.splitlines() if line.startswith("- phase")]
    assert "every phase" not in phase and "export request" in phase


# --- 4. a pdata key no name can write is completed in brackets ---------------------------------

SPACED = (
    "connector: {id: 7, name: x}\nclient: {id: 1001}\npdata:\n  'my key': a\n  plain: b\n"
    "export:\n  url: https://crm.example/api\n  headers: {Content-Type: application/json}\n"
    '  body: \'{"r": "$report.encoded.base64", "a": "$pdata.plain", "b": "$pdata."}\'\n'
)


@pytest.mark.parametrize("typed", ["", "m"])
def test_a_pdata_key_with_a_space_is_completed_in_brackets(typed: str) -> None:
    text = SPACED.replace('"$pdata."', f'"$pdata.{typed}"')
    cursor = text.index(f'"$pdata.{typed}"') + len(f'"$pdata.{typed}')
    items = {item.label: item for item in complete(quick_view(text, "s.yaml"), cursor)}
    assert items["plain"].insert == "plain"
    spaced = items["my key"]
    assert (spaced.insert, spaced.filter) == ("[''my key'']", ".my key")  # in '…': YAML's ''
    after = text[: spaced.start] + spaced.insert + text[spaced.end :]
    assert "\"b\": \"$pdata[''my key'']\"" in after
    assert lint_source(after, "s.yaml", Settings()).report.diagnostics == ()


def test_a_pdata_key_with_a_space_is_completed_in_brackets_in_a_block() -> None:
    text = SPACED.replace("  body: '", "  body: |\n    ").replace("}'\n", "}\n")
    cursor = text.index('"$pdata."') + len('"$pdata.')
    items = {item.label: item for item in complete(quick_view(text, "s.yaml"), cursor)}
    spaced = items["my key"]
    after = text[: spaced.start] + spaced.insert + text[spaced.end :]
    assert '"b": "$pdata[\'my key\']"' in after
    assert lint_source(after, "s.yaml", Settings()).report.diagnostics == ()


# --- 5. did you mean the loop variables and #set names in scope --------------------------------


def test_a_mistyped_loop_variable_or_set_name_gets_did_you_mean_and_a_fix() -> None:
    text = (Path(__file__).parent / "fix" / "loop-variables.yaml").read_text(encoding="utf-8")
    linted = lint_source(text, "l.yaml", Settings())
    hints = {d.message: d.hint or "" for d in linted.report.diagnostics if d.code == "XD201"}
    assert hints["export.body: undefined variable $whoo"].startswith("did you mean $who? ")
    assert hints["export.body: undefined variable $mm"].startswith("did you mean $m? ")
    assert "here also: $foreach, $m, " in hints["export.body: undefined variable $mm"]
    assert {fix.title for fix in fixes(linted)} == {
        "Replace $whoo with $who",
        "Replace $mm with $m",
    }
    fixed = fix_source(text, "l.yaml", Settings())
    assert fixed.applied == 2 and '"w": "$who", "q": "$m.content"' in fixed.text


# --- 6. no completion where the engine reads no reference --------------------------------------

COMMENTS = (
    "connector: {id: 7, name: x}\nclient: {id: 1001}\nexport:\n  url: https://crm.example/api\n"
    "  headers: {Content-Type: text/plain}\n  body: |\n"
    "    r=$report.encoded.base64 ## c $chat.\n"
    "    #* $chat. *# \\$chat. #[[ $chat. ]]# #* closed *# $chat.\n"
)


@pytest.mark.parametrize("written", ["## c $chat.", "#* $chat.", "\\$chat.", "#[[ $chat."])
def test_no_completion_in_a_comment_an_escape_or_unparsed_text(written: str) -> None:
    cursor = COMMENTS.index(written) + len(written)
    assert complete(quick_view(COMMENTS, "c.yaml"), cursor) == []
    after_closed = COMMENTS.rindex("$chat.") + len("$chat.")
    assert "visitor" in [i.label for i in complete(quick_view(COMMENTS, "c.yaml"), after_closed)]


# --- 7. docs/editor.md: Neovim's root from the buffer's folder; zsh needs compinit -------------

EDITOR_MD = (Path(__file__).parent.parent / "docs" / "editor.md").read_text(encoding="utf-8")


def test_the_neovim_snippet_finds_the_root_from_the_buffer_not_the_cwd() -> None:
    neovim = EDITOR_MD.split("### Neovim", 1)[1].split("```lua", 1)[1].split("```", 1)[0]
    assert "path = vim.fs.dirname(vim.api.nvim_buf_get_name(args.buf))" in neovim
    assert "vim.fs.root(args.buf" in neovim


def test_the_zsh_completion_says_compinit_comes_first() -> None:
    shell = EDITOR_MD.split("## Shell completion", 1)[1]
    assert shell.index("compinit") < shell.index("Generate the script again")
    assert "autoload -Uz compinit && compinit" in shell


# --- 8. the review's low items -------------------------------------------------------------------


def test_a_thousand_nested_mappings_give_no_recursion_error() -> None:
    text = "connector: {id: 7, name: x}\nclient: {id: 1001}\nexport:\n  url: https://x.example/a\n"
    text += "".join(" " * i + f"k{i}:\n" for i in range(2, 2000, 2))
    view = quick_view(text, "deep.yaml")
    cursor = text.index("https://") + 3
    assert complete(view, cursor) == [] and hover(view, cursor) is None


def test_an_untitled_json_buffer_is_checked_as_json(tmp_path: Path) -> None:
    """A trailing comma is fine in YAML's flow mappings and an error in JSON."""
    text = JSON_CONNECTOR.replace('"acme"}', '"acme",}')

    async def scenario(editor: Editor) -> None:
        uri = "untitled:Untitled-1"
        editor.texts[uri] = text
        item = types.TextDocumentItem(uri, "json", 1, text)
        editor.client.text_document_did_open(types.DidOpenTextDocumentParams(item))
        diagnostics = await editor.diagnostics(uri, 1)
        assert [d.message.split("\n")[0] for d in diagnostics] == [
            "JSON syntax error: a comma after the last item of an object"
        ]

    converse(tmp_path, scenario)


def test_github_annotations_of_an_empty_value_end_where_they_start() -> None:
    from exportdsl.lint.formats import github

    text = (
        "connector: {id: 7, name: x}\nclient: {id: 1001}\nexport:\n  url: https://x.example/a\n"
        "  headers:\n    Content-Type: application/json\n    X-A:\n"
        '  body: \'{"r": "$report.encoded.base64"}\'\n'
    )
    report = lint_source(text, "n.yaml", Settings()).report
    (annotation,) = [line for line in github([report]).splitlines() if "X-A" in line]
    assert "line=7,col=9,endLine=7,endColumn=9," in annotation


@pytest.mark.parametrize("phase", ["token", "export"])
@pytest.mark.parametrize("name", ["Authorization", "authorization"])
def test_the_schema_refuses_auth_with_an_authorization_header_as_the_loader_does(
    phase: str, name: str
) -> None:
    from test_schema import full, loads, valid

    data = full()
    assert loads(data) and valid(data)
    data[phase]["headers"][name] = "Bearer x"
    assert not loads(data) and not valid(data)
    del data[phase]["auth"]
    assert loads(data) and valid(data)


def test_completion_of_pdata_while_the_quote_of_jtels_literal_is_not_closed() -> None:
    text = JTEL.replace(
        "pdata: \"{tenant:'acme', contact:'John Doe', email:'john.doe@example.com'}\"",
        "pdata: \"{tenant:'acme', contact:'John Doe', email:'john.doe@example.com'}",
    )
    assert text != JTEL
    cursor = text.index('"$pdata.') + len('"$pdata.')
    labels = [item.label for item in complete(quick_view(text, "j.yaml"), cursor)]
    assert labels == ["tenant", "contact", "email"]
