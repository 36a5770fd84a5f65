"""Issue 11, a review of items 3-6 as a new operator and a security reviewer try them: each test is
a defect found on main, with a real server, process or outbox (loopback only, bounded)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from test_serve import write_connectors

from exportdsl.cli.main import main


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
