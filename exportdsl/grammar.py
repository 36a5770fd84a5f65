"""Finds the grammar files: inside the installed package, or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).parent / "grammar"
_CHECKOUT = Path(__file__).parent.parent / "grammar"


def grammar_text(name: str = "template.lark") -> str:
    for folder in (_PACKAGED, _CHECKOUT):
        path = folder / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"grammar {name} is neither in {_PACKAGED} nor in {_CHECKOUT}")
