"""The chat session: a Smartsupp POST hook's JSON as typed, immutable values.

`exportdsl.chat.reader` builds these from JSON and validates it on the way; everything downstream
(the templates, the transcript, the delivery queue) reads only these types. `ChatSession.raw` is
the very dict that was parsed, never modified: templates see it as ``$chat``. `ChatSession.posted`
is the JSON as it came (a hook's body, a file's bytes): a forward connector posts those bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Channel", "ChatSession", "Message", "PageVisit", "Role", "Variable", "Visitor"]


class Role(StrEnum):
    """Who speaks in a message, as the transcript shows it."""

    VISITOR = "visitor"
    AGENT = "agent"
    TRIGGERED = "triggered"  # an automatic message sent by a trigger
    SYSTEM = "system"  # an event such as ``agent.join``; its content is an event code
    OTHER = "other"  # a message type this model does not know; shown with its type name


@dataclass(frozen=True, slots=True)
class Variable:
    """One visitor variable: ``visitor.variables.<key> = {label, value}``."""

    key: str
    label: str
    value: object


@dataclass(frozen=True, slots=True)
class Visitor:
    id: int | str | None = None
    name: str | None = None
    email: str | None = None
    note: str | None = None
    group: str | None = None  # ``group`` or, in older payloads, ``groupKey``
    ip_address: str | None = None
    city: str | None = None
    country: str | None = None
    country_code: str | None = None
    user_agent: str | None = None
    platform: str | None = None
    referer: str | None = None
    variables: tuple[Variable, ...] = ()


@dataclass(frozen=True, slots=True)
class Channel:
    id: int | str | None = None
    is_chat: bool = False
    is_missed: bool = False
    is_triggered: bool = False
    is_offline: bool = False
    is_completed: bool = False
    is_dropped: bool = False
    duration: float | None = None  # seconds
    avg_response: float | None = None  # seconds
    first_response: float | None = None  # seconds
    messages_count: int | None = None
    words_count: int | None = None
    rating: float | None = None  # null when the visitor did not rate
    rating_desc: str | None = None  # the visitor's comment on the rating


@dataclass(frozen=True, slots=True)
class PageVisit:
    url: str
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One message. ``sender`` is ``from`` as sent; ``sender_kind``/``sender_id`` are its parts."""

    type: str
    sent_at: int  # milliseconds since 1970, UTC
    content: str = ""
    name: str | None = None
    sender: str | None = None
    sender_kind: str | None = None  # "visitor", "agent", "system", ... or None for a bare id
    sender_id: str | None = None
    triggered_by: str | None = None

    @property
    def role(self) -> Role:
        if self.type == "system":
            return Role.SYSTEM
        if self.triggered_by:
            return Role.TRIGGERED
        if self.type == "visitor":
            return Role.VISITOR
        if self.type == "agent":
            return Role.AGENT
        return Role.OTHER


@dataclass(frozen=True, slots=True)
class ChatSession:
    account_id: int | str | None
    begin_at: int | None  # milliseconds since 1970, UTC
    end_at: int | None
    channel: Channel
    visitor: Visitor
    paths: tuple[PageVisit, ...]
    messages: tuple[Message, ...]
    raw: dict[str, Any] = field(repr=False, compare=False, hash=False)
    # the JSON text ``raw`` was read from, byte for byte (None when the chat was built from a
    # dict): what forward mode sends, so key order, white space and escapes are the sender's
    posted: bytes | None = field(default=None, repr=False, compare=False, hash=False)
