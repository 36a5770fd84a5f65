"""What comes before the conversation: the header (title, flags, the visitor and chat grids, wide
rows for long values) and the list of visited pages."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from exportdsl.chat.model import ChatSession
from exportdsl.transcript.conversation import counts_text
from exportdsl.transcript.formatting import Clock, duration_text, id_text, value_text
from exportdsl.transcript.layout import Box, Layout, Page, pill, rule
from exportdsl.transcript.settings import Logo
from exportdsl.transcript.theme import (
    ALERT_FLAG,
    LABEL,
    LEFT,
    NORMAL_FLAG,
    RIGHT,
    SMALL,
    SMALL_BOLD,
    TITLE,
    TOP,
    VALUE,
    Style,
)

__all__ = [
    "GRID_CELL_LINES",
    "LOGO_BOX",
    "MAX_LINKED_URL",
    "RATING_SCALE",
    "Summary",
    "link_target",
    "logo_box",
]

# a header value longer than this leaves the two-column grid for a full-width row
GRID_CELL_LINES = 3
# the logo is scaled to fit this box (points), its aspect kept, at the header's top right
LOGO_BOX = (150.0, 48.0)
# Smartsupp's rating: 1 to 5 stars (docs/design.md "Transcript settings and labels")
RATING_SCALE = (1, 5)
# a visited page's URL that becomes a link: http(s), with a host, nothing a PDF reader would mangle,
# at most as long as browsers take (a longer one is shown, not linked)
MAX_LINKED_URL = 8192
_LINKABLE = re.compile(r"(?i)https?://[^\s/?#]+[^\s]*\Z")


@dataclass(frozen=True, slots=True)
class _Row:
    label: str
    value: str


class Summary:
    """The header and the visited pages of one chat, flowed into the layout."""

    def __init__(
        self, chat: ChatSession, layout: Layout, clock: Clock, title: str, logo: Logo | None = None
    ) -> None:
        self.chat = chat
        self.layout = layout
        self.clock = clock
        self.labels = clock.labels
        self.title = title
        self.logo = logo

    # -- header --------------------------------------------------------------------------------
    def header(self) -> None:
        out, chat = self.layout, self.chat
        width = RIGHT - LEFT
        box = logo_box(self.logo) if self.logo is not None else None
        if box is not None:
            out.page.logo = box
            width -= box[2] - box[0] + 12  # the title and subtitle keep clear of it
        for line in out.wrapped(self.title, TITLE, width):
            out.line(LEFT, TITLE, line, 22)
        subtitle = self.labels.subtitle.format(
            chat=id_text(chat.channel.id),
            account=id_text(chat.account_id),
            zone=self.clock.name,
            offset=self.clock.offset(chat.begin_at),
        )
        for line in out.wrapped(subtitle, SMALL, width):
            out.line(LEFT, SMALL, line, 13)
        if box is not None and out.y > box[1]:
            out.gap(out.y - box[1])  # what follows runs across the page: below the logo
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
        channel, names = self.chat.channel, self.labels.flags
        flags = [
            (names["chat"], channel.is_chat, False),
            (names["completed"], channel.is_completed, False),
            (names["triggered"], channel.is_triggered, False),
            (names["missed"], channel.is_missed, True),
            (names["offline"], channel.is_offline, True),
            (names["dropped"], channel.is_dropped, True),
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
        label = self.labels.rows
        rows = [
            _Row(label["visitor"], visitor.name or "—"),
            _Row(label["email"], visitor.email or "—"),
            _Row(label["location"], place or "—"),
            _Row(label["ip"], visitor.ip_address or "—"),
        ]
        optional = [
            (label["group"], visitor.group),
            (label["note"], visitor.note),
            (label["referrer"], visitor.referer),
            (label["platform"], visitor.platform),
        ]
        return rows + [_Row(label, value) for label, value in optional if value]

    def chat_rows(self) -> list[_Row]:
        chat, channel = self.chat, self.chat.channel
        duration = channel.duration
        if duration is None and chat.begin_at is not None and chat.end_at is not None:
            duration = (chat.end_at - chat.begin_at) / 1000
        labels, units = self.labels, self.labels.duration_units
        label = labels.rows
        rows = [
            _Row(label["started"], self.clock.full(chat.begin_at)),
            _Row(label["ended"], self.clock.full(chat.end_at)),
            _Row(label["duration"], duration_text(duration, units)),
            _Row(label["first_response"], duration_text(channel.first_response, units)),
            _Row(label["avg_response"], duration_text(channel.avg_response, units)),
            _Row(label["rating"], self.rating()),
        ]
        if channel.rating_desc:
            rows.append(_Row(label["comment"], channel.rating_desc))
        rows.append(_Row(label["messages"], counts_text(chat, labels, labels.people_and_events)))
        smartsupp = [
            labels.count(count, noun)
            for count, noun in (
                (channel.messages_count, labels.messages),
                (channel.words_count, labels.words),
            )
            if count is not None
        ]
        if smartsupp:  # Smartsupp's own figures: they count otherwise, so they are labelled so
            rows.append(_Row(label["smartsupp_counts"], ", ".join(smartsupp)))
        return rows

    def rating(self) -> str:
        """The visitor's rating on its scale ("5 / 5"); a value off the scale (bad data) as it
        came, saying so; none: "Not rated"."""
        rating, labels = self.chat.channel.rating, self.labels
        if rating is None:
            return labels.not_rated
        low, high = RATING_SCALE
        shown = labels.rating if low <= rating <= high else labels.rating_off_scale
        return shown.format(value=labels.number(rating))

    def label_width(self, rows: list[_Row], least: float) -> float:
        """Room for the widest of the rows' labels, and never less than ``least``: the columns
        fit the language's labels ("Strona odsyłająca" is longer than "Referrer")."""
        font = self.layout.font(LABEL)
        return max([least, *(font.width(row.label, LABEL.size) + 8 for row in rows)])

    def grid(self, left: list[_Row], right: list[_Row]) -> list[_Row]:
        """Two label/value columns side by side, each row as tall as its taller cell. Values too
        long for a narrow cell are returned, to be shown in full as full-width rows."""
        left_label, right_label = self.label_width(left, 62), self.label_width(right, 72)
        columns = (
            (LEFT, LEFT + left_label, 240.0 - left_label),
            (308.0, 308.0 + right_label, RIGHT - 308.0 - right_label),
        )
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
        visitor, label = self.chat.visitor, self.labels.rows
        rows = []
        if visitor.variables:
            rows.append(
                _Row(
                    label["variables"],
                    "   ".join(
                        f"{var.label}: {value_text(var.value)}" for var in visitor.variables
                    ),
                )
            )
        if visitor.user_agent:
            rows.append(_Row(label["browser"], visitor.user_agent))
        return rows

    def wide_row(self, row: _Row) -> None:
        """A label and a value across the page; a long value flows on over page breaks."""
        out = self.layout
        value_x = LEFT + self.label_width([row], 62)
        for index, line in enumerate(out.wrapped(row.value, VALUE, RIGHT - value_x)):
            baseline = out.row(12)
            if index == 0:
                out.put(LEFT, baseline, LABEL, row.label)
            out.put(value_x, baseline, VALUE, line)
        out.gap(2)

    # -- visited pages ---------------------------------------------------------------------------
    def visited_pages(self) -> None:
        if not self.chat.paths:
            return
        out = self.layout
        out.heading(self.labels.pages_heading.format(count=len(self.chat.paths)))
        small = out.font(SMALL)
        for number, visit in enumerate(self.chat.paths, start=1):
            target = link_target(visit.url)
            title_lines = out.wrapped(visit.title, VALUE, RIGHT - LEFT - 20) if visit.title else []
            url_lines = out.wrapped(visit.url, SMALL, RIGHT - LEFT - 20) if visit.url else []
            out.ensure(12 * min(2, len(title_lines) + len(url_lines)))
            lines = [(VALUE, line, 12.0) for line in title_lines]
            lines += [(SMALL, line, 11.0) for line in url_lines]
            link: _UrlLink | None = None
            for index, (style, line, leading) in enumerate(lines):
                baseline = out.row(leading)
                if index == 0:
                    out.put(LEFT, baseline, SMALL, f"{number}.")
                out.put(LEFT + 20, baseline, style, line)
                if target is None or style is not SMALL:
                    continue
                right = LEFT + 20 + small.width(line, SMALL.size)
                if link is not None and link.page is not out.page:  # went on over a page break
                    link.close()
                    link = None
                if link is None:
                    link = _UrlLink(out.page, target, LEFT + 20, baseline + SMALL.size)
                link.extend(right, baseline - 2.5)
            if link is not None:
                link.close()
            out.gap(4)
        out.gap(8)


class _UrlLink:
    """One link annotation for a URL's lines on one page: each annotation carries the whole URL,
    so one a line would make the PDF grow as the square of a long URL's length."""

    def __init__(self, page: Page, target: str, left: float, top: float) -> None:
        self.page, self.target = page, target
        self.left, self.top, self.right, self.bottom = left, top, left, top

    def extend(self, right: float, bottom: float) -> None:
        self.right, self.bottom = max(self.right, right), bottom

    def close(self) -> None:
        self.page.links.append(((self.left, self.bottom, self.right, self.top), self.target))


def link_target(url: str | None) -> str | None:
    """The URL a visited page's line links to: only http and https (a ``javascript:`` or
    ``file:`` URL in a chat is shown, never made clickable), with no white space or control
    character (a PDF reader would mend or cut such a URL in its own way)."""
    if not url or len(url) > MAX_LINKED_URL or not url.isprintable() or not _LINKABLE.match(url):
        return None
    return _ascii_uri(url)


def _ascii_uri(url: str) -> str | None:
    """A URL as a PDF link must hold it, in 7-bit ASCII: the host in IDNA (punycode), the rest
    percent-encoded as UTF-8 (readers show a URI written as UTF-16 text as garbage)."""
    if url.isascii():
        return url
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host, colon, port = hostport.partition(":")
    try:
        host = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        return None  # not a host name a browser could open
    netloc = quote(userinfo, safe=_URI_SAFE) + at + host + colon + port
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=_URI_SAFE),
            quote(parts.query, safe=_URI_SAFE + "?"),
            quote(parts.fragment, safe=_URI_SAFE + "?"),
        )
    )


_URI_SAFE = "/%:@!$&'()*+,;=-._~"


def logo_box(logo: Logo) -> Box:
    """The logo's place: scaled to fit `LOGO_BOX`, its aspect kept, its top right corner at the
    top right of the first page's body."""
    box_width, box_height = LOGO_BOX
    scale = min(box_width / logo.width, box_height / logo.height)
    width, height = logo.width * scale, logo.height * scale
    return (RIGHT - width, TOP - height, RIGHT, TOP)
