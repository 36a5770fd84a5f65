"""Intake benchmark: hooks accepted and durably stored per second, accept latency, and
deliveries per second end to end.

    .venv/bin/python -m bench.bench_serve

`exportdsl serve` runs as its own process (SQLite in WAL with synchronous=FULL, group commit), the
receiver is the export benchmark's raw-socket responder in another process, and the load generator
here keeps 16 hooks in flight on keep-alive connections. Baseline in the same run: the same server
refusing the same POSTs at an unknown path (HTTP, routing and reading the body, no validation, no
storage): what the HTTP stack alone costs.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.bench_export import CONNECTOR, SAMPLE, SECRET, _receiver

HOOKS = 2000
IN_FLIGHT = 16
INTAKE_SECRET = "bench-intake-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _load(
    port: int,
    path: str,
    bodies: list[bytes],
    rate: float | None = None,
    connections: int = IN_FLIGHT,
) -> tuple[float, list[float], int]:
    """Send every body over keep-alive connections; (seconds, latencies, 2xx answers). Without a
    rate, as fast as the server answers; with one, each hook is due at its own time and its latency
    counts from then (so a slow answer that delays the next is not hidden). Raw asyncio HTTP/1.1:
    a load generator should cost the machine as little as it can."""
    latencies: list[float] = []
    ok = 0
    pending = list(reversed(list(enumerate(bodies))))
    begin = time.perf_counter()

    async def connection() -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while pending:
            number, body = pending.pop()
            started = time.perf_counter()
            if rate is not None:
                due = begin + number / rate
                await asyncio.sleep(max(0.0, due - started))
                started = due
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            ok += head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2"))
        writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return time.perf_counter() - begin, latencies, ok


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parent, child = multiprocessing.Pipe()
    receiver = multiprocessing.Process(target=_receiver, args=(child,), daemon=True)
    receiver.start()
    base = f"http://127.0.0.1:{parent.recv()}"
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name) / "connectors"
        folder.mkdir()
        (folder / "crm.yaml").write_text(
            CONNECTOR.format(base=base) + "intake: {secret: $env.INTAKE_SECRET}\n"
        )
        database, port = Path(name) / "queue.db", _free_port()
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env |= {"BENCH_SECRET": SECRET, "INTAKE_SECRET": INTAKE_SECRET}
        command = [
            str(Path(sys.executable).with_name("exportdsl")),
            "serve",
            "--connectors",
            str(folder),
            "--db",
            str(database),
            "--port",
            str(port),
            "--workers",
            os.environ.get("BENCH_WORKERS", "4"),
        ]
        server = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait_until_up(port)
            _measure(port, database)
        finally:
            server.terminate()
            server.wait(60)
            receiver.terminate()


def _wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("exportdsl serve did not start")


def _measure(port: int, database: Path) -> None:
    chat = json.loads(SAMPLE.read_text(encoding="utf-8"))
    bodies = [
        json.dumps(chat | {"channel": chat["channel"] | {"id": 10_000 + n}}).encode()
        for n in range(HOOKS)
    ]
    query = f"?token={INTAKE_SECRET}"
    base_seconds, _, _ = asyncio.run(_load(port, f"/hooks/unknown{query}", bodies[:500]))
    started = time.perf_counter()
    seconds, latencies, ok = asyncio.run(_load(port, f"/hooks/crm{query}", bodies))
    rate, baseline = ok / seconds, 500 / base_seconds
    p50, p99 = _percentile(latencies, 0.50) * 1000, _percentile(latencies, 0.99) * 1000
    print(
        "hooks accepted and durably stored, as fast as they are answered: "
        f"{rate:,.0f}/s ({ok} of {HOOKS}, "
        f"{IN_FLIGHT} in flight; the workers deliver meanwhile), p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(
        f"  baseline, the same server refusing at an unknown path: {baseline:,.0f}/s "
        f"(storage and validation keep {rate / baseline:.0%} of it)"
    )
    delivered_at = _wait_delivered(database, ok)
    paced = [
        json.dumps(chat | {"channel": chat["channel"] | {"id": 90_000 + n}}).encode()
        for n in range(1500)
    ]
    seconds, latencies, ok_paced = asyncio.run(
        _load(port, f"/hooks/crm{query}", paced, rate=300, connections=32)
    )
    p50, p99 = _percentile(latencies, 0.50) * 1000, _percentile(latencies, 0.99) * 1000
    verdict = "PASS" if ok_paced == len(paced) and p99 <= 50 else "FAIL"
    print(
        f"at 300 hooks/s for {seconds:.1f} s (workers delivering all along): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"{ok_paced} of {len(paced)} stored; target >= 300/s with p99 <= 50 ms {verdict}"
    )
    print(
        f"end to end: {ok} chats delivered (PDF, token cached, report POST) "
        f"in {delivered_at - started:.1f} s from the first hook: "
        f"{ok / (delivered_at - started):,.0f} deliveries/s with 4 worker threads"
    )


def _wait_delivered(database: Path, count: int) -> float:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as db:
            done = db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'"
            ).fetchone()[0]
        if done >= count:
            return time.perf_counter()
        time.sleep(0.1)
    raise RuntimeError("deliveries did not finish")


if __name__ == "__main__":
    main()
