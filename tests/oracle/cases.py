"""The directive cases (tests/cases/directives*.json): read, rendered by the oracle, written back.

A case: {"name", "given": {"template", "variables", "strict"?}, "expected", "note"?}, as in
tests/cases/language.json ("variables" is the data; "strict": false renders with Velocity's lax
references, for the few cases that show the difference). `expected` is what Velocity 1.7 gives:
{"output": …} or {"error": {"type", "message"}}; tests/oracle/make_cases.py fills it in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .velocity import Rendered, Velocity

__all__ = ["CASE_FILES", "dump_cases", "load_cases", "render_case"]

CASES_DIR = Path(__file__).resolve().parent.parent / "cases"
CASE_FILES = sorted(CASES_DIR.glob("directives*.json"))


def load_cases(path: Path) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return cases


def dump_cases(cases: list[dict[str, Any]]) -> str:
    """One case a line (the style of tests/cases/*.json): a refresh's diff shows each case alone."""
    lines = [" " + json.dumps(case, ensure_ascii=False) for case in cases]
    return "[\n" + ",\n".join(lines) + "\n]\n"


def render_case(velocity: Velocity, case: dict[str, Any]) -> Rendered:
    given = case["given"]
    return velocity.render(
        given["template"], given.get("variables", {}), strict=given.get("strict", True)
    )
