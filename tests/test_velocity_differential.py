"""exportdsl against Velocity 1.7 itself: the oracle's corpus and seeded generated templates.

1. Every strict case of tests/cases/directives*.json rendered by `tests.render.render_template`
   gives what Velocity 1.7 gave (`expected`), or, where exportdsl differs on purpose, exactly what
   the case's `exportdsl` field says, with its reason in `why`. A new difference fails here; an
   intended one documents itself in the case file. Lax-mode cases (`"strict": false`) show where
   lax 1.7 differs from strict 1.7: exportdsl is always strict, they do not apply.
2. Seeded templates of tests/oracle/generate.py render byte for byte as Velocity renders them.

Both need the `velocity` fixture (tests/conftest.py): skipped without Java, failing in CI.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from oracle.cases import CASE_FILES, load_cases
from oracle.generate import generate
from oracle.velocity import Velocity

from exportdsl.errors import ExportDslError
from tests.render import render_template

CASES = [(path.name, case) for path in CASE_FILES for case in load_cases(path)]
STRICT_CASES = [(file, case) for file, case in CASES if case["given"].get("strict", True)]
# ~4 ms a seed (exportdsl's compile and render, Velocity's render): ~4 s for the lot.
GENERATED_SEEDS = range(1000)


def _outcome(result: str | ExportDslError, error_shape: dict[str, Any] | None) -> dict[str, Any]:
    """``result`` in the shape of an expected outcome: {"output"} or, for an error, the fields of
    ``error_shape`` that say it (type, code, line, column, and `message` as a fragment)."""
    if not isinstance(result, ExportDslError):
        return {"output": result}
    error: dict[str, Any] = {"type": type(result).__name__, "code": result.code}
    if result.location is not None:
        error |= {"line": result.location.line, "column": result.location.column}
    error["message"] = result.message
    if error_shape is not None and error_shape.get("message", "") in result.message:
        error["message"] = error_shape["message"]  # the fragment the case pins
    return {"error": error}


@pytest.mark.parametrize(
    "case",
    [case for _, case in STRICT_CASES],
    ids=[f"{file}:{case['name']}" for file, case in STRICT_CASES],
)
def test_exportdsl_renders_what_velocity_renders(case: dict[str, Any]) -> None:
    given = case["given"]
    result = render_template(given["template"], given.get("variables", {}))
    if "exportdsl" in case:  # a difference on purpose: exactly the one documented
        deliberate = case["exportdsl"]
        assert deliberate["why"].strip(), "a deliberate difference says why"
        expected = deliberate["expected"]
        assert expected != case["expected"], "no longer a difference: drop the exportdsl field"
        assert _outcome(result, expected.get("error")) == expected
    elif "error" in case["expected"]:  # Velocity fails: so must exportdsl (any error of its own)
        assert isinstance(result, ExportDslError), (
            f"Velocity 1.7 fails ({case['expected']['error']['message']}) but exportdsl renders "
            f"{result!r}; if that is on purpose, add an `exportdsl` field saying why"
        )
    else:
        assert _outcome(result, None) == case["expected"], (
            "exportdsl differs from Velocity 1.7; if that is on purpose, add an `exportdsl` field "
            "with its expected outcome and why"
        )


def test_the_deliberate_differences_are_few_and_strict_only() -> None:
    """docs/design.md ("Issue 12: directives") lists them; lax cases need none (they do not
    apply)."""
    deliberate = [case["name"] for _, case in CASES if "exportdsl" in case]
    assert len(deliberate) == 26
    for _, case in CASES:
        if "exportdsl" in case:
            assert case["given"].get("strict", True), case["name"]
            assert set(case["exportdsl"]) == {"expected", "why"}, case["name"]


def test_generated_templates_render_as_velocity_renders_them(velocity: Velocity) -> None:
    """Reproduce a failure with `.venv/bin/python -m tests.oracle.generate --seed N --count 1`."""
    failures = []
    for seed in GENERATED_SEEDS:
        generated = generate(seed)
        theirs = velocity.render(generated.template, generated.variables)
        ours = render_template(generated.template, generated.variables)
        if theirs.error is not None or ours != theirs.output:
            velocity_said = theirs.error or json.dumps(theirs.output)
            failures.append(
                f"seed {seed}: template {json.dumps(generated.template)}\n"
                f"  variables {json.dumps(generated.variables)}\n"
                f"  velocity  {velocity_said}\n"
                f"  exportdsl {json.dumps(ours) if isinstance(ours, str) else ours}"
            )
    assert not failures, f"{len(failures)} seed(s) differ:\n" + "\n".join(failures[:3])
