"""Compiler benchmarks: render against a hand-written f-string, compile rate, cold check.

Every figure is a ratio or a rate against a baseline measured in the same run:
    .venv/bin/python -m bench.bench_compiler
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.timing import cold_seconds
from exportdsl import compile_connector, load_connector, parse_connector
from exportdsl.compiler.values import SafeText, TextValue

CONNECTOR = (
    """\
connector: {id: 7, name: ACME web chat}
client: {id: 1001}
pdata: {tenant: acme, contact: John Doe, queue: support}
token: {url: "https://auth.acme.example/token"}
export:
  url: https://crm.acme.example/api/v2/tenants/$pdata.tenant/chat-reports?queue=$pdata.queue
  headers:
    Authorization: Bearer $tokenResponse.body.JSON.access_token
    Content-Type: application/json
    X-Client: $ClientsID
  body: |
    {"client": "$ClientsID", "connector": "$chatConnector.name", "at": "$dateTime",
     "chat": $chat.channel.id, "visitor": "$chat.visitor.name", "email": "$chat.visitor.email",
     "city": "$chat.visitor.city", "country": "$chat.visitor.countryCode","""
    """ "rating": $chat.channel.rating,
     "first": "$chat.messages[0].content", "contact": "$pdata.contact", "tenant": "$pdata.tenant",
     "size": $report.bytes, "meta": "$xmlTemplate.encoded.base64", "pdf": "$report.encoded.base64"}
xml_template: <x/>
"""
)


def variables(pdf: bytes, ours: Callable[[str], Any] = SafeText) -> dict[str, Any]:
    """The variables of one export; ``ours`` wraps the values the executor produces itself
    (SafeText for exportdsl, plain str for the hand-written baseline)."""
    return {
        "ClientsID": 1001,
        "chatConnector": {"id": 7, "name": "ACME web chat"},
        "pdata": {"tenant": "acme", "contact": "John Doe", "queue": "support"},
        "dateTime": ours("2026-11-21 12:00:00"),
        "tokenResponse": {"body": TextValue("{}", {"JSON": {"access_token": "eyJhbGciOi.token"}})},
        "chat": {
            "channel": {"id": 55039, "rating": 5},
            "visitor": {
                "name": 'Dusan "D" Kmet',
                "email": "dusan@domain.com",
                "city": "Brno",
                "countryCode": "CZ",
            },
            "messages": [{"content": "Hello, I need help with <order> #42"}],
        },
        "report": {"encoded": {"base64": ours(base64.b64encode(pdf).decode())}, "bytes": len(pdf)},
        "xmlTemplate": TextValue("<x/>", {"encoded": {"base64": ours("PHgvPg==")}}),
    }


def by_hand(v: dict[str, Any], first: str | None = None) -> tuple[str, list[tuple[str, str]], str]:
    """What a careful programmer writes without exportdsl: the same request, the same escaping.
    ``first`` replaces the body's ``"first"`` member (bench_directives puts an array there)."""
    s = json.dumps
    chat, visitor = v["chat"], v["chat"]["visitor"]
    url = (
        f"https://crm.acme.example/api/v2/tenants/{quote(v['pdata']['tenant'], safe='')}"
        "/chat-reports"
        f"?queue={quote(v['pdata']['queue'], safe='')}"
    )
    headers = [
        ("Authorization", f"Bearer {v['tokenResponse']['body'].fields['JSON']['access_token']}"),
        ("Content-Type", "application/json"),
        ("X-Client", str(v["ClientsID"])),
    ]
    if first is None:
        first = f'"first": {s(chat["messages"][0]["content"])}'
    body = (
        f'{{"client": {s(str(v["ClientsID"]))}, "connector": {s(v["chatConnector"]["name"])}, '
        f'"at": "{v["dateTime"]}",\n "chat": {chat["channel"]["id"]}, '
        f'"visitor": {s(visitor["name"])}, '
        f'"email": {s(visitor["email"])},\n "city": {s(visitor["city"])}, '
        f'"country": {s(visitor["countryCode"])}, "rating": {chat["channel"]["rating"]},\n '
        f'{first}, "contact": {s(v["pdata"]["contact"])}, '
        f'"tenant": {s(v["pdata"]["tenant"])},\n "size": {v["report"]["bytes"]}, '
        f'"meta": "{v["xmlTemplate"].fields["encoded"]["base64"]}", '
        f'"pdf": "{v["report"]["encoded"]["base64"]}"}}\n'
    )
    return url, headers, body


def per_call(function: Callable[[], object], seconds: float = 0.6) -> float:
    """Best-of-5 mean time per call, in seconds."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            function()
        elapsed = time.perf_counter() - start
        if elapsed > seconds / 5:
            break
        calls *= 2
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        samples.append((time.perf_counter() - start) / calls)
    return min(samples)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def bench_render() -> None:
    plan = compile_connector(parse_connector(CONNECTOR))
    assert plan.export is not None
    export = plan.export
    for label, size, limit in (
        ("100 KB base64 value", 75_000, 2.0),
        ("small values only", 0, 10.0),
    ):
        pdf = os.urandom(size)
        context, plain = variables(pdf), variables(pdf, str)
        ours = export.render(context)
        url, headers, body = by_hand(plain)
        assert (ours.url, list(ours.headers), ours.body) == (url, headers, body), "renders differ"
        hand = per_call(lambda c=plain: by_hand(c))  # type: ignore[misc]
        mine = per_call(lambda c=context: export.render(c))  # type: ignore[misc]
        ratio = mine / hand
        print(
            f"render, {label}: exportdsl {mine * 1e6:.1f} us, f-string {hand * 1e6:.1f} us, "
            f"ratio {ratio:.2f}x (target <= {limit:g}x) {verdict(ratio <= limit)}"
        )


def bench_compile(folder: Path, count: int = 1000) -> list[Path]:
    paths = []
    for number in range(count):
        path = folder / f"connector-{number:04d}.yaml"
        text = CONNECTOR.replace("id: 7", f"id: {number}").replace("acme", f"tenant{number}")
        path.write_text(text.replace('"queue"', f'"queue{number % 7}"'), encoding="utf-8")
        paths.append(path)
    for path in paths[:50]:  # warm up: grammar, Jinja environment, imports
        compile_connector(load_connector(path))
    start = time.perf_counter()
    for path in paths:
        compile_connector(load_connector(path))
    rate = count / (time.perf_counter() - start)
    print(
        f"compile: {rate:,.0f} connector files/s warm (load + check + Jinja2 compile), "
        f"target >= 1,000 {verdict(rate >= 1000)}"
    )
    return paths


def bench_distinct(folder: Path, count: int = 300) -> None:
    """No sharing at all: every file has its own pdata keys, so every path and shape is new."""
    paths = []
    for number in range(count):
        path = folder / f"distinct-{number:04d}.yaml"
        path.write_text(
            CONNECTOR.replace("tenant", f"tenant{number}").replace("contact", f"c{number}"),
            encoding="utf-8",
        )
        paths.append(path)
    start = time.perf_counter()
    for path in paths:
        compile_connector(load_connector(path))
    rate = count / (time.perf_counter() - start)
    print(
        "compile, no two files alike (no parse or code cache hits): "
        f"{rate:,.0f} connector files/s (for scale)"
    )


def bench_cold_check(path: Path, runs: int = 15) -> None:
    exe = str(Path(sys.executable).with_name("exportdsl"))
    python = cold_seconds([sys.executable, "-c", "pass"], runs)
    check = cold_seconds([exe, "check", str(path)], runs)
    print(
        f"exportdsl check, one file, cold process: {check * 1000:.0f} ms median of {runs} "
        f"(bare python start {python * 1000:.0f} ms, {check / python:.1f}x), target <= 150 ms "
        f"{verdict(check <= 0.150)}"
    )


def main() -> None:
    bench_render()
    with tempfile.TemporaryDirectory() as folder:
        paths = bench_compile(Path(folder))
        bench_distinct(Path(folder))
        bench_cold_check(paths[0])


if __name__ == "__main__":
    main()
