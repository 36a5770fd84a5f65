"""Jinja2 as the render back end: the holes of a connector's requests -> compiled Python code.

We build Jinja2's AST directly (never template text), one block per request, one output node per
hole: a filter call that looks the value up and escapes it for where it lands. Literal text never
enters Jinja2 at all; `plan` joins it around the hole values with a precomputed ``%`` pattern.
So the compiled code depends only on the *shape* of the holes (escaper, variable, path, quiet) and
is shared, through an LRU cache, by every connector of the same shape: a fleet of connectors for
one back end differs in URLs, hosts and pdata, not in the shape of its requests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import Environment, nodes

from exportdsl.compiler.escaping import ESCAPERS, trusting
from exportdsl.compiler.values import MISSING, hole_function
from exportdsl.vocabulary import Context

__all__ = ["BlockFunction", "HoleShape", "RenderContext", "compile_shapes", "filter_name"]

# (filter name, variable name, path below it, quiet): all the compiled code knows of one hole.
HoleShape = tuple[str, str, tuple[str | int, ...], bool]
BlockFunction = Callable[[Any], Iterator[str]]

_ENV = Environment(autoescape=False, optimized=False, cache_size=0)
_ENV.filters.update({f"x_{context}": hole_function(escape) for context, escape in ESCAPERS.items()})
# A value of ours whose alphabet is safe where it lands: as is when it really is ours.
_ENV.filters.update(
    {
        f"x_trusted_{context}": hole_function(trusting(escape))
        for context, escape in ESCAPERS.items()
    }
)


def filter_name(context: Context, escaped: bool) -> str:
    return f"x_{context}" if escaped else f"x_trusted_{context}"


@functools.lru_cache(maxsize=1024)
def compile_shapes(blocks: tuple[tuple[HoleShape, ...], ...]) -> tuple[BlockFunction, ...]:
    """One Jinja2 template with a block per request; each block yields one string per hole."""
    bodies = [
        nodes.Block(
            f"b{number}",
            [nodes.Output([_hole(shape, index) for index, shape in enumerate(holes)])]
            if holes
            else [],
            False,
            False,
        )
        for number, holes in enumerate(blocks)
    ]
    template = _ENV.from_string(nodes.Template(bodies))
    return tuple(template.blocks[f"b{number}"] for number in range(len(blocks)))


def _hole(shape: HoleShape, number: int) -> nodes.Expr:
    name, head, rest, quiet = shape
    return nodes.Filter(
        nodes.Name(head, "load"),
        name,
        [nodes.Const(rest), nodes.Const(quiet), nodes.Const(number)],
        [],
        None,
        None,
    )


class RenderContext:
    """What our compiled blocks need of a Jinja2 render context, and nothing more.

    The code Jinja2 generates for names, filters and output only calls
    ``context.resolve_or_missing``; a full `jinja2.runtime.Context` costs more to build than a
    small request takes to render. Every language test renders through this.
    """

    __slots__ = ("resolve_or_missing",)

    def __init__(self, variables: Mapping[str, Any]) -> None:
        get = variables.get
        # MISSING, not Jinja's `missing`: an absent variable reaches our filters as MISSING, where
        # the error message is worded, instead of as a Jinja Undefined.
        self.resolve_or_missing = lambda key: get(key, MISSING)
