"""The PDF transcript of a chat session.

Layout is hand-written on `reportlab.pdfgen.canvas` in two passes: `_Layout` flows the header, the
visited pages and the messages into pages of drawing operations (text runs and shapes), then
`_Painter` writes each page's content stream, now that "Page X of Y" is known. Platypus would do
the same job several times slower; a transcript of 10,000 messages must render in under 2 s.

Text goes through `_TextCleaner` before it is measured or drawn: characters the bundled DejaVu
Sans lacks become visible, extractable stand-ins (``[U+1F600]``), control characters become
stand-ins or line breaks, and a few invisible format characters are dropped (the rules are in
docs/transcript.md). The text is drawn as text, never parsed, so ``<b>`` and ``&amp;`` show as
typed. Output is deterministic: reportlab's invariant mode, and dates taken from the chat.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import threading
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reportlab import rl_config
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from exportdsl.chat.model import ChatSession, Message, Role
from exportdsl.errors import ConfigError

FONT_DIR = Path(__file__).parent / "fonts"
REGULAR_FONT = "ExportDsl-DejaVuSans"
BOLD_FONT = "ExportDsl-DejaVuSans-Bold"

# -- page geometry (points; A4 portrait) -------------------------------------------------------
PAGE_WIDTH, PAGE_HEIGHT = 595.2756, 841.8898
LEFT, RIGHT = 50.0, 545.2756
TOP, BOTTOM = 792.0, 62.0  # first and lowest text baselines of the page body
FOOTER_Y = 36.0
TIME_X = LEFT  # the gutter with the message time
BAR_X = 100.0  # the coloured bar that marks who speaks
BODY_X = 108.0
BODY_WIDTH = RIGHT - BODY_X
GRID_CELL_LINES = (
    3  # a header value longer than this leaves the two-column grid for a full-width row
)

RGB = tuple[float, float, float]


def _hex(color: str) -> RGB:
    return (int(color[1:3], 16) / 255, int(color[3:5], 16) / 255, int(color[5:7], 16) / 255)


INK, MUTED, FAINT, RULE = _hex("#1f2933"), _hex("#66717f"), _hex("#9aa4b1"), _hex("#d5dae1")
ROLE_COLORS: dict[Role, RGB] = {
    Role.VISITOR: _hex("#1d4ed8"),
    Role.AGENT: _hex("#15803d"),
    Role.TRIGGERED: _hex("#b45309"),
    Role.SYSTEM: _hex("#66717f"),
    Role.OTHER: _hex("#6d28d9"),
}
ALERT_FLAG, NORMAL_FLAG = (_hex("#b91c1c"), _hex("#fde8e8")), (_hex("#334155"), _hex("#e8edf3"))

# -- system events -------------------------------------------------------------------------------
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


# -- text: stand-ins, line breaks, widths ----------------------------------------------------
# UAX #14 mandatory breaks (BK, CR, LF, NL): each starts a new line in the transcript.
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")
# Invisible format characters that only steer shaping, joining or direction. We neither shape
# nor reorder, so they have nothing to show; they are dropped (documented in docs/transcript.md).
INVISIBLE = (
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)
_INVISIBLE = re.compile("[" + re.escape(INVISIBLE) + "]+")
TAB = "    "


def stand_in(chars: str) -> str:
    """The visible, extractable replacement for characters the font cannot show."""
    return "[" + " ".join(f"U+{ord(char):04X}" for char in chars) + "]"


def _char_class(codepoints: Iterable[int]) -> str:
    """A regex character class body for a set of code points, as ranges."""
    parts = []
    for _, group in itertools.groupby(
        enumerate(sorted(codepoints)), lambda pair: pair[1] - pair[0]
    ):
        run = [codepoint for _, codepoint in group]
        first, last = re.escape(chr(run[0])), re.escape(chr(run[-1]))
        parts.append(first if run[0] == run[-1] else f"{first}-{last}")
    return "".join(parts)


class _TextCleaner:
    """Makes any string safe to draw: every character left is one both fonts can show."""

    def __init__(self, drawable: set[int]) -> None:
        # No C0/C1 controls; nothing beyond the BMP either: reportlab writes such code points into the
        # ToUnicode map as bare hex (<1F600>) instead of UTF-16 surrogates, so text extraction would
        # lose them. They get stand-ins like any character the font lacks.
        printable = {cp for cp in drawable if cp <= 0xFFFF and not (cp < 0x20 or 0x7F <= cp < 0xA0)}
        self._unsupported = re.compile(f"[^{_char_class(printable)}]+")
        # The fast path: a line made only of these needs no change (a set test beats a regex scan).
        self._plain = frozenset(map(chr, printable)) - frozenset(INVISIBLE)

    def line(self, text: str) -> str:
        """One line of text; a line break in it is a control character and becomes a stand-in."""
        if (text.isascii() and text.isprintable()) or self._plain.issuperset(text):
            return text
        if "\t" in text:
            text = text.replace("\t", TAB)
        if _INVISIBLE.search(text):
            text = _INVISIBLE.sub("", text)
        return self._unsupported.sub(lambda match: stand_in(match.group()), text)

    def paragraphs(self, text: str) -> list[str]:
        """Text that may span lines: split at line breaks, each line cleaned."""
        return [self.line(part) for part in _LINE_BREAK.split(text)]


class _Font:
    """A registered TrueType font and cached advance widths (in 1/1000 em) of words."""

    def __init__(self, name: str, ttf: TTFont) -> None:
        self.name = name
        self.ttf = ttf
        self._char_units: dict[int, float] = dict(ttf.face.charWidths)
        self._word_units: dict[str, float] = {}
        self.space_units = self._char_units[32]

    def units(self, word: str) -> float:
        cached = self._word_units.get(word)
        if cached is None:
            cached = sum(map(self._char_units.__getitem__, map(ord, word)))
            if len(word) <= 32:  # long words are rarely repeated; do not let them fill the cache
                if len(self._word_units) > 50_000:
                    self._word_units.clear()
                self._word_units[word] = cached
        return cached

    def width(self, text: str, size: float) -> float:
        words = text.split(" ")
        return (sum(map(self.units, words)) + self.space_units * (len(words) - 1)) * size / 1000

    def wrap(self, line: str, size: float, max_width: float) -> list[str]:
        """Greedy wrapping at spaces; a word wider than the line is broken between characters."""
        limit = max_width * 1000 / size
        words = line.split(" ")
        cached, measure = self._word_units.get, self.units
        widths = [cached(word) or measure(word) for word in words]
        if sum(widths) + self.space_units * (len(words) - 1) <= limit:
            return [line]
        lines: list[str] = []
        current: list[str] = []
        used = 0.0
        for word, units in zip(words, widths, strict=True):
            needed = units if not current else used + self.space_units + units
            if needed <= limit:
                current.append(word)
                used = needed
                continue
            if current:
                lines.append(" ".join(current))
            if units <= limit:
                current, used = [word], units
            else:
                pieces = self._break_word(word, limit)
                lines.extend(pieces[:-1])
                current, used = [pieces[-1]], self.units(pieces[-1])
        lines.append(" ".join(current))
        return lines

    def _break_word(self, word: str, limit: float) -> list[str]:
        pieces, start, used = [], 0, 0.0
        char_units = self._char_units
        for index, char in enumerate(word):
            units = char_units[ord(char)]
            if used + units > limit and index > start:
                pieces.append(word[start:index])
                start, used = index, 0.0
            used += units
        pieces.append(word[start:])
        return pieces


@dataclass(frozen=True, slots=True)
class _Fonts:
    regular: _Font
    bold: _Font
    cleaner: _TextCleaner


@cache
def _fonts() -> _Fonts:
    """Register the bundled fonts once per process (reportlab's font registry is global)."""
    regular = TTFont(REGULAR_FONT, str(FONT_DIR / "DejaVuSans.ttf"))
    bold = TTFont(BOLD_FONT, str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdfmetrics.registerFont(regular)
    pdfmetrics.registerFont(bold)
    for font in (regular, bold):
        _remember_subsets(font)
    drawable = set(regular.face.charToGlyph) & set(bold.face.charToGlyph)
    return _Fonts(_Font(REGULAR_FONT, regular), _Font(BOLD_FONT, bold), _TextCleaner(drawable))


def _remember_subsets(font: TTFont) -> None:
    """Embedding a font subset means rebuilding a TrueType file in Python (~0.6 ms a font, most of a
    short transcript's time). The same glyphs give the same bytes, so the last few are kept."""
    build = font.face.makeSubset
    remembered = functools.lru_cache(maxsize=32)(lambda glyphs: build(list(glyphs)))
    font.face.makeSubset = lambda subset: remembered(tuple(subset))


# -- drawing operations --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Style:
    bold: bool
    size: float
    color: RGB


TITLE = Style(True, 17, INK)
HEADING = Style(True, 10.5, INK)
LABEL = Style(False, 7.5, MUTED)
VALUE = Style(False, 9, INK)
BODY = Style(False, 9.5, INK)
SMALL = Style(False, 8, MUTED)
SMALL_BOLD = Style(True, 8, MUTED)
FOOTER = Style(False, 7.5, FAINT)
ROLE_STYLES = {role: Style(True, 9, color) for role, color in ROLE_COLORS.items()}
EVENT = Style(False, 8.5, MUTED)

Text = tuple[float, float, Style, str]  # x, baseline y, style, cleaned text


@dataclass(slots=True)
class _Page:
    shapes: list[str] = field(default_factory=list)  # PDF path operators, painted under the text
    texts: list[Text] = field(default_factory=list)


def _rect(x: float, y: float, width: float, height: float, color: RGB) -> str:
    return f"{color[0]:.3f} {color[1]:.3f} {color[2]:.3f} rg {x:.2f} {y:.2f} {width:.2f} {height:.2f} re f"


def _rule(x1: float, x2: float, y: float, color: RGB = RULE, width: float = 0.6) -> str:
    return (
        f"{color[0]:.3f} {color[1]:.3f} {color[2]:.3f} RG {width:.2f} w "
        f"{x1:.2f} {y:.2f} m {x2:.2f} {y:.2f} l S"
    )


def _pill(x: float, y: float, width: float, height: float, color: RGB) -> str:
    """A filled rectangle with round ends (two Bezier half-circles)."""
    r, k = height / 2, height / 2 * 0.5523
    x2, top, mid = x + width, y + height, y + height / 2
    return (
        f"{color[0]:.3f} {color[1]:.3f} {color[2]:.3f} rg "
        f"{x + r:.2f} {y:.2f} m {x2 - r:.2f} {y:.2f} l "
        f"{x2 - r + k:.2f} {y:.2f} {x2:.2f} {mid - k:.2f} {x2:.2f} {mid:.2f} c "
        f"{x2:.2f} {mid + k:.2f} {x2 - r + k:.2f} {top:.2f} {x2 - r:.2f} {top:.2f} c "
        f"{x + r:.2f} {top:.2f} l "
        f"{x + r - k:.2f} {top:.2f} {x:.2f} {mid + k:.2f} {x:.2f} {mid:.2f} c "
        f"{x:.2f} {mid - k:.2f} {x + r - k:.2f} {y:.2f} {x + r:.2f} {y:.2f} c f"
    )


# -- pass 1: layout ------------------------------------------------------------------------------
# English names, not strftime's %a/%b: those follow the process locale, and output must not.
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class _Clock:
    """Chat timestamps (ms since 1970, UTC) as local times in the requested zone."""

    def __init__(self, timezone: str) -> None:
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
            raise ConfigError(
                f"unknown time zone {timezone!r}",
                hint="use an IANA name such as Europe/Prague or UTC",
            ) from None
        self.name = timezone

    def local(self, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, self.zone)

    def full(self, ms: int | None) -> str:
        if ms is None:
            return "—"
        moment = self.local(ms)
        day, month = DAY_NAMES[moment.weekday()][:3], MONTH_NAMES[moment.month - 1][:3]
        return f"{day} {moment:%d} {month} {moment:%Y}, {moment:%H:%M:%S} {moment:%Z}".rstrip()

    @staticmethod
    def day(moment: datetime) -> str:
        return (
            f"{DAY_NAMES[moment.weekday()]} {moment:%d} {MONTH_NAMES[moment.month - 1]} {moment:%Y}"
        )

    def offset(self, ms: int | None) -> str:
        moment = self.local(ms or 0)
        text = f"{moment:%z}"
        return f"UTC{text[:3]}:{text[3:]}" if text else "UTC"


def _duration(seconds: float | None) -> str:
    """``3725`` -> ``1 h 2 min 5 s``; a negative value (bad data) is shown as it is, in seconds."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 0:
        return f"{total} s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{value} {unit}" for value, unit in ((hours, "h"), (minutes, "min"), (secs, "s")) if value
    ]
    return " ".join(parts) or "0 s"


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if value == int(value) else f"{value:g}"


def _plain(value: object) -> str:
    """A variable's value as text: strings as they are, everything else as compact JSON-ish text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


@dataclass(frozen=True, slots=True)
class _Row:
    label: str
    value: str


class _Layout:
    """Flows content top to bottom into `_Page`s; `y` is the top of the free space on the page."""

    def __init__(self, fonts: _Fonts) -> None:
        self.fonts = fonts
        self.clean = fonts.cleaner
        self.pages: list[_Page] = []
        self.page = _Page()
        self.y = TOP
        self.break_page()

    def font(self, style: Style) -> _Font:
        return self.fonts.bold if style.bold else self.fonts.regular

    def break_page(self) -> None:
        self.page = _Page()
        self.pages.append(self.page)
        self.y = TOP

    def ensure(self, height: float) -> None:
        if self.y - height < BOTTOM and self.y < TOP:
            self.break_page()

    def put(self, x: float, baseline: float, style: Style, text: str) -> None:
        """Draw one already-cleaned line at a given place (no flow, no page break)."""
        self.page.texts.append((x, baseline, style, text))

    def row(self, leading: float) -> float:
        """Take the next line of the page (breaking the page if it is full); returns its baseline."""
        if self.y - leading < BOTTOM:
            self.break_page()
        baseline = self.y - leading * 0.78
        self.y -= leading
        return baseline

    def line(self, x: float, style: Style, text: str, leading: float) -> float:
        """Place one line of text below the previous ones; returns its baseline."""
        baseline = self.row(leading)
        self.page.texts.append((x, baseline, style, text))
        return baseline

    def wrapped(self, text: str, style: Style, width: float) -> list[str]:
        font = self.font(style)
        return [
            piece
            for paragraph in self.clean.paragraphs(text)
            for piece in font.wrap(paragraph, style.size, width)
        ]

    def gap(self, height: float) -> None:
        self.y -= height


class _Transcript:
    """What goes where: the header, the visited pages, the conversation."""

    def __init__(self, chat: ChatSession, layout: _Layout, clock: _Clock, title: str) -> None:
        self.chat = chat
        self.layout = layout
        self.clock = clock
        self.title = title
        # author names repeat on every message: their wrapped lines and tag position are cached
        self._names: dict[tuple[str, Role, str], tuple[list[str], float | None]] = {}

    # -- header --------------------------------------------------------------------------------
    def header(self) -> None:
        out, chat = self.layout, self.chat
        for line in out.wrapped(self.title, TITLE, RIGHT - LEFT):
            out.line(LEFT, TITLE, line, 22)
        subtitle = (
            f"Smartsupp chat {_number_or_id(chat.channel.id)}"
            f" · account {_number_or_id(chat.account_id)}"
            f" · times in {self.clock.name} ({self.clock.offset(chat.begin_at)})"
        )
        for line in out.wrapped(subtitle, SMALL, RIGHT - LEFT):
            out.line(LEFT, SMALL, line, 13)
        self.flags()
        out.gap(6)
        out.page.shapes.append(_rule(LEFT, RIGHT, out.y))
        out.gap(6)
        long_rows = self.grid(self.visitor_rows(), self.chat_rows())
        for row in long_rows + self.wide_rows():
            self.wide_row(row)
        out.gap(4)
        out.page.shapes.append(_rule(LEFT, RIGHT, out.y))
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
            out.page.shapes.append(_pill(x, baseline - 3.5, width + 12, 13, fill))
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
        rating = "Not rated" if channel.rating is None else _number(channel.rating)
        rows = [
            _Row("Started", self.clock.full(chat.begin_at)),
            _Row("Ended", self.clock.full(chat.end_at)),
            _Row("Duration", _duration(duration)),
            _Row("First response", _duration(channel.first_response)),
            _Row("Avg. response", _duration(channel.avg_response)),
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
                    "   ".join(f"{var.label}: {_plain(var.value)}" for var in visitor.variables),
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
        self.heading(f"Pages visited ({len(self.chat.paths)})")
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

    def heading(self, text: str) -> None:
        out = self.layout
        out.ensure(18 + 30)  # a heading never ends a page
        out.line(LEFT, HEADING, out.clean.line(text), 16)
        out.page.shapes.append(_rule(LEFT, RIGHT, out.y - 1))
        out.gap(7)

    # -- conversation ----------------------------------------------------------------------------
    def conversation(self) -> None:
        count = len(self.chat.messages)
        self.heading(f"Conversation ({count} message{'s' if count != 1 else ''})")
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
        out.page.shapes.append(_rule(end + 8, RIGHT, baseline + 2.8))
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
            out.line(BODY_X, BODY, line, 13)
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
        self.layout.page.shapes.append(
            _rect(BAR_X, bottom + 2, 2.2, top - bottom - 3, ROLE_COLORS[role])
        )


def _number_or_id(value: int | str | None) -> str:
    return "—" if value is None else str(value)


# -- pass 2: painting ----------------------------------------------------------------------------
def _escape_byte(code: int) -> str:
    char = chr(code)
    if char in "()\\":
        return "\\" + char
    return char if 32 <= code < 127 else f"\\{code:03o}"


_ESCAPED = [_escape_byte(code) for code in range(256)]


class _Encoder:
    """Encodes text as PDF string operands of one TrueType font in one document, quickly.

    reportlab gives each character a (subset, code) slot on first use; its `splitString` does that
    one character at a time in Python for every string. We ask it once per new character and keep
    a `str.translate` table, so encoding a line is one set difference and one translate.
    """

    def __init__(self, font: TTFont, doc: Any) -> None:
        self._font = font
        self._doc = doc
        self._subset: dict[str, int] = {}
        self._table: dict[int, str] = {}
        self._names: dict[int, str] = {}
        self._one_subset = True
        self._cache: dict[str, list[tuple[int, str]]] = {}

    def subset_name(self, subset: int) -> str:
        name = self._names.get(subset)
        if name is None:
            name = self._names[subset] = self._font.getSubsetInternalName(subset, self._doc)
        return name

    def runs(self, text: str) -> list[tuple[int, str]]:
        """(subset, escaped string) runs; most documents need a single subset, hence a single run."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        new = set(text).difference(self._subset)
        if new:
            self._learn(sorted(new))
        if self._one_subset:
            runs = [(0, text.translate(self._table))]
        else:
            runs = [
                (subset, "".join(chars).translate(self._table))
                for subset, chars in itertools.groupby(text, self._subset.__getitem__)
            ]
        if len(text) <= 24:  # names, times and tags repeat on every message
            self._cache[text] = runs
        return runs

    def _learn(self, chars: list[str]) -> None:
        codes = (
            (subset, code)
            for subset, data in self._font.splitString("".join(chars), self._doc)
            for code in data
        )
        for char, (subset, code) in zip(chars, codes, strict=True):
            self._subset[char] = subset
            self._table[ord(char)] = _ESCAPED[code]
            if subset:
                self._one_subset = False


class _Painter:
    def __init__(self, canvas: Canvas, fonts: _Fonts) -> None:
        self.canvas = canvas
        doc = canvas._doc  # reportlab keeps font subsets per document; there is no public accessor
        self.encoders = {
            False: _Encoder(fonts.regular.ttf, doc),
            True: _Encoder(fonts.bold.ttf, doc),
        }

    def paint(self, page: _Page) -> None:
        ops = [*page.shapes, "BT"]
        color: RGB | None = None
        font: tuple[bool, int, float] | None = None
        for x, y, style, text in page.texts:
            if not text:
                continue
            if style.color != color:
                color = style.color
                ops.append(f"{color[0]:.3f} {color[1]:.3f} {color[2]:.3f} rg")
            ops.append(f"1 0 0 1 {x:.2f} {y:.2f} Tm")
            encoder = self.encoders[style.bold]
            for subset, escaped in encoder.runs(text):
                if (style.bold, subset, style.size) != font:
                    font = (style.bold, subset, style.size)
                    ops.append(f"{encoder.subset_name(subset)} {style.size:g} Tf")
                ops.append(f"({escaped}) Tj")
        ops.append("ET")
        self.canvas.addLiteral("\n".join(ops))
        self.canvas.showPage()


# -- the public function -------------------------------------------------------------------------
def render_report(chat: ChatSession, *, timezone: str = "UTC", title: str | None = None) -> bytes:
    """The PDF transcript of `chat`, times shown in `timezone`; byte-identical for the same input."""
    fonts = _fonts()
    clock = _Clock(timezone)
    heading = title or "Chat transcript"
    layout = _Layout(fonts)
    transcript = _Transcript(chat, layout, clock, heading)
    transcript.header()
    transcript.visited_pages()
    transcript.conversation()
    return _write_pdf(chat, layout.pages, fonts, clock, heading)


def _moment(chat: ChatSession) -> int:
    """When the chat happened, for the PDF's creation date: never the clock, so output is stable."""
    for candidate in (chat.end_at, chat.begin_at):
        if candidate is not None:
            return candidate
    return max((message.sent_at for message in chat.messages), default=0)


def _write_pdf(
    chat: ChatSession, pages: list[_Page], fonts: _Fonts, clock: _Clock, heading: str
) -> bytes:
    buffer = BytesIO()
    canvas = Canvas(
        buffer,
        pagesize=(PAGE_WIDTH, PAGE_HEIGHT),
        invariant=1,
        pageCompression=1,
        initialFontName=REGULAR_FONT,
    )
    moment = clock.local(_moment(chat))
    offset = f"{moment:%z}" or "+0000"
    created = f"D:{moment:%Y%m%d%H%M%S}{offset[:3]}'{offset[3:]}'"
    canvas.setDateFormatter(lambda *_: created)
    clean = fonts.cleaner.line
    channel_id = _number_or_id(chat.channel.id)
    visitor = chat.visitor.name or "visitor"
    canvas.setTitle(
        clean(heading if heading != "Chat transcript" else f"Chat transcript {channel_id}")
    )
    canvas.setSubject(
        clean(f"Smartsupp chat {channel_id} with {visitor}, {clock.full(_moment(chat))}")
    )
    canvas.setAuthor(clean(f"Smartsupp account {_number_or_id(chat.account_id)}"))
    canvas.setCreator("exportdsl")
    painter = _Painter(canvas, fonts)
    running = clean(f"{heading} · chat {channel_id} · {visitor}")
    total = len(pages)
    for number, page in enumerate(pages, start=1):
        _decorate(page, number, total, running, fonts)
        painter.paint(page)
        pages[number - 1] = _Page()  # painted pages are not needed any more; free them early
    with _binary_streams():
        canvas.save()
    return buffer.getvalue()


_RL_CONFIG_LOCK = threading.Lock()


@contextmanager
def _binary_streams() -> Iterator[None]:
    """Save without reportlab's default ASCII85 wrapping of compressed streams.

    ASCII85 is a 7-bit transport encoding no PDF consumer needs; reportlab does it in pure Python
    and it costs 40% of a long transcript's time. The switch (`rl_config.useA85`) is global and
    read only while the document is saved, so it is flipped just for our save, under a lock.
    """
    with _RL_CONFIG_LOCK:
        previous = rl_config.useA85
        rl_config.useA85 = 0
        pdfdoc.PDFZCompress.encode = (
            _compress  # an instance attribute: reportlab's own method comes back
        )
        try:
            yield
        finally:
            rl_config.useA85 = previous
            del pdfdoc.PDFZCompress.encode


_SFNT = (b"\x00\x01\x00\x00", b"true")  # how a TrueType font file starts


@functools.lru_cache(maxsize=16)
def _compress_font(data: bytes) -> bytes:
    return zlib.compress(data)


def _compress(data: bytes | str) -> bytes:
    """Deflate, as reportlab does; the embedded font subsets, the same for most transcripts (and
    ~1.5 ms to compress each time), are compressed once."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return _compress_font(raw) if raw.startswith(_SFNT) else zlib.compress(raw)


def _decorate(page: _Page, number: int, total: int, running: str, fonts: _Fonts) -> None:
    """Running header (from page 2), footer rule, and "Page X of Y"."""
    if number > 1:
        page.texts.insert(0, (LEFT, PAGE_HEIGHT - 34, FOOTER, running))  # first in reading order
        page.shapes.append(_rule(LEFT, RIGHT, PAGE_HEIGHT - 40))
    page.shapes.append(_rule(LEFT, RIGHT, FOOTER_Y + 11))
    page.texts.append((LEFT, FOOTER_Y, FOOTER, "Chat transcript exported by exportdsl"))
    label = f"Page {number} of {total}"
    width = fonts.regular.width(label, FOOTER.size)
    page.texts.append((RIGHT - width, FOOTER_Y, FOOTER, label))
