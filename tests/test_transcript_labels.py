"""The transcript in the customer's language (issue 14 item 4) and its small fixes (item 5): every
label of English, German, Polish and Czech in the PDF as `pdftotext` reads it back, dates with
genitive months, three plural forms, the rating on its scale, the counts of what the transcript
holds apart from Smartsupp's, and the visited pages' URLs as link annotations."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from exportdsl.chat.model import ChatSession, Message
from exportdsl.chat.reader import load_chat, parse_chat
from exportdsl.transcript.conversation import describe_event
from exportdsl.transcript.labels import EVENT_CODES, LABELS, Labels
from exportdsl.transcript.pdf import render_transcript
from exportdsl.transcript.settings import LANGUAGES, TranscriptSettings

FIXTURE = Path(__file__).parent / "data" / "chats" / "smartsupp.json"  # 27 March 2015, Prague
SATURDAY = int(datetime(2024, 11, 30, 10, 0, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)


def pdftotext(pdf: bytes, *, layout: bool = False) -> str:
    """The PDF's text as poppler's pdftotext reads it (what a CRM's search index gets)."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        options = ["-layout"] if layout else []
        return subprocess.run(
            ["pdftotext", *options, "-enc", "UTF-8", file.name, "-"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout


def one_line(text: str) -> str:
    """White space (line breaks of wrapped cells included) as single spaces."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def fixture_chat() -> ChatSession:
    return load_chat(FIXTURE)


@pytest.fixture(scope="module")
def texts(fixture_chat: ChatSession) -> dict[str, str]:
    """The fixture chat's transcript in each language, as one line of text."""
    return {
        language: one_line(
            pdftotext(
                render_transcript(
                    fixture_chat, TranscriptSettings(language=language, timezone="Europe/Prague")
                )
            )
        )
        for language in LANGUAGES
    }


def chat_on(moment_ms: int, **channel: Any) -> ChatSession:
    return parse_chat(
        {
            "beginAt": moment_ms,
            "endAt": moment_ms + 60_000,
            "channel": {"id": 9} | channel,
            "visitor": {"name": "Ola"},
            "messages": [{"type": "visitor", "content": "Dzień dobry", "sentAt": moment_ms}],
        }
    )


# -- each language's labels -----------------------------------------------------------------------
EXPECTED = {
    "en": [
        "Chat transcript",
        "Smartsupp chat 55039 · account 208 · times in Europe/Prague (UTC+01:00)",
        "Completed",
        "Triggered",
        "Visitor Dusan Kmet",
        "Started Fri 27 Mar 2015, 16:33:59 CET",
        "Messages 4 messages and 2 system events",
        "Smartsupp counts 5 messages, 11 words",
        "Pages visited (2)",
        "Conversation (4 messages, 2 system events)",
        "Friday 27 March 2015",
        "John Doe joined the chat",
        "Automatic message triggered by Test Trigger",
        "Visitor closed the chat",
        "Page 1 of 1",
    ],
    "de": [
        "Chatverlauf",
        "Smartsupp-Chat 55039 · Konto 208 · Zeiten in Europe/Prague (UTC+01:00)",
        "Abgeschlossen",
        "Automatisch gestartet",
        "Besucher Dusan Kmet",
        "Beginn Fr., 27.03.2015, 16:33:59 CET",
        "Dauer 36 Sek.",
        "Nachrichten 4 Nachrichten und 2 Systemereignisse",
        "Laut Smartsupp 5 Nachrichten, 11 Wörter",
        "Besuchte Seiten (2)",
        "Gespräch (4 Nachrichten, 2 Systemereignisse)",
        "Freitag, 27. März 2015",
        "John Doe ist dem Chat beigetreten",
        "Automatische Nachricht ausgelöst durch Test Trigger",
        "Der Besucher hat den Chat beendet",
        "Chatverlauf, exportiert von exportdsl",
        "Seite 1 von 1",
    ],
    "pl": [
        "Zapis czatu",
        "Czat Smartsupp 55039 · konto 208 · czas w strefie Europe/Prague (UTC+01:00)",
        "Zakończony",
        "Rozpoczęty automatycznie",
        "Odwiedzający Dusan Kmet",
        "Początek pt. 27.03.2015, 16:33:59 CET",
        "Wiadomości 4 wiadomości i 2 zdarzenia systemowe",
        "Według Smartsupp 5 wiadomości, 11 słów",
        "Odwiedzone strony (2)",
        "Rozmowa (4 wiadomości, 2 zdarzenia systemowe)",
        "piątek 27 marca 2015",
        "Do czatu dołączył konsultant John Doe",
        "Wiadomość automatyczna wyzwalacz: Test Trigger",
        "Odwiedzający zakończył czat",
        "Zapis czatu wyeksportowany przez exportdsl",
        "Strona 1 z 1",
    ],
    "cs": [
        "Přepis chatu",
        "Chat Smartsupp 55039 · účet 208 · časy v pásmu Europe/Prague (UTC+01:00)",
        "Dokončený",
        "Zahájený automaticky",
        "Návštěvník Dusan Kmet",
        "Začátek pá 27. 3. 2015, 16:33:59 CET",
        "Zprávy 4 zprávy a 2 systémové události",
        "Podle Smartsuppu 5 zpráv, 11 slov",
        "Navštívené stránky (2)",
        "Konverzace (4 zprávy, 2 systémové události)",
        "pátek 27. března 2015",
        "K chatu se připojil operátor John Doe",
        "Automatická zpráva spouštěč: Test Trigger",
        "Návštěvník ukončil chat",
        "Přepis chatu exportovaný nástrojem exportdsl",
        "Strana 1 z 1",
    ],
}


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_each_language_labels_the_fixture_chat(language: str, texts: dict[str, str]) -> None:
    for expected in EXPECTED[language]:
        assert expected in texts[language], expected


@pytest.mark.parametrize("language", ["de", "pl", "cs"])
def test_no_english_label_is_left_in_another_language(language: str, texts: dict[str, str]) -> None:
    english = ["Chat transcript", "Page 1", "Rating", "Visitor", "Conversation", "messages"]
    english += ["Started", "Pages visited", "joined the chat", "exported by", "Triggered"]
    for word in english:
        assert word not in texts[language], word


@pytest.mark.parametrize(
    ("language", "day_line"),
    [
        ("en", "Saturday 30 November 2024"),
        ("de", "Samstag, 30. November 2024"),
        ("pl", "sobota 30 listopada 2024"),  # the month in the genitive
        ("cs", "sobota 30. listopadu 2024"),
    ],
)
def test_dates_are_written_as_each_language_writes_them(language: str, day_line: str) -> None:
    text = pdftotext(render_transcript(chat_on(SATURDAY), TranscriptSettings(language=language)))
    assert day_line in text


@pytest.mark.parametrize(
    ("language", "count", "messages", "words"),
    [
        ("pl", 1, "1 wiadomość", "1 słowo"),
        ("pl", 2, "2 wiadomości", "2 słowa"),
        ("pl", 4, "4 wiadomości", "4 słowa"),
        ("pl", 5, "5 wiadomości", "5 słów"),
        ("pl", 12, "12 wiadomości", "12 słów"),
        ("pl", 22, "22 wiadomości", "22 słowa"),
        ("pl", 0, "0 wiadomości", "0 słów"),
        ("cs", 1, "1 zpráva", "1 slovo"),
        ("cs", 2, "2 zprávy", "2 slova"),
        ("cs", 4, "4 zprávy", "4 slova"),
        ("cs", 5, "5 zpráv", "5 slov"),
        ("cs", 22, "22 zpráv", "22 slov"),
        ("de", 1, "1 Nachricht", "1 Wort"),
        ("de", 3, "3 Nachrichten", "3 Wörter"),
        ("en", 1, "1 message", "1 word"),
        ("en", 0, "0 messages", "0 words"),
    ],
)
def test_plural_forms(language: str, count: int, messages: str, words: str) -> None:
    labels = LABELS[language]
    assert labels.count(count, labels.messages) == messages
    assert labels.count(count, labels.words) == words
    text = one_line(
        pdftotext(
            render_transcript(
                chat_on(SATURDAY, messagesCount=count, wordsCount=count),
                TranscriptSettings(language=language),
            )
        )
    )
    assert f"{LABELS[language].rows['smartsupp_counts']} {messages}, {words}" in text


@pytest.mark.parametrize("language", list(LANGUAGES))
@pytest.mark.parametrize("code", EVENT_CODES)
def test_every_event_reads_with_a_name_and_without(language: str, code: str) -> None:
    labels = LABELS[language]
    named = describe_event(Message(type="system", sent_at=0, content=code, name="Ann"), labels)
    nameless = describe_event(Message(type="system", sent_at=0, content=code), labels)
    assert "{" not in named + nameless and nameless[:1].isupper()
    with_name, without = labels.events[code]
    assert ("Ann" in named) == ("{name}" in with_name) and nameless == without
    assert "Ann" not in nameless and "  " not in nameless


def test_an_unknown_event_and_an_empty_one_in_polish() -> None:
    polish = LABELS["pl"]
    unknown = Message(type="system", sent_at=0, content="chat.ban", name="Ann")
    assert describe_event(unknown, polish) == "Zdarzenie systemowe: chat.ban (Ann)"
    assert describe_event(Message(type="system", sent_at=0, content=""), polish) == (
        "(pusta wiadomość systemowa)"
    )


def test_every_language_fills_every_label() -> None:
    for labels in LABELS.values():
        for field in dataclasses.fields(Labels):
            value = getattr(labels, field.name)
            assert value or value == 0, (labels.language, field.name)
        assert len(labels.weekdays) == len(labels.weekdays_short) == 7
        assert len(labels.months) == len(labels.months_short) == 12


def test_the_metadata_is_in_the_language(fixture_chat: ChatSession) -> None:
    pdf = render_transcript(fixture_chat, TranscriptSettings(language="cs", timezone="UTC"))
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info is not None
    assert info.title == "Přepis chatu 55039"
    assert (
        info.subject == "Chat Smartsupp 55039, návštěvník: Dusan Kmet, pá 27. 3. 2015, 15:34:36 UTC"
    )
    assert info.author == "Účet Smartsupp 208"


def test_the_running_header_is_in_the_language() -> None:
    chat = chat_on(SATURDAY)
    long = dataclasses.replace(chat, messages=chat.messages * 120)  # several pages
    pages = pdftotext(render_transcript(long, TranscriptSettings(language="de"))).split("\f")
    assert "Chatverlauf · Chat 9 · Ola" in pages[1]
    assert f"Seite 2 von {len([page for page in pages if page.strip()])}" in pages[1]


# -- item 5: the rating's scale, the counts, the links --------------------------------------------
@pytest.mark.parametrize(
    ("language", "rating", "shown"),
    [
        ("en", 5, "Rating 5 / 5"),
        ("en", 1, "Rating 1 / 5"),
        ("en", 7, "Rating 7 (outside Smartsupp's scale of 1 to 5)"),
        ("en", 0, "Rating 0 (outside Smartsupp's scale of 1 to 5)"),
        ("de", 4.5, "Bewertung 4,5 / 5"),
        ("cs", None, "Hodnocení Nehodnoceno"),
        ("pl", 5, "Ocena 5 / 5"),
    ],
)
def test_the_rating_shows_its_scale(language: str, rating: float | None, shown: str) -> None:
    """Read with pypdf: pdftotext drops the spaces around the slash of a short grid cell."""
    pdf = render_transcript(chat_on(SATURDAY, rating=rating), TranscriptSettings(language=language))
    text = one_line("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))
    assert shown in text


def test_counts_say_what_the_transcript_holds_and_what_smartsupp_counted(
    texts: dict[str, str],
) -> None:
    """The fixture: 6 messages, 2 of them system events; Smartsupp says 5 messages, 11 words."""
    assert "Messages 4 messages and 2 system events" in texts["en"]
    assert "Smartsupp counts 5 messages, 11 words" in texts["en"]
    assert "6" not in texts["en"].split("Messages ", 1)[1].split("Smartsupp")[0]
    no_events = one_line(pdftotext(render_transcript(chat_on(SATURDAY))))
    assert "Messages 1 message " in no_events and "Conversation (1 message)" in no_events
    assert "Smartsupp counts" not in no_events  # it counted nothing


def links(pdf: bytes) -> list[tuple[str, list[float]]]:
    found = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for annotation in page.get("/Annots") or []:
            link = annotation.get_object()
            assert link["/Subtype"] == "/Link"
            found.append((link["/A"]["/URI"], [float(v) for v in link["/Rect"]]))
    return found


def test_visited_pages_are_clickable_links(fixture_chat: ChatSession) -> None:
    found = links(render_transcript(fixture_chat))
    assert [uri for uri, _ in found] == [
        "http://developers.smartsupp.com/smartsupp/hook-post",
        "http://developers.smartsupp.com",
    ]
    (first_x1, first_y1, first_x2, _), (_, second_y1, _, _) = (rect for _, rect in found)
    assert first_x1 == 70 and first_x2 > first_x1 + 100 and second_y1 < first_y1


def test_only_http_urls_become_links() -> None:
    long_url = "https://crm.example/" + "segment/" * 40
    chat = parse_chat(
        {
            "paths": [
                {"url": "javascript:alert(1)", "title": "bad"},
                {"url": "file:///etc/passwd"},
                {"url": "HTTPS://shop.example/cart?x=1"},
                {"url": "http://has space.example/"},
                {"url": long_url, "title": "a URL over several lines"},
            ],
            "messages": [],
        }
    )
    pdf = render_transcript(chat)
    found = links(pdf)
    assert found[0][0] == "HTTPS://shop.example/cart?x=1"
    # one annotation over all the URL's lines (each carries the whole URL: one a line would make
    # the PDF grow as the square of a long URL's length)
    ((uri, (_, bottom, _, top)),) = found[1:]
    assert uri == long_url and top - bottom > 30
    assert "javascript:alert(1)" in pdftotext(pdf)  # shown, never clickable


def test_the_same_settings_give_the_same_bytes(fixture_chat: ChatSession) -> None:
    polish = TranscriptSettings(language="pl", timezone="Europe/Warsaw", title="Sprawa 42")
    assert render_transcript(fixture_chat, polish) == render_transcript(fixture_chat, polish)


def test_labels_never_come_from_the_process_locale(tmp_path: Path) -> None:
    """The same bytes under another LC_ALL: nothing asks the locale."""
    import os
    import sys

    code = (
        "import locale, sys\n"
        "try:\n    locale.setlocale(locale.LC_ALL, '')\nexcept locale.Error:\n    pass\n"
        "from exportdsl.chat.reader import load_chat\n"
        "from exportdsl.transcript.pdf import render_transcript\n"
        "from exportdsl.transcript.settings import TranscriptSettings\n"
        "pdf = render_transcript(load_chat(sys.argv[1]), TranscriptSettings(language='pl'))\n"
        "sys.stdout.buffer.write(pdf)\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code, str(FIXTURE)],
            capture_output=True,
            check=True,
            env=os.environ | {"LC_ALL": locale_name, "LANG": locale_name},
        ).stdout
        for locale_name in ("C.UTF-8", "de_DE.UTF-8")
    }
    assert len(outputs) == 1


def test_the_languages_and_the_tables_agree() -> None:
    assert set(LABELS) == set(LANGUAGES)
    assert all(set(labels.events) == set(EVENT_CODES) for labels in LABELS.values())
    assert json.dumps(sorted(LANGUAGES)) == '["cs", "de", "en", "pl"]'
