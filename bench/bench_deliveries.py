"""Deliveries per second end to end, with the PDF transcripts rendered in the worker threads
(``--render-processes 0``, the baseline) and in render processes (one a CPU), in the same run; and
the intake's hooks/s and p99 while those deliveries run, both ways.

    .venv/bin/python -m bench.bench_deliveries

Each round starts a fresh `exportdsl serve` (its own SQLite outbox) on the export benchmark's
connector (token cached, XML template, the PDF in the report POST), whose receiver, the raw-socket
responder of `bench.bench_export`, runs in a process of its own. A round posts a backlog of hooks
while the receiver is stopped (SIGSTOP: the workers' first attempts wait for it, the rest waits in
the outbox; these hooks' rate and p99 are the intake alone), lets the receiver go on, and at once
posts more hooks, timed, while the backlog is delivered; deliveries per second count from then to
the last delivery. Rounds alternate the two ways (T P T P ...): on a machine shared with other work
the speed drifts, and the medians of rounds in turn are compared. The CPU time of the server and of
its render processes over the delivery is read from /proc.

Target (issue 13): >= 350 deliveries/s on a 2-core node; hooks/s and p99 while deliveries run no
worse than with rendering in the threads.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.bench_export import SAMPLE, receiving
from bench.bench_serve import (
    INTAKE_SECRET,
    _free_port,
    _load,
    _percentile,
    _wait_delivered,
    _wait_until_up,
    connector_folder,
    serve_process,
)
from exportdsl.delivery.rendering import cpu_count

BACKLOG = int(os.environ.get("BENCH_BACKLOG", "2000"))  # hooks posted first, then delivered
TIMED_HOOKS = 500  # posted while the backlog is delivered: the intake's rate and p99
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))  # of each way
TARGET_RATE = 350.0
PATH = f"/hooks/crm?token={INTAKE_SECRET}"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Round:
    deliveries_per_s: float
    hooks_per_s: float  # hooks accepted while the backlog is delivered
    p99_ms: float
    quiet_hooks_per_s: float  # the backlog's, accepted while nothing is delivered
    quiet_p99_ms: float
    server_cpu_ms: float  # a delivery's share of the server's CPU (its render processes apart)
    render_cpu_ms: float  # and of its render processes'


def main() -> None:
    processes = cpu_count()
    ways = {0: "in the worker threads", processes: f"in {processes} render processes"}
    results: dict[int, list[Round]] = {way: [] for way in ways}
    with receiving() as (base, receiver), tempfile.TemporaryDirectory() as name:
        folder = connector_folder(Path(name), base)
        for number in range(ROUNDS):
            for way in ways:
                database = Path(name) / f"queue-{way}-{number}.db"
                results[way].append(_round(folder, database, way, receiver, first=number * 10**6))
    _report(ways, results)


def _round(folder: Path, database: Path, render_processes: int, receiver: int, first: int) -> Round:
    port = _free_port()
    server = serve_process(folder, str(database), port, "--render-processes", str(render_processes))
    try:
        _wait_until_up(port)
        time.sleep(1.0)  # the render processes warm up (they do in the field before traffic too)
        backlog, timed = _bodies(first, BACKLOG), _bodies(first + BACKLOG, TIMED_HOOKS)
        os.kill(receiver, signal.SIGSTOP)  # the backlog waits in the outbox: nothing is answered
        try:
            seconds, quiet, stored = asyncio.run(_load(port, PATH, backlog))
        finally:
            os.kill(receiver, signal.SIGCONT)
        started, cpu_before = time.perf_counter(), _cpu_seconds(server.pid)
        busy_seconds, busy, accepted = asyncio.run(_load(port, PATH, timed))
        delivered_at = _wait_delivered(database, stored + accepted)
        cpu_after = _cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait(60)
    count = stored + accepted
    return Round(
        deliveries_per_s=count / (delivered_at - started),
        hooks_per_s=accepted / busy_seconds,
        p99_ms=_percentile(busy, 0.99) * 1000,
        quiet_hooks_per_s=stored / seconds,
        quiet_p99_ms=_percentile(quiet, 0.99) * 1000,
        server_cpu_ms=(cpu_after[0] - cpu_before[0]) / count * 1000,
        render_cpu_ms=(cpu_after[1] - cpu_before[1]) / count * 1000,
    )


def _bodies(first: int, count: int) -> list[bytes]:
    chat = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return [
        json.dumps(chat | {"channel": chat["channel"] | {"id": first + n}}).encode()
        for n in range(count)
    ]


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """(the server's CPU seconds, its child processes' together), from /proc, while they run."""
    children = [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    return _cpu_of(pid), sum(_cpu_of(child) for child in children)


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # it ended meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _report(ways: dict[int, str], results: dict[int, list[Round]]) -> None:
    medians = {way: _medians(results[way]) for way in ways}
    print(
        f"{BACKLOG} hooks posted while the receiver is stopped (the intake alone), then the "
        f"receiver let go and {TIMED_HOOKS} more posted flat out while the backlog is delivered; "
        f"deliveries/s from then to the last delivery; medians of {ROUNDS} rounds each, in turn; "
        f"{os.environ.get('BENCH_WORKERS', '4')} worker threads; load average at the end: "
        f"{_load_average()}"
    )
    for way, label in ways.items():
        m = medians[way]
        print(
            f"  rendered {label}: {m.deliveries_per_s:,.0f} deliveries/s; intake meanwhile "
            f"{m.hooks_per_s:,.0f} hooks/s, p99 {m.p99_ms:.1f} ms (alone: "
            f"{m.quiet_hooks_per_s:,.0f}/s, p99 {m.quiet_p99_ms:.1f} ms); CPU a delivery: server "
            f"{m.server_cpu_ms:.2f} ms, render processes {m.render_cpu_ms:.2f} ms"
        )
        print(
            "    rounds: "
            + ", ".join(
                f"{r.deliveries_per_s:,.0f}/s ({r.hooks_per_s:,.0f} hooks/s, p99 {r.p99_ms:.0f} ms)"
                for r in results[way]
            )
        )
    threads, pool = (medians[way] for way in ways)
    fast = pool.deliveries_per_s >= TARGET_RATE
    kept = pool.hooks_per_s >= 0.9 * threads.hooks_per_s and pool.p99_ms <= 1.1 * threads.p99_ms
    faster = pool.deliveries_per_s / threads.deliveries_per_s
    print(
        f"render processes / threads: deliveries {faster:.2f}x, intake while delivering: hooks/s "
        f"{pool.hooks_per_s / threads.hooks_per_s:.2f}x, p99 "
        f"{pool.p99_ms / threads.p99_ms:.2f}x; target >= {TARGET_RATE:.0f} deliveries/s "
        f"{'PASS' if fast else 'FAIL'}; intake kept (hooks/s >= 90%, p99 <= 110% of the threads') "
        f"{'PASS' if kept else 'FAIL'}"
    )


def _medians(rounds: list[Round]) -> Round:
    return Round(
        *(statistics.median(getattr(r, field) for r in rounds) for field in Round.__annotations__)
    )


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
