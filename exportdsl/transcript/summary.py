"""What comes before the conversation: the header (title, flags, the visitor and chat grids, wide
rows for long values) and the list of visited pages."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from exportdsl.chat.model import ChatSession
from exportdsl.transcript.formatting import (
    Clock,
    duration_text,
    id_text,
    number_text,
    value_text,
)
from exportdsl.transcript.layout import Layout, pill, rule
from exportdsl.transcript.theme import (
    ALERT_FLAG,
    LABEL,
    LEFT,
    NORMAL_FLAG,
    RIGHT,
    SMALL,
    SMALL_BOLD,
    TITLE,
    VALUE,
    Style,
)

__all__ = ["GRID_CELL_LINES", "Summary"]

# a header value longer than this leaves the two-column grid for a full-width row
GRID_CELL_LINES = 3


@dataclass(frozen=True, slots=True)
class _Row:
    label: str
    value: str


class Summary:
    """The header and the visited pages of one chat, flowed into the layout."""

    def __init__(self, chat: ChatSession, layout: Layout, clock: Clock, title: str) -> None:
        self.chat = chat
        self.layout = layout
        self.clock = clock
        self.title = title

    # -- header --------------------------------------------------------------------------------
    def header(self) -> None:
        out, chat = self.layout, self.chat
        for line in out.wrapped(self.title, TITLE, RIGHT - LEFT):
            out.line(LEFT, TITLE, line, 22)
        subtitle = (
            f"Smartsupp chat {id_text(chat.channel.id)}"
            f" · account {id_text(chat.account_id)}"
            f" · times in {self.clock.name} ({self.clock.offset(chat.begin_at)})"
        )
        for line in out.wrapped(subtitle, SMALL, RIGHT - LEFT):
            out.line(LEFT, SMALL, line, 13)
        self.flags()
        out.gap(6)
        out.page.shapes.append(rule(LEFT, RIGHT, out.y))
        out.gap(6)
        long_rows = self.grid(self.visitor_rows(), self.chat_rows())
        for row in long_rows + self.wide_rows():
            self.wide_row(row)
        out.gap(4)
        out.page.shapes.append(rule(LEFT, RIGHT, out.y))
        out.gap(10)

    def flags(self) -> None:
        channel = self.chat.channel
        flags = [
            ("Chat", channel.is_chat, False),
            ("Completed", channel.is_completed, False),
            ("Triggered", channel.is_triggered, False),
            ("Missed", channel.is_missed, True),
            ("Offline message", channel.is_offline, True),
            ("Dropped", channel.is_dropped, True),
        ]
        shown = [(label, alert) for label, on, alert in flags if on]
        if not shown:
            return
        out = self.layout
        out.gap(4)
        baseline = out.line(LEFT + 6, SMALL_BOLD, "", 14)
        x = LEFT
        for label, alert in shown:
            ink, fill = ALERT_FLAG if alert else NORMAL_FLAG
            width = out.font(SMALL_BOLD).width(label, SMALL_BOLD.size)
            out.page.shapes.append(pill(x, baseline - 3.5, width + 12, 13, fill))
            out.put(x + 6, baseline, Style(True, SMALL_BOLD.size, ink), label)
            x += width + 18

    def visitor_rows(self) -> list[_Row]:
        visitor = self.chat.visitor
        place = ", ".join(part for part in (visitor.city, visitor.country) if part)
        if visitor.country_code:
            place = f"{place} ({visitor.country_code})" if place else visitor.country_code
        rows = [
            _Row("Visitor", visitor.name or "—"),
            _Row("E-mail", visitor.email or "—"),
            _Row("Location", place or "—"),
            _Row("IP address", visitor.ip_address or "—"),
        ]
        optional = [
            ("Group", visitor.group),
            ("Note", visitor.note),
            ("Referrer", visitor.referer),
            ("Platform", visitor.platform),
        ]
        return rows + [_Row(label, value) for label, value in optional if value]

    def chat_rows(self) -> list[_Row]:
        chat, channel = self.chat, self.chat.channel
        duration = channel.duration
        if duration is None and chat.begin_at is not None and chat.end_at is not None:
            duration = (chat.end_at - chat.begin_at) / 1000
        rating = "Not rated" if channel.rating is None else number_text(channel.rating)
        rows = [
            _Row("Started", self.clock.full(chat.begin_at)),
            _Row("Ended", self.clock.full(chat.end_at)),
            _Row("Duration", duration_text(duration)),
            _Row("First response", duration_text(channel.first_response)),
            _Row("Avg. response", duration_text(channel.avg_response)),
            _Row("Rating", rating),
        ]
        if channel.rating_desc:
            rows.append(_Row("Comment", channel.rating_desc))
        counted = f"{len(chat.messages)}"
        if channel.words_count is not None:
            counted += f" ({channel.words_count} words)"
        return [*rows, _Row("Messages", counted)]

    def grid(self, left: list[_Row], right: list[_Row]) -> list[_Row]:
        """Two label/value columns side by side, each row as tall as its taller cell. Values too
        long for a narrow cell are returned, to be shown in full as full-width rows."""
        columns = ((LEFT, LEFT + 62, 178.0), (308.0, 308.0 + 72, RIGHT - 380.0))
        cells: list[list[tuple[_Row, list[str]]]] = [[], []]
        long_rows = []
        for side, rows in enumerate((left, right)):
            for row in rows:
                lines = self.layout.wrapped(row.value, VALUE, columns[side][2])
                if len(lines) > GRID_CELL_LINES:
                    long_rows.append(row)
                else:
                    cells[side].append((row, lines))
        for pair in itertools.zip_longest(*cells):
            height = max(len(cell[1]) for cell in pair if cell) * 12
            self.layout.ensure(height)
            top = self.layout.y
            for cell, (label_x, value_x, _) in zip(pair, columns, strict=True):
                if cell is None:
                    continue
                self.layout.put(label_x, top - 9.4, LABEL, cell[0].label)
                for index, line in enumerate(cell[1]):
                    self.layout.put(value_x, top - 9.4 - index * 12, VALUE, line)
            self.layout.gap(height + 2)
        return long_rows

    def wide_rows(self) -> list[_Row]:
        visitor = self.chat.visitor
        rows = []
        if visitor.variables:
            rows.append(
                _Row(
                    "Variables",
                    "   ".join(
                        f"{var.label}: {value_text(var.value)}" for var in visitor.variables
                    ),
                )
            )
        if visitor.user_agent:
            rows.append(_Row("Browser", visitor.user_agent))
        return rows

    def wide_row(self, row: _Row) -> None:
        """A label and a value across the page; a long value flows on over page breaks."""
        out = self.layout
        for index, line in enumerate(out.wrapped(row.value, VALUE, RIGHT - (LEFT + 62))):
            baseline = out.row(12)
            if index == 0:
                out.put(LEFT, baseline, LABEL, row.label)
            out.put(LEFT + 62, baseline, VALUE, line)
        out.gap(2)

    # -- visited pages ---------------------------------------------------------------------------
    def visited_pages(self) -> None:
        if not self.chat.paths:
            return
        out = self.layout
        out.heading(f"Pages visited ({len(self.chat.paths)})")
        for number, visit in enumerate(self.chat.paths, start=1):
            title_lines = out.wrapped(visit.title, VALUE, RIGHT - LEFT - 20) if visit.title else []
            url_lines = out.wrapped(visit.url, SMALL, RIGHT - LEFT - 20) if visit.url else []
            out.ensure(12 * min(2, len(title_lines) + len(url_lines)))
            lines = [(VALUE, line, 12.0) for line in title_lines]
            lines += [(SMALL, line, 11.0) for line in url_lines]
            for index, (style, line, leading) in enumerate(lines):
                baseline = out.row(leading)
                if index == 0:
                    out.put(LEFT, baseline, SMALL, f"{number}.")
                out.put(LEFT + 20, baseline, style, line)
            out.gap(4)
        out.gap(8)
