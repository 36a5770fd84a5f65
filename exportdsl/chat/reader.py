"""Reading a chat session: Smartsupp POST-hook JSON checked and turned into `ChatSession` values.

The reader is tolerant where real payloads differ (``group``/``groupKey``, ``from`` with or
without the ``visitor:`` prefix, null ratings, missing optional blocks, PHP's ``[]`` for an empty
object) and strict where the transcript depends on the data: every message needs a ``type`` and a
``sentAt`` time. Every problem is a `ChatError` naming the JSON path (``messages[3].sentAt``);
nothing escapes as a traceback. The types it builds are in `exportdsl.chat.model`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from exportdsl import strictjson
from exportdsl.chat.model import Channel, ChatSession, Message, PageVisit, Variable, Visitor
from exportdsl.errors import ChatError

# ChatSession is what every reader returns; it is listed so that callers need only this module.
__all__ = ["MAX_NESTING", "ChatSession", "json_path", "load_chat", "parse_chat", "parse_chat_bytes"]

MAX_NESTING = 64
"""Deeper JSON than this is refused: no Smartsupp payload nests more than a few levels, and a
limit keeps every later walk over the data (templates, JSON dumps) far from Python's recursion
limit."""

# Timestamps are milliseconds since 1970. The upper bound leaves a day of room below year 9999 so
# that converting to any time zone cannot overflow `datetime`.
_MAX_TIMESTAMP_MS = 253_402_128_000_000

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def load_chat(path: str | Path) -> ChatSession:
    """Read and validate a chat file (UTF-8 JSON, an optional BOM is allowed)."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ChatError("file not found", file=file) from None
    except OSError as error:
        raise ChatError(f"cannot read the file: {error.strerror or error}", file=file) from None
    return _session(_decode_json(data, file), file, posted=data)


def parse_chat(data: object, *, file: str | None = None) -> ChatSession:
    """Validate already-decoded JSON (a dict) and build the typed session around it."""
    return _session(data, file, posted=None)


def parse_chat_bytes(data: bytes) -> ChatSession:
    """A chat from JSON bytes as received (a POST hook's body); errors name the JSON path only."""
    return _session(_decode_json(data, ""), None, posted=data)


def _session(data: object, file: str | None, posted: bytes | None) -> ChatSession:
    reader = _Reader(file)
    if not isinstance(data, dict):
        reader.fail("", "a JSON object (the chat session)", data)
    _check_nesting(data, reader)
    return reader.session(data, posted)


def _decode_json(data: bytes, file: str) -> object:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ChatError(
            f"not valid UTF-8 at byte {error.start}", file=file, hint="chat files are JSON in UTF-8"
        ) from None
    try:
        return strictjson.loads(text)
    except json.JSONDecodeError as error:
        raise ChatError(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}", file=file
        ) from None
    except strictjson.NumberError as error:
        raise ChatError(f"invalid JSON: {error}", file=file) from None
    except RecursionError:
        raise ChatError(
            f"JSON nested too deeply (the limit is {MAX_NESTING} levels)", file=file
        ) from None


def _check_nesting(root: object, reader: _Reader) -> None:
    """Refuse JSON nested deeper than MAX_NESTING; iterative, so depth itself cannot crash it.

    Each container carries the way to it as a link to its parent's (a pair), and its path is
    written only for the error: every hook's chat is walked, and writing every container's path
    was most of the walk's cost."""
    stack: list[tuple[object, _Steps, int]] = [(root, None, 1)]
    while stack:
        value, steps, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ChatError(
                f"nested deeper than {MAX_NESTING} levels",
                json_path=json_path(_unlinked(steps)),
                file=reader.file,
                hint="a Smartsupp chat nests only a few levels",
            )
        if isinstance(value, dict):
            stack.extend(
                (child, (steps, str(key)), depth + 1)
                for key, child in value.items()
                if isinstance(child, dict | list)
            )
        elif isinstance(value, list):
            stack.extend(
                (child, (steps, index), depth + 1)
                for index, child in enumerate(value)
                if isinstance(child, dict | list)
            )


_Steps = tuple["_Steps", str | int] | None  # the way to a value: (the way to its parent, its key)


def _unlinked(steps: _Steps) -> list[str | int]:
    """The keys of a linked way, from the root."""
    keys: list[str | int] = []
    while steps is not None:
        steps, key = steps
        keys.append(key)
    return keys[::-1]


def _quoted(text: str) -> str:
    """A JSON string literal that can always be printed: lone surrogates are escaped, not kept."""
    literal = json.dumps(text, ensure_ascii=False)
    return literal.encode("utf-8", "backslashreplace").decode("utf-8")


def json_path(steps: Iterable[str | int]) -> str:
    """A path into the chat written as the reader's errors write it: ``messages[3].content``,
    ``visitor.variables["odd key"]``; the empty string is the chat itself."""
    path = ""
    for step in steps:
        path = f"{path}[{step}]" if isinstance(step, int) else _key_path(path, step)
    return path


def _key_path(parent: str, key: str) -> str:
    part = key if _IDENTIFIER.match(key) else _quoted(key).join("[]")
    if part.startswith("["):
        return parent + part
    return f"{parent}.{part}" if parent else part


def _utf8(text: str) -> bool:
    """Whether UTF-8 can carry ``text`` (it holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f"a string ({_quoted(shown)})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


class _Reader:
    """Typed getters that know the JSON path of what they read and fail with it."""

    def __init__(self, file: str | None) -> None:
        self.file = file

    def fail(
        self,
        path: str,
        expected: str,
        found: object,
        *,
        missing: bool = False,
        hint: str | None = None,
    ) -> NoReturn:
        detail = f"expected {expected}, got {_describe(found)}"
        if missing:
            detail = f"missing, expected {expected}"
        raise ChatError(detail, json_path=path, file=self.file, hint=hint)

    # -- scalars ---------------------------------------------------------------------------
    def text(self, obj: Mapping[str, Any], key: str, path: str) -> str | None:
        value = obj.get(key)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # tolerated: some payloads send numeric names or notes
        self.fail(_key_path(path, key), "a string", value)

    def ident(self, obj: Mapping[str, Any], key: str, path: str) -> int | str | None:
        value = obj.get(key)
        if isinstance(value, str) and not value.strip():
            # an empty channel.id would make every later chat with one a duplicate of this one
            self.fail(_key_path(path, key), "an id that is not empty", value)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.fail(_key_path(path, key), "an id (a number or a string)", value)

    def chat_id(self, obj: Mapping[str, Any], path: str) -> int | str | None:
        """``channel.id``: an id that UTF-8 can carry, since it is the chat's key (the outbox
        stores it, the log names it), where JSON's ``\\ud83d`` escape can make a lone surrogate."""
        value = self.ident(obj, "id", path)
        if isinstance(value, str) and not _utf8(value):
            self.fail(
                _key_path(path, "id"), "an id without a lone surrogate (half an emoji)", value
            )
        return value

    def flag(self, obj: Mapping[str, Any], key: str, path: str) -> bool:
        value = obj.get(key)
        if value is None or isinstance(value, bool):
            return bool(value)
        self.fail(_key_path(path, key), "true or false", value)

    def number(self, obj: Mapping[str, Any], key: str, path: str) -> float | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        self.fail(_key_path(path, key), "a number", value)

    def count(self, obj: Mapping[str, Any], key: str, path: str) -> int | None:
        value = self.number(obj, key, path)
        return None if value is None else int(value)

    def timestamp(self, obj: Mapping[str, Any], key: str, path: str) -> int | None:
        return None if obj.get(key) is None else self.required_timestamp(obj, key, path)

    def required_timestamp(self, obj: Mapping[str, Any], key: str, path: str) -> int:
        value = obj.get(key)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            self.fail(
                _key_path(path, key),
                "a number (milliseconds since 1970)",
                value,
                missing=key not in obj,
            )
        if not 0 <= value <= _MAX_TIMESTAMP_MS:
            self.fail(
                _key_path(path, key), f"milliseconds since 1970 (0 to {_MAX_TIMESTAMP_MS})", value
            )
        return int(value)

    # -- containers --------------------------------------------------------------------------
    def block(self, obj: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        """An optional object; PHP encodes an empty one as ``[]``, so that is accepted too."""
        value = obj.get(key)
        if value is None or value == []:
            return {}
        if isinstance(value, dict):
            return value
        self.fail(_key_path(path, key), "an object", value)

    def items(
        self, obj: Mapping[str, Any], key: str, path: str, *, required: bool = False
    ) -> list[Any]:
        value = obj.get(key)
        if isinstance(value, list):
            return value
        if value is None and not (required and key not in obj):
            return []  # a null list is an empty one; only a required key may not be left out
        self.fail(_key_path(path, key), "a list", value, missing=key not in obj)

    # -- the model ---------------------------------------------------------------------------
    def session(self, data: dict[str, Any], posted: bytes | None = None) -> ChatSession:
        messages = self.items(data, "messages", "", required=True)
        return ChatSession(
            account_id=self.ident(data, "accountId", ""),
            begin_at=self.timestamp(data, "beginAt", ""),
            end_at=self.timestamp(data, "endAt", ""),
            channel=self.channel(self.block(data, "channel", ""), "channel"),
            visitor=self.visitor(self.block(data, "visitor", ""), "visitor"),
            paths=tuple(
                self.page_visit(item, f"paths[{index}]")
                for index, item in enumerate(self.items(data, "paths", ""))
            ),
            messages=tuple(
                self.message(item, f"messages[{index}]") for index, item in enumerate(messages)
            ),
            raw=data,
            posted=posted,
        )

    def channel(self, obj: Mapping[str, Any], path: str) -> Channel:
        return Channel(
            id=self.chat_id(obj, path),
            is_chat=self.flag(obj, "isChat", path),
            is_missed=self.flag(obj, "isMissed", path),
            is_triggered=self.flag(obj, "isTriggered", path),
            is_offline=self.flag(obj, "isOffline", path),
            is_completed=self.flag(obj, "isCompleted", path),
            is_dropped=self.flag(obj, "isDropped", path),
            duration=self.number(obj, "duration", path),
            avg_response=self.number(obj, "avgResponse", path),
            first_response=self.number(obj, "firstResponse", path),
            messages_count=self.count(obj, "messagesCount", path),
            words_count=self.count(obj, "wordsCount", path),
            rating=self.number(obj, "rating", path),
            rating_desc=self.text(obj, "ratingDesc", path),
        )

    def visitor(self, obj: Mapping[str, Any], path: str) -> Visitor:
        group = self.text(obj, "group", path)
        if group is None:
            group = self.text(obj, "groupKey", path)
        return Visitor(
            id=self.ident(obj, "id", path),
            name=self.text(obj, "name", path),
            email=self.text(obj, "email", path),
            note=self.text(obj, "note", path),
            group=group,
            ip_address=self.text(obj, "ipAddress", path),
            city=self.text(obj, "city", path),
            country=self.text(obj, "country", path),
            country_code=self.text(obj, "countryCode", path),
            user_agent=self.text(obj, "userAgent", path),
            platform=self.text(obj, "platform", path),
            referer=self.text(obj, "referer", path),
            variables=self.variables(
                self.block(obj, "variables", path), _key_path(path, "variables")
            ),
        )

    def variables(self, obj: Mapping[str, Any], path: str) -> tuple[Variable, ...]:
        result = []
        for key, value in obj.items():
            if isinstance(value, dict):
                label = self.text(value, "label", _key_path(path, key))
                result.append(Variable(key, label if label else key, value.get("value")))
            else:  # tolerated: a bare value instead of {label, value}
                result.append(Variable(key, key, value))
        return tuple(result)

    def page_visit(self, item: object, path: str) -> PageVisit:
        if isinstance(item, str):  # tolerated: a bare URL
            return PageVisit(item)
        if not isinstance(item, dict):
            self.fail(path, "an object with url and title", item)
        return PageVisit(self.text(item, "url", path) or "", self.text(item, "title", path))

    def message(self, item: object, path: str) -> Message:
        if not isinstance(item, dict):
            self.fail(path, "a message object", item)
        kind = item.get("type")
        if not isinstance(kind, str) or not kind:
            self.fail(
                _key_path(path, "type"),
                "a message type (visitor, agent or system)",
                kind,
                missing="type" not in item,
            )
        sent_at = self.required_timestamp(item, "sentAt", path)
        sender = self.text(item, "from", path)
        sender_kind, sender_id = _split_sender(sender)
        return Message(
            type=kind,
            sent_at=sent_at,
            content=self.text(item, "content", path) or "",
            name=self.text(item, "name", path),
            sender=sender,
            sender_kind=sender_kind,
            sender_id=sender_id,
            triggered_by=self.text(item, "triggeredBy", path),
        )


def _split_sender(sender: str | None) -> tuple[str | None, str | None]:
    """``visitor:abc`` -> ("visitor", "abc"); ``agent:3`` -> ("agent", "3");
    ``system`` -> ("system", None); a bare id (older payloads drop the ``visitor:`` prefix) ->
    (None, id)."""
    if not sender:
        return None, None
    kind, colon, ident = sender.partition(":")
    if colon and _IDENTIFIER.match(kind):
        return kind, ident or None
    if sender in ("system", "visitor", "agent", "bot"):
        return sender, None
    return None, sender
