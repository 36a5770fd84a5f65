"""Benchmark: the language server's diagnostics after a change in a 1,000-line connector.

Run from the repository root: ``.venv/bin/python -m bench.bench_lsp``.

A generated connector of 1,000 lines (200 pdata keys, a token request, a JSON body of ~750 lines
with a reference on each and a #foreach, an XML template) is changed one character at a time,
alternately making and mending a typo in the middle of the body, as typing does. Measured:

- the server's work for a change (`check_document` and the protocol's diagnostics: what the
  didChange handler does), in process;
- the editor's wait: a real client (pygls's) sends didChange to `exportdsl lsp` over stdio and
  waits for publishDiagnostics, JSON-RPC and both event loops included;
- completion asked right after each change (back to back: it waits for the check of the change
  before, which runs first, so this is the check's cost again plus the completion's);
- the server's work when every change is a text not seen before (a word typed into a value, one
  letter a change): the alternating typo above meets texts the template parser has cached;
- the one-shot `exportdsl check` of the file, from a cold start (a process per run);
- the baseline, in the same run: reading the connector alone (`parse_connector`: YAML, keys,
  source maps), the least any check of the file costs.

Both files are measured: one without directives, and one with a #foreach near the top of its
body (every expansion of the body is placed: `compiler.variants`).

Target: diagnostics <= 50 ms after a change (the editor's wait, median).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from bench.timing import cold_seconds
from exportdsl.connector.reader import parse_connector
from exportdsl.lint.settings import Settings
from exportdsl.lsp.server import check_document, lsp_diagnostics

TARGET_SECONDS = 0.050
CHANGES = 40
TYPED, KEYSTROKE = 20, 0.080  # a fast typist: 12 keys a second
URI = "file:///bench/big.yaml"
SERVER = [sys.executable, "-c", "from exportdsl.cli.main import run; run()", "lsp"]


def big_connector(lines: int = 1_000, loop: bool = False) -> str:
    keys = [f"key{n:03d}" for n in range(200)]
    head = [
        "connector: {id: 1000, name: a thousand lines}",
        "client: {id: 1001}",
        "timezone: Europe/Berlin",
        "pdata:",
        *(f"  {key}: value {key}" for key in keys),
        "token:",
        "  url: https://auth.example/oauth/token",
        "  headers: {Content-Type: application/x-www-form-urlencoded}",
        "  body: grant_type=client_credentials&client_secret=$env.CRM_SECRET",
        "xml_template: |",
        '  <chat id="$chat.channel.id"><visitor>$!chat.visitor.name</visitor></chat>',
        "export:",
        "  url: https://crm.example/api/$pdata.key000/reports",
        "  headers:",
        "    Authorization: Bearer $tokenResponse.body.JSON.access_token",
        "    Content-Type: application/json",
        "  body: |",
        '    {"pdf": "$report.encoded.base64", "xml": "$xmlTemplate.encoded.base64",',
        '     "messages": [#foreach($m in $chat.messages)"$m.content"'
        "#if($foreach.hasNext),#end#end],"
        if loop
        else '     "messages": $chat.messages,',
    ]
    body = []
    while len(head) + len(body) < lines - 1:
        n = len(body)
        body.append(f'     "field{n}": "{{$pdata.{keys[n % len(keys)]}}} $chat.visitor.name",')
    return "\n".join([*head, *body, '     "end": "$dateTime"}']) + "\n"


def changed(text: str, count: int) -> list[str]:
    """The text after each of ``count`` keystrokes: a typo made, then mended, in the body."""
    where = text.index('"field400"')
    typo = text[:where] + text[where:].replace("$chat.visitor.name", "$chat.visitor.nme", 1)
    return [typo if n % 2 == 0 else text for n in range(count)]


def typed(text: str, count: int) -> list[str]:
    """The text after each of ``count`` keystrokes that type a word into a value in the body:
    every text a new one."""
    where = text.index('"field400": "') + len('"field400": "')
    word = ("exportdsl" * (count // 9 + 1))[:count]
    return [text[:where] + word[: n + 1] + text[where:] for n in range(count)]


def median_seconds(work: Callable[[str], object], texts: list[str]) -> float:
    times = []
    for text in texts:
        started = time.perf_counter()
        work(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def editor_wait(texts: list[str], typing: float | None = None) -> list[float]:
    """Seconds from didChange sent to its publishDiagnostics received, per change; with
    ``typing`` (seconds between keystrokes), the changes go at that pace without waiting, and
    the one figure is the wait for the last change's diagnostics after it was sent."""
    client = LanguageClient("bench", "1")
    arrived: dict[int, asyncio.Event] = {}

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def _published(params: types.PublishDiagnosticsParams) -> None:
        if params.version in arrived:
            arrived[params.version].set()

    await client.start_io(*SERVER)
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    client.initialized(types.InitializedParams())
    arrived[0] = asyncio.Event()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(URI, "yaml", 0, texts[-1]))
    )
    await asyncio.wait_for(arrived[0].wait(), 30)
    waits = []
    if typing is not None:
        last = len(texts)
        arrived[last] = asyncio.Event()
        for version, text in enumerate(texts, start=1):
            started = time.perf_counter()
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    types.VersionedTextDocumentIdentifier(version=version, uri=URI),
                    [types.TextDocumentContentChangeWholeDocument(text)],
                )
            )
            await asyncio.sleep(typing if version < last else 0)
        await asyncio.wait_for(arrived[last].wait(), 60)
        waits.append(time.perf_counter() - started)
    for version, text in enumerate(texts if typing is None else [], start=1):
        arrived[version] = asyncio.Event()
        started = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=version, uri=URI),
                [types.TextDocumentContentChangeWholeDocument(text)],
            )
        )
        await asyncio.wait_for(arrived[version].wait(), 30)
        waits.append(time.perf_counter() - started)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return waits


async def completion_wait(texts: list[str]) -> list[float]:
    """Seconds from didChange sent to the answer of a completion asked right after it (after
    `$chat.visitor.` in the changed line), per change."""
    client = LanguageClient("bench", "1")

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def _published(params: types.PublishDiagnosticsParams) -> None:
        """Not measured here."""

    await client.start_io(*SERVER)
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    client.initialized(types.InitializedParams())
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(URI, "yaml", 0, texts[-1]))
    )
    waits = []
    for version, text in enumerate(texts, start=1):
        at = text.index('"field400"')
        at = text.index("$chat.visitor.", at) + len("$chat.visitor.")
        line = text.count("\n", 0, at)
        position = types.Position(line, at - (text.rfind("\n", 0, at) + 1))
        started = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=version, uri=URI),
                [types.TextDocumentContentChangeWholeDocument(text)],
            )
        )
        found = await client.text_document_completion_async(
            types.CompletionParams(types.TextDocumentIdentifier(URI), position)
        )
        waits.append(time.perf_counter() - started)
        assert isinstance(found, types.CompletionList) and len(found.items) > 10, found
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return waits


def measure(loop: bool) -> None:
    text = big_connector(loop=loop)
    texts = changed(text, CHANGES)
    settings = Settings()
    found = lsp_diagnostics(check_document(URI, texts[0], settings))
    assert [d.code for d in found] == ["XD202"], found  # the typo, and only it
    check_document(URI, text, settings)  # warm: grammars built, modules loaded
    parse = median_seconds(lambda t: parse_connector(t, "big.yaml"), texts)
    server = median_seconds(lambda t: lsp_diagnostics(check_document(URI, t, settings)), texts)
    new_texts = median_seconds(
        lambda t: lsp_diagnostics(check_document(URI, t, settings)), typed(text, CHANGES)
    )
    waits = asyncio.run(editor_wait(texts))
    wait = statistics.median(waits)
    shape = "one #foreach in the body" if loop else "no directive"
    print(f"{text.count(chr(10))} lines, {len(text):,} characters, {shape}; {CHANGES} changes")
    print(f"  baseline, parse_connector alone:         {parse * 1000:6.1f} ms")
    ratio = server / parse
    print(f"  server's work a change (in process):     {server * 1000:6.1f} ms ({ratio:.0f}x)")
    print(
        f"  ... each change a text never seen before: {new_texts * 1000:6.1f} ms "
        f"({new_texts / parse:.0f}x)"
    )
    print(
        f"  editor's wait, didChange -> diagnostics: {wait * 1000:6.1f} ms median "
        f"({wait / parse:.0f}x), {max(waits) * 1000:.1f} ms slowest"
    )
    (burst,) = asyncio.run(editor_wait(texts[:TYPED], typing=KEYSTROKE))
    print(
        f"  typing {TYPED} keys {KEYSTROKE * 1000:.0f} ms apart: the last key's diagnostics "
        f"{burst * 1000:.1f} ms after it"
    )
    completion = statistics.median(asyncio.run(completion_wait(texts[:TYPED])))
    print(f"  completion asked right after a change:   {completion * 1000:6.1f} ms median")
    print(f"  one-shot `exportdsl check`, cold start:  {one_shot(text) * 1000:6.1f} ms median")
    verdict = "met" if wait <= TARGET_SECONDS else "NOT met"
    print(f"  target: diagnostics <= {TARGET_SECONDS * 1000:.0f} ms after a change: {verdict}")


def one_shot(text: str) -> float:
    """Seconds `exportdsl check` takes over the file, in a fresh process (median of 5)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.yaml"
        path.write_text(text, encoding="utf-8")
        return cold_seconds([*SERVER[:-1], "check", str(path)])


def main() -> None:
    measure(loop=False)
    measure(loop=True)


if __name__ == "__main__":
    main()
