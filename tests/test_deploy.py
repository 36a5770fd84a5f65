"""The deployment examples (docs/deploy/) stay in step with the code: every `serve` option they use
exists, every file they name is there, and the compose file is valid YAML naming what it needs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from exportdsl.cli.delivery import serve

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "docs" / "deploy"


def serve_arguments(command: str) -> list[str]:
    words = shlex.split(command.replace("\\\n", " "))
    return words[words.index("serve") + 1 :]


def check_serve_arguments(arguments: list[str]) -> None:
    """click parses them as serve would (unknown options, bad values are refused); %i is a port."""
    filled = [word.replace("%i", "8081") for word in arguments]
    context = serve.make_context("serve", filled)
    assert context.params["folder"] is not None


def test_the_systemd_unit_runs_serve_with_options_that_exist(tmp_path: Path) -> None:
    unit = (DEPLOY / "exportdsl@.service").read_text()
    (start,) = re.findall(r"^ExecStart=(.*?)(?<!\\)$", unit, re.MULTILINE | re.DOTALL)
    arguments = serve_arguments(start)
    connectors = arguments.index("--connectors") + 1
    arguments[connectors] = str(tmp_path)  # the unit's folder is on the server, not here
    check_serve_arguments([*arguments, "--db", str(tmp_path / "q.db")])
    assert "EnvironmentFile=/etc/exportdsl/env" in unit  # secrets never on the command line


def test_the_image_runs_serve_with_options_that_exist(tmp_path: Path) -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    (command,) = re.findall(r"^CMD (\[.*?\])", dockerfile, re.MULTILINE | re.DOTALL)
    arguments = yaml.safe_load(command.replace("\\\n", " "))[1:]
    arguments[arguments.index("--connectors") + 1] = str(tmp_path)
    check_serve_arguments([*arguments, "--db", str(tmp_path / "q.db")])


def test_the_compose_file_names_what_is_there() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    node = compose["services"]["node"]
    assert (DEPLOY / node["build"]["context"] / node["build"]["dockerfile"]).is_file()
    assert node["environment"]["EXPORTDSL_DB"].startswith("postgresql://")
    assert (
        "@" in node["environment"]["EXPORTDSL_DB"]
        and ":" not in node["environment"]["EXPORTDSL_DB"].split("//")[1].split("@")[0]
    ), "the password belongs in PGPASSWORD, not in the URL"
    (connectors,) = node["volumes"]
    assert (DEPLOY / connectors.split(":")[0]).is_dir()
    proxy = compose["services"]["proxy"]
    assert (DEPLOY / proxy["volumes"][0].split(":")[0]).is_file()
    for line in (DEPLOY / "env.example").read_text().splitlines():
        assert not line or line.startswith("#") or re.fullmatch(r"[A-Z_]+=\S+", line), line
