"""The grammars (data in `grammar/`) and the Lark LALR parsers built from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lark import Lark, Transformer

from exportdsl.cache import cache_folder

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
    folder = cache_folder()
    return str(folder / f"{name}-cache") if folder is not None else False
