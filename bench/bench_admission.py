"""What the intake's admission of a hook costs: the chat read alone, and read, keyed and checked by
the connector's render check (`exportdsl.delivery.admission`), which the intake runs for every
hook before it answers.

    .venv/bin/python -m bench.bench_admission

One thread, the bench connector of `bench_export` (token phase, JSON body, XML template), the
sample chat and chats of 1,000 and 20,000 messages; the figures are medians over rounds. Target:
the render check adds at most 0.5 ms to a hook of the sample chat (it never makes the PDF).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

from bench.bench_export import CONNECTOR, SAMPLE
from bench.bench_transcript import sample_chat
from exportdsl.chat.reader import parse_chat_bytes
from exportdsl.compiler.analysis import compile_connector
from exportdsl.connector.reader import parse_connector
from exportdsl.delivery.admission import Admission
from exportdsl.export.build import idempotency_key

TARGET_CHECK_MS = 0.5


def _median_ms(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(runs):
            work()
        times.append((time.perf_counter() - started) / runs)
    return statistics.median(times) * 1000


def main() -> None:
    plan = compile_connector(
        parse_connector(CONNECTOR.format(base="https://crm.example"), "bench.yaml")
    )
    admission = Admission(plan)
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    chats = {
        "the sample chat (6 messages)": (json.dumps(sample).encode(), 2000),
        "1,000 messages": (json.dumps(sample | sample_chat(1000)).encode(), 50),
        "20,000 messages": (json.dumps(sample | sample_chat(20000)).encode(), 5),
    }
    for name, (body, runs) in chats.items():
        chat = admission(body).chat  # warm: the thread's exporter, the compiled code
        read = _median_ms(lambda body=body: parse_chat_bytes(body), runs)
        check = _median_ms(
            lambda chat=chat: admission.render_check(chat) or idempotency_key(plan, chat),
            runs,
        )
        verdict = ""
        if name.startswith("the sample"):
            passed = "PASS" if check <= TARGET_CHECK_MS else "FAIL"
            verdict = f"; target <= {TARGET_CHECK_MS} ms {passed}"
        print(
            f"{name}, {len(body) / 1024:,.0f} KiB: read {read:.3f} ms; "
            f"the key and the render check add {check:.3f} ms{verdict}"
        )


if __name__ == "__main__":
    main()
