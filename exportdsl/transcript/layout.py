"""Pages of drawing operations and the cursor that fills them, top to bottom.

Layout is the first of two passes: content is flowed into `Page`s of text runs and shapes here,
and painted into the PDF only afterwards (`exportdsl.transcript.pdf`), once the page count is known
for "Page X of Y". Shapes are PDF path operators, written as text once and painted under the text.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from exportdsl.transcript.shaping import base_right_to_left
from exportdsl.transcript.theme import BOTTOM, HEADING, LEFT, RGB, RIGHT, RULE, TOP, Style
from exportdsl.transcript.typeface import Font, Fonts

__all__ = ["Box", "Layout", "Link", "Page", "RightToLeft", "Text", "fill", "pill", "rect", "rule"]

Text = tuple[float, float, Style, str]  # x, baseline y, style, cleaned text
Box = tuple[float, float, float, float]  # x1, y1 (bottom left), x2, y2 (top right)
Link = tuple[Box, str]  # a clickable area and the http(s) URL it opens


class RightToLeft(str):
    """A line of a right-to-left paragraph: the same text, its direction known to the painter
    (a line alone may start with a word of the other direction)."""

    __slots__ = ()


@dataclass(slots=True)
class Page:
    shapes: list[str] = field(default_factory=list)  # PDF path operators, painted under the text
    texts: list[Text] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)  # link annotations (the visited pages' URLs)
    logo: Box | None = None  # where the settings' logo is drawn (the first page's top right)


@functools.cache
def fill(color: RGB) -> str:
    """The operator that sets the fill colour (formatted once: every message's bar has one)."""
    return f"{color[0]:.3f} {color[1]:.3f} {color[2]:.3f} rg"


def rect(x: float, y: float, width: float, height: float, color: RGB) -> str:
    """A filled rectangle."""
    return f"{fill(color)} {x:.2f} {y:.2f} {width:.2f} {height:.2f} re f"


def rule(x1: float, x2: float, y: float, color: RGB = RULE, width: float = 0.6) -> str:
    """A horizontal line."""
    return (
        f"{color[0]:.3f} {color[1]:.3f} {color[2]:.3f} RG {width:.2f} w "
        f"{x1:.2f} {y:.2f} m {x2:.2f} {y:.2f} l S"
    )


def pill(x: float, y: float, width: float, height: float, color: RGB) -> str:
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


class Layout:
    """Flows content top to bottom into `Page`s; `y` is the top of the free space on the page."""

    def __init__(self, fonts: Fonts) -> None:
        self.fonts = fonts
        self.clean = fonts.cleaner
        self.pages: list[Page] = []
        self.page = Page()
        self.y = TOP
        self.break_page()

    def font(self, style: Style) -> Font:
        return self.fonts.bold if style.bold else self.fonts.regular

    def break_page(self) -> None:
        self.page = Page()
        self.pages.append(self.page)
        self.y = TOP

    def ensure(self, height: float) -> None:
        if self.y - height < BOTTOM and self.y < TOP:
            self.break_page()

    def put(self, x: float, baseline: float, style: Style, text: str) -> None:
        """Draw one already-cleaned line at a given place (no flow, no page break)."""
        self.page.texts.append((x, baseline, style, text))

    def row(self, leading: float) -> float:
        """Take the next line of the page, breaking the page if it is full; returns its baseline."""
        if self.y - leading < BOTTOM:
            self.break_page()
        baseline = self.y - leading * 0.78
        self.y -= leading
        return baseline

    def line(
        self, x: float, style: Style, text: str, leading: float, column: float | None = None
    ) -> float:
        """Place one line of text below the previous ones; returns its baseline. Given the
        column's width, a line of a right-to-left paragraph is aligned to the column's right."""
        baseline = self.row(leading)
        if column is not None and type(text) is RightToLeft:
            x += max(0.0, column - self.font(style).width(text, style.size))
        self.page.texts.append((x, baseline, style, text))
        return baseline

    def wrapped(self, text: str, style: Style, width: float) -> list[str]:
        """Cleaned text wrapped to `width`; lines of right-to-left paragraphs are `RightToLeft`."""
        font = self.font(style)
        lines: list[str] = []
        for paragraph in self.clean.paragraphs(text):
            pieces = font.wrap(paragraph, style.size, width)
            plain = paragraph.isascii() or font.simple.issuperset(paragraph)
            if not plain and base_right_to_left(paragraph):
                pieces = [RightToLeft(piece) for piece in pieces]
            lines += pieces
        return lines

    def gap(self, height: float) -> None:
        self.y -= height

    def heading(self, text: str) -> None:
        """A section heading over a rule across the page."""
        self.ensure(18 + 30)  # a heading never ends a page
        self.line(LEFT, HEADING, self.clean.line(text), 16)
        self.page.shapes.append(rule(LEFT, RIGHT, self.y - 1))
        self.gap(7)
