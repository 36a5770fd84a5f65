"""How the transcript looks: page geometry, colours and text styles.

Every position and style the other transcript modules use is named here, so a change of look is a
change of this module only. Units are PDF points on A4 portrait; colours are RGB fractions.
"""

from __future__ import annotations

from dataclasses import dataclass

from exportdsl.chat.model import Role

__all__ = [
    "ALERT_FLAG",
    "BAR_X",
    "BODY",
    "BODY_WIDTH",
    "BODY_X",
    "BOTTOM",
    "EVENT",
    "FAINT",
    "FOOTER",
    "FOOTER_Y",
    "HEADING",
    "INK",
    "LABEL",
    "LEFT",
    "MUTED",
    "NORMAL_FLAG",
    "PAGE_HEIGHT",
    "PAGE_WIDTH",
    "RGB",
    "RIGHT",
    "ROLE_COLORS",
    "ROLE_STYLES",
    "RULE",
    "SMALL",
    "SMALL_BOLD",
    "TIME_X",
    "TITLE",
    "TOP",
    "VALUE",
    "Style",
]

# -- page geometry (points; A4 portrait) -------------------------------------------------------
PAGE_WIDTH, PAGE_HEIGHT = 595.2756, 841.8898
LEFT, RIGHT = 50.0, 545.2756
TOP, BOTTOM = 792.0, 62.0  # first and lowest text baselines of the page body
FOOTER_Y = 36.0
TIME_X = LEFT  # the gutter with the message time
BAR_X = 100.0  # the coloured bar that marks who speaks
BODY_X = 108.0
BODY_WIDTH = RIGHT - BODY_X

# -- colours ---------------------------------------------------------------------------------
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
# (ink, fill) of the header's flag pills: alerts (missed, dropped, ...) stand out in red
ALERT_FLAG, NORMAL_FLAG = (_hex("#b91c1c"), _hex("#fde8e8")), (_hex("#334155"), _hex("#e8edf3"))


# -- text styles -------------------------------------------------------------------------------
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
