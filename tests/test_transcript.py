"""The PDF transcript: contents, order, pages, scripts, stand-ins, bad input, determinism."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from reportlab.pdfbase.ttfonts import TTFont

from exportdsl.chat.model import ChatSession, Message
from exportdsl.chat.reader import load_chat, parse_chat
from exportdsl.errors import ConfigError
from exportdsl.transcript import fonts
from exportdsl.transcript.conversation import describe_event
from exportdsl.transcript.pdf import render_transcript
from exportdsl.transcript.settings import TranscriptSettings
from exportdsl.transcript.text import FORMAT_KEPT, INVISIBLE

CHATS = Path(__file__).parent / "data" / "chats"
FONTS = Path(__file__).parent.parent / "exportdsl" / "transcript" / "fonts"


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def text_of(pdf: bytes) -> str:
    return "\n".join(pages_text(pdf))


def pdftotext(pdf: bytes) -> str:
    """poppler's text of a PDF: what a CRM's indexer is most likely to read."""
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    )
    return done.stdout.decode()


def chat_with(*contents: str, **message: Any) -> ChatSession:
    """A chat whose messages alternate visitor/agent and carry the given texts."""
    return parse_chat(
        {
            "accountId": 1,
            "beginAt": 1_700_000_000_000,
            "endAt": 1_700_000_900_000,
            "visitor": {"name": "Vera Visitor"},
            "messages": [
                {
                    "type": "visitor" if index % 2 == 0 else "agent",
                    "name": f"Person {index % 2}",
                    "content": content,
                    "sentAt": 1_700_000_000_000 + index * 1000,
                    **message,
                }
                for index, content in enumerate(contents)
            ],
        }
    )


@pytest.fixture(scope="module")
def fixture_chat() -> ChatSession:
    return load_chat(CHATS / "smartsupp.json")


@pytest.fixture(scope="module")
def fixture_pdf(fixture_chat: ChatSession) -> bytes:
    return render_transcript(fixture_chat, TranscriptSettings(timezone="Europe/Prague"))


# -- contents -------------------------------------------------------------------------------------
def test_header_shows_the_chat_summary(fixture_pdf: bytes) -> None:
    text = text_of(fixture_pdf)
    for expected in [
        "Chat transcript",
        "Smartsupp chat 55039",
        "account 208",
        "Dusan Kmet",
        "dusan@domain.com",
        "Czech Republic, Brno (CZ)",
        "89.235.0.55",
        "VIP customer",
        "Fri 27 Mar 2015, 16:33:59 CET",
        "Fri 27 Mar 2015, 16:34:36 CET",
        "36 s",
        "14 s",
        "Chat ID: 208",
        "Chat Package: pro",
        "User ID: 1234",
        "Completed",
        "Triggered",
        "times in Europe/Prague (UTC+01:00)",
    ]:
        assert expected in text, expected
    assert "Missed" not in text and "Offline" not in text


def test_pages_visited_and_messages_in_order(fixture_pdf: bytes) -> None:
    text = text_of(fixture_pdf)
    sequence = [
        "Pages visited (2)",
        "POST Hook · Smartsupp",
        "http://developers.smartsupp.com/smartsupp/hook-post",
        "API · Smartsupp",
        "Conversation (4 messages, 2 system events)",
        "Friday 27 March 2015",
        "16:33:59",
        "Dusan Kmet",
        "visitor",
        "Hello",
        "16:34:06",
        "John Doe joined the chat",
        "Automatic message",
        "triggered by Test Trigger",
        "This is triggered message",
        "John Doe",
        "agent",
        "Hi, how can i help you ?",
        "tanks.",
        "16:34:36",
        "Visitor closed the chat",
        "Page 1 of 1",
    ]
    position = 0
    for expected in sequence:
        found = text.find(expected, position)
        assert found >= 0, f"{expected!r} missing or out of order"
        position = found + len(expected)


def test_times_follow_the_time_zone(fixture_chat: ChatSession) -> None:
    text = text_of(render_transcript(fixture_chat, TranscriptSettings(timezone="UTC")))
    assert "15:33:59" in text and "16:33:59" not in text
    assert "times in UTC (UTC+00:00)" in text


def test_unknown_time_zone_is_a_config_error(fixture_chat: ChatSession) -> None:
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        render_transcript(fixture_chat, TranscriptSettings(timezone="Mars/Olympus"))
    with pytest.raises(ConfigError):
        render_transcript(fixture_chat, TranscriptSettings(timezone="../../etc/passwd"))


def test_metadata_comes_from_the_chat(fixture_chat: ChatSession, fixture_pdf: bytes) -> None:
    info = PdfReader(io.BytesIO(fixture_pdf)).metadata
    assert info is not None
    assert info.title == "Chat transcript 55039"
    assert info.subject == "Smartsupp chat 55039 with Dusan Kmet, Fri 27 Mar 2015, 16:34:36 CET"
    assert info["/CreationDate"] == "D:20150327163436+01'00'"  # endAt, in the chosen zone
    titled = PdfReader(
        io.BytesIO(render_transcript(fixture_chat, TranscriptSettings(title="Support case #42")))
    )
    assert titled.metadata is not None and titled.metadata.title == "Support case #42"
    assert "Support case #42" in titled.pages[0].extract_text()


def test_missing_values_and_flags() -> None:
    chat = load_chat(CHATS / "variants.json")
    text = text_of(render_transcript(chat))
    for expected in [
        "Missed",
        "Offline message",
        "Not rated",
        "Group",
        "sales",
        "Czy ktoś jest?",
        "(empty message)",
        "Helper",
        "bot",
        "I am a bot.",
        "Smartsupp chat 55040",
    ]:
        assert expected in text, expected


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(3725, "1 h 2 min 5 s"), (120, "2 min"), (0, "0 s"), (59.6, "1 min"), (-3, "-3 s")],
)
def test_durations_in_words(seconds: float, shown: str) -> None:
    chat = parse_chat({"channel": {"duration": seconds}, "messages": []})
    assert f"Duration {shown}\n" in text_of(render_transcript(chat))


def test_system_events_in_words() -> None:
    def event(code: str, name: str | None) -> str:
        return describe_event(Message(type="system", sent_at=0, content=code, name=name))

    assert event("agent.join", "John Doe") == "John Doe joined the chat"
    assert event("close.visitorClose", "Dusan Kmet") == "Visitor closed the chat"
    assert event("agent.join", None) == "An agent joined the chat"
    assert event("agent.assign", "") == "The chat was assigned to an agent"
    assert event("chat.transferredToMars", "Ann") == "System event: chat.transferredToMars (Ann)"
    assert event("The visitor was banned", None) == "The visitor was banned"


def test_an_empty_chat_renders_one_page() -> None:
    pdf = render_transcript(load_chat(CHATS / "minimal.json"))
    pages = pages_text(pdf)
    assert len(pages) == 1
    assert "Conversation (0 messages)" in pages[0] and "No messages in this chat." in pages[0]
    assert "Page 1 of 1" in pages[0]


# -- pages ----------------------------------------------------------------------------------------
def test_long_chats_are_numbered_and_keep_their_order() -> None:
    chat = chat_with(
        *(f"message number {index:04d} " + "word " * (index % 30) for index in range(400))
    )
    pages = pages_text(render_transcript(chat))
    total = len(pages)
    assert total > 5
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {total}" in page
    numbers = [int(found) for found in re.findall(r"message number (\d{4})", "\n".join(pages))]
    assert numbers == list(range(400))
    assert "Chat transcript · chat — · Vera Visitor" in pages[1]  # running header from page 2 on


def test_long_messages_wrap_and_keep_every_word() -> None:
    words = [f"w{index}" for index in range(1500)]
    pdf = render_transcript(chat_with(" ".join(words)))
    text = text_of(pdf)
    found = re.findall(r"w\d+", text)
    assert found == words
    body_lines = [line for line in text.splitlines() if line.startswith("w")]
    assert len(body_lines) > 50


def test_a_message_longer_than_a_page_continues_on_the_next() -> None:
    pdf = render_transcript(
        chat_with("short", "\n".join(f"line {index}" for index in range(200)), "after")
    )
    pages = pages_text(pdf)
    assert len(pages) >= 3
    running_header, continued = pages[1].splitlines()[:2]
    assert running_header == "Chat transcript · chat — · Vera Visitor"
    assert continued == "22:13:21 Person 1 agent · continued"
    lines = re.findall(r"line (\d+)", "\n".join(pages))
    assert [int(number) for number in lines] == list(range(200))
    assert "after" in pages[-1]


def test_a_word_wider_than_the_page_is_broken_not_lost() -> None:
    word = "".join(chr(ord("a") + index % 26) for index in range(3000))
    text = text_of(render_transcript(chat_with(word)))
    assert word in re.sub(r"\s", "", text)


def test_long_header_values_names_and_titles_wrap_instead_of_being_cut() -> None:
    comment = " ".join(f"c{index}" for index in range(400))
    name = "Bartholomew-" * 40
    trigger = "Very long trigger name " * 20
    chat = parse_chat(
        {
            "channel": {"rating": 1, "ratingDesc": comment},
            "visitor": {"name": name},
            "messages": [
                {"type": "visitor", "content": "hi", "sentAt": 0},
                {"type": "agent", "content": "auto", "sentAt": 1, "triggeredBy": trigger},
            ],
        }
    )
    pdf = render_transcript(chat, TranscriptSettings(title="A title " * 30))
    text = text_of(pdf)
    assert re.findall(r"c\d+", text) == comment.split()
    flat = re.sub(r"\s", "", text)
    assert name in flat and re.sub(r"\s", "", trigger) in flat and "Atitle" * 30 in flat


# -- characters -----------------------------------------------------------------------------------
SCRIPTS = {
    "Polish": "Zażółć gęślą jaźń. ĄĆĘŁŃÓŚŹŻ",
    "Czech": "Příliš žluťoučký kůň úpěl ďábelské ódy",
    "German": "Größe, Straße, Äpfel, Übermut, Öl",
    "Cyrillic": "Съешь же ещё этих мягких французских булок",
    "Greek": "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία",
}


@pytest.mark.skipif(
    shutil.which("pdftotext") is None,
    reason="pdftotext (Debian package poppler-utils) is not installed",
)
def test_every_script_comes_back_from_pdftotext(tmp_path: Path) -> None:
    pdf = tmp_path / "scripts.pdf"
    pdf.write_bytes(render_transcript(load_chat(CHATS / "scripts.json")))
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"],
        capture_output=True,
        check=True,
        text=True,
        encoding="utf-8",
    ).stdout
    for script, sample in SCRIPTS.items():
        assert sample in text, script
    assert "Jiří Dvořák" in text and "Дмитрий" in text and "Łódź, Polska (PL)" in text


def test_right_to_left_text_reads_back_in_logical_order() -> None:
    """pdftotext turns right-to-left runs around (glyphs are in visual order in a PDF): what it
    reads is the text as typed. Its bidi marks (RLE ... PDF) are left out of the comparison."""
    text = re.sub(
        "[\u202a-\u202e]", "", pdftotext(render_transcript(load_chat(CHATS / "scripts.json")))
    )
    for sample in ["שלום עולם", "مرحبا بالعالم"]:
        assert sample in text


def test_missing_glyphs_become_visible_stand_ins() -> None:
    # no font has a code point of the private use areas or one not assigned yet
    text = text_of(render_transcript(chat_with("private \ue000\U0010fffd and \u0378 ok", "✓ ★ €")))
    assert "private [U+E000 U+10FFFD] and [U+0378] ok" in text
    assert "✓ ★ €" in text


def test_control_characters_are_shown_not_obeyed() -> None:
    text = text_of(
        render_transcript(
            chat_with("bell\x07null\x00esc\x1b[31m", "tab\there", "one\r\ntwo\rthree")
        )
    )
    assert "bell[U+0007]null[U+0000]esc[U+001B][31m" in text
    assert "tab    here" in text
    assert re.search(r"one\s*\ntwo\s*\nthree", text)


def test_invisible_format_characters_are_dropped() -> None:
    text = text_of(render_transcript(chat_with("zero\u200bwidth\ufeffbom\u00adsoft\ufe0fselector")))
    assert "zerowidthbomsoftselector" in text


def test_joiners_and_direction_marks_steer_and_are_not_drawn() -> None:
    """ZWNJ keeps Persian letters apart, ZWJ joins; direction marks and overrides steer the bidi
    algorithm: none of them is drawn as a box."""
    pdf = render_transcript(chat_with("می\u200cخواهم", "abc \u202edef\u202c ghi"))  # noqa: RUF001
    text = pdftotext(pdf)
    assert "\u202edef" not in text and "abc fed ghi" in text  # the override turned "def" around
    assert "خواهم" in re.sub("[\u202a-\u202e]", "", text)


def test_lone_surrogates_do_not_break_the_pdf() -> None:
    chat = parse_chat(
        json.loads(
            '{"visitor": {"name": "X\\ud800"}, '
            '"messages": [{"type": "visitor", "content": "a\\udc00b", "sentAt": 1}]}'
        )
    )
    pdf = render_transcript(chat)
    assert "a[U+DC00]b" in text_of(pdf)
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info is not None and "X[U+D800]" in str(info.subject)


def test_markup_is_shown_as_typed() -> None:
    typed = "<b>bold</b> &amp; <i>x</i> <font color=red>y</font> <br/> &lt; ${x} #if"
    text = text_of(render_transcript(chat_with(typed, name="<script>alert(1)</script>")))
    assert typed in text
    assert "<script>alert(1)</script>" in text


# -- big input ------------------------------------------------------------------------------------
def test_a_one_megabyte_message_renders() -> None:
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 18_000
    content = filler[: 1_000_000 - 8] + " THE-END"
    reader = PdfReader(io.BytesIO(render_transcript(chat_with(content))))
    assert len(reader.pages) > 150
    assert "THE-END" in reader.pages[-1].extract_text()


def test_fifty_thousand_messages_render() -> None:
    chat = chat_with(*(f"m{index}" for index in range(50_000)))
    reader = PdfReader(io.BytesIO(render_transcript(chat)))
    total = len(reader.pages)
    assert total > 500
    assert "m0" in reader.pages[0].extract_text()
    last = reader.pages[-1].extract_text()
    assert "m49999" in last and f"Page {total} of {total}" in last


# -- determinism ----------------------------------------------------------------------------------
def test_same_input_gives_identical_bytes(fixture_chat: ChatSession, fixture_pdf: bytes) -> None:
    again = render_transcript(fixture_chat, TranscriptSettings(timezone="Europe/Prague"))
    assert hashlib.sha256(again).hexdigest() == hashlib.sha256(fixture_pdf).hexdigest()
    assert render_transcript(fixture_chat, TranscriptSettings(timezone="UTC")) != fixture_pdf


def test_identical_bytes_across_processes(fixture_pdf: bytes) -> None:
    code = (
        "import hashlib, sys\n"
        "from exportdsl.chat.reader import load_chat\n"
        "from exportdsl.transcript.pdf import render_transcript\n"
        "from exportdsl.transcript.settings import TranscriptSettings\n"
        "settings = TranscriptSettings(timezone='Europe/Prague')\n"
        "pdf = render_transcript(load_chat(sys.argv[1]), settings)\n"
        "print(hashlib.sha256(pdf).hexdigest())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(CHATS / "smartsupp.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == hashlib.sha256(fixture_pdf).hexdigest()


# -- property -------------------------------------------------------------------------------------
# An independent statement of the chain: every character some font of it has (for the regular
# weight; the bold one ends with the regular fonts).
_DRAWABLE = {
    code
    for file in fonts.chain(False)
    for code in TTFont(
        f"test-{file.path.stem}", str(file.path), subfontIndex=file.index
    ).face.charToGlyph
}
_LINE_BREAKS = "\n\r\x0b\x0c\x85\u2028\u2029"


def expected_visible(text: str) -> str:
    """What a reader must find of `text`, whitespace and brackets aside.

    An independent statement of docs/transcript.md. Printable characters the font has come back as
    themselves; controls and characters it lacks as their code point; line breaks, tabs and the
    listed invisibles as nothing.
    """
    out = []
    for char in text:
        code = ord(char)
        if char in _LINE_BREAKS or char == "\t" or char in INVISIBLE or char in "[]":
            continue
        if char in FORMAT_KEPT and char not in "\u200c\u200d":  # steer the bidi algorithm
            continue
        if code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000 or code not in _DRAWABLE:
            out.append(f"U+{code:04X}")
        elif not char.isspace():
            out.append(char)
    return "".join(out)


def _right_to_left(char: str) -> bool:
    return unicodedata.bidirectional(char) in ("R", "AL", "AN")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=60), min_size=1, max_size=5))
def test_every_printable_character_survives_in_order(contents: list[str]) -> None:
    text = re.sub(r"[\s\[\]]", "", text_of(render_transcript(chat_with(*contents))))
    position = 0
    for content in contents:
        expected = expected_visible(content)
        if any(map(_right_to_left, content)):
            # readers rebuild the logical order of right-to-left runs from the glyphs' visual order
            # with rules of their own (pypdf's are not UAX #9): here only presence is checked,
            # nothing may be lost; test_right_to_left_* check the order
            assert not Counter(expected) - Counter(text), (content, expected)
            continue
        found = text.find(expected, position)
        assert found >= 0, (content, expected)
        position = found + len(expected)


def test_fonts_restored_from_the_cache_make_the_same_pdf(tmp_path: Path) -> None:
    """The parsed fonts are cached (a cold start would parse them again); the cache must change
    nothing: the PDF from a fresh parse, from the cache, and with no cache folder is the same."""
    script = (
        "import sys\n"
        "from reportlab.pdfbase import ttfonts\n"
        "parse, parses = ttfonts.TTFontFace.__init__, []\n"
        "def counted(self, *args, **kwargs):\n"
        "    parses.append(1)\n"
        "    parse(self, *args, **kwargs)\n"
        "ttfonts.TTFontFace.__init__ = counted\n"
        "from exportdsl.chat.reader import load_chat\n"
        "from exportdsl.transcript.pdf import render_transcript\n"
        "from exportdsl.transcript.settings import TranscriptSettings\n"
        "chat = load_chat(sys.argv[1])\n"
        "settings = TranscriptSettings(timezone='Europe/Prague')\n"
        "sys.stdout.buffer.write(render_transcript(chat, settings))\n"
        "sys.stderr.write(str(len(parses)))\n"
    )
    sample = Path(__file__).parent.parent / "exportdsl" / "data" / "sample-chat.json"

    def render(cache_home: Path) -> tuple[bytes, int]:
        env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
        done = subprocess.run(
            [sys.executable, "-c", script, str(sample)],
            env=env,
            capture_output=True,
            check=True,
            timeout=60,
        )
        return done.stdout, int(done.stderr)

    home = tmp_path / "cache"
    parsed, parses = render(home)
    assert parsed.startswith(b"%PDF-") and parses == 2
    assert len(list((home / "exportdsl").glob("font-*.pickle"))) == 2  # one a weight
    assert render(home) == (parsed, 0)  # restored, not parsed
    unwritable = tmp_path / "file"
    unwritable.write_text("not a folder")
    assert render(unwritable) == (parsed, 2)
    for pickled in (home / "exportdsl").glob("font-*.pickle"):
        pickled.write_bytes(b"not a pickle")
    assert render(home) == (parsed, 2)  # a broken cache is parsed anew
    for pickled in (home / "exportdsl").glob("font-*.pickle"):
        pickled.write_bytes(pickle.dumps(({}, {"unitsPerEm": 1000})))
    assert render(home) == (parsed, 2)  # so is one that loads but lacks what a render reads


class _Planted:
    """A pickle that would leave a mark if it were ever loaded."""

    def __init__(self, mark: Path) -> None:
        self.mark = mark

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (str(self.mark),))


def _load_fonts_in_a_process(cache_home: Path) -> int:
    """Loads the fonts in a fresh process with ``cache_home`` as XDG_CACHE_HOME; its exit code."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from exportdsl.transcript.typeface import load_fonts; load_fonts()",
        ],
        env={**os.environ, "XDG_CACHE_HOME": str(cache_home)},
        capture_output=True,
        timeout=60,
    ).returncode


def test_a_cache_folder_others_may_write_into_is_not_used(tmp_path: Path) -> None:
    """A pickle runs code when loaded: fonts (and Lark's grammar) are cached only in a folder of
    the user's own that no one else may write into."""
    home = tmp_path / "cache"
    (home / "exportdsl").mkdir(parents=True)
    assert _load_fonts_in_a_process(home) == 0
    cached = sorted((home / "exportdsl").glob("font-*.pickle"))
    assert len(cached) == 2
    mark = tmp_path / "planted-code-ran"
    for path in cached:
        path.write_bytes(pickle.dumps(_Planted(mark)))
    (home / "exportdsl").chmod(0o777)
    assert _load_fonts_in_a_process(home) == 0 and not mark.exists()
    (home / "exportdsl").chmod(0o700)
    for path in cached:
        path.chmod(0o666)  # a file others may write is not loaded either
    assert _load_fonts_in_a_process(home) == 0 and not mark.exists()
