"""Where the transcript's fonts come from: a configured folder, the bundled fonts, the system's.

A weight (regular or bold) is a *chain* of font files; each character is drawn in the first file
of the chain that has a glyph for it (`typeface.Font`). The chain, in order:

1. every TrueType file of the configured folder (the connector's ``transcript.fonts``, or
   ``--fonts``), sorted by name: they win over everything else. A file whose name says "Bold"
   serves the bold chain, the others the regular one (the bold chain takes those too, after);
2. the bundled fonts (``fonts/`` beside this module, licences alongside): Noto Sans Arabic and
   Hebrew for their scripts, then DejaVu Sans (Latin, Greek, Cyrillic, symbols), then Noto Sans
   Devanagari and Thai. A plain ``pip install`` draws all of these;
3. known system fonts for what is too big to bundle, looked up by file name in the usual font
   folders: Chinese, Japanese and Korean (Debian's ``fonts-wqy-microhei``, or Droid Sans
   Fallback), emoji and symbols in one colour (Debian's ``fonts-symbola``), and Noto's fonts for
   the other living scripts (Bengali, Tamil, Khmer, Ethiopic, ...: Debian's ``fonts-noto-core``).
   Found by name, not through fontconfig, so that machines with the same fonts make the same PDF.

reportlab embeds TrueType outlines only: an OpenType file with PostScript (CFF) outlines, such as
Noto Sans CJK, cannot be used. A folder file that is not usable is an error naming it; a system
font that is not usable is skipped.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from exportdsl.connector.transcript import FONT_SUFFIXES, folder_fonts

__all__ = [
    "BEYOND_LATIN",
    "BUNDLED_FONTS",
    "CJK",
    "EMOJI",
    "FONT_DIR",
    "FONT_SUFFIXES",
    "OTHER_SCRIPTS",
    "SCRIPT_SAMPLES",
    "SYSTEM_FONTS",
    "FontFile",
    "Script",
    "chain",
    "folder_fonts",
    "system_font_folders",
    "system_fonts",
]

FONT_DIR = Path(__file__).parent / "fonts"


@dataclass(frozen=True, slots=True)
class Script:
    """A script's name and code point ranges: a script font is used for these only, so that
    Latin digits and punctuation in an Arabic message keep the body font."""

    name: str
    ranges: tuple[tuple[int, int], ...]

    def __contains__(self, codepoint: int) -> bool:
        return any(first <= codepoint <= last for first, last in self.ranges)


ARABIC = Script(
    "Arabic",
    ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
)
HEBREW = Script("Hebrew", ((0x0590, 0x05FF), (0xFB1D, 0xFB4F)))
# What a folder font without the Latin alphabet is asked for: not Latin (with its diacritics and
# IPA), not the general punctuation
BEYOND_LATIN = Script("beyond Latin", ((0x0370, 0x1FFF), (0x2070, 0x10FFFF)))


@dataclass(frozen=True, slots=True)
class FontFile:
    """One font of a chain: its file (and the font's index in a .ttc collection), what it is used
    for (None: every character it has), and where it came from (shown by ``exportdsl fonts``)."""

    path: Path
    source: str  # "folder", "bundled" or "system"
    script: Script | None = None
    index: int = 0


def _bundled(name: str, script: Script | None = None) -> FontFile:
    return FontFile(FONT_DIR / name, "bundled", script)


# (regular, bold) of each bundled font, in chain order
BUNDLED_FONTS = (
    (_bundled("NotoSansArabic-Regular.ttf", ARABIC), _bundled("NotoSansArabic-Bold.ttf", ARABIC)),
    (_bundled("NotoSansHebrew-Regular.ttf", HEBREW), _bundled("NotoSansHebrew-Bold.ttf", HEBREW)),
    (_bundled("DejaVuSans.ttf"), _bundled("DejaVuSans-Bold.ttf")),
    (_bundled("NotoSansDevanagari-Regular.ttf"), _bundled("NotoSansDevanagari-Bold.ttf")),
    (_bundled("NotoSansThai-Regular.ttf"), _bundled("NotoSansThai-Bold.ttf")),
)
CJK, EMOJI = "Chinese, Japanese and Korean", "emoji and symbols"
OTHER_SCRIPTS = "other scripts (Bengali, Tamil, Khmer, Ethiopic, ...)"
# A script, characters of it, and what to install when no font has them (`exportdsl fonts`).
SCRIPT_SAMPLES = (
    ("Latin", "AaŁłŘřßé", "a TrueType font in the fonts folder"),
    ("Greek", "ΑαΩω", "a TrueType font in the fonts folder"),
    ("Cyrillic", "АаЯя", "a TrueType font in the fonts folder"),
    ("Arabic", "بتثلا", "a TrueType font in the fonts folder"),
    ("Hebrew", "אבגש", "a TrueType font in the fonts folder"),
    ("Devanagari", "कखगक्ष", "a TrueType font in the fonts folder"),
    ("Thai", "กขคง", "a TrueType font in the fonts folder"),
    ("Chinese", "中文您好", "Debian's fonts-wqy-microhei"),
    ("Japanese", "こんにちは", "Debian's fonts-wqy-microhei"),
    ("Korean", "안녕하세요", "Debian's fonts-wqy-microhei"),
    ("emoji", "👍🎉😀", "Debian's fonts-symbola"),
)
# The system fonts looked for, in chain order: file name, what it is for, the Debian package that
# has it. Each one found joins the chain. Droid Sans Fallback (no Hangul) comes after Symbola: it
# is parsed only for a character none of the others has; then Noto's fonts for the living scripts
# the bundled fonts do not draw (Debian's fonts-noto-core installs them all).
SYSTEM_FONTS = (
    ("wqy-microhei.ttc", CJK, "fonts-wqy-microhei"),
    ("wqy-zenhei.ttc", CJK, "fonts-wqy-zenhei"),
    ("Symbola_hint.ttf", EMOJI, "fonts-symbola"),
    ("Symbola.ttf", EMOJI, "fonts-symbola"),
    ("DroidSansFallbackFull.ttf", CJK, "fonts-droid-fallback"),
    ("DroidSansFallback.ttf", CJK, "fonts-droid-fallback"),
    *(
        (f"NotoSans{script}-Regular.ttf", OTHER_SCRIPTS, "fonts-noto-core")
        for script in [
            "Armenian",
            "Bengali",
            "Ethiopic",
            "Georgian",
            "Gujarati",
            "Gurmukhi",
            "Kannada",
            "Khmer",
            "Lao",
            "Malayalam",
            "Mongolian",
            "Myanmar",
            "Oriya",
            "Sinhala",
            "Syriac",
            "Tamil",
            "Telugu",
            "Thaana",
            "Tibetan",
            "Cherokee",
            "CanadianAboriginal",
            "Javanese",
            "Balinese",
            "Tifinagh",
            "Adlam",
            "NKo",
        ]
    ),
)


def system_font_folders() -> list[Path]:
    """The folders fonts are installed in, as fontconfig's default configuration lists them."""
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    data_dirs = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    folders = [Path(data_home) / "fonts", Path(os.path.expanduser("~/.fonts"))]
    folders += [Path(folder) / "fonts" for folder in data_dirs.split(":") if folder]
    return list(dict.fromkeys(folders))


@functools.cache
def _installed(folders: tuple[Path, ...]) -> dict[str, Path]:
    """Font file name -> its first path in the folders (walked in a fixed order)."""
    found: dict[str, Path] = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                if name.lower().endswith(FONT_SUFFIXES):
                    found.setdefault(name, Path(root) / name)
    return found


def system_fonts() -> list[FontFile]:
    installed = _installed(tuple(system_font_folders()))
    return [FontFile(installed[name], "system") for name, _, _ in SYSTEM_FONTS if name in installed]


def chain(bold: bool, folder: Path | None = None, system: bool = True) -> list[FontFile]:
    """The font files of one weight, in the order they are asked for a character (without the
    system fonts, which `system_fonts` finds when a character first needs them)."""
    files: list[FontFile] = []
    if folder is not None:
        own = folder_fonts(folder)
        bold_named = [path for path in own if "bold" in path.stem.lower()]
        regular = [path for path in own if path not in bold_named]
        files += [FontFile(path, "folder") for path in (bold_named + regular if bold else regular)]
    files += [weights[bold] for weights in BUNDLED_FONTS]
    return files + system_fonts() if system else files
