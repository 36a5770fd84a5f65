"""The transcript's settings (connector key ``transcript:``, the options of ``exportdsl
transcript``): the checked values, and the rules that check them, in one place.

They live with the connector, not in `exportdsl.transcript`, because the connector reader checks
them (with the key's line and column) and the pipeline's stages import only downwards: the reader
may not import the transcript. `exportdsl.transcript.settings` offers them to the PDF's side.

Each rule raises `ConfigError` with a message and a hint; the reader makes that a diagnostic at the
value in the file, the CLI a usage error naming the option.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Literal

from exportdsl.errors import ConfigError, closest
from exportdsl.source import shorten

__all__ = [
    "FONT_SUFFIXES",
    "LANGUAGES",
    "MAX_LOGO_BYTES",
    "MAX_LOGO_PIXELS",
    "Logo",
    "TranscriptSettings",
    "check_fonts_folder",
    "check_language",
    "check_timezone",
    "folder_fonts",
    "read_logo",
]

# The languages the transcript's labels and dates are written in (`exportdsl.transcript.labels`
# has one table each; a test holds the two to the same set).
LANGUAGES = {"en": "English", "de": "German", "pl": "Polish", "cs": "Czech"}
# How the languages are often written instead of their code: a hint, never taken silently
_LANGUAGE_NAMES = {
    "english": "en",
    "german": "de",
    "deutsch": "de",
    "polish": "pl",
    "polski": "pl",
    "czech": "cs",
    "čeština": "cs",
    "cestina": "cs",
    "cz": "cs",  # the country, not the language
}

MAX_LOGO_BYTES = 1024 * 1024  # a logo is a small image drawn in a corner, not a photo
MAX_LOGO_PIXELS = 4096  # per side: decoding more costs memory in every render process

LogoKind = Literal["png", "jpeg"]
_MAGIC: tuple[tuple[bytes, LogoKind], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
)
# What a refused file is, when it is a common kind: the message can say so
_OTHER_KINDS = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"%PDF", "a PDF document"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"<svg", "an SVG image"),
    (b"<?xml", "an XML file (an SVG image?)"),
)

# Files of a zone database that are not IANA zones: the host's own zone (differs per machine), a
# placeholder ("-00"), and the posix/ and right/ (leap-second) copies of the real ones.
_NOT_IANA_ZONES = frozenset({"localtime", "Factory", "posixrules"})


@dataclass(frozen=True, slots=True)
class Logo:
    """A checked PNG or JPEG image: its bytes as given (embedded as they are), kind and size."""

    data: bytes = field(repr=False)
    kind: LogoKind
    width: int  # pixels
    height: int


@dataclass(frozen=True, slots=True, kw_only=True)  # keywords: five settings, easily swapped
class TranscriptSettings:
    """How a transcript is written: title (None: the language's default), label language, the
    time zone of the times shown, a logo for the header, and a folder of extra fonts (searched
    before the bundled ones)."""

    title: str | None = None
    language: str = "en"
    timezone: str = "UTC"
    logo: Logo | None = None
    fonts: Path | None = None


def check_language(name: str) -> str:
    """One of `LANGUAGES`; anything else (a locale, a language's name, a typo) is refused with
    the code it most likely meant."""
    if name in LANGUAGES:
        return name
    raise ConfigError(
        f"unknown transcript language {shorten(name, 40)!r}",
        hint=_language_hint(name),
    )


def _language_hint(name: str) -> str:
    known = "expected one of: " + ", ".join(f"{code} ({word})" for code, word in LANGUAGES.items())
    lowered = name.strip().lower()
    primary = lowered.replace("_", "-").split("-", 1)[0]
    meant = (
        lowered
        if lowered in LANGUAGES
        else primary
        if primary in LANGUAGES
        else _LANGUAGE_NAMES.get(lowered)
    )
    if meant is not None:
        return f"did you mean {meant!r}? {known}"
    meant = closest(lowered, LANGUAGES)
    return f"did you mean {meant!r}? {known}" if meant else known


def check_timezone(name: str) -> str:
    """An IANA time zone name, the same on every machine."""
    if name in _NOT_IANA_ZONES or name.startswith(("posix/", "right/")):
        raise ConfigError(
            f"time zone {name!r} is a file of this machine's zone database, not an IANA name",
            hint="use an IANA name such as Europe/Berlin or UTC (the same on every machine)",
        )
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe", a folder
        raise ConfigError(
            f"unknown time zone {shorten(name, 60)!r}",
            hint=f"did you mean {close!r}?"
            if (close := closest(name, zoneinfo.available_timezones()))
            else "use an IANA name such as Europe/Berlin or UTC",
        ) from None
    return name


def check_fonts_folder(written: str, base: Path) -> Path:
    """``written`` (relative to ``base``: the connector file's folder, or the working directory)
    as an existing folder of fonts the transcript can embed (each file's first bytes read: a
    junk file or a PostScript-outline font is refused here, not at every render); kept absolute,
    so a render process elsewhere finds it too."""
    if not written.strip():
        raise ConfigError(
            "the fonts folder is empty text", hint="name a folder, or leave the key out"
        )
    folder = (base / written).absolute()
    if not folder.is_dir():
        raise ConfigError(
            f"fonts folder {shorten(written, 80)!r} "
            + ("is not a folder" if folder.exists() else "does not exist"),
            hint=f"a folder of .ttf fonts, relative to {_base_name(base)}",
        )
    for path in folder_fonts(folder):
        _check_font_file(path)
    return folder


FONT_SUFFIXES = (".ttf", ".ttc", ".otf")
_SLANTED = re.compile("italic|oblique", re.IGNORECASE)
_TRUETYPE = (b"\x00\x01\x00\x00", b"true", b"ttcf")  # how TrueType files and collections start


def folder_fonts(folder: Path) -> list[Path]:
    """A fonts folder's font files, by name; hidden files (macOS's ``._Name.ttf`` resource forks
    among them) and italic or oblique styles (the transcript sets no text in italics) left out."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and path.name.lower().endswith(FONT_SUFFIXES)
        and not path.name.startswith(".")
        and not _SLANTED.search(path.stem)
    )


def _check_font_file(path: Path) -> None:
    try:
        with path.open("rb") as stream:
            start = stream.read(4)
    except OSError as error:
        raise ConfigError(
            f"cannot read the font {path.name}: {error.strerror or error}",
            hint="make it readable by the user exportdsl runs as, or remove it",
        ) from None
    if start == b"OTTO":
        raise ConfigError(
            f"the font {path.name} has PostScript (CFF) outlines, which the transcript cannot "
            "embed",
            hint="use a TrueType build of the font (Noto Sans CJK's .otf files are CFF), or "
            "remove it from the folder",
        )
    if start not in _TRUETYPE:
        raise ConfigError(
            f"{path.name} in the fonts folder is not a TrueType font",
            hint="a .ttf, .ttc or .otf file with TrueType outlines is expected; remove the file",
        )


def read_logo(written: str, base: Path) -> Logo:
    """The image at ``written`` (relative to ``base``), checked: a PNG or JPEG file by its first
    bytes, at most `MAX_LOGO_BYTES` and `MAX_LOGO_PIXELS` a side, and decodable whole."""
    if not written.strip():
        raise ConfigError(
            "the logo is empty text", hint="name a PNG or JPEG file, or leave the key out"
        )
    path = base / written
    shown = shorten(written, 80)
    where = f"relative to {_base_name(base)}"
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ConfigError(f"logo {shown!r} is not a file", hint=f"a PNG or JPEG file, {where}")
        if size > MAX_LOGO_BYTES:
            raise ConfigError(
                f"logo {shown!r} is {size:,} bytes; a logo may have at most "
                f"{MAX_LOGO_BYTES:,} bytes (1 MiB)",
                hint="scale it down or compress it; it is drawn about 4 cm wide",
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"logo file {shown!r} not found", hint=f"a PNG or JPEG file, {where}"
        ) from None
    except OSError as error:
        raise ConfigError(
            f"logo {shown!r} cannot be read: {error.strerror or error}",
            hint=f"a PNG or JPEG file, {where}",
        ) from None
    except ValueError:  # a NUL character: no file has such a name
        raise ConfigError(
            f"logo {shown!r} is not a file name", hint=f"a PNG or JPEG file, {where}"
        ) from None
    return checked_logo(data, shown)


def checked_logo(data: bytes, shown: str = "image") -> Logo:
    """``data`` as a `Logo`, or `ConfigError` saying what is wrong with it."""
    kind = next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)
    if kind is None:
        found = next((what for magic, what in _OTHER_KINDS if data.lstrip().startswith(magic)), "")
        raise ConfigError(
            f"logo {shown!r} is {found or 'not a PNG or JPEG image'}"
            + ("; a logo is a PNG or JPEG image" if found else ""),
            hint="convert it to PNG (or JPEG); the file's first bytes say what it is, not its name",
        )
    width, height = _decoded_size(data, shown, kind)
    if width > MAX_LOGO_PIXELS or height > MAX_LOGO_PIXELS:
        raise ConfigError(
            f"logo {shown!r} is {width}x{height} pixels; at most "
            f"{MAX_LOGO_PIXELS}x{MAX_LOGO_PIXELS} are taken",
            hint="scale it down; 600 pixels across are plenty for print",
        )
    return Logo(data, kind, width, height)


_EXIF_ORIENTATION = 0x0112
_TURNED_A_QUARTER = (5, 6, 7, 8)


def _decoded_size(data: bytes, shown: str, kind: LogoKind) -> tuple[int, int]:
    """The image's size, once Pillow has decoded it whole (a file cut short, or damaged, is
    refused here rather than in every render). The size is checked before the pixels are
    decoded, so a huge image costs no memory."""
    from PIL import Image  # only for a connector with a logo: `check` stays quick without one

    bad = f"logo {shown!r} is a damaged or unreadable {kind.upper()} image"
    try:
        with Image.open(BytesIO(data), formats=[kind.upper()]) as image:
            width, height = image.size
            if width > MAX_LOGO_PIXELS or height > MAX_LOGO_PIXELS:
                return width, height
            image.load()
            if image.getexif().get(_EXIF_ORIENTATION, 1) in _TURNED_A_QUARTER:
                width, height = height, width  # drawn turned, as the camera says (EXIF)
    except Image.DecompressionBombError:  # Pillow's own limit, far above ours
        raise ConfigError(
            f"logo {shown!r} has far more than {MAX_LOGO_PIXELS}x{MAX_LOGO_PIXELS} pixels",
            hint="scale it down; 600 pixels across are plenty for print",
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        said = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the image", str(error))
        raise ConfigError(
            bad, hint=f"open it in an image editor and save it again ({said})"
        ) from None
    return width, height


def _base_name(base: Path) -> str:
    return "the working directory" if str(base) in ("", ".") else f"{base}/"
