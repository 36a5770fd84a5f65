"""The linter: golden examples (text and json), clean files, every rule failing and passing, SARIF
against the official schema, GitHub annotations, suppressions, settings and exit codes.

Regenerate the golden files after an intended change with
``UPDATE_GOLDEN=1 pytest tests/test_lint.py`` and review the diff like code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from exportdsl.cli.main import main
from exportdsl.lint.formats import as_json, github, sarif, text
from exportdsl.lint.registry import all_rules
from exportdsl.lint.runner import lint_file, lint_paths
from exportdsl.lint.settings import Settings

ROOT = Path(__file__).parent.parent
LINT = ROOT / "tests" / "lint"
EXAMPLES = sorted(
    p
    for p in (LINT / "examples").iterdir()
    if p.suffix in (".yaml", ".json") and not p.name.endswith(".out.json")
)
OK = sorted(p for p in (LINT / "ok").iterdir() if p.suffix in (".yaml", ".json"))
# The environment the examples are linted in (for XD509): CRM_TOKEN is set, nothing else.
SETTINGS = Settings(root=ROOT, env={"CRM_TOKEN": "set"})


def golden(path: Path, output: str) -> None:
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(output, encoding="utf-8")
    assert output == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_gives_exactly_its_golden_output(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    report = lint_file(path.relative_to(ROOT), SETTINGS)
    assert report.diagnostics, "an example must show at least one finding"
    golden(path.with_suffix(".out"), text([report]) + "\n")
    golden(path.with_suffix(".out.json"), as_json([report]) + "\n")


@pytest.mark.parametrize("path", OK, ids=[p.name for p in OK])
def test_clean_file_gives_nothing(path: Path) -> None:
    assert lint_file(path, SETTINGS).diagnostics == ()


def test_example_connectors_are_clean() -> None:
    for path in sorted((ROOT / "connectors").glob("*.yaml")):
        assert lint_file(path, Settings(root=ROOT)).diagnostics == (), path


@pytest.mark.parametrize("code", sorted(all_rules()))
def test_every_rule_has_a_failing_and_a_passing_case(code: str) -> None:
    failing = [p for p in EXAMPLES if f'"code": "{code}"' in p.with_suffix(".out.json").read_text()]
    assert failing, f"no example in tests/lint/examples reports {code}"
    rule = all_rules()[code]
    assert "Anti-pattern" in rule.doc and "Better" in rule.doc, f"{code}'s docstring needs both"
    if rule.check is not None:
        assert any(p.name.startswith(code.lower()) for p in OK), (
            f"no tests/lint/ok/{code.lower()}-*.yaml"
        )


def test_sarif_validates_against_the_official_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    reports = lint_paths([p.relative_to(ROOT) for p in EXAMPLES], SETTINGS)
    log = json.loads(sarif(reports))
    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(log, schema)
    run = log["runs"][0]
    assert {rule["id"] for rule in run["tool"]["driver"]["rules"]} == set(all_rules())
    uris = {
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for result in run["results"]
    }
    assert "tests/lint/examples/plain-http.yaml" in uris  # repository-relative
    region = next(r for r in run["results"] if r["ruleId"] == "XD505")["locations"][0][
        "physicalLocation"
    ]["region"]
    assert region["endColumn"] > region["startColumn"]  # SARIF's end column is exclusive


def test_github_annotations_escape_per_the_spec() -> None:
    report = lint_file(LINT / "examples" / "plain-http.yaml", SETTINGS)
    lines = github([report]).splitlines()
    assert lines[0].startswith("::warning file=")
    assert (
        ",line=3,col=" in lines[0]
        and ",endLine=3,endColumn=" in lines[0]
        and "title=XD505 plain-http::" in lines[0]
    )
    assert "%0A" in lines[0] and "\n" not in lines[0]  # the hint rides on an escaped line break


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_fail_level_decides_the_exit_code() -> None:
    path = str(LINT / "examples" / "plain-http.yaml")  # warnings only
    assert run("check", path)[0] == 0
    assert run("check", path, "--fail-level", "warning")[0] == 1
    assert (
        run("check", str(LINT / "examples" / "export-disabled.yaml"), "--fail-level", "info")[0]
        == 1
    )


def test_select_and_ignore_by_code_or_prefix() -> None:
    path = str(LINT / "examples" / "hardcoded-credentials.yaml")
    code, output = run("check", path, "--format", "json", "--select", "XD503")
    assert code == 1 and {d["code"] for d in _json(output)} == {"XD503"}
    code, output = run("check", path, "--format", "json", "--ignore", "XD5")
    assert code == 0 and _json(output) == []


@pytest.mark.parametrize(
    "option", [("--select", "FOO"), ("--select", "XD05"), ("--ignore", "XD5O6"), ("--select", "5")]
)
def test_an_unknown_selector_is_a_usage_error(option: tuple[str, str]) -> None:
    code, output = run("check", str(LINT / "examples" / "unknown-variables.yaml"), *option)
    assert code == 2 and f"{option[1]!r} is not a rule code or a prefix of one" in output


def test_an_unknown_selector_in_pyproject_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.exportdsl]\nselect = ["XD5", "XD9O0"]\n')
    monkeypatch.chdir(tmp_path)
    code, output = run("check", str(LINT / "examples" / "unknown-variables.yaml"))
    assert code == 2 and "'XD9O0' is not a rule code" in output and "did you mean XD900?" in output
    assert f"{tmp_path / 'pyproject.toml'}: select:" in output  # which file said it
    (tmp_path / "pyproject.toml").write_text("[tool.exportdsl]\nselect = []\n")
    code, output = run("check", str(LINT / "examples" / "unknown-variables.yaml"))
    assert code == 2 and "select is empty, so nothing would be checked" in output


@pytest.mark.parametrize(
    "option", [("--select", "XD600"), ("--ignore", "XD300"), ("--select", "XD003")]
)
def test_a_run_time_code_is_named_as_one(option: tuple[str, str]) -> None:
    code, output = run("check", str(LINT / "examples" / "unknown-variables.yaml"), *option)
    assert code == 2 and f"{option[1]} is not a code `exportdsl check` reports" in output


@pytest.mark.parametrize("prefix", ["XD3", "XD6", "XD70"])
def test_a_prefix_of_run_time_codes_only_is_named_as_one(prefix: str) -> None:
    code, output = run(
        "check", str(LINT / "examples" / "unknown-variables.yaml"), "--ignore", prefix
    )
    assert code == 2 and f"{prefix} names no code `exportdsl check` reports (XD" in output
    assert "did you mean" not in output  # XD3 once suggested XD503


@pytest.mark.parametrize("option", ["--select", "--ignore"])
def test_an_option_that_names_no_code_is_a_usage_error(option: str) -> None:
    code, output = run("check", str(LINT / "examples" / "unknown-variables.yaml"), option, ",")
    assert code == 2 and f"{option} names no code" in output


def test_what_stops_a_connector_cannot_be_selected_away() -> None:
    path = str(LINT / "examples" / "unknown-variables.yaml")
    for option in (("--ignore", "XD2"), ("--select", "XD5"), ("--ignore", "XD")):
        code, output = run("check", path, "--format", "json", *option)
        assert code == 1 and "XD201" in {d["code"] for d in _json(output)}, option


def _json(output: str) -> list[dict[str, object]]:
    # the summary goes to stderr; CliRunner mixes it in after the JSON document
    document, _, _ = output.rpartition("]")
    loaded: list[dict[str, object]] = json.loads(document + "]")
    return loaded


def test_env_flag_checks_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(LINT / "examples" / "env-not-set.yaml")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    monkeypatch.setenv("CRM_TOKEN", "x")
    assert run("check", path)[0] == 0
    code, output = run("check", path, "--env")
    assert code == 1 and "environment variable NOT_SET_ANYWHERE is not set [XD509]" in output
    assert "CRM_TOKEN is not set" not in output and "OPTIONAL_ONE" not in output


def test_per_file_ignores_from_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "old.yaml").write_text(
        (LINT / "examples" / "plain-http.yaml").read_text()
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.exportdsl]\nfail-level = "warning"\n'
        'per-file-ignores = { "legacy/*.yaml" = ["XD505"] }\n'
    )
    monkeypatch.chdir(tmp_path)
    assert run("check", "legacy")[0] == 0
    (tmp_path / "pyproject.toml").write_text('[tool.exportdsl]\nfail-level = "warning"\n')
    assert run("check", "legacy")[0] == 1


def test_bad_settings_are_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.exportdsl]\nfail-levle = "warning"\n')
    (tmp_path / "c.yaml").write_text((LINT / "ok" / "clean-jtel.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    code, output = run("check", "c.yaml")
    assert code == 2 and "unknown key 'fail-levle'" in output


def test_many_files_are_linted_in_parallel_with_the_same_result(tmp_path: Path) -> None:
    files = []
    for number in range(70):
        source = EXAMPLES[number % len(EXAMPLES)]
        target = tmp_path / f"{number:03d}-{source.name}"
        target.write_bytes(source.read_bytes())
        files.append(target)
    parallel = lint_paths(files, SETTINGS)
    assert [r.diagnostics for r in parallel] == [lint_file(f, SETTINGS).diagnostics for f in files]


def test_rules_command_documents_each_rule() -> None:
    code, output = run("rules")
    assert code == 0 and all(rule_code in output for rule_code in all_rules())
    code, output = run("rules", "xd505")
    assert code == 0 and "Anti-pattern" in output and "https://" in output
    assert run("rules", "XD999")[0] == 2


def test_every_format_is_offered_on_the_command_line() -> None:
    import exportdsl.cli.check as cli
    from exportdsl.lint import formats

    assert cli.FORMATS == formats.FORMATS


def test_internal_error_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import exportdsl.cli.main as cli

    def broken(*_: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("exportdsl.lint.runner.lint_paths", broken)
    monkeypatch.setattr("sys.argv", ["exportdsl", "check", str(LINT / "ok" / "clean.json")])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    assert exit_.value.code == 3
    assert "internal error: ZeroDivisionError" in capsys.readouterr().err


def test_env_and_per_file_ignores_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.exportdsl]\nper-file-ignores = { "*.yaml" = ["XD505"] }\n'
    )
    (tmp_path / "c.yaml").write_text((LINT / "examples" / "env-not-set.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    code, output = run("check", "c.yaml", "--env")
    assert code == 1 and "[XD509]" in output


def test_a_nul_in_a_url_does_not_confuse_the_query_rule(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "connector: {id: 1, name: n}\nclient: {id: 1}\nexport:\n"
        '  url: "https://a.example/?t=\\0&b=$ClientsID&token=$env.TOK"\n'
        "  body: $report.encoded.base64\n"
    )
    codes = [d.code for d in lint_file(path, SETTINGS).diagnostics]
    assert codes.count("XD504") == 1  # $env.TOK only; the literal NUL is text, not a hole


@pytest.mark.parametrize("broken", ["export.body", "xml_template"])
def test_a_syntax_error_does_not_also_claim_the_report_is_unused(
    tmp_path: Path, broken: str
) -> None:
    # Behind `${report.encoded.base64` nothing is known of what the export uses: no XD507 guess.
    body, xml = "'$xmlTemplate'", "'<a>$report.encoded.base64</a>'"
    if broken == "export.body":
        body = '\'{"pdf": "${report.encoded.base64"}\''
    else:
        xml = "'<a>${report.encoded.base64</a>'"
    path = tmp_path / "c.yaml"
    path.write_text(
        "connector: {id: 1, name: n}\nclient: {id: 1}\n"
        f"export: {{url: 'https://a.example/', body: {body}}}\nxml_template: {xml}\n"
    )
    codes = [d.code for d in lint_file(path, SETTINGS).diagnostics]
    assert "XD100" in codes and "XD507" not in codes
