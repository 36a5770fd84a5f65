"""The README says what is true (issue 10, item 14): its lint table lists every code the registry
has, its example connectors pass `exportdsl check`, and its install, CI and pre-commit snippets name
nothing that does not exist (exportdsl is not on PyPI and has no public release tag).

The install commands themselves were run in scratch virtual environments when they were written
(a wheel from `pip wheel`, `pip install` of a checkout, both pre-commit forms); building a wheel is
tests/test_packaging.py's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from exportdsl.cli.main import main
from exportdsl.lint.registry import all_codes, all_rules

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, re.M | re.S)
YAML_BLOCKS = [body for language, body in BLOCKS if language == "yaml"]
CONNECTORS = [body for body in YAML_BLOCKS if re.search(r"^connector:", body, re.M)]


def _table_rows() -> dict[str, tuple[str, str]]:
    """The lint table's rows: code -> (name, severity)."""
    rows = re.finditer(r"^\| (XD\d{3}) \| ([\w-]+) \| (\w*) *\|", README, re.M)
    return {row.group(1): (row.group(2), row.group(3)) for row in rows}


def test_the_lint_table_lists_every_code_with_its_name_and_severity() -> None:
    rows, checked = _table_rows(), all_rules()
    expected = {
        code: (rule.name, rule.severity.value if code in checked else "")
        for code, rule in all_codes().items()
    }
    assert rows == expected


@pytest.mark.parametrize("text", CONNECTORS, ids=lambda text: text.splitlines()[0][:40])
def test_every_connector_in_the_readme_passes_check(tmp_path: Path, text: str) -> None:
    path = tmp_path / "readme-example.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 0, result.output


def test_the_readme_has_an_example_connector_with_intake() -> None:
    examples = [yaml.safe_load(text) for text in CONNECTORS]
    intakes = [example["intake"] for example in examples if "intake" in example]
    assert intakes and all(re.fullmatch(r"\$env\.\w+", i["secret"]) for i in intakes)


def test_install_names_python3_venv_and_runs_the_cli_from_the_venv() -> None:
    install = README.split("## Install")[1].split("\n## ")[0]
    assert "python3-venv" in install and ".venv/bin/exportdsl" in install
    # run in the checkout, "." is the project (pyproject.toml); "./exportdsl" would be the package
    assert "/bin/pip install .\n" in install and "pip wheel" in install
    for path in re.findall(r"(?<![\w/.~-])(?:exportdsl|connectors)/[\w./-]*", install):
        if not path.startswith("exportdsl-"):
            assert (ROOT / path.rstrip(".")).exists(), path


def test_no_snippet_installs_a_package_or_a_tag_that_does_not_exist() -> None:
    """exportdsl is not on PyPI and has no release tag: no `pip install exportdsl`, no `rev:`."""
    code = "\n".join(body for _, body in BLOCKS)
    assert not re.search(r"pip install +exportdsl\b", code)
    assert not re.search(r"^\s*rev:", code, re.M)


def test_the_pre_commit_snippet_is_a_local_hook_on_the_connector_files() -> None:
    (config,) = [yaml.safe_load(text) for text in YAML_BLOCKS if "repos:" in text]
    ((hook,),) = [repo["hooks"] for repo in config["repos"] if repo["repo"] == "local"]
    assert hook["language"] == "system" and hook["entry"] == "exportdsl check"
    files = re.compile(hook["files"])
    assert files.search("connectors/jtel-oauth-json.yaml") and files.search("connectors/a.json")
    assert not files.search("docs/serve.md")
    (published,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert published["id"] == hook["id"] and published["entry"] == hook["entry"]
