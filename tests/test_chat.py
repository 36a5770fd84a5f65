"""The chat session model: the Smartsupp fixture, tolerated variants, and errors with JSON paths."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exportdsl.chat.model import ChatSession, Role
from exportdsl.chat.reader import MAX_NESTING, load_chat, parse_chat, parse_chat_bytes
from exportdsl.errors import ChatError, ExportDslError

CHATS = Path(__file__).parent / "data" / "chats"


def fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CHATS / "smartsupp.json").read_text(encoding="utf-8"))
    return data


def test_fixture_becomes_typed_values() -> None:
    chat = load_chat(CHATS / "smartsupp.json")
    assert (chat.account_id, chat.begin_at, chat.end_at) == (208, 1427470439703, 1427470476687)
    assert chat.channel.id == 55039
    assert (chat.channel.is_chat, chat.channel.is_triggered, chat.channel.is_missed) == (
        True,
        True,
        False,
    )
    assert (chat.channel.duration, chat.channel.first_response, chat.channel.rating) == (36, 14, 5)
    assert chat.visitor.name == "Dusan Kmet"
    assert chat.visitor.email == "dusan@domain.com"
    assert [(v.key, v.label, v.value) for v in chat.visitor.variables] == [
        ("chatId", "Chat ID", 208),
        ("chatPackage", "Chat Package", "pro"),
        ("userId", "User ID", "1234"),
    ]
    assert [p.title for p in chat.paths] == ["POST Hook · Smartsupp", "API · Smartsupp"]
    assert [m.role for m in chat.messages] == [
        Role.VISITOR,
        Role.SYSTEM,
        Role.TRIGGERED,
        Role.AGENT,
        Role.VISITOR,
        Role.SYSTEM,
    ]
    first, join = chat.messages[0], chat.messages[1]
    assert first.sender_kind == "visitor"
    assert first.sender_id == "mxTiqn9adr2h39kmzAJ0FeaTGFJhmjio0R41491503012015"
    assert (join.content, join.name) == ("agent.join", "John Doe")
    assert (join.sender_kind, join.sender_id) == ("agent", "3")
    assert chat.messages[2].triggered_by == "Test Trigger"


def test_raw_is_the_very_dict_parsed_and_stays_unchanged() -> None:
    data = fixture()
    before = copy.deepcopy(data)
    chat = parse_chat(data)
    assert chat.raw is data
    assert data == before


def test_tolerated_variants() -> None:
    chat = load_chat(CHATS / "variants.json")
    assert chat.account_id == "acc-208"
    assert chat.end_at is None
    assert (chat.channel.rating, chat.channel.rating_desc, chat.channel.is_missed) == (
        None,
        None,
        True,
    )
    assert chat.visitor.group == "sales"  # groupKey, the older spelling
    assert chat.visitor.variables == ()  # PHP encodes an empty object as []
    assert [p.url for p in chat.paths] == ["https://shop.example/cart"]
    bare, prefixed, bot = chat.messages
    assert (bare.sender_kind, bare.sender_id) == (None, "mxTiqn9adr2h39kmzAJ0FeaTGFJhmjio0R4")
    assert (prefixed.sender_kind, prefixed.sender_id) == (
        "visitor",
        "mxTiqn9adr2h39kmzAJ0FeaTGFJhmjio0R4",
    )
    assert prefixed.content == ""  # null content
    assert prefixed.sent_at == 1427470441703  # fractional milliseconds are cut
    assert (bot.type, bot.role) == ("bot", Role.OTHER)


def test_group_wins_over_group_key_and_optional_blocks_may_be_missing() -> None:
    chat = parse_chat({"visitor": {"group": "vip", "groupKey": "sales"}, "messages": []})
    assert chat.visitor.group == "vip"
    bare = parse_chat({"messages": [{"type": "visitor", "sentAt": 0}]})
    assert bare.channel.id is None and bare.visitor.name is None and bare.paths == ()
    assert bare.account_id is None and bare.begin_at is None


def test_sessions_are_frozen() -> None:
    chat = load_chat(CHATS / "minimal.json")
    assert isinstance(chat, ChatSession)
    with pytest.raises(AttributeError):
        chat.account_id = 1  # type: ignore[misc]


def _set(path: list[str | int], value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


def _delete(path: list[str | int]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return mutate


BAD_INPUTS = [
    (_set(["messages", 3, "sentAt"], "yesterday"), "messages[3].sentAt", "expected a number"),
    (_set(["messages", 3, "sentAt"], True), "messages[3].sentAt", "expected a number"),
    (_set(["messages", 3, "sentAt"], None), "messages[3].sentAt", "expected a number"),
    (_delete(["messages", 1, "sentAt"]), "messages[1].sentAt", "missing"),
    (_set(["messages", 0, "sentAt"], -5), "messages[0].sentAt", "milliseconds since 1970"),
    (_set(["messages", 0, "sentAt"], 1e300), "messages[0].sentAt", "milliseconds since 1970"),
    (_delete(["messages", 0, "type"]), "messages[0].type", "missing"),
    (_set(["messages", 2, "type"], 5), "messages[2].type", "expected a message type"),
    (_set(["messages", 2, "type"], ""), "messages[2].type", "expected a message type"),
    (_set(["messages", 4, "content"], {"text": "hi"}), "messages[4].content", "expected a string"),
    (_set(["messages", 5, "from"], ["agent", 3]), "messages[5].from", "expected a string"),
    (_set(["messages", 0], "Hello"), "messages[0]", "expected a message object"),
    (_set(["messages"], {"0": {}}), "messages", "expected a list"),
    (_delete(["messages"]), "messages", "missing"),
    (_set(["channel"], "chat"), "channel", "expected an object"),
    (_set(["channel", "rating"], "five"), "channel.rating", "expected a number"),
    (_set(["channel", "isMissed"], "no"), "channel.isMissed", "expected true or false"),
    (_set(["beginAt"], "2015-03-27"), "beginAt", "expected a number"),
    (_set(["accountId"], 2.5), "accountId", "expected an id"),
    (_set(["visitor", "name"], {"first": "Dusan"}), "visitor.name", "expected a string"),
    (
        _set(["visitor", "variables", "chatId", "label"], []),
        "visitor.variables.chatId.label",
        "expected a string",
    ),
    (
        _set(["visitor", "variables", "my key"], {"label": {}}),
        'visitor.variables["my key"].label',
        "expected a string",
    ),
    (_set(["paths", 1], 5), "paths[1]", "expected an object with url and title"),
    (_set(["paths"], "http://x"), "paths", "expected a list"),
]


@pytest.mark.parametrize(
    ("mutate", "json_path", "message"),
    BAD_INPUTS,
    ids=[case[1] + ":" + case[2] for case in BAD_INPUTS],
)
def test_bad_values_name_their_json_path(
    mutate: Callable[[dict[str, Any]], None], json_path: str, message: str
) -> None:
    data = fixture()
    mutate(data)
    with pytest.raises(ChatError) as caught:
        parse_chat(data, file="chat.json")
    assert caught.value.json_path == json_path
    assert caught.value.file == "chat.json"
    assert message in caught.value.message
    assert str(caught.value).startswith(f"chat.json: {json_path}: ")


def test_the_issue_example_message() -> None:
    data = fixture()
    data["messages"][3]["sentAt"] = "x"
    with pytest.raises(ChatError, match=r"messages\[3\]\.sentAt: expected a number"):
        parse_chat(data)


@pytest.mark.parametrize("data", [[], "chat", 5, None])
def test_the_top_level_must_be_an_object(data: object) -> None:
    with pytest.raises(ChatError, match="expected a JSON object") as caught:
        parse_chat(data)
    assert caught.value.json_path == ""


def test_chat_errors_are_export_dsl_errors_with_a_code() -> None:
    with pytest.raises(ExportDslError) as caught:
        parse_chat({"messages": 1})
    assert caught.value.code == "XD400"


# -- files ---------------------------------------------------------------------------------------
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ChatError, match="file not found") as caught:
        load_chat(tmp_path / "nope.json")
    assert caught.value.file == str(tmp_path / "nope.json")


def test_a_directory_is_not_a_chat_file(tmp_path: Path) -> None:
    with pytest.raises(ChatError, match="cannot read the file"):
        load_chat(tmp_path)


def test_invalid_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_text('{"messages": [\n  {"type": "visitor",, "sentAt": 1}\n]}', encoding="utf-8")
    with pytest.raises(ChatError, match=r"invalid JSON at line 2, column 22"):
        load_chat(path)


def test_invalid_utf8_gives_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    data = b'{"messages": [{"type": "visitor", "content": "caf\xe9", "sentAt": 1}]}'
    path.write_bytes(data)
    with pytest.raises(ChatError) as caught:
        load_chat(path)
    assert caught.value.message.endswith(f": not valid UTF-8 at byte {data.index(0xE9)}")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_numbers_are_refused(tmp_path: Path, constant: str) -> None:
    path = tmp_path / "chat.json"
    path.write_text(
        f'{{"messages": [{{"type": "visitor", "sentAt": {constant}}}]}}', encoding="utf-8"
    )
    with pytest.raises(ChatError, match=f"{constant} is not a JSON number"):
        load_chat(path)


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("1e999", "1e999 is out of range for a number"),
        ("-1e999", "-1e999 is out of range for a number"),
        ("1" * 400, "a number of 400 digits is too long (at most 300)"),
        ("-" + "9" * 5000, "a number of 5000 digits is too long (at most 300)"),
    ],
)
def test_numbers_no_consumer_can_use_are_refused(number: str, message: str) -> None:
    # In a field the model does not read, too: a stored chat is re-encoded and read back later.
    data = f'{{"unread": {number}, "messages": [{{"type": "visitor", "sentAt": 1}}]}}'
    with pytest.raises(ChatError) as caught:
        parse_chat_bytes(data.encode())
    assert caught.value.message == f"invalid JSON: {message}"


def test_the_longest_integer_allowed_is_read() -> None:
    data = f'{{"id": {"9" * 300}, "messages": [{{"type": "visitor", "sentAt": 1}}]}}'
    assert parse_chat_bytes(data.encode()).messages


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_bytes(b"\xef\xbb\xbf" + (CHATS / "smartsupp.json").read_bytes())
    assert len(load_chat(path).messages) == 6


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_in_a_file_is_a_clear_error(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"messages": [], "x": ' + "[" * depth + "]" * depth + "}", encoding="utf-8")
    with pytest.raises(ChatError, match="nested") as caught:
        load_chat(path)
    assert caught.value.file == str(path)


def test_deep_nesting_in_data_names_where() -> None:
    deep: list[Any] = []
    data = {"messages": [], "visitor": {"variables": {"v": {"label": "V", "value": deep}}}}
    for _ in range(MAX_NESTING):
        deep.append([])
        deep = deep[0]
    with pytest.raises(ChatError, match=f"nested deeper than {MAX_NESTING} levels") as caught:
        parse_chat(data)
    assert caught.value.json_path.startswith("visitor.variables.v.value[0][0]")


def test_nesting_within_the_limit_is_fine() -> None:
    value: Any = "leaf"
    for _ in range(MAX_NESTING - 6):
        value = [value]
    chat = parse_chat(
        {"messages": [], "visitor": {"variables": {"v": {"label": "V", "value": value}}}}
    )
    assert chat.visitor.variables[0].value == value


def test_error_messages_can_always_be_printed() -> None:
    data = json.loads('{"messages": [{"type": "visitor", "sentAt": "\\ud800 v\u010dera"}]}')
    with pytest.raises(ChatError) as caught:
        parse_chat(data)
    assert (
        caught.value.message == "messages[0].sentAt: expected a number (milliseconds since 1970), "
        'got a string ("\\ud800 včera")'
    )
    str(caught.value).encode("utf-8")  # no lone surrogate left to break a terminal or a log
    with pytest.raises(ChatError) as caught:
        parse_chat(
            json.loads('{"messages": [], "visitor": {"variables": {"\\udfff": {"label": []}}}}')
        )
    assert caught.value.json_path == 'visitor.variables["\\udfff"].label'


def test_lone_surrogates_in_json_are_kept_for_the_report_to_show() -> None:
    chat = parse_chat(
        json.loads('{"messages": [{"type": "visitor", "content": "a\\ud83d", "sentAt": 1}]}')
    )
    assert chat.messages[0].content == "a\ud83d"


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_id_is_refused(blank: str) -> None:
    data = json.dumps({"messages": [], "channel": {"id": blank}}).encode()
    with pytest.raises(ChatError, match=r"channel\.id: expected an id that is not empty"):
        parse_chat_bytes(data)
