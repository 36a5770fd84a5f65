"""The command line: exit codes, output shape, and no tracebacks on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from exportdsl.cli.main import main

ROOT = Path(__file__).parent.parent


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_check_clean_folder_exits_0() -> None:
    code, output = run("check", str(ROOT / "connectors"))
    assert code == 0, output
    assert "no problems" in output


def test_check_findings_exit_1_with_file_line_col_and_caret() -> None:
    code, output = run(
        "check", str(ROOT / "tests" / "lint" / "examples" / "unknown-variables.yaml")
    )
    assert code == 1
    assert (
        "unknown-variables.yaml:11:29: export.url: undefined variable $ClientID [XD201]" in output
    )
    assert "^^^^^^^^" in output


@pytest.mark.parametrize(
    "args",
    [
        ("check",),
        ("check", "/nonexistent.yaml"),
        ("check", "--nope", "x"),
        ("explain",),
        ("frobnicate",),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    code, _ = run(*args)
    assert code == 2


def test_check_folder_without_connectors_is_a_usage_error(tmp_path: Path) -> None:
    code, output = run("check", str(tmp_path))
    assert code == 2
    assert "no connector files" in output


def test_explain_lists_references_contexts_and_phases() -> None:
    code, output = run("explain", str(ROOT / "connectors" / "jtel-oauth-json.yaml"))
    assert code == 0, output
    assert "token.body  [json, token phase]" in output
    assert "$report.encoded.base64" in output and "no escaping needed" in output
    assert "$env.ACME_CLIENT_SECRET" in output and "redacted" in output


def test_explain_broken_connector_shows_diagnostics() -> None:
    code, output = run("explain", str(ROOT / "tests" / "lint" / "examples" / "bad-bodies.yaml"))
    assert code == 1
    assert "[XD210]" in output


@pytest.mark.parametrize("content", [b"\xff\xfe\x00", b"a: [\n", b"", b"x: " + b"[" * 5000])
def test_installed_command_never_prints_a_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    exe = Path(sys.executable).with_name("exportdsl")
    result = subprocess.run(
        [str(exe), "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "bad.yaml:" in result.stdout


FIXTURE = ROOT / "exportdsl" / "data" / "sample-chat.json"


def test_transcript_writes_a_pdf(tmp_path: Path) -> None:
    target = tmp_path / "chat.pdf"
    code, output = run("transcript", str(FIXTURE), "-o", str(target), "--timezone", "Europe/Prague")
    assert code == 0, output
    assert target.read_bytes().startswith(b"%PDF-")


def test_transcript_on_a_bad_chat_names_the_json_path(tmp_path: Path) -> None:
    chat = tmp_path / "chat.json"
    chat.write_text('{"messages": [{"type": "visitor"}]}')
    code, output = run("transcript", str(chat), "-o", str(tmp_path / "x.pdf"))
    assert code == 1
    assert "messages[0].sentAt" in output
    assert not (tmp_path / "x.pdf").exists()


def test_report_is_a_hidden_alias_of_transcript(tmp_path: Path) -> None:
    """`exportdsl report` was the command's name: scripts that use it keep working."""
    chat = ROOT / "tests" / "data" / "chats" / "smartsupp.json"
    for command in ("transcript", "report"):
        code, output = run(command, str(chat), "-o", str(tmp_path / f"{command}.pdf"))
        assert code == 0, output
    assert (tmp_path / "report.pdf").read_bytes() == (tmp_path / "transcript.pdf").read_bytes()
    listed = [
        line.split()[0] for line in run("--help")[1].split("Commands:")[1].splitlines() if line
    ]
    assert "transcript" in listed and "report" not in listed


def test_check_does_not_load_heavy_libraries() -> None:
    """Commands import their dependencies when they run: `check` starts cold in well under 150 ms
    only while the template engine, the HTTP stack and the PDF library stay unloaded."""
    code = (
        "import sys\n"
        "sys.argv = ['exportdsl', 'check', sys.argv[1]]\n"
        "from exportdsl.cli.main import run\n"
        "try:\n"
        "    run()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('jinja2', 'httpx', 'reportlab', 'starlette', 'uvicorn')\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in heavy))\n"
    )
    connector = str(ROOT / "connectors" / "jtel-oauth-json.yaml")
    result = subprocess.run(
        [sys.executable, "-c", code, connector], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


def test_transcript_into_a_missing_folder_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "chat.pdf"
    code, output = run("transcript", str(FIXTURE), "-o", str(target))
    assert code == 1 and "cannot write the transcript: No such file or directory" in output


@pytest.mark.parametrize("command", ["render", "export", "explain"])
def test_a_broken_connector_reads_as_check_shows_it(tmp_path: Path, command: str) -> None:
    connector = tmp_path / "broken.yaml"
    connector.write_text("connector: {id: 1, name: x}\nclient: {id: 2}\nexprot: {}\n")
    chat = [] if command == "explain" else [str(FIXTURE)]
    code, output = run(command, str(connector), *chat)
    assert code == 1
    assert f"{connector}:3:1: unknown key 'exprot' in the connector file [XD002]" in output
    assert "3 | exprot: {}\n  | ^^^^^^" in output and "hint: did you mean 'export'?" in output


def test_a_token_response_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    answer = tmp_path / "token.json"
    answer.write_text("{bad")
    connector = ROOT / "connectors" / "jtel-oauth-json.yaml"
    code, output = run("render", "--token-response", str(answer), str(connector), str(FIXTURE))
    assert code == 1 and f"{answer}:1:2: --token-response is not JSON" in output


def test_a_connector_that_is_not_text_reads_as_check_shows_it(tmp_path: Path) -> None:
    connector = tmp_path / "binary.yaml"
    connector.write_bytes(b"\xff\xfeabc")
    code, output = run("render", str(connector), str(FIXTURE))
    assert code == 1 and "invalid UTF-8" in output and "[XD001]" in output
    assert "\n  hint: save the file as UTF-8" in output
