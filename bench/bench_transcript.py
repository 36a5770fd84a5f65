"""Benchmark: the PDF transcript against plain canvas drawing of the same messages.

Run from the repository root: ``.venv/bin/python -m bench.bench_transcript``.

The baseline draws each message's text as one line with `Canvas.drawString` in the same bundled
font, breaking pages when full: the least any PDF of these messages costs with reportlab. The
transcript does everything a reader sees (header, wrapping, times, authors, role bars, stand-ins,
page numbers). Targets: transcript speed >= 75% of the baseline, 1,000 messages <= 200 ms,
10,000 messages <= 2 s, peak memory <= 80 MiB. Peak memory is the maximum resident set of a fresh
child process that loads the fonts, builds a 10,000-message chat and renders it (interpreter and
libraries included, so the stricter figure); the Python heap peak of a render, from tracemalloc,
is printed beside it.
"""

from __future__ import annotations

import gc
import io
import json
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from reportlab.pdfgen.canvas import Canvas

from exportdsl.chat.model import ChatSession
from exportdsl.chat.reader import parse_chat
from exportdsl.transcript.pdf import _binary_streams, render_transcript
from exportdsl.transcript.theme import PAGE_HEIGHT, PAGE_WIDTH
from exportdsl.transcript.typeface import REGULAR_FONT, load_fonts

__all__ = [
    "best_time",
    "main",
    "measure_memory",
    "render_baseline",
    "render_reportlab_defaults",
    "sample_chat",
    "verdict",
]

RATIO_TARGET = 0.75
TIME_TARGETS = {1_000: 0.200, 10_000: 2.0}
MEMORY_TARGET_MIB = 80.0
# A chat mixing scripts (issue 14): shaping, bidi and fallback fonts on most messages.
MIXED_RATE_TARGET = 2_000  # messages/s
MIXED_TIME_TARGET = 0.500  # s for 1,000 messages
MIXED_MEMORY_TARGET_MIB = 120.0
REPEATS = 5

_WORDS = [
    "hello",
    "thanks",
    "order",
    "invoice",
    "please",
    "could",
    "you",
    "check",
    "my",
    "account",
    "the",
    "delivery",
    "is",
    "late",
    "when",
    "will",
    "it",
    "arrive",
    "tracking",
    "number",
    "refund",
    "password",
    "reset",
    "works",
    "now",
    "great",
    "zamówienie",
    "dziękuję",
    "przesyłka",
    "Bestellung",
    "Grüße",
    "Rechnung",
    "заказ",
    "спасибо",
    "доставка",
    "παραγγελία",
    "ευχαριστώ",
    "objednávka",
    "děkuji",
    "účet",
]


# Words of each script a contact centre meets; a mixed message takes its words from one of them.
_SCRIPTS = {
    "latin": _WORDS,
    "arabic": [
        "مرحبا",
        "طلبي",
        "رقم",
        "لم",
        "يصل",
        "بعد",
        "شكرا",
        "جزيلا",
        "متى",
        "سيصل",
        "الطلب",
        "الفاتورة",
    ],
    "hebrew": ["שלום", "ההזמנה", "שלי", "לא", "הגיעה", "תודה", "רבה", "מתי", "המשלוח", "חשבונית"],
    "devanagari": ["नमस्ते", "क्षमा", "कीजिए", "मेरा", "ऑर्डर", "कहाँ", "है", "धन्यवाद", "भुगतान", "वापसी"],
    "thai": ["สวัสดีครับ", "ขอบคุณมาก", "คำสั่งซื้อ", "ของฉัน", "อยู่ที่ไหน"],
    "chinese": ["您好", "我的", "订单", "在哪里", "谢谢", "发票", "退款", "快递"],
    "japanese": ["こんにちは", "注文", "どこ", "ですか", "ありがとう", "配送"],
    "korean": ["안녕하세요", "주문이", "어디", "있나요", "감사합니다", "배송"],
    "emoji": ["👍", "😀", "🎉", "❤", "✓"],
}


def mixed_chat(count: int, seed: int = 11) -> dict[str, Any]:
    """`sample_chat`'s shape, each message in one script of _SCRIPTS in turn, some with a Latin
    order number or an emoji among them (mixed direction, fallback fonts)."""
    chat = sample_chat(count, seed)
    rnd = random.Random(seed)
    scripts = list(_SCRIPTS.values())
    for index, message in enumerate(chat["messages"]):
        if message["type"] == "system":
            continue
        words = scripts[index % len(scripts)]
        picked = [rnd.choice(words) for _ in range(rnd.choice((3, 6, 9, 14, 20)))]
        if index % 3 == 0:
            picked.insert(len(picked) // 2, f"#{rnd.randrange(10_000, 99_999)}")
        message["content"] = " ".join(picked)
    return chat


def sample_chat(count: int, seed: int = 7) -> dict[str, Any]:
    """A Smartsupp-shaped chat with `count` messages of realistic, mixed-script length."""
    rnd = random.Random(seed)
    start = 1_700_000_000_000
    messages = []
    for index in range(count):
        sent_at = start + index * 7_000
        if index % 25 == 12:
            messages.append(
                {
                    "type": "system",
                    "name": "Jana Nováková",
                    "from": "agent:3",
                    "content": rnd.choice(["agent.join", "agent.leave"]),
                    "sentAt": sent_at,
                }
            )
            continue
        words = [rnd.choice(_WORDS) for _ in range(rnd.choice((3, 6, 9, 14, 20, 28, 45)))]
        visitor = index % 2 == 0
        messages.append(
            {
                "type": "visitor" if visitor else "agent",
                "name": "Dusan Kmet" if visitor else "Jana Nováková",
                "from": "visitor:abc123" if visitor else "agent:3",
                "content": " ".join(words).capitalize() + ".",
                "sentAt": sent_at,
                "triggeredBy": None,
            }
        )
    return {
        "accountId": 208,
        "beginAt": start,
        "endAt": start + count * 7_000,
        "channel": {"id": 55039, "isChat": True, "rating": 5, "ratingDesc": None},
        "visitor": {"id": 1, "name": "Dusan Kmet", "email": "dusan@example.com"},
        "paths": [{"url": "https://example.com/shop", "title": "Shop"}],
        "messages": messages,
    }


def _draw_lines(canvas: Canvas, chat: ChatSession, font: str) -> None:
    """Every message as one drawString line, a new page when the page is full."""
    y = 800.0
    for message in chat.messages:
        canvas.setFont(font, 9.5)
        canvas.drawString(50, y, message.content)
        y -= 13
        if y < 50:
            canvas.showPage()
            y = 800.0
    canvas.showPage()


def render_baseline(chat: ChatSession) -> bytes:
    """Every message as one drawString line, same font, new page when the page is full."""
    load_fonts()  # registers the bundled font, as the transcript does
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=1, initialFontName=REGULAR_FONT
    )
    _draw_lines(canvas, chat, REGULAR_FONT)
    with (
        _binary_streams()
    ):  # the same stream encoding as the transcript: a like-for-like comparison
        canvas.save()
    return buffer.getvalue()


def render_reportlab_defaults(chat: ChatSession) -> bytes:
    """For reference only: drawString with reportlab's defaults.

    Those defaults are Helvetica and ASCII85-wrapped streams.
    Helvetica cannot show Polish, Cyrillic or Greek, so this is not a usable transcript; it is
    printed because it is what "plain canvas drawing" costs out of the box.
    """
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=1)
    _draw_lines(canvas, chat, "Helvetica")
    canvas.save()
    return buffer.getvalue()


def best_time(render: Callable[[ChatSession], bytes], chat: ChatSession) -> float:
    """The best of REPEATS wall times: the least disturbed measurement of the same work."""
    times = []
    for _ in range(REPEATS):
        gc.collect()
        began = time.perf_counter()
        render(chat)
        times.append(time.perf_counter() - began)
    return min(times)


def measure_memory(count: int, mixed: bool = False) -> tuple[float, float]:
    """(max RSS MiB, tracemalloc peak MiB) of a fresh process rendering `count` messages."""
    code = (
        "import sys; from bench.bench_transcript import _memory_child; "
        "_memory_child(int(sys.argv[1]), sys.argv[2] == 'mixed')"
    )
    output = subprocess.run(
        [sys.executable, "-c", code, str(count), "mixed" if mixed else "latin"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rss, heap = json.loads(output.strip().splitlines()[-1])
    return float(rss), float(heap)


def _memory_child(count: int, mixed: bool = False) -> None:
    chat = parse_chat(mixed_chat(count) if mixed else sample_chat(count))
    render_transcript(chat)
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; before tracemalloc
    tracemalloc.start()  # a second render, traced: tracemalloc's own bookkeeping inflates the RSS
    render_transcript(chat)
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps([rss_kib / 1024, heap_peak / 2**20]))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    results: list[bool] = []
    warm = parse_chat(sample_chat(200))
    render_transcript(warm)
    render_baseline(warm)
    print(
        f"{'messages':>9} {'baseline msg/s':>15} {'transcript msg/s':>17} {'ratio':>6} "
        f"{'transcript time':>16} {'pages':>6}"
    )
    for count, limit in TIME_TARGETS.items():
        chat = parse_chat(sample_chat(count))
        baseline = best_time(render_baseline, chat)
        transcript = best_time(render_transcript, chat)
        ratio = baseline / transcript
        pages = render_transcript(chat).count(b"/Type /Page\n")
        print(
            f"{count:>9,} {count / baseline:>15,.0f} {count / transcript:>17,.0f} {ratio:>6.2f} "
            f"{transcript * 1000:>13.0f} ms {pages:>6}"
        )
        print(
            f"          speed ratio >= {RATIO_TARGET:.0%}: {verdict(ratio >= RATIO_TARGET)}; "
            f"{count:,} messages <= {limit * 1000:.0f} ms: {verdict(transcript <= limit)}"
        )
        results += [ratio >= RATIO_TARGET, transcript <= limit]
        reference = best_time(render_reportlab_defaults, chat)
        print(
            f"          reference, drawString with reportlab defaults (Helvetica, ASCII85): "
            f"{count / reference:,.0f} msg/s"
        )
    rss, heap = measure_memory(10_000)
    print(
        f"peak memory rendering 10,000 messages: {rss:.1f} MiB resident (whole process), "
        f"{heap:.1f} MiB Python heap peak"
    )
    print(
        f"          peak memory <= {MEMORY_TARGET_MIB:.0f} MiB: {verdict(rss <= MEMORY_TARGET_MIB)}"
    )
    results.append(rss <= MEMORY_TARGET_MIB)
    results += mixed_scripts()
    print(f"overall: {verdict(all(results))}")


def mixed_scripts() -> list[bool]:
    """The chat mixing scripts: messages/s, 1,000 messages' time, a fresh process's memory; and
    the Latin baseline's rate in the same run, for scale."""
    chat = parse_chat(mixed_chat(1_000))
    render_transcript(chat)  # loads the fallback fonts, as a render process's first such chat
    elapsed = best_time(render_transcript, chat)
    latin = best_time(render_transcript, parse_chat(sample_chat(1_000)))
    rss, heap = measure_memory(1_000, mixed=True)
    rate = 1_000 / elapsed
    print(
        f"mixed scripts, 1,000 messages: {elapsed * 1000:.0f} ms, {rate:,.0f} msg/s "
        f"(the Latin chat: {1_000 / latin:,.0f} msg/s), {rss:.1f} MiB resident, "
        f"{heap:.1f} MiB Python heap peak"
    )
    checks = [
        rate >= MIXED_RATE_TARGET,
        elapsed <= MIXED_TIME_TARGET,
        rss <= MIXED_MEMORY_TARGET_MIB,
    ]
    print(
        f"          >= {MIXED_RATE_TARGET:,} msg/s: {verdict(checks[0])}; "
        f"<= {MIXED_TIME_TARGET * 1000:.0f} ms: {verdict(checks[1])}; "
        f"<= {MIXED_MEMORY_TARGET_MIB:.0f} MiB: {verdict(checks[2])}"
    )
    return checks


if __name__ == "__main__":
    main()
