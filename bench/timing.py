"""What the benchmarks share: timing a command from a cold process start."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Mapping


def cold_seconds(command: list[str], runs: int = 5, env: Mapping[str, str] | None = None) -> float:
    """Median wall time of ``command`` in fresh processes, as installed: byte code cached (pip
    compiles it), so PYTHONDONTWRITEBYTECODE is dropped; a first, untimed run fills the caches."""
    environment = {
        key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"
    }
    environment.update(env or {})
    subprocess.run(command, capture_output=True, check=False, env=environment, timeout=120)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False, env=environment, timeout=120)
        times.append(time.perf_counter() - started)
    return statistics.median(times)
