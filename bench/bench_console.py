"""What the console's pages cost with 100,000 deliveries in a SQLite outbox.

    .venv/bin/python -m bench.bench_console

The outbox is filled directly (100,000 deliveries over 8 connectors: 90 % delivered, 6 % dead,
3 % retrying, 1 % pending, one attempt recorded each, created over 30 days); each page is then
asked for through the console's ASGI app in this process (Starlette's TestClient: routing, the
session check, the outbox's query, Jinja2, the headers), logged in. Figures are medians of 30
requests; the baseline, measured in the same run, is the outbox's own query for the same list
(`Outbox.find`, what `queue list` costs), so the ratio is what the page adds. Target: every page
in at most 100 ms.
"""

from __future__ import annotations

import random
import re
import sqlite3
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount

from exportdsl.console.app import Console
from exportdsl.delivery.outbox import DeliveryQuery
from exportdsl.delivery.store import open_outbox

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2; its TestClient works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

DELIVERIES = 100_000
TARGET_MS = 100.0
SECRET = "bench-console-secret-0123456789"
NOW = 1_764_500_000.0


def fill(path: Path) -> None:
    """100,000 deliveries, their chats and one attempt each, in one transaction."""
    open_outbox(path).close()  # the schema
    rng = random.Random(15)
    chats, deliveries, attempts = [], [], []
    for number in range(1, DELIVERIES + 1):
        connector = f"connector-{number % 8}"
        created = NOW - 30 * 86400 + number * (30 * 86400 / DELIVERIES)
        roll = rng.random()
        status, attempts_made, finished, error = "delivered", 1, created + 0.2, None
        if roll < 0.06:
            status, finished, error = "dead", created + 5, "the back end answered 410 Gone"
        elif roll < 0.09:
            status, finished, error = "pending", None, "the back end answered 503"
        elif roll < 0.10:
            status, attempts_made, finished = "pending", 0, None
        chats.append((connector, str(number), -1, b"{}", created, f"key-{number}"))
        deliveries.append(
            (number, connector, str(number), -1, "hook", f"key-{number}", "crm.example", status,
             attempts_made, created + 300, error, created, finished)
        )  # fmt: skip
        if attempts_made:
            outcome = {"delivered": "delivered", "dead": "dead"}.get(status, "retry")
            attempts.append((number, 1, created, 0.2, outcome, 200, error, '{"id": 1}'))
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO chats (connector, chat_id, end_at, body, received_at, hook_key)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            chats,
        )
        db.executemany(
            "INSERT INTO deliveries (id, connector, chat_id, end_at, reason, idempotency_key,"
            " target, status, attempts, next_attempt_at, last_error, created_at, finished_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            deliveries,
        )
        db.executemany(
            "INSERT INTO attempts (delivery_id, number, started_at, seconds, outcome, status,"
            " error, answer) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            attempts,
        )
        db.execute("ANALYZE")


def median_ms(work: Callable[[], object], runs: int = 30) -> float:
    work()  # warm: the template compiled, the pages of the file cached
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "queue.db"
        started = time.perf_counter()
        fill(path)
        print(f"{DELIVERIES:,} deliveries made in {time.perf_counter() - started:.1f} s")
        outbox = open_outbox(path, create=False)
        app = Starlette(routes=[Mount("/console", Console(outbox, SECRET).app())])
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
            page = client.get("/console/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', page)
            assert token is not None
            client.post("/console/login", data={"csrf": token.group(1), "secret": SECRET})
            deep = DELIVERIES // 2
            pages: dict[str, tuple[str, DeliveryQuery]] = {
                "deliveries, first page": ("/console/", DeliveryQuery()),
                "deliveries, dead": ("/console/?status=dead", DeliveryQuery(status="dead")),
                "deliveries, retrying": (
                    "/console/?status=retrying",
                    DeliveryQuery(status="retrying"),
                ),
                "deliveries, one connector, page at 50,000": (
                    f"/console/?connector=connector-3&before={deep}",
                    DeliveryQuery(connector="connector-3", before=deep),
                ),
                "deliveries, a chat id": ("/console/?chat=77777", DeliveryQuery(chat_id="77777")),
                "deliveries, 10 days ago to 9 days ago": (
                    "/console/?since=2025-11-20T10:53&until=2025-11-21T10:53",
                    DeliveryQuery(since=NOW - 10 * 86400, until=NOW - 9 * 86400),
                ),
                "the live update's rows, first page": ("/console/deliveries/rows", DeliveryQuery()),
            }
            worst = 0.0
            for name, (url, query) in pages.items():
                assert client.get(url).status_code == 200
                page_ms = median_ms(lambda url=url: client.get(url))
                find_ms = median_ms(lambda query=query: outbox.find(query))
                worst = max(worst, page_ms)
                print(f"{name}: {page_ms:.1f} ms (the query alone {find_ms:.2f} ms)")
            delivery_ms = median_ms(lambda: client.get(f"/console/deliveries/{deep}"))
            worst = max(worst, delivery_ms)
            print(f"a delivery and its attempts: {delivery_ms:.1f} ms")
            counts_ms = median_ms(outbox.counts)
            print(f"(of every list page: the counts by state {counts_ms:.1f} ms)")
        verdict = "PASS" if worst <= TARGET_MS else "FAIL"
        print(f"slowest page {worst:.1f} ms; target <= {TARGET_MS:.0f} ms {verdict}")
        outbox.close()


if __name__ == "__main__":
    main()
