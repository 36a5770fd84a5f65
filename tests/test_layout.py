"""Guards of the layout: the import contract bites, and `exportdsl check` stays light.

`make lint` runs the contract itself (lint-imports); here it is shown to catch a wrong import in a
copy of the package, so a contract that silently checks nothing would fail this test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
RUN_TIME_LIBRARIES = ("jinja2", "httpx", "reportlab", "starlette", "uvicorn")
# make installs import-linter in a venv of its own (it pulls in rich; see the Makefile).
LINT_IMPORTS = ROOT / ".venv-tools" / "bin" / "lint-imports"


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "exportdsl", tmp_path / "exportdsl", ignore=shutil.ignore_patterns("*.ttf")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contract_holds_for_the_package(package_copy: Path) -> None:
    result = _lint_imports(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        ("compiler/escaping.py", "from exportdsl.export import redact", "the pipeline"),
        ("connector/model.py", "import exportdsl.compiler.plan", "the pipeline"),
        ("lint/runner.py", "import httpx", "the checker never imports"),
    ],
)
def test_the_contract_refuses_an_import_against_the_pipeline(
    package_copy: Path, module: str, wrong_import: str, contract: str
) -> None:
    path = package_copy / "exportdsl" / module
    path.write_text(path.read_text() + f"\n{wrong_import}  # noqa\n")
    result = _lint_imports(package_copy)
    assert result.returncode == 1
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout


def test_check_loads_none_of_the_run_time_libraries() -> None:
    probe = (
        "import sys, json\n"
        "from exportdsl.cli.main import main\n"
        "try:\n"
        "    main(['check', 'connectors/jtel-oauth-json.yaml'], standalone_mode=False)\n"
        "finally:\n"
        f"    print(json.dumps(sorted(m for m in {RUN_TIME_LIBRARIES!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [], result.stderr
