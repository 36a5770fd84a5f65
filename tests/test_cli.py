"""The command line: exit codes, output shape, and no tracebacks on bad input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
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
    assert code == 1
    assert f"{answer}:1:2: --token-response is neither JSON (Expecting property name" in output


def test_a_connector_that_is_not_text_reads_as_check_shows_it(tmp_path: Path) -> None:
    connector = tmp_path / "binary.yaml"
    connector.write_bytes(b"\xff\xfeabc")
    code, output = run("render", str(connector), str(FIXTURE))
    assert code == 1 and "invalid UTF-8" in output and "[XD001]" in output
    assert "\n  hint: save the file as UTF-8" in output


# --- issue 10, item 13 --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["transcript", "report"])
def test_transcript_dash_o_dash_writes_the_pdf_to_standard_output(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [command, str(FIXTURE), "-o", "-"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(b"%PDF-")
    assert result.stdout_bytes.rstrip().endswith(b"%%EOF")
    assert "standard output: " in result.stderr
    assert list(tmp_path.iterdir()) == []  # no file named '-'


def test_transcript_to_standard_output_refuses_a_terminal(tmp_path: Path) -> None:
    """A PDF is no text for a terminal: `-o -` on one is a usage error, not 45 KB of noise."""
    import pty

    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("exportdsl")),
                "transcript",
                str(FIXTURE),
                "-o",
                "-",
            ],
            stdout=terminal,
            stderr=subprocess.PIPE,
            timeout=60,
            cwd=tmp_path,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 2
    assert b"standard output is a terminal" in result.stderr


def test_an_output_path_that_cannot_be_written_is_exit_1_naming_it(tmp_path: Path) -> None:
    code, output = run("transcript", str(FIXTURE), "-o", str(tmp_path))  # a folder
    assert code == 1
    assert f"{tmp_path}: cannot write the transcript" in output


def test_an_empty_output_path_is_a_usage_error_not_the_current_folder() -> None:
    code, output = run("transcript", str(FIXTURE), "-o", "")
    assert code == 2 and "-o names no file" in output


def test_export_prints_each_failure_once(tmp_path: Path) -> None:
    """The chat's line names the failure; the summary counts it without repeating it."""
    bad_chat = tmp_path / "bad.json"
    bad_chat.write_text('{"messages": 1}')
    connector = ROOT / "connectors" / "jtel-oauth-json.yaml"
    result = CliRunner().invoke(main, ["export", str(connector), str(bad_chat)])
    assert result.exit_code == 1
    assert result.output.count("messages: expected a list") == 1, result.output
    assert "0 sent, 1 failed" in result.stderr


def _commands(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, f"{path} {name}")


def _whole_sentence(text: str) -> bool:
    text = re.sub(r"\s*\[(?:default: [^\]]*|required)\]\s*", "", text).strip()
    return bool(text) and text[0].isupper() and text.endswith(".") and not text.endswith("...")


def test_every_help_summary_is_a_whole_sentence() -> None:
    """What `--help` lists for each command, and each option's help: a capital, a full stop, never
    cut off with '...' (click cuts a long first sentence to fit the terminal)."""
    not_sentences = []
    for path, command in _commands(main, "exportdsl"):
        if isinstance(command, click.Group):
            listed = run(*path.split()[1:], "--help")[1].split("Commands:\n")[1]
            summaries = [line.split(None, 1)[1] for line in listed.splitlines() if line.strip()]
            not_sentences += [f"{path}: {s!r}" for s in summaries if not _whole_sentence(s)]
        for param in command.params:
            if isinstance(param, click.Option) and not _whole_sentence(param.help or ""):
                not_sentences.append(f"{path} {param.opts[-1]}: {param.help!r}")
    assert not not_sentences


def test_rules_lists_the_run_time_codes_apart_and_says_when_they_happen() -> None:
    code, output = run("rules")
    assert code == 0
    checked, run_time = output.split("At run time")[0], output.split("At run time")[1]
    assert "XD503  error    hardcoded-credential" in checked and "XD600" not in checked
    for code_ in ("XD300", "XD400", "XD600", "XD602", "XD700"):
        assert f"{code_}  run time" in run_time.split("Others:")[0]
    page = run("rules", "XD602")[1]
    assert page.splitlines()[1] == (
        "At run time: export fails with it (exit 1); serve retries the delivery or gives up."
    )


def test_rules_renders_for_a_terminal_not_as_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    """Code spans lose their backquotes, `Anti-pattern::` reads `Anti-pattern:`, prose is wrapped
    to the terminal; examples stay as written."""
    from exportdsl.lint.registry import all_codes

    monkeypatch.setenv("COLUMNS", "72")
    pages = [run("rules")[1]] + [run("rules", code)[1] for code in all_codes()]
    for page in pages:
        assert "``" not in page and "::\n" not in page
        prose = [line for line in page.splitlines() if not line.startswith("    ")]
        assert max(map(len, prose)) <= 72, page
    assert "Anti-pattern:\n\n    headers:\n      Authorization: Bearer" in run("rules", "XD503")[1]
