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


@click.command()
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
def transcript(chat: Path, output: Path | None, timezone: str, title: str | None) -> None:
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
    try:
        target.write_bytes(pdf)
    except OSError as error:
        click.echo(f"{target}: cannot write the transcript: {error.strerror or error}", err=True)
        sys.exit(EXIT_FINDINGS)
    click.echo(f"{target}: {len(pdf):,} bytes", err=True)
