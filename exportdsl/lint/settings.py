"""Which rules run, and how hard they fail: command-line options merged with ``[tool.exportdsl]``.

In the nearest ``pyproject.toml`` (searched upwards from the working directory, like ruff)::

    [tool.exportdsl]
    select = ["XD"]                     # codes or prefixes; default: every rule
    ignore = ["XD506"]
    fail-level = "warning"              # error (default), warning or info
    per-file-ignores = { "connectors/legacy/*.yaml" = ["XD505", "XD503"] }

Command-line ``--select``/``--ignore`` replace/extend the file's; paths in ``per-file-ignores`` are
globs relative to the folder of ``pyproject.toml``.
"""

from __future__ import annotations

import fnmatch
import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exportdsl.errors import SettingsError, Severity, closest
from exportdsl.lint.registry import all_codes, all_rules

__all__ = [
    "SEVERITY_ORDER",
    "Settings",
    "load_settings",
    "parse_severity",
    "split_codes",
    "suppressible",
]

SEVERITY_ORDER = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = ("XD",)
    ignore: tuple[str, ...] = ()
    fail_level: Severity = Severity.ERROR
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    root: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] | None = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        # An unknown selector would silently check nothing (a typo turning CI green): refused, as
        # ruff refuses them.
        for where, codes in (
            ("select", self.select),
            ("ignore", self.ignore),
            *((f"per-file-ignores {glob!r}", codes) for glob, codes in self.per_file_ignores),
        ):
            for selector in codes:
                _check_selector(selector, where)

    def enabled(self, code: str, path: str | None = None) -> bool:
        if not suppressible(code):
            return True
        if not code.startswith(self.select) or code.startswith(self.ignore):
            return False
        return not (
            path is not None and self.per_file_ignores and code.startswith(self.ignored_for(path))
        )

    @functools.lru_cache(maxsize=256)  # noqa: B019 - settings live as long as a run; asked per code
    def ignored_for(self, path: str) -> tuple[str, ...]:
        try:
            relative = Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            relative = Path(path).as_posix()
        return tuple(
            code
            for pattern, codes in self.per_file_ignores
            if fnmatch.fnmatch(relative, pattern)
            for code in codes
        )

    def fails(self, severity: Severity) -> bool:
        return SEVERITY_ORDER[severity] >= SEVERITY_ORDER[self.fail_level]


def load_settings(start: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the nearest pyproject.toml, then the command line's (non-None) overrides."""
    values: dict[str, Any] = {}
    found = _find_pyproject(start or Path.cwd())
    if found is not None:
        values = _read_table(found)
        values["root"] = found.parent
    values.update({key: value for key, value in overrides.items() if value is not None})
    return Settings(**values)


def _find_pyproject(start: Path) -> Path | None:
    for folder in (start.resolve(), *start.resolve().parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _read_table(path: Path) -> dict[str, Any]:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("exportdsl", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"{path}: cannot read [tool.exportdsl]: {error}") from None
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in ("select", "ignore"):
            values[key] = _codes(value, path, key)
        elif key == "fail-level":
            values["fail_level"] = parse_severity(value, f"{path}: fail-level")
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise SettingsError(f"{path}: per-file-ignores must be a table of glob = [codes]")
            values["per_file_ignores"] = tuple(
                (glob, _codes(codes, path, glob)) for glob, codes in value.items()
            )
        else:
            raise SettingsError(
                f"{path}: unknown key {key!r} in [tool.exportdsl]",
                hint="expected select, ignore, fail-level, per-file-ignores",
            )
    return values


def _codes(value: Any, path: Path, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise SettingsError(f"{path}: {key} must be a list of rule codes")
    codes = tuple(code.strip().upper() for code in value)
    if key == "select" and not codes:
        raise SettingsError(
            f"{path}: select is empty, so nothing would be checked",
            hint='leave it out for every rule, or name some: select = ["XD"]',
        )
    for code in codes:
        _check_selector(code, f"{path}: {key}")
    return codes


def suppressible(code: str) -> bool:
    """Lint findings can be turned off (settings, suppression comments); what stops the connector
    from running (XD0xx-XD2xx) cannot: a check that hid it would pass a connector that fails."""
    return code >= "XD5"


def _check_selector(selector: str, where: str) -> None:
    known = all_rules()
    if selector.startswith("XD") and any(code.startswith(selector) for code in known):
        return
    others = sorted(code for code in all_codes() if code.startswith(selector))
    if selector.startswith("XD") and others:  # a run-time code (XD300) or a prefix of some (XD3)
        named = (
            f"{selector} is not a code `exportdsl check` reports ({all_codes()[selector].name}"
            if selector in all_codes()
            else f"{selector} names no code `exportdsl check` reports ({', '.join(others)}"
        )
        raise SettingsError(
            f"{where}: {named}: the run time's or the command line's)",
            hint="`exportdsl rules` lists the codes; check reports XD0xx-XD2xx, XD5xx, XD900",
        )
    close = closest(selector, [code for code in known if code[:4] == selector[:4]] or known)
    raise SettingsError(
        f"{where}: {selector!r} is not a rule code or a prefix of one",
        hint=(f"did you mean {close}? " if close else "") + "`exportdsl rules` lists the codes",
    )


def parse_severity(value: Any, where: str) -> Severity:
    try:
        return Severity(str(value).lower())
    except ValueError:
        raise SettingsError(
            f"{where}: {value!r} is not a severity; expected error, warning or info"
        ) from None


def split_codes(values: Iterable[str], option: str = "--select") -> tuple[str, ...] | None:
    """``--select XD2,XD5 --select XD900`` -> ("XD2", "XD5", "XD900"); None when not given.
    Given but naming nothing (``--select ,``) is refused: it would check nothing."""
    values = tuple(values)
    codes = tuple(
        code.strip().upper() for value in values for code in value.split(",") if code.strip()
    )
    if values and not codes:
        raise SettingsError(f"{option} names no code", hint=f"{option} XD2,XD503")
    for code in codes:
        _check_selector(code, option)
    return codes or None
