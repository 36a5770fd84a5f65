"""The Velocity 1.7 oracle (tests/oracle/): the directive corpus never drifts from Velocity, the
generator's templates all render, and the oracle itself behaves as docs/design.md says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from oracle import velocity as oracle
from oracle.cases import CASE_FILES, load_cases, render_case
from oracle.generate import generate
from oracle.velocity import Velocity

CASES = [(path.name, case) for path in CASE_FILES for case in load_cases(path)]
GENERATED_SEEDS = range(300)


def test_the_corpus_is_there_and_named_once() -> None:
    names = [(file, case["name"]) for file, case in CASES]
    assert len(names) >= 150
    assert len(set(names)) == len(names)
    for _, case in CASES:
        assert set(case) <= {"name", "given", "expected", "note", "exportdsl"}, case["name"]
        assert set(case["given"]) <= {"template", "variables", "strict"}, case["name"]
        assert "output" in case["expected"] or "error" in case["expected"], case["name"]


@pytest.mark.parametrize(
    "case", [case for _, case in CASES], ids=[f"{file}:{case['name']}" for file, case in CASES]
)
def test_velocity_still_renders_the_expected(velocity: Velocity, case: dict[str, Any]) -> None:
    """Refresh with `.venv/bin/python -m tests.oracle.make_cases` (see its docstring)."""
    assert render_case(velocity, case).expected() == case["expected"]


def test_every_generated_template_renders_without_error(velocity: Velocity) -> None:
    failures = []
    for seed in GENERATED_SEEDS:
        generated = generate(seed)
        rendered = velocity.render(generated.template, generated.variables)
        if rendered.error is not None:
            failures.append((seed, rendered.error_type, rendered.error, generated.template))
    assert not failures, failures[:3]


def test_the_generator_is_reproducible_and_varied() -> None:
    assert generate(5) == generate(5)
    templates = [generate(seed).template for seed in GENERATED_SEEDS]
    assert len(set(templates)) == len(templates)
    for construct in ("#foreach(", "#elseif(", "#{else}", "#set(", "#{break}", "$foreach.",
                      "\r\n", "\t#", "#if($foreach.hasNext),#end"):  # fmt: skip
        assert any(construct in template for template in templates), construct


def test_each_template_gets_a_fresh_engine(velocity: Velocity) -> None:
    """A macro defined by one template is unknown to the next: no state leaks between cases."""
    assert velocity.render("#macro(twice $x)$x$x#end#twice('a')").output == "aa"
    later = velocity.render("#twice('a')")
    assert later.error_type == "VelocityException"
    assert later.error == "Macro '#twice' is not defined at template[line 1, column 1]"


def test_strict_references_unless_asked_otherwise(velocity: Velocity) -> None:
    assert velocity.render("$nope").error_type == "MethodInvocationException"
    assert velocity.render("$nope", strict=False).output == "$nope"


def test_values_reach_velocity_with_their_java_types(velocity: Velocity) -> None:
    """Objects are maps, arrays lists, integers Integer or Long, decimals Double, all of Unicode."""
    template = "$i $l $d $b $list $map #if($n)x#{else}null#end $s"
    variables = {"i": 7, "l": 3_000_000_000, "d": 2.5, "b": True, "list": [1, "a"],
                 "map": {"k": "v"}, "n": None, "s": "č😀\u2028\"\\"}  # fmt: skip
    assert velocity.render(template, variables).output == (
        '7 3000000000 2.5 true [1, a] {k=v} null č😀\u2028"\\'
    )


@pytest.mark.parametrize(
    ("environ", "required"),
    [
        ({}, False),
        ({"CI": ""}, False),
        ({"CI": "false"}, False),
        ({"CI": "0"}, False),
        ({"CI": "true"}, True),
        ({"CI": "1"}, True),
        ({"VELOCITY_ORACLE": "required"}, True),
        ({"VELOCITY_ORACLE": "optional"}, False),
    ],
)
def test_a_missing_oracle_fails_only_under_ci(environ: dict[str, str], required: bool) -> None:
    assert oracle.oracle_required(environ) is required


def test_what_is_missing_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    absent = tmp_path / "velocity-1.7.jar"
    monkeypatch.setattr(oracle, "CLASSPATH_JARS", (absent,))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert oracle.find_missing() == ["java", "javac", str(absent)]
    with pytest.raises(oracle.OracleUnavailable, match="apt-get install velocity"):
        Velocity.start()
