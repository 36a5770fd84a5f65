"""The command line: a thin click layer over the library."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from exportdsl.check import check_file, connector_files, format_text
from exportdsl.compiler import compile_connector
from exportdsl.config import load_connector
from exportdsl.errors import ExportDslError
from exportdsl.explain import explain

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="exportdsl")
def main() -> None:
    """Compile, check and run chat-report export connectors."""


@main.command()
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
def check(paths: tuple[Path, ...]) -> None:
    """Check connector files (or every .yaml/.yml/.json below folders)."""
    files = list(connector_files(paths))
    if not files:
        raise click.UsageError("no connector files (.yaml, .yml, .json) in the given paths")
    findings = 0
    for path in files:
        report = check_file(path)
        if report.diagnostics:
            findings += len(report.diagnostics)
            click.echo(format_text(report))
    noun = "file" if len(files) == 1 else "files"
    summary = f"{findings} problem{'s' if findings != 1 else ''} in {len(files)} {noun}" if findings \
        else f"{len(files)} {noun} checked, no problems"
    click.echo(summary, err=True)
    sys.exit(EXIT_FINDINGS if findings else EXIT_CLEAN)


@main.command(name="explain")
@click.argument("connector", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def explain_command(connector: Path) -> None:
    """Show each field's references, where they land (escaping) and in which phase."""
    try:
        plan = compile_connector(load_connector(connector))
    except ExportDslError as error:
        click.echo(format_text(check_file(connector)) or str(error), err=True)
        sys.exit(EXIT_FINDINGS)
    click.echo(explain(str(connector), plan))


@main.command()
@click.argument("chat", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Where to write the PDF (default: CHAT with .pdf instead of .json).")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone for the times shown.")
@click.option("--title", help="The transcript's title (default: Chat transcript).")
def report(chat: Path, output: Path | None, timezone: str, title: str | None) -> None:
    """Render the PDF transcript of a chat session (Smartsupp POST-hook JSON)."""
    from exportdsl.chat import load_chat  # reportlab loads only for this command
    from exportdsl.report import render_report

    target = output or chat.with_suffix(".pdf")
    try:
        pdf = render_report(load_chat(chat), timezone=timezone, title=title)
    except ExportDslError as error:
        click.echo(f"{chat}: {error}" if not str(error).startswith(str(chat)) else str(error), err=True)
        sys.exit(EXIT_FINDINGS)
    target.write_bytes(pdf)
    click.echo(f"{target}: {len(pdf):,} bytes", err=True)


def run() -> None:
    """Entry point that turns an unexpected exception into exit code 3 instead of a traceback."""
    try:
        main(standalone_mode=True)
    except Exception as error:  # the last line of defence against tracebacks
        click.echo(f"exportdsl: internal error: {type(error).__name__}: {error}\n"
                   "This is a bug; please report it with the command you ran.", err=True)
        sys.exit(EXIT_INTERNAL)
