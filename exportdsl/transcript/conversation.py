"""The conversation: a day line when the date changes, each message under its author with a bar
in the speaker's colour, and system events in words."""

from __future__ import annotations

import re
from datetime import datetime

from exportdsl.chat.model import ChatSession, Message, Role
from exportdsl.transcript.formatting import Clock, time_of_day
from exportdsl.transcript.labels import LABELS, Labels
from exportdsl.transcript.layout import Layout, rect, rule
from exportdsl.transcript.theme import (
    BAR_X,
    BODY,
    BODY_WIDTH,
    BODY_X,
    BOTTOM,
    EVENT,
    LEFT,
    RIGHT,
    ROLE_COLORS,
    ROLE_STYLES,
    SMALL,
    SMALL_BOLD,
    TIME_X,
)

__all__ = ["Conversation", "describe_event", "message_counts"]

_EVENT_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+\Z")


def describe_event(message: Message, labels: Labels = LABELS["en"]) -> str:
    """A system message in words (Smartsupp sends events as system messages whose content is an
    event code, and whose `name` is the person concerned); an unknown event code is shown as it
    came, labelled as one."""
    code = message.content.strip()
    name = (message.name or "").strip()
    known = labels.event(code, name)
    if known is not None:
        return known
    if _EVENT_CODE.match(code):
        return labels.unknown_event.format(code=code) + (f" ({name})" if name else "")
    return message.content or labels.empty_event  # free text sent as a system message


def message_counts(chat: ChatSession) -> tuple[int, int]:
    """(messages from people, system events) of the chat as the transcript shows them."""
    events = sum(1 for message in chat.messages if message.role is Role.SYSTEM)
    return len(chat.messages) - events, events


def counts_text(chat: ChatSession, labels: Labels, joined: str = "{messages}, {events}") -> str:
    """ "4 messages, 2 system events" (the events only when there are some)."""
    people, events = message_counts(chat)
    messages = labels.count(people, labels.messages)
    if not events:
        return messages
    return joined.format(messages=messages, events=labels.count(events, labels.system_events))


# An author line shows at most this much of a name (the header shows it whole): a visitor's 100 KB
# name repeated over every message, and again on each page a long message goes on, made thousands
# of pages.
AUTHOR_CHARACTERS = 1_000


def _shortened(name: str) -> str:
    return name if len(name) <= AUTHOR_CHARACTERS else name[:AUTHOR_CHARACTERS].rstrip() + "…"


class Conversation:
    """The messages of one chat, flowed into the layout in the order they were sent."""

    def __init__(self, chat: ChatSession, layout: Layout, clock: Clock) -> None:
        self.chat = chat
        self.layout = layout
        self.clock = clock
        self.labels = clock.labels
        # author names repeat on every message: their wrapped lines and tag position are cached
        self._names: dict[tuple[str, Role, str], tuple[list[str], float | None]] = {}
        # (role, name, type, sender kind and id, trigger) -> (name, role tag), cleaned
        self._authors: dict[tuple[object, ...], tuple[str, str]] = {}

    def draw(self) -> None:
        labels = self.labels
        self.layout.heading(
            labels.conversation_heading.format(counts=counts_text(self.chat, labels))
        )
        if not self.chat.messages:
            self.layout.line(BODY_X, SMALL, labels.no_messages, 14)
            return
        day = None
        for message in self.chat.messages:
            moment = self.clock.local(message.sent_at)
            if moment.date() != day:
                day = moment.date()
                self.day_separator(moment)
            role = message.role
            if role is Role.SYSTEM:
                self.event(message, moment)
            else:
                self.message(message, role, moment)

    def day_separator(self, moment: datetime) -> None:
        out = self.layout
        out.ensure(18 + 30)
        out.gap(2)
        label = self.clock.day(moment)
        baseline = out.line(LEFT, SMALL_BOLD, label, 14)
        end = LEFT + out.font(SMALL_BOLD).width(label, SMALL_BOLD.size)
        out.page.shapes.append(rule(end + 8, RIGHT, baseline + 2.8))
        out.gap(5)

    def event(self, message: Message, moment: datetime) -> None:
        out = self.layout
        first, *rest = out.wrapped(describe_event(message, self.labels), EVENT, BODY_WIDTH)
        baseline = out.row(12)
        out.put(TIME_X, baseline, SMALL, time_of_day(moment))
        out.put(BODY_X, baseline, EVENT, first)
        for line in rest:
            out.line(BODY_X, EVENT, line, 12)
        out.gap(6)

    def author(self, message: Message) -> tuple[str, str]:
        """Who wrote the message, and the role tag shown after the name."""
        name = (message.name or "").strip()
        role, labels = message.role, self.labels
        if role is Role.VISITOR:
            return name or self.chat.visitor.name or labels.visitor_name, labels.visitor_tag
        if role is Role.AGENT:
            fallback = (
                labels.agent_numbered.format(id=message.sender_id)
                if message.sender_kind == "agent" and message.sender_id
                else labels.agent_name
            )
            return name or fallback, labels.agent_tag
        if role is Role.TRIGGERED:
            tag = labels.triggered_tag.format(trigger=message.triggered_by)
            return name or labels.automatic_message, tag
        return name or message.type, message.type

    def message(self, message: Message, role: Role, moment: datetime) -> None:
        out = self.layout
        sender = (role, message.name, message.type, message.sender_kind, message.sender_id)
        author = self._authors.get((*sender, message.triggered_by))
        if author is None:  # the same few people write every message: cleaned once each
            name, tag = self.author(message)
            author = self._authors[*sender, message.triggered_by] = (
                out.clean.line(_shortened(name)),
                out.clean.line(_shortened(tag)),
            )
        name, tag = author
        lines = out.wrapped(message.content, BODY, BODY_WIDTH) if message.content else []
        out.ensure(15 + 13 * min(2, max(1, len(lines))))  # keep the author with the first lines
        top = out.y
        self.author_line(name, tag, role, time_of_day(moment))
        if not lines:
            out.line(BODY_X, SMALL, self.labels.empty_message, 13)
        for line in lines:
            if out.y - 13 < BOTTOM:
                self.bar(role, top, out.y)
                out.break_page()
                top = out.y
                self.author_line(
                    name, f"{tag} · {self.labels.continued}", role, time_of_day(moment)
                )
            out.line(BODY_X, BODY, line, 13, column=BODY_WIDTH)
        self.bar(role, top, out.y)
        out.gap(8)

    def author_line(self, name: str, tag: str, role: Role, time: str) -> None:
        """Time, name and role tag on one line; a name too long for it wraps, the tag follows it."""
        out = self.layout
        placed = self._names.get((name, role, tag))
        if placed is None:
            placed = self._names[name, role, tag] = self.place_name(name, tag, role)
        lines, tag_x = placed
        for index, line in enumerate(lines):
            baseline = out.row(14)
            if index == 0:
                out.put(TIME_X, baseline, SMALL, time)  # in reading order: time, name, role tag
            out.put(BODY_X, baseline, ROLE_STYLES[role], line)
        if tag_x is not None:
            out.put(tag_x, baseline, SMALL, tag)
            return
        for line in out.wrapped(tag, SMALL, BODY_WIDTH):
            out.line(BODY_X, SMALL, line, 12)

    def place_name(self, name: str, tag: str, role: Role) -> tuple[list[str], float | None]:
        """The name's lines and where the tag starts on the last one (None: on lines of its own)."""
        style = ROLE_STYLES[role]
        font = self.layout.font(style)
        lines = font.wrap(name, style.size, BODY_WIDTH)
        tag_x = BODY_X + font.width(lines[-1], style.size) + 6
        if tag_x + self.layout.font(SMALL).width(tag, SMALL.size) > RIGHT:
            return lines, None
        return lines, tag_x

    def bar(self, role: Role, top: float, bottom: float) -> None:
        """The coloured bar beside a message (or its part on one page) that marks who speaks."""
        self.layout.page.shapes.append(
            rect(BAR_X, bottom + 2, 2.2, top - bottom - 3, ROLE_COLORS[role])
        )
