"""Golden diagnostics: each tests/golden/X.(yaml|json) checks to exactly X.out.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and review
the diff like code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exportdsl.check import check_file, format_text

ROOT = Path(__file__).parent.parent
CASES = sorted(p for p in (ROOT / "tests" / "golden").iterdir() if p.suffix in (".yaml", ".json"))


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_golden(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    output = format_text(check_file(path.relative_to(ROOT))) + "\n"
    expected = path.with_suffix(".out")
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(output, encoding="utf-8")
    assert output == expected.read_text(encoding="utf-8")


def test_every_example_connector_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    examples = sorted((ROOT / "connectors").glob("*.yaml"))
    assert len(examples) >= 4
    for path in examples:
        assert check_file(path).diagnostics == (), path
