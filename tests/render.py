"""One entry point for data-driven template cases: compile a template as plain text and render it.

The Velocity 1.7 oracle's cases (tests/cases/directives*.json, the `velocity` fixture) and
exportdsl's own run through `render_template`, so a case file of (template, context, expected)
needs nothing else: an error comes back as the error (with its message and location), not raised,
so a case expecting "Velocity fails too" can compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exportdsl import Template
from exportdsl.errors import ExportDslError

__all__ = ["render_template"]


def render_template(template: str, context: Mapping[str, Any]) -> str | ExportDslError:
    """``template`` compiled in plain-text context (no escaping) and rendered with ``context``;
    a syntax, compile or render error is returned."""
    try:
        return Template(template, "text").render(context)
    except ExportDslError as error:
        return error
