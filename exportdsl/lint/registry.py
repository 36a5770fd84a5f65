"""Every code, once: the checker's (loader, compiler, lint rules) and the run time's errors.

A code is defined next to what reports it, with its documentation: the loader's and the run time's
codes are the error classes of `exportdsl.errors` (their docstrings), the compiler's are in
`exportdsl.compiler.rules`, and each lint rule is one module in `exportdsl.lint.rules`. A code used
twice is refused when the registry is built.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

from exportdsl.compiler import rules as compile_rules
from exportdsl.errors import (
    Code,
    ConfigError,
    ExportDslError,
    LoadError,
    Severity,
    TemplateSyntaxError,
    error_classes,
)
from exportdsl.lint import rules as _rules_package
from exportdsl.lint.api import Rule

__all__ = ["all_codes", "all_rules"]

# The errors `exportdsl check` reports for a file; the others happen only when something runs.
_CHECKED_ERRORS = (LoadError, ConfigError, TemplateSyntaxError)


@functools.cache
def all_rules() -> dict[str, Rule]:
    """What `exportdsl check` can report, by code: the loader's and compiler's codes, then the
    lint rules."""
    found: dict[str, Rule] = {}
    for code in (*(_error_code(cls) for cls in _CHECKED_ERRORS), *compile_rules.RULES):
        _add(found, Rule(code.code, code.name, code.severity, code.doc))
    for module in sorted(info.name for info in pkgutil.iter_modules(_rules_package.__path__)):
        _add(found, importlib.import_module(f"{_rules_package.__name__}.{module}").RULE)
    return found


@functools.cache
def all_codes() -> dict[str, Rule]:
    """Every code exportdsl has, in code order: `all_rules` and the run time's errors."""
    found = dict(all_rules())
    for cls in error_classes():
        if cls not in _CHECKED_ERRORS:
            code = _error_code(cls)
            _add(found, Rule(code.code, code.name, code.severity, code.doc))
    return dict(sorted(found.items()))


def _error_code(cls: type[ExportDslError]) -> Code:
    return Code(cls.code, cls.name, Severity.ERROR, inspect.cleandoc(cls.__doc__ or ""))


def _add(found: dict[str, Rule], rule: Rule) -> None:
    if rule.code in found:
        raise RuntimeError(
            f"code {rule.code} is defined twice: {found[rule.code].name}, {rule.name}"
        )
    found[rule.code] = rule
