"""Benchmark: the cost of a failed export stays flat for the life of a process (issue 10, item 7).

    .venv/bin/python -m bench.bench_redact [EXPORTS]

The outbox's way: one exporter per worker and connector, one attempt per claim, a signed report
request with a token, and a back end that fails every report with a 500 and a new session cookie
(what made the old redactor grow: every signature and every cookie became a secret for good,
and each failure recompiled one regular expression over all of them: 5.3 s of CPU per failure
and 1 GB after 6,000 signed deliveries). The back end is an `httpx.MockTransport` in this
process and the PDF a fixed one rendered once, so what is timed is the exporter's own work.

Baseline in the same run: a young exporter, made anew each round, interleaved with the aged one
(which has made EXPORTS failed exports first): the cost per failed export of the aged one is given
as a ratio to the young one's (target: flat, at most 1.2 times). Memory is traced while the aged
one ages, from its first thousand exports on (caches filled), and must not grow with the exports
(target: less than 256 KiB over all of them; the old redactor grew ~170 KiB per export).
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import httpx

from bench.bench_export import CONNECTOR, SAMPLE, SECRET, TOKEN_ANSWER
from exportdsl.chat.reader import load_chat
from exportdsl.compiler.analysis import compile_connector
from exportdsl.connector.model import RetryPolicy
from exportdsl.connector.reader import parse_connector
from exportdsl.export.exporter import Exporter
from exportdsl.export.timing import Timing
from exportdsl.export.tokens import TokenPhase
from exportdsl.transcript.pdf import render_transcript

EXPORTS = 6000
ROUNDS, PER_ROUND = 15, 100
TARGET_RATIO, TARGET_GROWTH = 1.2, 256 << 10
SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _back_end() -> httpx.MockTransport:
    cookies = itertools.count()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(
                200, content=TOKEN_ANSWER, headers={"Content-Type": "application/json"}
            )
        cookie = f"sid=session-{next(cookies):09d}-{request.headers['webhook-signature'][3:15]}"
        return httpx.Response(
            500, json={"error": "try later"}, headers={"Set-Cookie": f"{cookie}; Path=/; HttpOnly"}
        )

    return httpx.MockTransport(answer)


def _exporter(client: httpx.Client, tokens: TokenPhase | None = None) -> Exporter:
    """The connector's exporter; ``tokens``: share that one's cached token (fetch none)."""
    text = CONNECTOR.format(base="http://crm.test") + "signing: {secret: $env.HOOK_SECRET}\n"
    plan = compile_connector(parse_connector(text, "bench.yaml"))
    plan = dataclasses.replace(plan, retry=RetryPolicy(attempts=1, backoff=0.0, max_delay=0.0))
    chat = load_chat(SAMPLE)
    pdf = render_transcript(chat, plan.transcript)
    ticks = itertools.count()  # a second passes per signature: each is new, as in production
    return Exporter(
        plan,
        client,
        env={"BENCH_SECRET": SECRET, "HOOK_SECRET": SIGNING_SECRET},
        timing=Timing(now=lambda: START + timedelta(seconds=next(ticks)), sleep=lambda _: None),
        render_pdf=lambda _chat, _zone: pdf,
        tokens=tokens.cache if tokens is not None else None,
    )


def _age(exporter: Exporter, exports: int) -> list[tuple[int, int]]:
    """``exports`` failed exports; the traced memory (bytes) at each thousand from the second on."""
    chat = load_chat(SAMPLE)
    checkpoints = []
    tracemalloc.start()
    for number in range(1, exports + 1):
        result = exporter.run(chat)
        assert not result.ok
        if number % 1000 == 0 and number > 1000:
            gc.collect()
            checkpoints.append((number, tracemalloc.get_traced_memory()[0]))
    tracemalloc.stop()
    return checkpoints


def _per_export(exporter: Exporter, count: int) -> float:
    """Median seconds per failed export, its error printed redacted (as the CLI, the outbox do)."""
    chat = load_chat(SAMPLE)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        result = exporter.run(chat)
        result.redact(str(result.error))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    exports = int(sys.argv[1]) if len(sys.argv) > 1 else EXPORTS
    with httpx.Client(transport=_back_end()) as client:
        aged = _exporter(client)
        started = time.perf_counter()
        checkpoints = _age(aged, exports)
        aging = time.perf_counter() - started
        ratios, young_times, aged_times = [], [], []
        for _ in range(ROUNDS):
            young = _exporter(client, aged.token)
            _per_export(young, 5)  # its first exports warm what the aged one has warm
            young_time, aged_time = _per_export(young, PER_ROUND), _per_export(aged, PER_ROUND)
            young_times.append(young_time)
            aged_times.append(aged_time)
            ratios.append(aged_time / young_time)
        forms, own = len(aged.redact.ordered_forms()), len(aged.secrets.ordered_forms())
    print(
        f"{exports:,} failed signed exports (one attempt, a new cookie each) in {aging:.1f} s "
        f"(traced), {aging / exports * 1e3:.2f} ms each"
    )
    ratio = statistics.median(ratios)
    verdict = "met" if ratio <= TARGET_RATIO else "NOT MET"
    aged_ms, young_ms = statistics.median(aged_times) * 1e3, statistics.median(young_times) * 1e3
    print(
        f"per failed export, {ROUNDS} interleaved rounds of {PER_ROUND}: aged {aged_ms:.3f} ms, "
        f"young {young_ms:.3f} ms: {ratio:.2f} times (rounds {min(ratios):.2f}-{max(ratios):.2f}; "
        f"target at most {TARGET_RATIO}: {verdict})"
    )
    print(f"forms the aged exporter's export hides: {forms} (the connector's own: {own})")
    (first, low), (last, high) = checkpoints[0], checkpoints[-1]
    grown = high - low
    verdict = "met" if grown < TARGET_GROWTH else "NOT MET"
    print(
        f"traced memory: {low / 1024:,.0f} KiB at export {first:,}, {high / 1024:,.0f} KiB at "
        f"{last:,}: {grown / 1024:+,.0f} KiB (target < {TARGET_GROWTH // 1024:,} KiB: {verdict})"
    )


if __name__ == "__main__":
    main()
