"""`exportdsl transcript`: the PDF transcript of a chat file.

Only click (and the settings' rules, which import nothing heavy: Pillow only when a --logo is given)
is imported here, since `main` imports this module for every command; the chat reader and
reportlab load when the command runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from exportdsl.cli.exits import EXIT_FINDINGS
from exportdsl.connector.transcript import (
    LANGUAGES,
    Logo,
    TranscriptSettings,
    check_fonts_folder,
    check_language,
    check_timezone,
    read_logo,
)
from exportdsl.errors import ConfigError, ExportDslError

__all__ = ["transcript"]


_T = TypeVar("_T")

STDOUT = "-"  # `-o -`: the PDF goes to standard output, for a pipe


def _checked(
    rule: Callable[[str], _T],
) -> Callable[[click.Context, click.Parameter, str | None], _T | None]:
    """A click callback: the option's value through the same rule the connector reader applies
    to ``transcript:`` (`exportdsl.connector.transcript`); its error is a usage error naming the
    option, with the rule's hint."""

    def callback(
        _context: click.Context, _parameter: click.Parameter, value: str | None
    ) -> _T | None:
        if value is None:
            return None
        try:
            return rule(value)
        except ConfigError as error:
            raise click.BadParameter(
                f"{error.message}" + (f"; {error.hint}" if error.hint else "")
            ) from None

    return callback


_HERE = Path()  # a --logo or --fonts path is relative to the working directory


@click.command(short_help="Render a chat's PDF transcript.")
@click.argument("chat", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(allow_dash=True),  # text: Path("") would be ".", and -o '' is a mistake
    help="Where to write the PDF; '-' is standard output (default: CHAT with .pdf for .json).",
)
@click.option(
    "--connector",
    "connector_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Take the settings from this connector file's transcript: section (options override).",
)
@click.option(
    "--timezone",
    callback=_checked(check_timezone),
    help="The IANA time zone of the times shown (default: the connector's, else UTC).",
)
@click.option("--title", help="The transcript's title (default: Chat transcript, in its language).")
@click.option(
    "--language",
    callback=_checked(check_language),
    help=f"The language of the labels and dates: {', '.join(LANGUAGES)} (default: en).",
)
@click.option(
    "--logo",
    callback=_checked(lambda written: read_logo(written, _HERE)),
    help="A PNG or JPEG image drawn at the top right (at most 1 MiB and 4096x4096 pixels).",
)
@click.option(
    "--fonts",
    callback=_checked(lambda written: check_fonts_folder(written, _HERE)),
    help="A folder of extra fonts, searched before the bundled ones.",
)
def transcript(
    chat: Path,
    output: str | None,
    connector_file: Path | None,
    timezone: str | None,
    title: str | None,
    language: str | None,
    logo: Logo | None,
    fonts: Path | None,
) -> None:
    """Render the PDF transcript of a chat session (Smartsupp POST-hook JSON)."""
    from exportdsl.chat.reader import load_chat  # reportlab loads only for this command
    from exportdsl.transcript.pdf import render_transcript

    if output == "":
        raise click.UsageError("-o names no file; give a file name, or '-' for standard output")
    if title is not None and not title.strip():
        raise click.BadParameter(
            "the title is empty; leave it out for the default", param_hint="--title"
        )
    to_stdout = output == STDOUT
    if to_stdout and sys.stdout.isatty():
        raise click.UsageError("standard output is a terminal; pipe it ('-o - | …') or name a file")
    target = Path(output) if output else chat.with_suffix(".pdf")
    settings = _connector_settings(connector_file) if connector_file else TranscriptSettings()
    settings = TranscriptSettings(  # an option given overrides the connector's setting
        title=settings.title if title is None else title,
        language=settings.language if language is None else language,
        timezone=settings.timezone if timezone is None else timezone,
        logo=settings.logo if logo is None else logo,
        fonts=settings.fonts if fonts is None else fonts,
    )
    try:
        pdf = render_transcript(load_chat(chat), settings)
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


def _connector_settings(path: Path) -> TranscriptSettings:
    """The connector file's ``transcript:`` settings; a file with errors is exit 1 with its
    diagnostics, as `exportdsl check` shows them."""
    from exportdsl.cli.diagnostics import describe_error
    from exportdsl.connector.reader import load_connector

    try:
        return load_connector(path).transcript
    except ExportDslError as error:
        click.echo(describe_error(path, error), err=True)
        sys.exit(EXIT_FINDINGS)


def _write(target: Path, pdf: bytes) -> None:
    """The PDF into ``target``; a path that cannot be written (a folder, a missing folder, no
    permission) is exit 1 naming it, as any failed operation is."""
    try:
        target.write_bytes(pdf)
    except OSError as error:
        click.echo(f"{target}: cannot write the transcript: {error.strerror or error}", err=True)
        sys.exit(EXIT_FINDINGS)
