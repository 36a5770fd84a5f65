"""The command line: a thin click layer over the library."""

from __future__ import annotations

import os
import sys
import textwrap
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from exportdsl.errors import ExportDslError

if TYPE_CHECKING:
    from exportdsl.lint import FileReport

# Each command imports what it needs when it runs: `exportdsl export` should not load the linter,
# nor `exportdsl check` httpx or reportlab (a cold start is most of a one-file run).
EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
FORMATS = ("text", "json", "github", "sarif")  # exportdsl.lint.formats renders them


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="exportdsl")
def main() -> None:
    """Compile, check and run chat-report export connectors."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for people, json for tools, github for workflow annotations, sarif for code scanning.",
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
def check(
    paths: tuple[Path, ...],
    output_format: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    fail_level: str | None,
    check_env: bool,
) -> None:
    """Check and lint connector files (or every .yaml/.yml/.json below folders)."""
    from exportdsl.lint import connector_files, lint_paths, load_settings
    from exportdsl.lint.formats import render
    from exportdsl.lint.settings import parse_severity, split_codes

    files = list(connector_files(paths))
    if not files:
        raise click.UsageError("no connector files (.yaml, .yml, .json) in the given paths")
    try:
        settings = load_settings(
            select=split_codes(select),
            fail_level=parse_severity(fail_level, "--fail-level") if fail_level else None,
            env=dict(os.environ) if check_env else None,
        )
    except ExportDslError as error:
        raise click.UsageError(str(error)) from None
    ignored = split_codes(ignore)
    if ignored:
        settings = replace(settings, ignore=settings.ignore + ignored)
    reports = lint_paths(files, settings)
    output = render(output_format, reports)
    if output or output_format != "text":
        click.echo(output)
    click.echo(_summary(reports, len(files)), err=True)
    failing = any(settings.fails(d.severity) for report in reports for d in report.diagnostics)
    sys.exit(EXIT_FINDINGS if failing else EXIT_CLEAN)


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


@main.command()
@click.argument("code", required=False)
def rules(code: str | None) -> None:
    """List the lint rules, or show one rule's documentation (its anti-pattern and the better way)."""
    from exportdsl.lint import all_rules

    known = all_rules()
    if code is None:
        for rule in known.values():
            click.echo(f"{rule.code}  {rule.severity.value:<7}  {rule.name:<36} {rule.summary}")
        return
    chosen = known.get(code.upper())
    if chosen is None:
        raise click.UsageError(f"no rule {code!r}; `exportdsl rules` lists them")
    click.echo(
        f"{chosen.code} {chosen.name} ({chosen.severity.value})\n\n{textwrap.dedent(chosen.doc).strip()}"
    )


@main.command(name="explain")
@click.argument("connector", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def explain_command(connector: Path) -> None:
    """Show each field's references, where they land (escaping) and in which phase."""
    from exportdsl.compiler.analysis import compile_connector
    from exportdsl.compiler.explain import explain
    from exportdsl.connector.reader import load_connector
    from exportdsl.lint import Settings, lint_file
    from exportdsl.lint.formats import text as text_format

    try:
        plan = compile_connector(load_connector(connector))
    except ExportDslError as error:
        click.echo(
            text_format([lint_file(connector, Settings(select=("XD0", "XD1", "XD2")))])
            or str(error),
            err=True,
        )
        sys.exit(EXIT_FINDINGS)
    click.echo(explain(str(connector), plan))


@main.command()
@click.argument("chat", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the PDF (default: CHAT with .pdf instead of .json).",
)
@click.option(
    "--timezone", default="UTC", show_default=True, help="IANA time zone for the times shown."
)
@click.option("--title", help="The transcript's title (default: Chat transcript).")
def report(chat: Path, output: Path | None, timezone: str, title: str | None) -> None:
    """Render the PDF transcript of a chat session (Smartsupp POST-hook JSON)."""
    from exportdsl.chat.reader import load_chat  # reportlab loads only for this command
    from exportdsl.transcript.pdf import render_transcript

    target = output or chat.with_suffix(".pdf")
    try:
        pdf = render_transcript(load_chat(chat), timezone=timezone, title=title)
    except ExportDslError as error:
        click.echo(
            f"{chat}: {error}" if not str(error).startswith(str(chat)) else str(error), err=True
        )
        sys.exit(EXIT_FINDINGS)
    target.write_bytes(pdf)
    click.echo(f"{target}: {len(pdf):,} bytes", err=True)


def run() -> None:
    """Entry point that turns an unexpected exception into exit code 3 instead of a traceback."""
    try:
        main(standalone_mode=True)
    except Exception as error:  # the last line of defence against tracebacks
        click.echo(
            f"exportdsl: internal error: {type(error).__name__}: {error}\n"
            "This is a bug; please report it with the command you ran.",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)


from exportdsl.cli import export as _export_commands  # noqa: E402 (a module: `render` is taken above)

main.add_command(_export_commands.render)
main.add_command(_export_commands.export)
main.add_command(_export_commands.demo)

from exportdsl.cli import delivery as _delivery_commands  # noqa: E402 - commands of their own module

main.add_command(_delivery_commands.serve)
main.add_command(_delivery_commands.queue)
