"""The command line: a thin click layer over the library.

This module is the group, its registration of every command and the `run` entry point; each
command group lives in a module of its own (`check`, `transcript`, `export`, `delivery`, `lsp`).
Those modules import only click at the top: each command imports what it needs when it runs, so
`exportdsl export` does not load the linter, nor `exportdsl check` httpx or reportlab (a cold start
is most of a one-file run).
"""

from __future__ import annotations

import sys

import click

from exportdsl.cli import check, console, delivery, export, fonts, lsp, transcript
from exportdsl.cli.exits import EXIT_INTERNAL

__all__ = ["ALIASES", "main", "run"]

ALIASES = {"report": "transcript"}
"""Old command names that still work, so scripts do not break; `--help` does not list them."""


class _Group(click.Group):
    """A click group that also answers to the old names in `ALIASES`."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, ALIASES.get(cmd_name, cmd_name))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="exportdsl")
def main() -> None:
    """Compile, check and run chat-report export connectors."""


main.add_command(check.check)
main.add_command(check.rules)
main.add_command(check.explain_command)
main.add_command(transcript.transcript)
main.add_command(fonts.fonts)
main.add_command(export.render)
main.add_command(export.export)
main.add_command(export.demo)
main.add_command(delivery.serve)
main.add_command(delivery.queue)
main.add_command(delivery.db)
main.add_command(lsp.lsp)
main.add_command(lsp.schema)
main.add_command(console.console)


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
