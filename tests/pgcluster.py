"""A throwaway PostgreSQL cluster for the tests: Debian's binaries, a temporary directory, a free
port on 127.0.0.1, password authentication (so the tests see a real password in the URL), fsync on
(commits wait for the disk, as in production). Made once per session (`start`), a fresh database
per test (`Cluster.database`), removed at the end (`Cluster.stop`).

A bare ``initdb`` refuses to run as root: as root, the server runs as the ``postgres`` user."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

__all__ = ["Cluster", "PostgresUnavailable", "postgres_required", "start"]

USER = "exportdsl_test"
PASSWORD = "pw-Sx9-do-not-show"  # the tests check it never shows in an error
START_ATTEMPTS = 3  # a free port taken by someone else meanwhile: another port


class PostgresUnavailable(Exception):
    """No PostgreSQL here to start (not installed, or it would not start)."""


def postgres_required(environ: Mapping[str, str]) -> bool:
    """Whether a missing PostgreSQL fails the tests (CI: .ci/run's POSTGRES_TESTS=required)
    rather than skipping them (a laptop without PostgreSQL)."""
    return environ.get("POSTGRES_TESTS") == "required"


@dataclass
class Cluster:
    directory: Path
    bindir: Path
    port: int
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; its URL."""
        name = f"test_{os.getpid()}_{next(self._numbers)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop(self, url: str) -> None:
        """The database of ``url`` removed, its connections ended (a test that failed midway)."""
        name = url.rpartition("/")[2]
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        _run_as_server_user(
            [str(self.bindir / "pg_ctl"), "stop", "-m", "immediate", "-D", str(self.data)],
            check=False,
        )
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def data(self) -> Path:
        return self.directory / "data"


def start() -> Cluster:
    bindir = _bindir()
    directory = Path(tempfile.mkdtemp(prefix="exportdsl-pg-"))
    try:
        (directory / "password").write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            try:
                shutil.chown(directory, "postgres")
                shutil.chown(directory / "password", "postgres")
            except LookupError:
                raise PostgresUnavailable(
                    "running as root without a postgres user to run the server as"
                ) from None
        _run_as_server_user(
            [
                str(bindir / "initdb"),
                "-D",
                str(directory / "data"),
                "-U",
                USER,
                f"--pwfile={directory / 'password'}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",  # the cluster's own files; the server runs with fsync on
            ]
        )
        for _ in range(START_ATTEMPTS):
            cluster = Cluster(directory, bindir, _free_port())
            if _start_server(cluster):
                return cluster
        log = (directory / "log").read_text(errors="replace")[-2000:]
        raise PostgresUnavailable(f"the test cluster did not start: {log}")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _start_server(cluster: Cluster) -> bool:
    options = (
        f"-p {cluster.port} -k {cluster.directory} -c listen_addresses=127.0.0.1"
        " -c fsync=on -c max_connections=300"
    )
    started = _run_as_server_user(
        [
            str(cluster.bindir / "pg_ctl"),
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(cluster.data),
            "-l",
            str(cluster.directory / "log"),
            "-o",
            options,
        ],
        check=False,
    )
    return started.returncode == 0


def _bindir() -> Path:
    """Debian's newest PostgreSQL (its programs are not on PATH), or the one on PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.parent.name)],
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (no initdb): apt-get install postgresql"
        )
    return Path(initdb).resolve().parent


def _run_as_server_user(
    command: list[str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise PostgresUnavailable("running as root without runuser: cannot start PostgreSQL")
        command = ["runuser", "-u", "postgres", "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/")
    if check and result.returncode != 0:
        raise PostgresUnavailable(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
    return result


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
