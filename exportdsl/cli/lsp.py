"""`exportdsl lsp` and `exportdsl schema`: editor support. The language server
(`exportdsl.lsp`) over standard input and output, and the connector file's JSON Schema.

Only click is imported here: `main` imports this module for every command, and pygls loads when
this command runs, never for `exportdsl check` (a cold start is most of a one-file check).
"""

from __future__ import annotations

import sys

import click

__all__ = ["lsp", "schema"]


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

    sys.exit(serve())


@click.command(short_help="Print the connector file's JSON Schema (for YAML editors).")
def schema() -> None:
    """Print the JSON Schema of connector files, which yaml-language-server and VS Code use for
    key completion and validation: save it, and point a connector's first line at it with
    `# yaml-language-server: $schema=connector.schema.json` (docs/editor.md)."""
    from importlib import resources

    schema_file = resources.files("exportdsl") / "data" / "connector.schema.json"
    click.echo(schema_file.read_text(encoding="utf-8"), nl=False)
