"""exportdsl: compile chat-report export connectors into checked, escaped request plans."""

from exportdsl.errors import ExportDslError

__all__ = ["ExportDslError"]
__version__ = "0.1.0"
