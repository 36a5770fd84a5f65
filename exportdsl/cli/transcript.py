"""`exportdsl transcript`: the PDF transcript of a chat file.

Only click is imported here, since `main` imports this module for every command; the chat reader
and reportlab load when the command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from exportdsl.cli.exits import EXIT_FINDINGS
from exportdsl.errors import ExportDslError

__all__ = ["transcript"]


STDOUT = "-"  # `-o -`: the PDF goes to standard output, for a pipe


@click.command(short_help="Render a chat's PDF transcript.")
@click.argument("chat", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(allow_dash=True),  # text: Path("") would be ".", and -o '' is a mistake
    help="Where to write the PDF; '-' is standard output (default: CHAT with .pdf for .json).",
)
@click.option(
    "--timezone", default="UTC", show_default=True, help="The IANA time zone of the times shown."
)
@click.option("--title", help="The transcript's title (default: Chat transcript).")
def transcript(chat: Path, output: str | None, timezone: str, title: str | None) -> None:
    """Render the PDF transcript of a chat session (Smartsupp POST-hook JSON)."""
    from exportdsl.chat.reader import load_chat  # reportlab loads only for this command
    from exportdsl.transcript.pdf import render_transcript

    if output == "":
        raise click.UsageError("-o names no file; give a file name, or '-' for standard output")
    to_stdout = output == STDOUT
    if to_stdout and sys.stdout.isatty():
        raise click.UsageError("standard output is a terminal; pipe it ('-o - | …') or name a file")
    target = Path(output) if output else chat.with_suffix(".pdf")
    try:
        pdf = render_transcript(load_chat(chat), timezone=timezone, title=title)
    except ExportDslError as error:
        click.echo(
            f"{chat}: {error}" if not str(error).startswith(str(chat)) else str(error), err=True
        )
        sys.exit(EXIT_FINDINGS)
    if to_stdout:
        sys.stdout.flush()  # nothing printed before goes after the PDF
        sys.stdout.buffer.write(pdf)
        sys.stdout.buffer.flush()
        click.echo(f"standard output: {len(pdf):,} bytes", err=True)
        return
    _write(target, pdf)
    click.echo(f"{target}: {len(pdf):,} bytes", err=True)


def _write(target: Path, pdf: bytes) -> None:
    """The PDF into ``target``; a path that cannot be written (a folder, a missing folder, no
    permission) is exit 1 naming it, as any failed operation is."""
    try:
        target.write_bytes(pdf)
    except OSError as error:
        click.echo(f"{target}: cannot write the transcript: {error.strerror or error}", err=True)
        sys.exit(EXIT_FINDINGS)
