"""exportdsl: compile chat-report export connectors into checked, escaped request plans."""

from exportdsl.compiler.analysis import check_connector, compile_connector
from exportdsl.compiler.plan import Plan
from exportdsl.compiler.template import Template
from exportdsl.connector.model import Connector
from exportdsl.connector.reader import load_connector, parse_connector
from exportdsl.errors import CompileError, ConnectorError, Diagnostic, ExportDslError, RenderError

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
