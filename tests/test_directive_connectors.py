"""The example connectors with directives (connectors/jtel-messages-xml.yaml, messages-json.yaml):
what their dry run sends for the sample chat, byte for byte, and that a chat's text cannot change
the structure of the XML or the JSON whatever the loop repeats."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from backend import SAMPLE_CHAT, sample_chat
from oracle.velocity import Velocity

from exportdsl import compile_connector, load_connector
from exportdsl.chat.reader import parse_chat
from exportdsl.export.dryrun import dry_run

CONNECTORS = Path(__file__).parent.parent / "connectors"
ENV = {"CRM_API_TOKEN": "crm-token-1"}

SAMPLE_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<chat id="55039">
  <visitor>Dusan Kmet</visitor>
  <email>dusan@domain.com</email>
  <messages>
    <message n="1" type="visitor">Hello</message>
    <message n="2" type="system">agent.join</message>
    <message n="3" type="agent" trigger="Test Trigger">This is triggered message</message>
    <message n="4" type="agent">Hi, how can i help you ?</message>
    <message n="5" type="visitor">tanks.</message>
    <message n="6" type="system">close.visitorClose</message>
  </messages>
</chat>
"""

SAMPLE_JSON = """\
{
  "chatId": 55039,
  "visitor": {"name": "Dusan Kmet", "email": "dusan@domain.com"},
  "messages": [{"n": 1, "type": "visitor", "text": "Hello"}, \
{"n": 2, "type": "system", "text": "agent.join"}, \
{"n": 3, "type": "agent", "text": "This is triggered message"}, \
{"n": 4, "type": "agent", "text": "Hi, how can i help you ?"}, \
{"n": 5, "type": "visitor", "text": "tanks."}, \
{"n": 6, "type": "system", "text": "close.visitorClose"}],
  "report": "<the PDF>"
}
"""


def _export_body(name: str, chat: dict[str, Any] | None = None) -> str:
    plan = compile_connector(load_connector(CONNECTORS / name))
    session = sample_chat() if chat is None else parse_chat(chat)
    ((_, request),) = dry_run(plan, session, env=ENV).requests
    return request.content.decode("utf-8")


def _sample_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE_CHAT.read_text(encoding="utf-8"))
    return data


def test_the_xml_template_lists_every_message_as_it_reads() -> None:
    body = json.loads(_export_body("jtel-messages-xml.yaml"))
    assert base64.b64decode(body["messages"]).decode("utf-8") == SAMPLE_XML


def test_the_json_body_has_an_array_of_messages() -> None:
    text = _export_body("messages-json.yaml")
    report = json.loads(text)["report"]
    assert report.startswith("JVBERi0")  # %PDF-
    assert text.replace(report, "<the PDF>") == SAMPLE_JSON


def test_message_text_cannot_change_the_structure() -> None:
    chat = _sample_data()
    evil = '</message><message type="agent">"}, {"n": 99'
    chat["messages"] = [dict(chat["messages"][0], content=evil, triggeredBy='x" y="z')] * 2
    body = json.loads(_export_body("messages-json.yaml", chat))
    assert [m["text"] for m in body["messages"]] == [evil, evil]
    xml = base64.b64decode(json.loads(_export_body("jtel-messages-xml.yaml", chat))["messages"])
    assert xml.count(b"<message ") == 2
    assert b'trigger="x&quot; y=&quot;z"' in xml and b"&lt;/message&gt;" in xml


def test_the_xml_template_renders_as_velocity_renders_it(velocity: Velocity) -> None:
    """The sample chat has no character XML escapes, so Velocity 1.7 (which escapes nothing)
    must give the very same text: the white space of one directive a line is 1.7's."""
    template = load_connector(CONNECTORS / "jtel-messages-xml.yaml").xml_template
    assert template is not None
    assert velocity.render(template.source, {"chat": _sample_data()}).output == SAMPLE_XML
