"""`exportdsl check --fix` and `check -`: the safe fixes applied to files (golden before -> after
files in tests/fix/), a property that fixing never touches a clean file, standard input with
``--stdin-filename``.

Regenerate the golden files after an intended change with
``UPDATE_GOLDEN=1 pytest tests/test_fix.py`` and review the diff like code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from exportdsl.lint.fixes import fix_source, fixes
from exportdsl.lint.runner import lint_source
from exportdsl.lint.settings import Settings

ROOT = Path(__file__).parent.parent
FIX = ROOT / "tests" / "fix"
BEFORE = sorted(p for p in FIX.iterdir() if ".fixed." not in p.name)
CLEAN = sorted([*(ROOT / "connectors").glob("*.yaml"), *(ROOT / "tests" / "lint" / "ok").iterdir()])
CLI = [sys.executable, "-c", "from exportdsl.cli.main import run; run()"]


def fixed_path(before: Path) -> Path:
    return before.with_name(f"{before.stem}.fixed{before.suffix}")


def exportdsl(
    *args: str, cwd: Path = ROOT, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, *args], cwd=cwd, input=stdin, capture_output=True, timeout=60)


@pytest.mark.parametrize("before", BEFORE, ids=[p.name for p in BEFORE])
def test_fix_golden(before: Path, tmp_path: Path) -> None:
    """`check --fix` rewrites the file as tests/fix/X.fixed.yaml shows (line breaks kept)."""
    copy = tmp_path / before.name
    shutil.copy(before, copy)
    result = exportdsl("check", "--fix", str(copy))
    after = copy.read_bytes()
    if os.environ.get("UPDATE_GOLDEN"):
        fixed_path(before).write_bytes(after)
    assert after == fixed_path(before).read_bytes()
    assert after != before.read_bytes()
    assert b"fixed " in result.stderr
    # what is left is reported as check reports it, and decides the exit code
    assert result.returncode == exportdsl("check", str(copy)).returncode


@pytest.mark.parametrize("before", BEFORE, ids=[p.name for p in BEFORE])
def test_fixing_the_fixed_file_changes_nothing(before: Path) -> None:
    text = fixed_path(before).read_bytes().decode("utf-8")
    name = str(fixed_path(before))
    result = fix_source(text, name, Settings())
    assert (result.text, result.applied) == (text, 0)


@pytest.mark.parametrize("clean", CLEAN, ids=[p.name for p in CLEAN])
def test_a_clean_file_has_no_fixes(clean: Path) -> None:
    text = clean.read_text(encoding="utf-8")
    linted = lint_source(text, str(clean), Settings())
    assert fixes(linted) == []
    assert fix_source(text, str(clean), Settings()).text == text


def test_check_fix_on_a_folder_leaves_clean_files_untouched(tmp_path: Path) -> None:
    for clean in (ROOT / "connectors").glob("*.yaml"):  # (tests/lint/ok's refer to files nearby)
        shutil.copy(clean, tmp_path / clean.name)
    shutil.copy(FIX / "did-you-mean.yaml", tmp_path / "did-you-mean.yaml")
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    result = exportdsl("check", "--fix", str(tmp_path))
    assert result.returncode == 0, result.stderr
    changed = {p.name for p in tmp_path.iterdir() if p.stat().st_mtime_ns != stamps[p.name]}
    assert changed == {"did-you-mean.yaml"}
    assert result.stderr.decode().splitlines()[0] == "fixed 10 problems"


# --- standard input ------------------------------------------------------------------------------


def test_stdin_takes_its_name_for_positions_suffix_and_per_file_ignores(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.exportdsl]\nignore = ["XD507"]\nper-file-ignores = { "legacy/*.yaml" = ["XD505"] }\n'
    )
    plain_http = b"connector: {id: 1, name: h}\nclient: {id: 1}\nexport: {url: http://x.example/}\n"
    named = exportdsl(
        "check", "-", "--stdin-filename", "new/a.yaml", cwd=tmp_path, stdin=plain_http
    )
    assert named.returncode == 0  # a warning does not fail
    assert b"new/a.yaml:3:" in named.stdout and b"[XD505]" in named.stdout
    legacy = exportdsl(
        "check", "-", "--stdin-filename", "legacy/a.yaml", cwd=tmp_path, stdin=plain_http
    )
    assert b"XD505" not in legacy.stdout and b"no problems" in legacy.stderr
    unnamed = exportdsl("check", "-", cwd=tmp_path, stdin=plain_http)
    assert unnamed.stdout.startswith(b"-:3:")
    trailing_comma = b'{"connector": {"id": 1, "name": "j"}, "client": {"id": 1},}'
    json = exportdsl("check", "-", "--stdin-filename", "c.json", stdin=trailing_comma)
    assert b"c.json:1:58: JSON syntax error: a comma after the last item" in json.stdout


def test_stdin_is_refused_when_not_text() -> None:
    result = exportdsl("check", "-", "--format", "json", stdin=b"connector: \xe9\n")
    assert result.returncode == 1 and b'"code": "XD001"' in result.stdout


# A "did you mean" that --fix leaves alone: the key it suggests is there already.
DUPLICATE = b"""\
connector: {id: 6, name: duplicate}
client: {id: 1001}
export:
  url: https://crm.example/api/reports
  headrs:
    X-Ignored: 1
  headers:
    Content-Type: application/json
  body: '{"pdf": "$report.encoded.base64"}'
"""


def test_fix_stdin_writes_the_fixed_text_and_reports_on_stderr() -> None:
    before = (FIX / "did-you-mean.yaml").read_bytes()
    result = exportdsl("check", "--fix", "-", "--stdin-filename", "x.yaml", stdin=before)
    assert result.stdout == (FIX / "did-you-mean.fixed.yaml").read_bytes()
    assert result.stderr.decode().splitlines() == [
        "fixed 10 problems",
        "1 file checked, no problems",
    ]
    left = exportdsl("check", "--fix", "-", stdin=DUPLICATE)
    assert left.returncode == 1 and left.stdout == DUPLICATE
    assert b"-:5:3: unknown key 'headrs'" in left.stderr


@pytest.mark.parametrize(
    "args", [["-", "connectors"], ["--stdin-filename", "x.yaml", "connectors"]]
)
def test_stdin_usage_errors(args: list[str]) -> None:
    result = exportdsl("check", *args)
    assert result.returncode == 2 and b"standard input" in result.stderr


# --- the property: fixing never makes a clean file dirty ------------------------------------------

_REFERENCES = {  # written as meant, and as a typo check offers to fix
    "$ClientsID": "$ClientID",
    "$pdata.tenant": "$pdata.tenat",
    "$chatConnector.name": "$chatConnector.nmae",
    "$chat.visitor.name": "$chat.vistor.name",
    "${pdata['region']}": "${pdata['regon']}",
    "$chat.channel.id": "$chat.chanel.id",
}


@st.composite
def connectors(draw: st.DrawFn, typos: bool) -> str:
    def reference() -> str:
        meant = draw(st.sampled_from(sorted(_REFERENCES)))
        return _REFERENCES[meant] if typos and draw(st.booleans()) else meant

    header_style = draw(st.sampled_from(["plain", "|-", "|"] if typos else ["plain", "|-"]))
    header = (
        f"Bearer {reference()}"
        if header_style == "plain"
        else f"{header_style}\n      Bearer {reference()}"
    )
    enabled = draw(st.sampled_from(['"yes"', "on"] if typos else ['"yes"', "'on'", "x"]))
    zone = draw(st.sampled_from(["UTC", "Europe/Berlin"] + (["Europe/Berln"] if typos else [])))
    key = draw(st.sampled_from(["headers"] + (["hedaers"] if typos else [])))
    loop = draw(st.booleans())
    items = (
        '[#foreach($m in $chat.messages)"$m.content"#if($foreach.hasNext),#end#end]'
        if loop
        else f'"{reference()}"'
    )
    return (
        "connector: {id: 7, name: generated}\n"
        "client: {id: 1001}\n"
        f"timezone: {zone}\n"
        "pdata: {tenant: acme, region: eu}\n"
        "export:\n"
        f"  url: https://crm.example/api/{reference()}/reports\n"
        f"  {key}:\n"
        f"    Authorization: {header}\n"
        f"    X-Enabled: {enabled}\n"
        "    Content-Type: application/json\n"
        "  body: |\n"
        f'    {{"pdf": "$report.encoded.base64", "a": "{reference()}", "b": {items},\n'
        f'     "c": "$pdata.tenant $pdata.region"}}\n'
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(connectors(typos=False))
def test_fixing_a_clean_file_changes_nothing(text: str) -> None:
    linted = lint_source(text, "c.yaml", Settings())
    assume(not linted.report.diagnostics)
    result = fix_source(text, "c.yaml", Settings())
    assert (result.text, result.applied) == (text, 0)


@settings(max_examples=60, deadline=None)
@given(connectors(typos=True))
def test_fixing_never_makes_a_file_dirtier_and_is_done_at_once(text: str) -> None:
    """What the fixes leave has no finding the file did not have (a fixed key may reveal the
    compiler's, which a loading file already shows), and fixing it again changes nothing."""
    before = lint_source(text, "c.yaml", Settings())
    result = fix_source(text, "c.yaml", Settings())
    again = fix_source(result.text, "c.yaml", Settings())
    assert (again.text, again.applied) == (result.text, 0)
    after = result.linted.report.diagnostics
    if before.connector is not None:
        assert {d.code for d in after} <= {d.code for d in before.report.diagnostics}
    assert not any(d.code == "XD001" for d in after)
