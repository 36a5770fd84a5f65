"""Every script in the transcript: real glyphs, shaped, in bidi order, read back as typed.

The chat in data/chats/mixed-scripts.json mixes Latin with diacritics, Cyrillic, Greek, Arabic,
Hebrew, Devanagari, Thai, Chinese, Japanese, Korean and emoji. Chinese, Japanese, Korean and emoji
are drawn with system fonts (Debian's fonts-wqy-microhei and fonts-symbola, installed by .ci/run);
where they are missing the tests that need them skip, except with FONT_TESTS=required (CI).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import uharfbuzz
from click.testing import CliRunner
from pypdf import PdfReader

from exportdsl.chat.reader import load_chat, parse_chat
from exportdsl.cli.main import main
from exportdsl.errors import ConfigError
from exportdsl.transcript import fonts
from exportdsl.transcript.layout import Layout, RightToLeft
from exportdsl.transcript.pdf import render_transcript
from exportdsl.transcript.shaping import runs
from exportdsl.transcript.theme import BODY, BODY_WIDTH, BODY_X
from exportdsl.transcript.typeface import load_fonts

CHAT = Path(__file__).parent / "data" / "chats" / "mixed-scripts.json"
MESSAGES = [message["content"] for message in json.loads(CHAT.read_text())["messages"]]
BIDI_MARKS = re.compile("[\u202a-\u202e]")  # pdftotext wraps what it turned around in RLE ... PDF


def pdftotext(pdf: bytes) -> str:
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    )
    return BIDI_MARKS.sub("", done.stdout.decode())


def needs_system_fonts() -> None:
    found = {file.path.name for file in fonts.system_fonts()}
    covered = {purpose for name, purpose, _ in fonts.SYSTEM_FONTS if name in found}
    first_package = {purpose: package for _, purpose, package in reversed(fonts.SYSTEM_FONTS)}
    missing = sorted(
        package for purpose, package in first_package.items() if purpose not in covered
    )
    if missing:
        message = f"system fonts missing: apt-get install {' '.join(missing)}"
        if os.environ.get("FONT_TESTS") == "required":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def mixed_pdf() -> bytes:
    return render_transcript(load_chat(CHAT))


def font_names(pdf: bytes) -> set[str]:
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]).split("+", 1)[1])
    return names


def test_every_script_is_drawn_with_a_glyph_of_a_font_that_has_it(mixed_pdf: bytes) -> None:
    needs_system_fonts()
    assert "[U+" not in pdftotext(mixed_pdf)  # no stand-in: every character has a font
    used = font_names(mixed_pdf)
    for face in ("DejaVuSans", "NotoSansArabic", "NotoSansHebrew", "NotoSansDevanagari"):
        assert any(name.startswith(face) for name in used), (face, used)
    assert any(name.startswith("NotoSansThai") for name in used)
    assert any("WenQuanYi" in name for name in used), used
    assert any("Symbola" in name for name in used), used
    regular = load_fonts().regular
    for text in MESSAGES:  # and never a font's "missing glyph" (.notdef, glyph 0)
        for run in runs(regular, text, False):
            glyphs = run.face.ttf.face.charToGlyph
            assert all(glyphs[ord(key)] != 0 for key in run.keys), (text, run)


def test_the_text_reads_back_as_typed(mixed_pdf: bytes) -> None:
    """pdftotext gives each message's text in logical order: what a CRM indexes and searches."""
    needs_system_fonts()
    text = " ".join(pdftotext(mixed_pdf).split())
    for message in MESSAGES:
        if "12345" in message:
            continue  # the mixed-direction line: next test
        assert message in text, message


def test_a_mixed_direction_line_reads_back_run_by_run(mixed_pdf: bytes) -> None:
    """An Arabic message with an order number and a URL: every run reads as typed. poppler puts a
    line's runs in its own order (it reverses right-to-left stretches and stops at digits and
    punctuation, not UAX #9): each word, the number and the URL are found whole."""
    text = pdftotext(mixed_pdf)
    line = next(message for message in MESSAGES if "12345" in message)
    for word in line.replace("،", " ").split():
        assert word in text, word


def test_arabic_is_joined_as_harfbuzz_shapes_it() -> None:
    """The glyphs drawn for an Arabic word are HarfBuzz's own for that font, not the isolated
    letters of the font's character map."""
    word = "مرحبا"
    (run,) = runs(load_fonts().regular, word, True)
    face = run.face.ttf.face
    drawn = [face.charToGlyph[ord(key)] for key in run.keys]
    font = uharfbuzz.Font(uharfbuzz.Face(uharfbuzz.Blob(Path(run.face.file.path).read_bytes())))
    buffer = uharfbuzz.Buffer()
    buffer.add_str(word)
    buffer.guess_segment_properties()
    uharfbuzz.shape(font, buffer, {})
    assert drawn == [info.codepoint for info in buffer.glyph_infos]
    isolated = [face.charToGlyph[ord(char)] for char in reversed(word)]
    assert drawn != isolated  # joined forms
    assert run.face.file.path.name.startswith("NotoSansArabic")


def test_hebrew_words_are_drawn_right_to_left() -> None:
    (run,) = runs(load_fonts().regular, "שלום", True)
    assert run.keys == "םולש"  # the last letter leftmost: visual order
    pieces = runs(load_fonts().regular, "שלום עולם", True)
    assert "".join(piece.keys for piece in pieces) == "םלוע םולש"


def test_brackets_in_right_to_left_text_are_mirrored() -> None:
    face_runs = runs(load_fonts().regular, "(منذ أسبوع)", True)
    first, last = face_runs[0], face_runs[-1]
    # the opening bracket, logically first, is drawn rightmost with the glyph of ")"... mirrored
    face = last.face.ttf.face
    assert face.charToGlyph[ord(last.keys[-1])] == face.charToGlyph[ord(")")]
    assert first.face.ttf.face.charToGlyph[ord(first.keys[0])] == face.charToGlyph[ord("(")]


def test_right_to_left_messages_are_aligned_right() -> None:
    layout = Layout(load_fonts())
    (line,) = layout.wrapped("مرحبا بك في متجرنا", BODY, BODY_WIDTH)
    assert type(line) is RightToLeft
    layout.line(BODY_X, BODY, line, 13, column=BODY_WIDTH)
    x, _, style, _ = layout.page.texts[-1]
    right = x + layout.font(style).width(line, style.size)
    assert right == pytest.approx(BODY_X + BODY_WIDTH)
    (latin,) = layout.wrapped("hello", BODY, BODY_WIDTH)
    layout.line(BODY_X, BODY, latin, 13, column=BODY_WIDTH)
    assert layout.page.texts[-1][0] == BODY_X


def test_a_wrapped_right_to_left_paragraph_keeps_its_direction_on_every_line() -> None:
    long = "مرحبا بك في متجرنا " * 12 + "order ABC"
    lines = Layout(load_fonts()).wrapped(long, BODY, BODY_WIDTH)
    assert len(lines) > 1 and all(type(line) is RightToLeft for line in lines)


def test_the_same_chat_gives_the_same_bytes(mixed_pdf: bytes) -> None:
    assert render_transcript(load_chat(CHAT)) == mixed_pdf
    code = (
        "import hashlib, sys\n"
        "from exportdsl.chat.reader import load_chat\n"
        "from exportdsl.transcript.pdf import render_transcript\n"
        "print(hashlib.sha256(render_transcript(load_chat(sys.argv[1]))).hexdigest())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(CHAT)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == hashlib.sha256(mixed_pdf).hexdigest()


def test_poppler_renders_the_pages_without_a_complaint(mixed_pdf: bytes, tmp_path: Path) -> None:
    """pdftoppm reads every embedded font and ToUnicode map; it says so on stderr when one is
    broken."""
    source = tmp_path / "mixed.pdf"
    source.write_bytes(mixed_pdf)
    done = subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(source), str(tmp_path / "page")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr == ""
    assert list(tmp_path.glob("page-*.png"))


def test_a_fonts_folder_comes_first(tmp_path: Path) -> None:
    """A font in the folder wins over the bundled ones, for the characters it has."""
    shutil.copy(fonts.FONT_DIR / "DejaVuSans-Bold.ttf", tmp_path / "House.ttf")
    chain = load_fonts(tmp_path)
    assert chain.regular.primary.file.path == tmp_path / "House.ttf"
    assert chain.regular.face_index("م") >= 0  # the bundled fonts still follow


def test_a_font_that_cannot_be_embedded_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "Broken.ttf").write_bytes(b"not a font at all")
    with pytest.raises(ConfigError) as raised:
        load_fonts(tmp_path)
    assert "Broken.ttf" in str(raised.value) and "TrueType" in (raised.value.hint or "")


def test_without_system_fonts_only_what_they_draw_becomes_stand_ins(tmp_path: Path) -> None:
    """No CJK or emoji font on the machine: those characters are stand-ins, Arabic is still
    shaped (bundled), and the PDF is made."""
    empty = tmp_path / "share"
    empty.mkdir()
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(empty),
        "XDG_DATA_DIRS": str(empty),
        "HOME": str(tmp_path),
    }
    code = (
        "import sys\n"
        "from exportdsl.chat.reader import load_chat\n"
        "from exportdsl.transcript.pdf import render_transcript\n"
        "sys.stdout.buffer.write(render_transcript(load_chat(sys.argv[1])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(CHAT)], capture_output=True, env=env, check=True
    )
    text = pdftotext(done.stdout)
    assert "[U+60A8 U+597D U+FF0C" in text  # the Chinese greeting
    assert "مرحبا بك في متجرنا" in text


def test_text_beyond_the_basic_plane_reads_back() -> None:
    """reportlab writes such code points into the ToUnicode map as bare hex; they are written in
    UTF-16 instead, so an emoji comes back as itself."""
    needs_system_fonts()
    chat = parse_chat({"messages": [{"type": "visitor", "content": "ok 👍 and 😀", "sentAt": 1}]})
    assert "ok 👍 and 😀" in pdftotext(render_transcript(chat))


def test_exportdsl_fonts_lists_the_chain_and_what_each_script_is_drawn_with(
    tmp_path: Path,
) -> None:
    shutil.copy(fonts.FONT_DIR / "DejaVuSans-Bold.ttf", tmp_path / "House.ttf")
    result = CliRunner().invoke(main, ["fonts", "--fonts", str(tmp_path)])
    assert result.exit_code == 0, result.output
    listed = result.output.splitlines()
    assert listed[1] == f"  folder   {tmp_path / 'House.ttf'}"
    assert "  Latin       House.ttf" in listed
    assert "  Arabic      House.ttf" in listed  # the folder wins for what it has
    assert "  Thai        NotoSansThai-Regular.ttf" in listed  # the bundled fonts for the rest


def test_exportdsl_fonts_says_what_to_install_for_a_script_without_a_font(tmp_path: Path) -> None:
    empty = tmp_path / "share"
    empty.mkdir()
    env = {"XDG_DATA_HOME": str(empty), "XDG_DATA_DIRS": str(empty), "HOME": str(tmp_path)}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("exportdsl")), "fonts"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    assert done.returncode == 1, done.stderr  # a finding, for a deployment's readiness check
    assert (
        "  Korean      no font: shown as [U+…] stand-ins; "
        "install Debian's fonts-wqy-microhei" in done.stdout
    )
    assert "script(s) without a font" in done.stderr
