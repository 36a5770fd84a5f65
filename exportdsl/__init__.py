"""exportdsl: compile chat-report export connectors into checked, escaped request plans.

The public names are loaded when first used (PEP 562): a process that only renders transcripts
or serves the intake does not pay for the compiler's grammar and the YAML reader."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exportdsl.compiler.analysis import check_connector, compile_connector
    from exportdsl.compiler.plan import Plan
    from exportdsl.compiler.template import Template
    from exportdsl.connector.model import Connector
    from exportdsl.connector.reader import load_connector, parse_connector
    from exportdsl.errors import (
        CompileError,
        ConnectorError,
        Diagnostic,
        ExportDslError,
        RenderError,
    )

__all__ = [
    "CompileError",
    "Connector",
    "ConnectorError",
    "Diagnostic",
    "ExportDslError",
    "Plan",
    "RenderError",
    "Template",
    "check_connector",
    "compile_connector",
    "load_connector",
    "parse_connector",
]
__version__ = "0.1.0"

_HOMES = {
    "check_connector": "exportdsl.compiler.analysis",
    "compile_connector": "exportdsl.compiler.analysis",
    "Plan": "exportdsl.compiler.plan",
    "Template": "exportdsl.compiler.template",
    "Connector": "exportdsl.connector.model",
    "load_connector": "exportdsl.connector.reader",
    "parse_connector": "exportdsl.connector.reader",
    "CompileError": "exportdsl.errors",
    "ConnectorError": "exportdsl.errors",
    "Diagnostic": "exportdsl.errors",
    "ExportDslError": "exportdsl.errors",
    "RenderError": "exportdsl.errors",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'exportdsl' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later lookups do not come here
    return value
