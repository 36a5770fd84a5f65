"""The wheel carries the grammars and the fonts, and the package finds its grammar there."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_wheel_ships_grammars_and_fonts(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("exportdsl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"exportdsl/_grammar/template.lark", "exportdsl/_grammar/pdata.lark"} <= names
    assert any(
        name.startswith("exportdsl/transcript/fonts/") and name.endswith(".ttf") for name in names
    )
    assert any(name.endswith("entry_points.txt") for name in names)

    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    probe = (
        "import exportdsl.language.grammar as g; "
        "assert g.grammar_text('template.lark').startswith('//'); print(g._PACKAGED)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(target), "HOME": str(tmp_path)},
        timeout=60,
        check=True,
    )
    assert str(target) in result.stdout
