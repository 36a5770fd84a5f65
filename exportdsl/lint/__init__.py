"""The linter: rules with stable codes, suppressions, settings and output formats."""

from exportdsl.lint.api import Finding, LintContext, Rule
from exportdsl.lint.registry import all_rules
from exportdsl.lint.runner import FileReport, connector_files, lint_file, lint_paths
from exportdsl.lint.settings import Settings, load_settings

__all__ = [
    "FileReport",
    "Finding",
    "LintContext",
    "Rule",
    "Settings",
    "all_rules",
    "connector_files",
    "lint_file",
    "lint_paths",
    "load_settings",
]
