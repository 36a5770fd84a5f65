"""`exportdsl lsp`: the language server for editors (`exportdsl.lsp`), over standard input and
output.

Only click is imported here: `main` imports this module for every command, and pygls loads when
this command runs, never for `exportdsl check` (a cold start is most of a one-file check).
"""

from __future__ import annotations

import click

__all__ = ["lsp"]


@click.command(short_help="Serve editors: diagnostics, hover, completion, fixes (LSP).")
@click.option(
    "--stdio",
    is_flag=True,
    help="Talk over standard input and output (the default and only transport; editors that "
    "pass --stdio are accepted).",
)
def lsp(stdio: bool) -> None:
    """Run the Language Server over standard input and output, for an editor to start.

    Diagnostics as `exportdsl check` reports them, with the same settings, as you type; hover and
    completion of references; go to a pdata key's definition; quick fixes. Setup: docs/editor.md.
    """
    from exportdsl.lsp.server import serve

    serve()
