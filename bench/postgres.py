"""A throwaway PostgreSQL cluster for the benchmarks and the tests: Debian's ``pg_virtualenv``
makes one in a temporary directory (``-t``, even as root, where a bare ``initdb`` refuses to run),
with ``fsync=on`` so commits cost what they cost in production, and drops it when its command
(here a ``sleep`` this module ends) exits."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

__all__ = ["available", "throwaway_cluster"]

_READY = 60.0  # seconds a cluster may take to start


def available() -> bool:
    """Whether Debian's PostgreSQL server and pg_virtualenv are installed here."""
    return shutil.which("pg_virtualenv") is not None and any(
        Path("/usr/lib/postgresql").glob("*/bin/postgres")
    )


@contextmanager
def throwaway_cluster(*settings: str) -> Iterator[str]:
    """A running cluster's URL (``postgresql://postgres:…@localhost:PORT/postgres``); ``settings``
    are extra ``name=value`` server settings."""
    with tempfile.TemporaryDirectory(prefix="exportdsl-pg-") as folder:
        found = Path(folder) / "env"
        options = [arg for setting in ("fsync=on", *settings) for arg in ("-o", setting)]
        script = f'env > "{found}.part" && mv "{found}.part" "{found}" && exec sleep 86400'
        process = subprocess.Popen(
            ["pg_virtualenv", "-t", *options, "sh", "-c", script],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            yield _url(_wait_for(found, process))
        finally:
            _end(process)


def _wait_for(found: Path, process: subprocess.Popen[bytes]) -> dict[str, str]:
    deadline = time.monotonic() + _READY
    while not found.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"pg_virtualenv could not start a cluster: {error[-2000:]}")
        time.sleep(0.05)
    return dict(line.split("=", 1) for line in found.read_text().splitlines() if "=" in line)


def _url(env: dict[str, str]) -> str:
    user, password = quote(env["PGUSER"], safe=""), quote(env["PGPASSWORD"], safe="")
    return f"postgresql://{user}:{password}@{env['PGHOST']}:{env['PGPORT']}/{env['PGDATABASE']}"


def _end(process: subprocess.Popen[bytes]) -> None:
    """End the ``sleep``: pg_virtualenv then stops and drops the cluster itself."""
    try:
        children = subprocess.run(
            ["pgrep", "-s", str(process.pid), "sleep"], capture_output=True, text=True
        ).stdout.split()
        for pid in children:
            os.kill(int(pid), signal.SIGTERM)
        process.wait(60)
    except (subprocess.TimeoutExpired, ProcessLookupError, ValueError):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
