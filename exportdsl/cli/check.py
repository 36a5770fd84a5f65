"""`exportdsl check`, `rules` and `explain`: the linter and the compiler's view of a connector.

Only click is imported here, since `main` imports this module for every command; the linter and
the compiler load inside the commands that use them, and `check` never loads jinja2, httpx or
reportlab (a cold start is most of a one-file run).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from exportdsl.cli.diagnostics import describe_error
from exportdsl.cli.exits import EXIT_CLEAN, EXIT_FINDINGS
from exportdsl.errors import ExportDslError

if TYPE_CHECKING:
    from exportdsl.lint.runner import FileReport
    from exportdsl.lint.settings import Settings

__all__ = ["FORMATS", "check", "explain_command", "rules"]

FORMATS = ("text", "json", "github", "sarif")  # exportdsl.lint.formats renders them


@click.command(short_help="Check and lint connector files.")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True, path_type=Path)
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="The output: text for people, json for tools, github for workflow annotations, "
    "sarif for code scanning.",
)
@click.option(
    "--select",
    multiple=True,
    metavar="CODES",
    help="Only these rule codes or prefixes (XD2,XD503).",
)
@click.option(
    "--ignore", multiple=True, metavar="CODES", help="Leave out these rule codes or prefixes."
)
@click.option(
    "--fail-level",
    type=click.Choice(["error", "warning", "info"]),
    default=None,
    help="Exit 1 when something at or above this severity is found  [default: error].",
)
@click.option(
    "--env", "check_env", is_flag=True, help="Also report $env.NAME that this environment lacks."
)
@click.option(
    "--fix",
    is_flag=True,
    help="Apply the safe fixes (did you mean, |-, quoting) to the files, then report what is "
    "left; with -, write the fixed file to standard output and the report to standard error "
    "(in a format other than text, the report alone: no summary line).",
)
@click.option(
    "--stdin-filename",
    metavar="NAME",
    help="The name of the file read from standard input (-): for positions, YAML or JSON, and "
    "per-file-ignores.",
)
def check(
    paths: tuple[Path, ...],
    output_format: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    fail_level: str | None,
    check_env: bool,
    fix: bool,
    stdin_filename: str | None,
) -> None:
    """Check and lint connector files (or every .yaml/.yml/.json below folders); - reads one
    from standard input."""
    from exportdsl.lint.formats import render
    from exportdsl.lint.runner import connector_files, lint_paths
    from exportdsl.lint.settings import load_settings, parse_severity, split_codes

    stdin = _STDIN in paths
    if stdin and len(paths) > 1:
        raise click.UsageError("- reads one connector from standard input: give no other path")
    if stdin_filename is not None and not stdin:
        raise click.UsageError("--stdin-filename names the file read from standard input (-)")
    files = [Path(stdin_filename or "-")] if stdin else list(connector_files(paths))
    if not files:
        raise click.UsageError("no connector files (.yaml, .yml, .json) in the given paths")
    try:
        settings = load_settings(
            select=split_codes(select),
            fail_level=parse_severity(fail_level, "--fail-level") if fail_level else None,
            env=dict(os.environ) if check_env else None,
        )
        ignored = split_codes(ignore, "--ignore")
        if ignored:
            settings = replace(settings, ignore=settings.ignore + ignored)
    except ExportDslError as error:
        raise click.UsageError(str(error)) from None
    if stdin:
        report, fixed = _stdin_report(str(files[0]), settings, fix)
        reports = [report]
    elif fix:
        reports, fixed = _fixed_reports(files, settings)
    else:
        reports, fixed = lint_paths(files, settings), 0
    output = render(output_format, reports)
    fixing_stdin = stdin and fix  # standard output holds the fixed file then, and nothing else
    if output or output_format != "text":
        click.echo(output, err=fixing_stdin)
    if output_format == "text" or not fixing_stdin:  # else the report is standard error's all
        if fixed:
            click.echo(f"fixed {fixed} problem{'s' if fixed != 1 else ''}", err=True)
        click.echo(_summary(reports, len(files)), err=True)
    failing = any(settings.fails(d.severity) for report in reports for d in report.diagnostics)
    sys.exit(EXIT_FINDINGS if failing else EXIT_CLEAN)


_STDIN = Path("-")


def _fixed_reports(files: list[Path], settings: Settings) -> tuple[list[FileReport], int]:
    from exportdsl.lint.fixes import fix_file

    reports, total = [], 0
    for path in files:
        report, applied = fix_file(path, settings)
        reports.append(report)
        total += applied
    return reports, total


def _stdin_report(file: str, settings: Settings, fix: bool) -> tuple[FileReport, int]:
    """The connector on standard input, checked as the file ``file``; with ``fix``, the fixed
    file goes to standard output: the input's bytes but for the fixes (its byte order mark and
    line breaks kept; the input as it was when nothing was fixed or it is not text)."""
    from exportdsl.connector.yamlsource import MAX_FILE_BYTES
    from exportdsl.lint.fixes import fix_bytes
    from exportdsl.lint.runner import lint_bytes

    data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    if not fix:
        return lint_bytes(data, file, settings), 0
    output, report, applied = fix_bytes(data, file, settings)
    sys.stdout.buffer.write(output)
    sys.stdout.flush()
    return report, applied


def _summary(reports: list[FileReport], files: int) -> str:
    counts = Counter(d.severity.value for report in reports for d in report.diagnostics)
    noun = "file" if files == 1 else "files"
    if not counts:
        return f"{files} {noun} checked, no problems"
    parts = ", ".join(
        f"{counts[level]} {level}{'s' if counts[level] != 1 else ''}"
        for level in ("error", "warning", "info")
        if counts[level]
    )
    return f"{parts} in {files} {noun}"


@click.command(short_help="List every code, or explain one.")
@click.argument("code", required=False)
def rules(code: str | None) -> None:
    """List every code (what `check` finds and what happens at run time), or show one code's
    documentation: when it is reported, the anti-pattern and the better way."""
    from exportdsl.cli.codes import code_list, code_page, terminal_width
    from exportdsl.lint.registry import all_codes, all_rules

    known, checked, width = all_codes(), all_rules(), terminal_width()
    if code is None:
        click.echo(code_list(known, checked, width))
        return
    chosen = known.get(code.upper())
    if chosen is None:
        raise click.UsageError(f"no rule {code!r}; `exportdsl rules` lists them")
    click.echo(code_page(chosen, checked, width))


@click.command(name="explain", short_help="Show where each reference lands, and its escaping.")
@click.argument("connector", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def explain_command(connector: Path) -> None:
    """Show each field's references, where they land (escaping) and in which phase."""
    from exportdsl.compiler.analysis import compile_connector
    from exportdsl.compiler.explain import explain
    from exportdsl.connector.reader import load_connector

    try:
        plan = compile_connector(load_connector(connector))
    except ExportDslError as error:
        click.echo(describe_error(connector, error), err=True)
        sys.exit(EXIT_FINDINGS)
    click.echo(explain(str(connector), plan))
