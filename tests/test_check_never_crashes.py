"""`exportdsl check` reports a diagnostic for any input, never an internal error (exit 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportdsl.lint.runner import lint_file
from exportdsl.lint.settings import Settings

ROOT = Path(__file__).parent.parent
BASE = "connector: {id: 1, name: x}\nclient: {id: 2}\n"
SEEDS = sorted((ROOT / "connectors").glob("*.yaml")) + sorted(
    path
    for path in (ROOT / "tests" / "lint" / "examples").iterdir()
    if path.suffix in (".yaml", ".json") and not path.name.endswith(".out.json")  # not outputs
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE + "timezone: Europe\n", "unknown time zone 'Europe'"),
        (BASE + "timezone: " + "A" * 300 + "\n", "unknown time zone 'AAAA"),
        (BASE + "timezone: localtime\n", "'localtime' is a file of this machine's zone database"),
        (BASE + "timezone: right/UTC\n", "'right/UTC' is a file of this machine's zone database"),
        (
            "connector: {id: !!int abc, name: x}\nclient: {id: 2}\n",
            "'abc' cannot be read as a number",
        ),
        (BASE + "pdata: {a: !!bool maybe}\n", "'maybe' cannot be read as a boolean"),
        ("connector: {id: " + "9" * 5000 + ", name: x}\nclient: {id: 2}\n", "5,000 characters"),
        (BASE + "retry: {backoff: !!float nope}\n", "'nope' cannot be read as a number"),
        # past a double's range (309 digits) a number in a float field overflowed its message
        (BASE + "timeout: {connect: " + "9" * 400 + "}\n", "more than 300 digits cannot be used"),
        (BASE + "retry: {backoff: 0x" + "f" * 260 + "}\n", "more than 300 digits cannot be used"),
        # the length that matters is the value's, not the text's: hex and base 60 are short
        (BASE + "retry: {attempts: 0x" + "f" * 3600 + "}\n", "more than 300 digits cannot be used"),
        (BASE + "timeout: {total: 1" + ":59" * 3000 + "}\n", "more than 300 digits cannot be used"),
        ("connector: {id: 0b" + "1" * 15000 + ", name: x}\nclient: {id: 2}\n", "300 digits"),
        (BASE + "pdata: {a: .inf}\n", "inf is not a finite number"),
        ('{"connector": {"id": 1e999, "name": "x"}, "client": {"id": 2}}', "inf is not a finite"),
        (BASE + "retry: {attempts: 1_000_000_000_000_000_000}\n", "not 1000000000000000000"),
        (  # a JSON file: json's syntax check converted the number and raised ValueError
            '{"connector": {"id": ' + "9" * 5000 + ', "name": "x"}, "client": {"id": 2}}',
            "5,000 characters",
        ),
    ],
)
def test_a_value_yaml_cannot_read_is_a_diagnostic(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / ("connector.json" if text.startswith("{") else "connector.yaml")
    path.write_text(text)
    (diagnostic, *_) = lint_file(path, Settings(root=tmp_path)).diagnostics
    assert diagnostic.code == "XD002" and message in diagnostic.message
    assert diagnostic.location is not None and diagnostic.location.line >= 1


_EDITS = st.sampled_from(
    [
        "",
        "!!int x",
        "!!bool maybe",
        "!!float",
        "&a",
        "*a",
        "${",
        "$!{x",
        "#*",
        "#[[",
        "\t",
        ": ",
        "- ",
        "{",
        "}",
        "[",
        "'",
        '"',
        "\\",
        "\x00",
        "\ufeff",
        "9" * 4400,
        "9" * 400,  # past a double's range, within Python's int limit
        "1e999",
        "Europe",
        ".inf",
        "~",
        ",}",  # a JSON trailing comma
        ",\n]",
        "\n   x: y\n",  # a key indented off by one
        "\n \tx: y\n",
        "{name:'John Doe', email:'j@x'}",  # jtel's literal, quoted or not
        "'{name:'x'}'",
        "\"{name:'John Doe, email:'j@x'}\"",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.floats(0, 1), _EDITS, st.booleans()), min_size=1, max_size=4),
)
def test_check_survives_mutated_connectors(
    tmp_path: Path, seed: Path, edits: list[tuple[float, str, bool]]
) -> None:
    """Connector files with pieces cut or inserted anywhere: always diagnostics, never an
    exception out of the linter (which the CLI would report as an internal error)."""
    text = seed.read_bytes().decode("utf-8", "surrogateescape")  # seeds include invalid UTF-8
    for where, piece, cut in edits:
        at = int(where * len(text))
        text = text[:at] + piece + text[at + (len(piece) or 3) * cut :]
    path = tmp_path / f"mutated{seed.suffix}"  # a .json file is read as JSON first
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    lint_file(path, Settings(root=tmp_path))
