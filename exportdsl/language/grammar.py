"""The grammars (data in `grammar/`) and the Lark LALR parsers built from them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lark import Lark, Transformer

__all__ = ["grammar_text", "load_parser"]

_PACKAGED = Path(__file__).parent.parent / "_grammar"  # in a wheel (pyproject force-include)
_CHECKOUT = Path(__file__).parent.parent.parent / "grammar"  # in a source checkout


def grammar_text(name: str) -> str:
    for folder in (_PACKAGED, _CHECKOUT):
        path = folder / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"grammar {name} is neither in {_PACKAGED} nor in {_CHECKOUT}")


def load_parser(name: str, transformer: Transformer[Any, Any], **options: Any) -> Lark:
    """An LALR parser that calls ``transformer`` as it reduces (no parse tree is built).

    Lark's cache keeps the grammar analysis (~15 ms each, a tenth of a cold `exportdsl check`)
    and checks the grammar's hash and Lark's version itself. It is a pickle, so it lives in a
    folder of the user's own, never in a shared temporary folder.
    """
    return Lark(
        grammar_text(name),
        parser="lalr",
        transformer=transformer,
        cache=_cache_file(name),
        **options,
    )


def _cache_file(name: str) -> str | bool:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "exportdsl")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if os.stat(folder).st_uid != os.getuid() or not os.access(folder, os.W_OK):
            return False
    except OSError:
        return False
    return os.path.join(folder, f"{name}-cache")
