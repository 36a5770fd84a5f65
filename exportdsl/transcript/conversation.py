"""The conversation: a day line when the date changes, each message under its author with a bar
in the speaker's colour, and system events in words."""

from __future__ import annotations

import re
from datetime import datetime

from exportdsl.chat.model import ChatSession, Message, Role
from exportdsl.transcript.formatting import Clock
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

__all__ = ["EVENTS", "Conversation", "describe_event"]

# Smartsupp sends events as system messages whose content is an event code; `{name}` is the
# message's `name` (the agent or visitor concerned).
EVENTS: dict[str, str] = {
    "agent.join": "{name} joined the chat",
    "agent.leave": "{name} left the chat",
    "agent.assign": "The chat was assigned to {name}",
    "agent.unassign": "{name} was unassigned from the chat",
    "agent.transfer": "The chat was transferred to {name}",
    "visitor.join": "{name} started the chat",
    "visitor.leave": "{name} left the page",
    "close.visitorClose": "Visitor closed the chat",
    "close.agentClose": "{name} closed the chat",
    "close.timeout": "The chat was closed after a period of inactivity",
    "close.system": "The chat was closed automatically",
    "rating.create": "{name} rated the chat",
}
_EVENT_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+\Z")


def describe_event(message: Message) -> str:
    """A system message in words; an unknown event code is shown as it came, labelled as one."""
    code = message.content.strip()
    name = (message.name or "").strip()
    template = EVENTS.get(code)
    if template is not None:
        text = template.format(
            name=name or ("the visitor" if code.startswith("visitor.") else "an agent")
        )
        return text[:1].upper() + text[1:]
    if _EVENT_CODE.match(code):
        return f"System event: {code}" + (f" ({name})" if name else "")
    return message.content or "(empty system message)"  # free text sent as a system message


class Conversation:
    """The messages of one chat, flowed into the layout in the order they were sent."""

    def __init__(self, chat: ChatSession, layout: Layout, clock: Clock) -> None:
        self.chat = chat
        self.layout = layout
        self.clock = clock
        # author names repeat on every message: their wrapped lines and tag position are cached
        self._names: dict[tuple[str, Role, str], tuple[list[str], float | None]] = {}

    def draw(self) -> None:
        count = len(self.chat.messages)
        self.layout.heading(f"Conversation ({count} message{'s' if count != 1 else ''})")
        if not count:
            self.layout.line(BODY_X, SMALL, "No messages in this chat.", 14)
            return
        day = None
        for message in self.chat.messages:
            moment = self.clock.local(message.sent_at)
            if moment.date() != day:
                day = moment.date()
                self.day_separator(moment)
            if message.role is Role.SYSTEM:
                self.event(message, moment)
            else:
                self.message(message, moment)

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
        first, *rest = out.wrapped(describe_event(message), EVENT, BODY_WIDTH)
        baseline = out.row(12)
        out.put(TIME_X, baseline, SMALL, f"{moment:%H:%M:%S}")
        out.put(BODY_X, baseline, EVENT, first)
        for line in rest:
            out.line(BODY_X, EVENT, line, 12)
        out.gap(6)

    def author(self, message: Message) -> tuple[str, str]:
        """Who wrote the message, and the role tag shown after the name."""
        name = (message.name or "").strip()
        role = message.role
        if role is Role.VISITOR:
            return name or self.chat.visitor.name or "Visitor", "visitor"
        if role is Role.AGENT:
            fallback = (
                f"Agent {message.sender_id}"
                if message.sender_kind == "agent" and message.sender_id
                else "Agent"
            )
            return name or fallback, "agent"
        if role is Role.TRIGGERED:
            return name or "Automatic message", f"triggered by {message.triggered_by}"
        return name or message.type, message.type

    def message(self, message: Message, moment: datetime) -> None:
        out = self.layout
        role = message.role
        name, tag = self.author(message)
        name, tag = out.clean.line(name), out.clean.line(tag)
        lines = out.wrapped(message.content, BODY, BODY_WIDTH) if message.content else []
        out.ensure(15 + 13 * min(2, max(1, len(lines))))  # keep the author with the first lines
        top = out.y
        self.author_line(name, tag, role, f"{moment:%H:%M:%S}")
        if not lines:
            out.line(BODY_X, SMALL, "(empty message)", 13)
        for line in lines:
            if out.y - 13 < BOTTOM:
                self.bar(role, top, out.y)
                out.break_page()
                top = out.y
                self.author_line(name, f"{tag} · continued", role, f"{moment:%H:%M:%S}")
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
