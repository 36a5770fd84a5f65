"""Directives, from a review of issue 12 (security and integration): each test here failed before
its fix (docs/design.md, "Issue 12: review of directives")."""

from __future__ import annotations

import pytest

import exportdsl
from exportdsl.compiler import directives
from exportdsl.errors import RenderError

# --- bounds --------------------------------------------------------------------------------------


def test_a_set_that_doubles_a_string_in_a_loop_stops_at_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`#set($s = "$s$s")` doubles a string each time round: 40 items make 2^40 characters, long
    before any output. The strings a render builds are bounded like its output."""
    monkeypatch.setattr(directives, "MAX_OUTPUT", 1000)
    template = exportdsl.Template('#set($s = "ab")#foreach($m in $l)#set($s = "$s$s")#{end}done')
    assert template.render({"l": list(range(7))}) == "done"  # 510 characters built in all
    with pytest.raises(RenderError, match="strings of one render are longer") as caught:
        template.render({"l": list(range(20))})
    assert caught.value.location is not None
    assert (caught.value.location.line, caught.value.location.column) == (1, 44)


def test_strings_built_in_conditions_count_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A comparison with a "…" string builds it on every iteration: 100,000 iterations of a
    10-million-character string would be hours of copying."""
    monkeypatch.setattr(directives, "MAX_OUTPUT", 1000)
    template = exportdsl.Template('#foreach($m in $l)#if("$s$s" == $m)=#end#end')
    assert template.render({"l": ["x"] * 4, "s": "y" * 100}) == ""
    with pytest.raises(RenderError, match="strings of one render are longer"):
        template.render({"l": ["x"] * 10, "s": "y" * 100})
