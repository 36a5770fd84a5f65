"""Directive benchmarks: a loop against the Python a careful programmer writes by hand.

Every figure is a ratio against a baseline measured in the same run, after checking that both
produce the same bytes:
    .venv/bin/python -m bench.bench_directives

1. An XML template listing 200 messages (`$foreach.count` and `$m.type` in attributes,
   `$m.content` as element text), rendered as a connector's `xml_template`, against a Python loop
   calling the same escapers (target <= 2x).
2. bench_compiler's export request with one `#foreach` in its JSON body (the messages' texts as
   an array, by the comma idiom) against its f-string baseline with a `join` (target <= 2x with
   the 100 KB report, as bench_compiler's; <= 10x with small values only, likewise).
"""

from __future__ import annotations

import json
import os
from typing import Any

from bench.bench_compiler import CONNECTOR, by_hand, per_call, variables, verdict
from exportdsl import compile_connector, parse_connector
from exportdsl.compiler.escaping import xml, xml_attribute

XML_CONNECTOR = """\
connector: {id: 40, name: messages}
client: {id: 1001}
export: {url: "https://crm.example/reports", body: "$xmlTemplate.encoded.base64"}
xml_template: |
  <?xml version="1.0" encoding="UTF-8"?>
  <chat id="$chat.channel.id">
    <messages>
  #foreach($m in $chat.messages)
      <message n="$foreach.count" type="$m.type">$m.content</message>
  #end
    </messages>
  </chat>
"""
CONTENTS = ("Hello", "I need help with <order> #42", 'a "quoted" word & more', "čau, díky", "ok")
TYPES = ("visitor", "agent", "system")

FIRST = '"first": "$chat.messages[0].content"'
LOOP = '"texts": [#foreach($m in $chat.messages)"$m.content"#if($foreach.hasNext), #end#end]'


def messages(count: int) -> list[dict[str, Any]]:
    return [
        {"type": TYPES[n % 3], "name": "Ann", "content": CONTENTS[n % len(CONTENTS)]}
        for n in range(count)
    ]


def xml_by_hand(chat: dict[str, Any]) -> str:
    """The XML template's output, written as a loop: the same escapers, ints as they are."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<chat id="{chat["channel"]["id"]}">\n  <messages>\n'
    ]
    for n, message in enumerate(chat["messages"], 1):
        parts.append(
            f'    <message n="{n}" type="{xml_attribute(message["type"])}">'
            f"{xml(message['content'])}</message>\n"
        )
    parts.append("  </messages>\n</chat>\n")
    return "".join(parts)


def bench_xml_messages(count: int = 200, limit: float = 2.0) -> None:
    plan = compile_connector(parse_connector(XML_CONNECTOR))
    context = {"chat": {"channel": {"id": 55039}, "messages": messages(count)}}
    assert plan.render_xml_template(context) == xml_by_hand(context["chat"]), "renders differ"
    hand = per_call(lambda: xml_by_hand(context["chat"]))
    mine = per_call(lambda: plan.render_xml_template(context))
    ratio = mine / hand
    print(
        f"XML template, #foreach over {count} messages: exportdsl {mine * 1e6:.0f} us, "
        f"Python loop {hand * 1e6:.0f} us, ratio {ratio:.2f}x (target <= {limit:g}x) "
        f"{verdict(ratio <= limit)}"
    )


def request_by_hand(v: dict[str, Any]) -> tuple[str, list[tuple[str, str]], str]:
    """bench_compiler.by_hand with the messages' texts as a JSON array: the same request."""
    s = json.dumps
    texts = ", ".join(
        s(message["content"], ensure_ascii=False) for message in v["chat"]["messages"]
    )
    return by_hand(v, f'"texts": [{texts}]')


def bench_request_with_loop() -> None:
    assert FIRST in CONNECTOR
    plan = compile_connector(parse_connector(CONNECTOR.replace(FIRST, LOOP)))
    without = compile_connector(parse_connector(CONNECTOR)).export  # Jinja2's path, no directive
    assert plan.export is not None and without is not None
    export = plan.export
    cases = (("100 KB base64 value", 75_000, 2.0), ("small values only", 0, 10.0))
    for label, size, limit in cases:
        pdf = os.urandom(size)
        for count in (1, 10):
            context, plain = variables(pdf), variables(pdf, str)
            for values in (context, plain):
                values["chat"]["messages"] = messages(count)
            ours = export.render(context)
            assert (ours.url, list(ours.headers), ours.body) == request_by_hand(plain), "differ"
            json.loads(ours.body or "")
            hand = per_call(lambda c=plain: request_by_hand(c))  # type: ignore[misc]
            mine = per_call(lambda c=context: export.render(c))  # type: ignore[misc]
            plain_request = per_call(lambda c=context: without.render(c))  # type: ignore[misc]
            ratio = mine / hand
            print(
                f"request render, JSON body with one #foreach ({count} message"
                f"{'s' if count > 1 else ''}), {label}: exportdsl {mine * 1e6:.1f} us, "
                f"f-string {hand * 1e6:.1f} us, ratio {ratio:.2f}x (target <= {limit:g}x) "
                f"{verdict(ratio <= limit)}; the request without the loop "
                f"{plain_request * 1e6:.1f} us"
            )


def main() -> None:
    bench_xml_messages()
    bench_request_with_loop()


if __name__ == "__main__":
    main()
