"""Every rule, by code: one module a rule in `exportdsl.lint.rules`, found by walking the package."""

from __future__ import annotations

import functools
import importlib
import pkgutil

from exportdsl.lint import rules as _rules_package
from exportdsl.lint.api import Rule


@functools.cache
def all_rules() -> dict[str, Rule]:
    found: dict[str, Rule] = {}
    for module in sorted(info.name for info in pkgutil.iter_modules(_rules_package.__path__)):
        rule: Rule = importlib.import_module(f"{_rules_package.__name__}.{module}").RULE
        if rule.code in found:
            raise RuntimeError(f"rule code {rule.code} is used twice")
        found[rule.code] = rule
    return found
