"""Regressions found by a review of issue 14 as a new user: each test failed before its fix."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from pypdf import PdfReader

from exportdsl.chat.reader import parse_chat
from exportdsl.connector.transcript import read_logo
from exportdsl.errors import ConfigError
from exportdsl.transcript import fonts
from exportdsl.transcript.pdf import render_transcript
from exportdsl.transcript.settings import TranscriptSettings
from exportdsl.transcript.summary import link_target
from exportdsl.transcript.typeface import load_fonts

EXPORTDSL = str(Path(sys.executable).with_name("exportdsl"))
BIDI_MARKS = re.compile("[\u200e\u200f\u202a-\u202e]")


def chat_of(*contents: str, paths: list[dict[str, str]] | None = None) -> dict[str, object]:
    return {
        "visitor": {"name": "V"},
        "paths": paths or [],
        "messages": [
            {"type": "visitor", "content": text, "sentAt": 1_732_960_800_000 + index}
            for index, text in enumerate(contents)
        ],
    }


def pdftotext(pdf: bytes) -> str:
    done = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    return BIDI_MARKS.sub("", done.stdout.decode())


def test_a_fonts_folder_works_in_a_fresh_process(tmp_path: Path) -> None:
    """The canvas was opened with the bundled DejaVu's name, which a folder font that comes first
    leaves unregistered: exit 3 'no afm found' in every fresh process."""
    folder = tmp_path / "fonts"
    folder.mkdir()
    shutil.copy(fonts.FONT_DIR / "DejaVuSans-Bold.ttf", folder / "House-Regular.ttf")
    chat = tmp_path / "chat.json"
    chat.write_text('{"messages": [{"type": "visitor", "content": "Hello", "sentAt": 1}]}')
    done = subprocess.run(
        [EXPORTDSL, "transcript", str(chat), "--fonts", str(folder), "-o", str(tmp_path / "o.pdf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Hello" in pdftotext((tmp_path / "o.pdf").read_bytes())


def test_a_long_url_makes_one_link_not_one_a_line() -> None:
    """Every line of a wrapped URL carried the whole URL: a 100 KB URL made a 104 MB PDF."""
    sizes = []
    for length in (10_000, 30_000):
        url = "https://example.com/" + "x" * length
        sizes.append(len(render_transcript(parse_chat(chat_of("hi", paths=[{"url": url}])))))
    assert sizes[1] - sizes[0] < 2 * 20_000  # linear in the URL's length, not its square


def test_a_link_is_written_in_ascii() -> None:
    assert link_target("https://例え.jp/路径?q=שלום") == (
        "https://xn--r8jz45g.jp/%E8%B7%AF%E5%BE%84?q=%D7%A9%D7%9C%D7%95%D7%9D"
    )
    assert link_target("https://example.com/" + "x" * 9000) is None  # shown, not linked


@pytest.mark.parametrize(
    "text",
    [
        "شكراً جزيلاً",  # tanween at the end of the line: drawn leftmost
        "محمّد",  # a shadda, raised
        "بِسْمِ اللَّهِ الرَّحْمَنِ الرَّحِيمِ",
        "שַׁבָּת שָׁלוֹם",
        "สั่งซื้อ ครั้งนี้",  # stacked Thai marks
    ],
)
def test_text_with_marks_reads_back_as_typed(text: str) -> None:
    """Marks placed off the baseline were read as another line (a shadda after its word)."""
    found = pdftotext(render_transcript(parse_chat(chat_of(text))))
    lines = [unicodedata.normalize("NFC", line.strip()) for line in found.splitlines()]
    assert unicodedata.normalize("NFC", text) in lines


def test_an_unreadable_system_font_is_skipped(tmp_path: Path) -> None:
    share = tmp_path / "share"
    (share / "fonts").mkdir(parents=True)
    (share / "fonts" / "wqy-microhei.ttc").write_bytes(b"not a font")
    env = {**os.environ, "XDG_DATA_HOME": str(share), "XDG_DATA_DIRS": str(tmp_path / "none")}
    chat = tmp_path / "chat.json"
    chat.write_text('{"messages": [{"type": "visitor", "content": "中文 ok", "sentAt": 1}]}')
    done = subprocess.run(
        [EXPORTDSL, "transcript", str(chat), "-o", str(tmp_path / "o.pdf")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "[U+4E2D U+6587] ok" in pdftotext((tmp_path / "o.pdf").read_bytes())
    listed = subprocess.run(
        [EXPORTDSL, "fonts"], capture_output=True, text=True, env=env, timeout=60
    )
    assert "wqy-microhei.ttc (cannot be read: skipped)" in listed.stdout
    assert "internal error" not in listed.stderr


def test_a_font_for_one_script_does_not_take_the_latin_text(tmp_path: Path) -> None:
    """A folder font without the Latin alphabet became the body font: digits, punctuation and
    spaces in its style, and every line through the slow path."""
    shutil.copy(fonts.FONT_DIR / "NotoSansThai-Regular.ttf", tmp_path / "Thai.ttf")
    chain = load_fonts(tmp_path)
    assert chain.regular.primary.file.path.name == "DejaVuSans.ttf"
    assert chain.regular.simple.issuperset("Order 12, please.")
    thai = chain.regular.face(chain.regular.face_index("ก")).file.path
    assert thai == tmp_path / "Thai.ttf"


def test_hidden_and_slanted_folder_files_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "._House.ttf").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    shutil.copy(fonts.FONT_DIR / "DejaVuSans.ttf", tmp_path / "House-Italic.ttf")
    assert fonts.folder_fonts(tmp_path) == []


def test_a_font_without_a_space_glyph_is_no_internal_error(tmp_path: Path) -> None:
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    pen = TTGlyphPen(None)
    pen.moveTo((0, 0))
    pen.lineTo((500, 0))
    pen.lineTo((500, 500))
    pen.closePath()
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder([".notdef", "star"])
    builder.setupCharacterMap({0x2605: "star"})
    builder.setupGlyf({".notdef": pen.glyph(), "star": pen.glyph()})
    builder.setupHorizontalMetrics({".notdef": (500, 0), "star": (600, 0)})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Icons", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    builder.save(str(tmp_path / "Icons.ttf"))
    pdf = render_transcript(
        parse_chat(chat_of("a star ★ here")), TranscriptSettings(fonts=tmp_path)
    )
    assert "a star ★ here" in pdftotext(pdf)


def test_a_noncharacter_is_a_stand_in_not_a_box() -> None:
    assert "a [U+FFFF] b" in pdftotext(render_transcript(parse_chat(chat_of("a \uffff b"))))


def test_emoji_tag_characters_are_dropped() -> None:
    england = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    assert "[U+E00" not in pdftotext(render_transcript(parse_chat(chat_of(f"go {england}!"))))


def test_a_junk_font_gets_its_own_hint(tmp_path: Path) -> None:
    (tmp_path / "Junk.ttf").write_bytes(b"not a font")
    with pytest.raises(ConfigError) as raised:
        load_fonts(tmp_path)
    assert "Junk.ttf" in str(raised.value) and "PostScript" not in (raised.value.hint or "")


def test_every_page_has_its_text_where_a_reader_finds_it() -> None:
    pdf = render_transcript(parse_chat(chat_of("hello")))
    assert "hello" in PdfReader(__import__("io").BytesIO(pdf)).pages[0].extract_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"OTTO\x00\x0b\x00\x80", "has PostScript (CFF) outlines"),
        (b"not a font", "is not a TrueType font"),
    ],
)
def test_check_refuses_a_fonts_folder_the_transcript_cannot_use(
    tmp_path: Path, content: bytes, message: str
) -> None:
    """check said "no problems" and then every render of the connector failed."""
    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts" / "House.otf").write_bytes(content)
    connector = tmp_path / "c.yaml"
    connector.write_text(
        "connector: {id: 1, name: X}\nclient: {id: 1}\n"
        "export:\n  url: https://example.com/\n  body: $report.encoded.base64\n"
        "transcript:\n  fonts: fonts\n"
    )
    done = subprocess.run(
        [EXPORTDSL, "check", str(connector)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "c.yaml:7:10: " in done.stdout and message in done.stdout, done.stdout


def _image_bytes(image: object, kind: str, **options: object) -> bytes:
    buffer = __import__("io").BytesIO()
    image.save(buffer, kind, **options)  # type: ignore[attr-defined]
    return buffer.getvalue()


def _drawn_logo(pdf: bytes) -> tuple[int, int, str]:
    page = PdfReader(__import__("io").BytesIO(pdf)).pages[0]
    (image,) = page.images
    return image.image.width, image.image.height, image.image.mode


def test_a_big_logo_is_drawn_at_the_size_its_box_shows(tmp_path: Path) -> None:
    """A 4096x4096 logo was decoded and recompressed whole in every render (650 ms, 160 MB)."""
    from PIL import Image

    logo = tmp_path / "big.png"
    logo.write_bytes(_image_bytes(Image.linear_gradient("L").resize((4096, 4096)), "PNG"))
    pdf = render_transcript(
        parse_chat(chat_of("hi")), TranscriptSettings(logo=read_logo(str(logo), tmp_path))
    )
    width, height, _ = _drawn_logo(pdf)
    assert max(width, height) <= 600


def test_a_logo_is_turned_as_its_exif_says_and_16_bit_grey_is_not_white(tmp_path: Path) -> None:
    from PIL import Image

    wide = Image.new("RGB", (300, 60), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # turned a quarter: shown 60 wide, 300 high
    (tmp_path / "turned.jpg").write_bytes(_image_bytes(wide, "JPEG", exif=exif))
    turned = read_logo("turned.jpg", tmp_path)
    assert (turned.width, turned.height) == (60, 300)
    width, height, _ = _drawn_logo(
        render_transcript(parse_chat(chat_of("hi")), TranscriptSettings(logo=turned))
    )
    assert width < height
    grey = Image.new("I;16", (40, 20), 0x8000)
    (tmp_path / "grey.png").write_bytes(_image_bytes(grey, "PNG"))
    pdf = render_transcript(
        parse_chat(chat_of("hi")),
        TranscriptSettings(logo=read_logo("grey.png", tmp_path)),
    )
    page = PdfReader(__import__("io").BytesIO(pdf)).pages[0]
    (image,) = page.images
    assert 100 < image.image.convert("L").getpixel((5, 5)) < 160  # mid grey, not white


def test_a_huge_visitor_name_is_shortened_in_author_lines() -> None:
    """A 100 KB name was repeated whole over every message (and every page a message goes on)."""
    chat = chat_of("hello", "again")
    chat["visitor"] = {"name": "N" * 100_000}
    pdf = render_transcript(parse_chat(chat))
    assert len(PdfReader(__import__("io").BytesIO(pdf)).pages) < 60
    assert "N" * 1_000 + "…" in pdftotext(pdf).replace("\n", "")


def test_the_running_header_stays_on_the_page() -> None:
    chat = chat_of(*["word " * 50] * 80)
    chat["visitor"] = {"name": "Visitor " * 30}
    pdf = render_transcript(parse_chat(chat), TranscriptSettings(title="A title " * 40))
    second = PdfReader(__import__("io").BytesIO(pdf)).pages[1].extract_text().splitlines()[0]
    assert second.endswith("…") and second.count("A title") < 40  # cut to the page's width


@pytest.mark.parametrize(
    ("cluster", "script"),
    [
        ("क्ष", "a Devanagari conjunct (consonant, virama, consonant)"),
        ("कि", "a Devanagari consonant with its spacing vowel sign"),
        ("กี่", "a Thai consonant with its vowel and tone marks"),
        ("👩\u200d👩\u200d👧", "an emoji ZWJ sequence"),
        ("🇵🇱", "a flag (two regional indicators)"),
        ("👍🏽", "an emoji with its skin tone"),
    ],
)
def test_a_word_wider_than_a_line_breaks_between_clusters(cluster: str, script: str) -> None:
    font = load_fonts().regular
    word = cluster * 60  # no spaces: wider than any line, so broken between characters
    lines = font.wrap(word, 10, 120)
    assert len(lines) > 1, script
    assert "".join(lines) == word
    assert all(len(line) % len(cluster) == 0 for line in lines), (script, lines)


def test_rendering_a_transcript_leaves_the_compiler_unloaded() -> None:
    """Render processes and `exportdsl transcript` need the PDF stack only: importing the package
    does not load the grammar and the YAML reader (~6 MB and ~100 ms a process)."""
    probe = (
        "import sys\n"
        "from exportdsl.transcript.pdf import render_transcript\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'lark', 'yaml', 'jinja2'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
