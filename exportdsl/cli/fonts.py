"""`exportdsl fonts`: which font draws each script in the transcript, and what is missing.

Only click is imported here; the fonts load when the command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from exportdsl.cli.exits import EXIT_FINDINGS
from exportdsl.errors import ExportDslError

__all__ = ["fonts"]


@click.command(short_help="Show the transcript's fonts and the scripts they draw.")
@click.option(
    "--fonts",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of TrueType fonts asked first (as a connector's transcript.fonts).",
)
def fonts(folder: Path | None) -> None:
    """List the fonts the transcript looks a character up in, in order, and for each script the
    font that draws it. Exit 1 when a script has no font (its characters are shown as [U+…]
    stand-ins), naming what to install."""
    from exportdsl.transcript.fonts import SCRIPT_SAMPLES
    from exportdsl.transcript.typeface import load_fonts

    try:
        regular = load_fonts(folder).regular
        listing = regular.listing()
    except ExportDslError as error:
        click.echo(f"exportdsl fonts: {error}", err=True)
        sys.exit(EXIT_FINDINGS)
    click.echo("Fonts, in the order a character is looked up:")
    for file, usable in listing:
        only = f" ({file.script.name} only)" if file.script else ""
        skipped = "" if usable else " (cannot be read: skipped)"
        click.echo(f"  {file.source:<8} {file.path}{only}{skipped}")
    click.echo("Scripts:")
    missing = 0
    for script, sample, remedy in SCRIPT_SAMPLES:
        drawn_by = {regular.face_index(char) for char in sample}
        names = ", ".join(sorted(regular.face(at).file.path.name for at in drawn_by if at >= 0))
        if -1 not in drawn_by:
            click.echo(f"  {script:<11} {names}")
            continue
        missing += 1
        shown = f"partly, by {names}; the rest" if names else "no font: shown"
        click.echo(f"  {script:<11} {shown} as [U+…] stand-ins; install {remedy}")
    if missing:
        click.echo(f"{missing} script(s) without a font for all their characters.", err=True)
        sys.exit(EXIT_FINDINGS)
