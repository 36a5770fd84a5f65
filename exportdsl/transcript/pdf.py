"""The PDF transcript of a chat session: `render_transcript`, and the second pass that paints it.

Chat to PDF, one module a step:

1. `typeface` registers the bundled DejaVu fonts once and measures and wraps words;
   `text` turns any string into characters both fonts can draw (stand-ins, line breaks).
2. `layout` flows content into pages of drawing operations (text runs and shapes): `summary`
   puts the header and the visited pages there, `conversation` the messages; `theme` says where
   and in which style, `formatting` how times and numbers read.
3. Here, once "Page X of Y" is known, each page's content stream is written with reportlab's
   `pdfgen.canvas` and the document saved.

Layout is hand-written on the canvas, in these two passes: Platypus would do the same job several
times slower, and a transcript of 10,000 messages must render in under 2 s. Output is
deterministic: reportlab's invariant mode, and dates taken from the chat.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BytesIO
from typing import Any, NamedTuple

from reportlab import rl_config
from reportlab.pdfbase import pdfdoc, ttfonts
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from exportdsl.chat.model import ChatSession
from exportdsl.transcript.conversation import Conversation
from exportdsl.transcript.formatting import Clock, id_text
from exportdsl.transcript.labels import Labels, labels_for
from exportdsl.transcript.layout import Layout, Page, RightToLeft, fill, rule
from exportdsl.transcript.settings import Logo, TranscriptSettings, check_language
from exportdsl.transcript.shaping import Run, runs
from exportdsl.transcript.summary import LOGO_BOX, Summary
from exportdsl.transcript.theme import (
    FOOTER,
    FOOTER_Y,
    LEFT,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    RIGHT,
    Style,
)
from exportdsl.transcript.typeface import PRIVATE_TEXT, Face, Font, Fonts, load_fonts

__all__ = ["render_transcript"]


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
        self.known = self._cache.keys()  # short texts encoded before (all the fast path's)
        self._known: set[str] = set()
        # reportlab's "ASCII readable" subsets give printable ASCII its own codes in subset 0 from
        # the start, when the font has it all: such text needs no table (nor learning)
        self.ascii_as_is = bool(font._asciiReadable) and all(
            code in font.face.charToGlyph for code in range(32, 127)
        )

    def subset_name(self, subset: int) -> str:
        name = self._names.get(subset)
        if name is None:
            name = self._names[subset] = self._font.getSubsetInternalName(subset, self._doc)
        return name

    def runs(self, text: str) -> list[tuple[int, str]]:
        """(subset, escaped string) runs; most documents need one subset, hence a single run."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        if self.ascii_as_is and text.isascii():  # printable ASCII has its own codes in subset 0
            if "(" in text or ")" in text or "\\" in text:
                text = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            return [(0, text)]
        if not self._known.issuperset(text):
            # in the order they first appear: a private key's code point depends on the process's
            # history, a code assigned in key order would make other bytes in another process
            known = self._known
            self._learn([char for char in dict.fromkeys(text) if char not in known])
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
        self._known.update(chars)
        for char, (subset, code) in zip(chars, codes, strict=True):
            self._subset[char] = subset
            self._table[ord(char)] = _ESCAPED[code]
            if subset:
                self._one_subset = False


class _StyleOps(NamedTuple):
    """What painting text in one style needs: the weight, and for the fast path the fill colour
    operator, the characters the primary face draws alone, its encoder, whether printable ASCII
    needs no table, and the ``Tf`` operator of its first subset."""

    style: Style
    font: Font
    fast: tuple[str, frozenset[str], _Encoder, bool, str]


class _Painter:
    """Writes each page's content stream: all text in one ``BT … ET``, a font selected only when
    it changes. A line the primary face draws alone is one string (the fast path); any other is
    drawn as `shaping.runs`, each in its face, with the shaper's positions."""

    def __init__(self, canvas: Canvas, fonts: Fonts) -> None:
        self.canvas = canvas
        self.fonts = fonts
        self._doc = canvas._doc  # reportlab keeps font subsets per document; no public accessor
        self._encoders: dict[str, _Encoder] = {}
        self._selected = ""  # the current ``Tf`` operator
        self._operators: dict[tuple[int, int, float], str] = {}
        self._styles: dict[int, _StyleOps] = {}
        self._numbers: dict[float, str] = {}  # by id(style); each entry keeps its style alive

    def encoder(self, face: Face) -> _Encoder:
        encoder = self._encoders.get(face.name)
        if encoder is None:
            encoder = self._encoders[face.name] = _Encoder(face.ttf, self._doc)
        return encoder

    def paint(self, page: Page) -> None:
        ops = [*page.shapes, "BT"]
        append = ops.append
        self._selected = ""
        color = ""
        last: Style | None = None
        numbers = self._numbers  # the few x and the lines' y repeat: formatted once each
        for x, y, style, text in page.texts:
            if not text:
                continue
            if style is not last:  # a page alternates a few styles: what each needs, once
                last = style
                known = self._styles.get(id(style)) or self._style(style)
                fill_op, simple, encoder, ascii_as_is, first_font = known.fast
                if fill_op is not color:
                    color = fill_op
                    append(fill_op)
            position = (
                f"1 0 0 1 {numbers.get(x) or self._number(x)} "
                f"{numbers.get(y) or self._number(y)} Tm"
            )
            if type(text) is str:
                # the fast path: one string in the first subset of the primary face
                escaped = None
                if ascii_as_is and text.isascii():  # printable ASCII keeps its own codes
                    escaped = text
                    if "(" in text or ")" in text or "\\" in text:
                        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
                elif text in encoder.known or simple.issuperset(text):  # known: names, tags
                    pieces = encoder.runs(text)
                    if len(pieces) == 1 and pieces[0][0] == 0:
                        escaped = pieces[0][1]
                    else:
                        append(position)
                        self._string(ops, encoder, text, style.size)
                        continue
                if escaped is not None:
                    if first_font is not self._selected:
                        self._selected = first_font
                        append(f"{position} {first_font} ({escaped}) Tj")
                    else:
                        append(f"{position} ({escaped}) Tj")
                    continue
            append(position)
            self._runs(ops, known.font, style.size, text)
        append("ET")
        self.canvas.addLiteral("\n".join(ops))
        self.canvas.showPage()

    def _font_operator(self, encoder: _Encoder, subset: int, size: float) -> str:
        """The ``Tf`` operator, one string object for each font and size (compared by identity)."""
        key = (id(encoder), subset, size)
        operator = self._operators.get(key)
        if operator is None:
            operator = self._operators[key] = f"{encoder.subset_name(subset)} {size:g} Tf"
        return operator

    def _number(self, value: float) -> str:
        if len(self._numbers) > 4096:
            self._numbers.clear()
        written = self._numbers[value] = f"{value:.2f}"
        return written

    def _style(self, style: Style) -> _StyleOps:
        font = self.fonts.bold if style.bold else self.fonts.regular
        encoder = self.encoder(font.primary)
        ascii_as_is = font.draws_ascii and encoder.ascii_as_is
        fast = (fill(style.color), font.simple, encoder, ascii_as_is)
        known = self._styles[id(style)] = _StyleOps(
            style, font, (*fast, self._font_operator(encoder, 0, style.size))
        )
        return known

    def _select(self, ops: list[str], encoder: _Encoder, subset: int, size: float) -> None:
        selected = self._font_operator(encoder, subset, size)
        if selected is not self._selected:
            self._selected = selected
            ops.append(selected)

    def _string(self, ops: list[str], encoder: _Encoder, text: str, size: float) -> None:
        for subset, escaped in encoder.runs(text):
            self._select(ops, encoder, subset, size)
            ops.append(f"({escaped}) Tj")

    def _runs(self, ops: list[str], font: Font, size: float, text: str) -> None:
        """A line of `shaping.runs`, from where the text position stands: each run leaves the pen
        where the next starts (the fonts' widths, corrected by the shaper's positions).

        A line with raised or lowered glyphs (marks placed by the shaper: Arabic vowels, Hebrew
        points, Thai tone marks) is wrapped in an ``ActualText`` span with its glyphs' text in
        drawing order: readers of PDF text take a glyph off the baseline for another line (a
        shadda read after its word), and read the span as one piece of the line instead."""
        line = runs(font, text, type(text) is RightToLeft)
        marked = any(run.adjust and any(dx or dy for _, dx, dy in run.adjust) for run in line)
        if marked:
            drawn = "".join(PRIVATE_TEXT.get(ord(key), key) for run in line for key in run.keys)
            ops.append(f"/Span <</ActualText <FEFF{_utf16(_readable(drawn))}>>> BDC")
        for run in line:
            if run.adjust is None:
                self._string(ops, self.encoder(run.face), run.keys, size)
            else:
                self._positioned(ops, self.encoder(run.face), run, size)
        if marked:
            ops.append("EMC")

    def _positioned(self, ops: list[str], encoder: _Encoder, run: Run, size: float) -> None:
        """Glyphs where the shaper put them: ``TJ`` numbers move the pen by the difference between
        the shaper's advance and the font's, and around a glyph with an x offset; ``Ts`` raises a
        glyph with a y offset (marks)."""
        assert run.adjust is not None
        parts: list[str] = []
        rise = 0.0

        def flush() -> None:
            if parts:
                ops.append(f"[{' '.join(parts)}] TJ")
                parts.clear()

        for key, (delta, dx, dy) in zip(run.keys, run.adjust, strict=True):
            ((subset, escaped),) = encoder.runs(key)
            selected = self._font_operator(encoder, subset, size)
            if selected is not self._selected or dy != rise:
                flush()
                self._select(ops, encoder, subset, size)
                if dy != rise:
                    rise = dy
                    ops.append(f"{dy * size / 1000:.2f} Ts")
            if dx:
                parts.append(f"{-dx:.1f}")
            parts.append(f"({escaped})")
            if dx != delta:
                parts.append(f"{dx - delta:.1f}")
        flush()
        if rise:
            ops.append("0 Ts")


# -- the public function -------------------------------------------------------------------------
_DEFAULTS = TranscriptSettings()  # English, UTC, no logo


def render_transcript(chat: ChatSession, settings: TranscriptSettings = _DEFAULTS) -> bytes:
    """The PDF transcript of `chat` as `settings` say (title, language, time zone, logo); the
    same input, the same bytes."""
    fonts = load_fonts(settings.fonts)
    labels = labels_for(check_language(settings.language))
    clock = Clock(settings.timezone, labels)
    heading = settings.title or labels.title
    layout = Layout(fonts)
    summary = Summary(chat, layout, clock, heading, settings.logo)
    summary.header()
    summary.visited_pages()
    Conversation(chat, layout, clock).draw()
    return _write_pdf(chat, layout.pages, fonts, clock, settings)


def _moment(chat: ChatSession) -> int:
    """When the chat happened, for the PDF's creation date: never the clock, so output is stable."""
    for candidate in (chat.end_at, chat.begin_at):
        if candidate is not None:
            return candidate
    return max((message.sent_at for message in chat.messages), default=0)


def _write_pdf(
    chat: ChatSession, pages: list[Page], fonts: Fonts, clock: Clock, settings: TranscriptSettings
) -> bytes:
    buffer = BytesIO()
    canvas = Canvas(
        buffer,
        pagesize=(PAGE_WIDTH, PAGE_HEIGHT),
        invariant=1,
        pageCompression=1,
        initialFontName=fonts.regular.name,  # registered: the first face of the chain
    )
    labels = clock.labels
    moment = clock.local(_moment(chat))
    offset = f"{moment:%z}" or "+0000"
    created = f"D:{moment:%Y%m%d%H%M%S}{offset[:3]}'{offset[3:]}'"
    canvas.setDateFormatter(lambda *_: created)
    clean = fonts.cleaner.line
    channel_id = id_text(chat.channel.id)
    visitor = chat.visitor.name or labels.running_visitor
    heading = settings.title or labels.title
    canvas.setTitle(
        clean(settings.title or labels.meta_title.format(title=labels.title, chat=channel_id))
    )
    canvas.setSubject(
        clean(
            labels.meta_subject.format(
                chat=channel_id, visitor=visitor, time=clock.full(_moment(chat))
            )
        )
    )
    canvas.setAuthor(clean(labels.meta_author.format(account=id_text(chat.account_id))))
    canvas.setCreator("exportdsl")
    painter = _Painter(canvas, fonts)
    running = _one_line(
        clean(labels.running.format(title=heading, chat=channel_id, visitor=visitor)), fonts
    )
    logo = _logo_image(settings.logo) if settings.logo is not None else None
    total = len(pages)
    for number, page in enumerate(pages, start=1):
        _decorate(page, number, total, running, fonts, labels)
        if page.logo is not None and logo is not None:  # under the text, as the shapes are
            x1, y1, x2, y2 = page.logo
            canvas.drawImage(logo, x1, y1, x2 - x1, y2 - y1, mask="auto")
        for box, url in page.links:  # annotations of this page: before `paint` ends it
            canvas.linkURL(url, box, relative=0, thickness=0)
        painter.paint(page)
        pages[number - 1] = Page()  # painted pages are not needed any more; free them early
    with _binary_streams():
        canvas.save()
    return buffer.getvalue()


def _logo_image(logo: Logo) -> Any:
    """The logo for reportlab (an ``ImageReader``), prepared once a process (`_prepared_logo`).
    Imported here: it loads Pillow, which a transcript without a logo (and a cold ``exportdsl
    export``) need not."""
    from reportlab.lib.utils import ImageReader

    prepared = _prepared_logo(logo.data, logo.kind)
    return ImageReader(BytesIO(logo.data) if prepared is None else prepared)


# a logo is drawn into LOGO_BOX points; 4 pixels a point is more than any printer resolves
_LOGO_PIXELS = (int(LOGO_BOX[0] * 4), int(LOGO_BOX[1] * 4))


@functools.lru_cache(maxsize=8)
def _prepared_logo(data: bytes, kind: str) -> Any:
    """None when the logo can be embedded as it is (a JPEG that needs nothing: embedded as its
    own DCT data); else a Pillow image: turned as its EXIF orientation says, 16-bit greys scaled
    to 8 bits (reportlab would draw them white), and scaled down to what the logo's box can show
    (a 4096x4096 logo took 650 ms and 160 MB a render). Cached: the same logo for every chat."""
    from PIL import Image, ImageOps

    with Image.open(BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened) or opened
        turned = image is not opened
        small = image.width <= _LOGO_PIXELS[0] and image.height <= _LOGO_PIXELS[1]
        if kind == "jpeg" and not turned and small and image.mode in ("RGB", "L"):
            return None
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            image = image.point(lambda value: value / 256).convert("L")
        elif image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        image = image.copy()
        image.thumbnail(_LOGO_PIXELS, Image.Resampling.LANCZOS)
        return image


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
        pdfdoc.PDFArray.format = _format_array
        pdfdoc.PDFDictionary.format = _format_dictionary
        ttfonts.makeToUnicodeCMap = _to_unicode_cmap
        try:
            yield
        finally:
            rl_config.useA85 = previous
            del pdfdoc.PDFZCompress.encode
            pdfdoc.PDFArray.format = _ARRAY_FORMAT
            pdfdoc.PDFDictionary.format = _DICTIONARY_FORMAT
            ttfonts.makeToUnicodeCMap = _TO_UNICODE_CMAP


_TO_UNICODE_CMAP = ttfonts.makeToUnicodeCMap


def _to_unicode_cmap(font_name: str, subset: list[int]) -> str:
    """The ToUnicode map of a font subset, as reportlab writes it but for two things: a private key
    maps to the text its glyph stands for (`typeface.PRIVATE_TEXT`), and text beyond the BMP is
    written in UTF-16 (surrogate pairs), as the PDF format asks, where reportlab writes the bare
    code point (an emoji would read back as garbage). Only while saving, under the lock."""
    entries = [
        f"<{code:02X}> <{_utf16(PRIVATE_TEXT.get(point, chr(point)))}>"
        for code, point in enumerate(subset)
    ]
    return "\n".join(
        [
            "/CIDInit /ProcSet findresource begin",
            "12 dict begin",
            "begincmap",
            f"/CIDSystemInfo\n<< /Registry ({font_name})\n/Ordering ({font_name})",
            "/Supplement 0\n>> def",
            f"/CMapName /{font_name} def",
            "/CMapType 2 def",
            f"1 begincodespacerange\n<00> <{len(subset) - 1:02X}>\nendcodespacerange",
            f"{len(subset)} beginbfchar",
            *entries,
            "endbfchar",
            "endcmap",
            "CMapName currentdict /CMap defineresource pop",
            "end",
            "end",
        ]
    )


# A mark that starts a right-to-left stretch of a line's text in drawing order (a word's last
# vowel sign, drawn leftmost), and the right-to-left letter after it.
_LEADING_MARK = re.compile(
    "(?<![\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff])([\u0591-\u05c7\u0610-\u061a"
    "\u064b-\u065f\u0670\u06d6-\u06ed\u08d3-\u08ff]+)(?=[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff])"
)


def _readable(drawn: str) -> str:
    """A line's text in drawing order, as readers of PDF text turn it back to the typed order:
    they reverse right-to-left stretches, but a stretch starts at a right-to-left letter, so a
    mark drawn leftmost would be read before its word. An RLM (a right-to-left letter that shows
    nothing) before it brings it into the stretch."""
    return _LEADING_MARK.sub("\u200f\\1", drawn)


def _utf16(text: str) -> str:
    return text.encode("utf-16-be", "surrogatepass").hex().upper()


_SFNT = (b"\x00\x01\x00\x00", b"true")  # how a TrueType font file starts
_ARRAY_FORMAT = pdfdoc.PDFArray.format
_NUMBER_ARRAYS: dict[tuple[object, ...], bytes] = {}  # formatted arrays of numbers, while saving


def _format_array(array: Any, document: Any, indent: bytes = b"\n ") -> bytes:
    """reportlab's `PDFArray.format`, kept for arrays of numbers: each embedded font subset's
    widths (up to 256 numbers, formatted one at a time in Python: a fifth of a short transcript's
    time) are the same in most transcripts. Only while saving, under the lock."""
    numbers = array.sequence
    if not all(type(number) in (int, float) for number in numbers):  # as reportlab's `format`
        return bytes(_ARRAY_FORMAT(array, document, indent))
    key = (tuple(numbers), array.multiline, rl_config.pdfMultiLine, indent)
    formatted = _NUMBER_ARRAYS.get(key)
    if formatted is None:
        if len(_NUMBER_ARRAYS) >= 256:  # bounded: the chats' characters make new subsets
            _NUMBER_ARRAYS.clear()
        formatted = _NUMBER_ARRAYS[key] = bytes(_ARRAY_FORMAT(array, document, indent))
    return formatted


_DICTIONARY_FORMAT = pdfdoc.PDFDictionary.format
_NAMES: dict[Any, bytes] = {}  # a dictionary key as written: "/Type", "/MediaBox" ...
_VALUES: dict[Any, bytes] = {}  # a string or number value as written: "/Page", "595.2756" ...


def _format_dictionary(dictionary: Any, document: Any, IND: bytes = b"\n ") -> bytes:
    """reportlab's `PDFDictionary.format` (``IND`` by its name), with each key written once per
    process: reportlab escapes a key's name character by character in Python and encodes it
    through its codec, ~80 keys a transcript (a tenth of its render), always the same few dozen.
    The values are formatted as reportlab does. Only while saving, under the lock."""
    entries = dictionary.dict
    keys = list(entries.keys())
    if not isinstance(entries, OrderedDict):
        keys.sort()
    lines = [_name(key, document) + b" " + _value(entries[key], document) for key in keys]
    if (dictionary.multiline and rl_config.pdfMultiLine) or dictionary.multiline == "forced":
        return b"<<\n" + IND.join(lines) + b"\n>>"
    for at in reversed(range(6, len(lines), 6)):  # a break every 6 entries, as reportlab's
        lines.insert(at, b"\n ")
    return b"<<\n" + b" ".join(lines) + b"\n>>"


def _name(key: str, document: Any) -> bytes:
    return _written(_NAMES, key, lambda: pdfdoc.format(pdfdoc.PDFName(key), document))


def _value(value: object, document: Any) -> bytes:
    """A value as reportlab writes it; a plain string (a name: ``/Page``, ``/FlateDecode``) or a
    number, the same bytes in every document, once per process."""
    kind = type(value)
    if kind is str or kind is int or kind is float:
        return _written(_VALUES, (kind, value), lambda: pdfdoc.format(value, document))
    return bytes(pdfdoc.format(value, document))


def _written(cache: dict[Any, bytes], key: object, write: Callable[[], bytes]) -> bytes:
    written = cache.get(key)
    if written is None:
        written = bytes(write())
        if len(cache) >= 1024:  # bounded: subset names and sizes vary with the chats
            cache.clear()
        cache[key] = written
    return written


@functools.lru_cache(maxsize=16)
def _compress_font(data: bytes) -> bytes:
    return zlib.compress(data)


def _compress(data: bytes | str) -> bytes:
    """Deflate, as reportlab does; the embedded font subsets, the same for most transcripts (and
    ~1.5 ms to compress each time), are compressed once."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return _compress_font(raw) if raw.startswith(_SFNT) else zlib.compress(raw)


def _one_line(text: str, fonts: Fonts) -> str:
    """The running header within the page's width: cut with an ellipsis when a long title or
    visitor name would run off the page."""
    lines = fonts.regular.wrap(text, FOOTER.size, RIGHT - LEFT)
    return lines[0] if len(lines) == 1 else lines[0].rstrip() + " …"


def _decorate(
    page: Page, number: int, total: int, running: str, fonts: Fonts, labels: Labels
) -> None:
    """Running header (from page 2), footer rule, and "Page X of Y"."""
    if number > 1:
        page.texts.insert(0, (LEFT, PAGE_HEIGHT - 34, FOOTER, running))  # first in reading order
        page.shapes.append(rule(LEFT, RIGHT, PAGE_HEIGHT - 40))
    page.shapes.append(rule(LEFT, RIGHT, FOOTER_Y + 11))
    page.texts.append((LEFT, FOOTER_Y, FOOTER, fonts.cleaner.line(labels.footer)))
    label = labels.page.format(number=number, total=total)
    width = fonts.regular.width(label, FOOTER.size)
    page.texts.append((RIGHT - width, FOOTER_Y, FOOTER, label))
