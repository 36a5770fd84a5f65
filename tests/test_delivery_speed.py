"""What makes a delivery cheaper must change nothing it sends (issue 13, item 4): behaviour only,
never timing (the figures are bench/bench_deliveries.py's)."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import pytest
from backend import SAMPLE_CHAT
from backend import sample_chat as make_sample_chat
from reportlab.pdfbase import pdfdoc

from exportdsl.chat.reader import parse_chat, parse_chat_bytes
from exportdsl.transcript import pdf
from exportdsl.transcript.pdf import render_transcript
from exportdsl.transcript.settings import TranscriptSettings

SAMPLE = parse_chat_bytes(SAMPLE_CHAT.read_bytes())
CHAT_OF_ALL = json.loads(SAMPLE_CHAT.read_text(encoding="utf-8")) | {
    "messages": [
        {"type": "visitor", "content": "".join(map(chr, range(32, 600))), "sentAt": 1427470440000}
    ]
}


@pytest.mark.parametrize(
    "entries",
    [
        {"Type": "/Page", "MediaBox": [0, 0, 595.2756, 841.8898], "Rotate": 0},
        {f"Key{n}": n for n in range(14)},  # more than 6: where reportlab breaks a line
        OrderedDict([("Zeta", 1), ("Alpha", "(text)")]),  # written in its own order, not sorted
        {"A B#(c)": 1, "Ünï": 2.5, "/Named": "/Value"},  # names reportlab escapes
        {},
    ],
)
@pytest.mark.parametrize("multiline", [True, False, "forced"])
def test_a_dictionary_is_written_as_reportlab_writes_it(
    entries: dict[str, Any], multiline: bool | str
) -> None:
    """The keys written once per process (`pdf._format_dictionary`): each dictionary's bytes are
    reportlab's own, the second time too (from the cache), in every layout reportlab has."""
    dictionary = pdfdoc.PDFDictionary()
    dictionary.dict = entries
    dictionary.multiline = multiline
    document = pdfdoc.PDFDocument(invariant=1)
    for indent in (b"\n ", b"\n"):
        expected = pdf._DICTIONARY_FORMAT(dictionary, document, IND=indent)
        assert pdf._format_dictionary(dictionary, document, IND=indent) == expected
        assert pdf._format_dictionary(dictionary, document, IND=indent) == expected


def test_the_cached_dictionary_keys_of_a_transcript_change_no_byte(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same PDFs with reportlab's own dictionary writing, chats of other characters between."""
    chats = [SAMPLE, make_sample_chat(name="Žofie 🐎 Dvořáková"), SAMPLE, parse_chat(CHAT_OF_ALL)]
    cached = [
        render_transcript(chat, TranscriptSettings(timezone="Europe/Prague")) for chat in chats
    ]
    monkeypatch.setattr(pdf, "_format_dictionary", pdf._DICTIONARY_FORMAT)  # reportlab's own
    assert cached == [
        render_transcript(chat, TranscriptSettings(timezone="Europe/Prague")) for chat in chats
    ]
    assert pdfdoc.PDFDictionary.format is pdf._DICTIONARY_FORMAT  # put back after each save
