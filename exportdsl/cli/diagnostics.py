"""How the commands that run a connector show why it cannot run: as `exportdsl check` does
(``file:line:col: message [CODE]``, the caret snippet, the hint), so one error reads the same
whichever command met it."""

from __future__ import annotations

from pathlib import Path

from exportdsl.errors import ExportDslError

__all__ = ["describe_error"]


def describe_error(path: Path, error: ExportDslError) -> str:
    """The error's diagnostics with snippets from the file (without, when it cannot be read as
    text)."""
    from exportdsl.connector.yamlsource import read_text  # only when there is an error to show
    from exportdsl.lint.formats import text
    from exportdsl.lint.runner import FileReport
    from exportdsl.source import LineIndex

    try:
        index: LineIndex | None = LineIndex(read_text(path))
    except ExportDslError:  # not text (not UTF-8, too large): the diagnostics without a snippet
        index = None
    return text([FileReport(str(path), error.diagnostics, index)]) or str(error)
