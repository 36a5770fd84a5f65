"""Issue 11, a review of items 3-6 as a new operator and a security reviewer try them: each test is
a defect found on main, with a real server, process or outbox (loopback only, bounded)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_serve import write_connectors

from exportdsl.cli.main import main
from exportdsl.delivery.database import check_intact
from exportdsl.errors import OutboxError


def serve_arguments(tmp_path: Path, *options: str) -> list[str]:
    folder = write_connectors(tmp_path / "connectors", "http://127.0.0.1:9")
    return ["serve", "--connectors", str(folder), "--db", str(tmp_path / "q.db"), *options]


def test_a_lease_of_nan_is_refused(tmp_path: Path) -> None:
    # click's FloatRange let NaN through; stored as a NULL lease, every worker claimed the same
    # delivery again and again (149 sends of one chat in two seconds)
    result = CliRunner().invoke(main, serve_arguments(tmp_path, "--lease", "nan"))
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--lease': expected a number of seconds, not nan" in result.output
    assert not (tmp_path / "q.db").exists()  # refused before anything started


def test_an_outbox_another_process_holds_is_not_called_damaged(tmp_path: Path) -> None:
    # an outbox not in WAL mode yet (as `sqlite3 OLD.db .recover | sqlite3 NEW.db` makes it),
    # written by another connection: the start check waited for it, then called it damaged and
    # told the operator to restore a backup (losing every chat accepted since)
    database = tmp_path / "q.db"
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(OutboxError) as refused:
            check_intact(database)
    finally:
        holder.close()
    message = str(refused.value)
    assert "cannot check the outbox: database is locked (another process holds it)" in message
    assert "damaged" not in message and "backup" not in message
    check_intact(database)  # once it is let go, the file is fine
