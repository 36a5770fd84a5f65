"""Random directive templates for the differential test against Velocity 1.7 (seeded, reproducible).

`generate(seed)` gives a template of nested #if/#elseif/#else, #foreach (with $foreach.* and
$velocityCount), #set and #break, text with line breaks and indentation (spaces, tabs, sometimes
CRLF), and a context shaped as exportdsl's catalogue (compiler/catalogue.py): `chat.messages` with
type/name/content/triggeredBy, `chat.paths` with url/title, `chat.visitor`, `chat.channel.id`, and
`pdata` with a number, a text, a list and a mapping.

Every template is meant to render in Velocity 1.7 with strict references and no error, and to be
inside what exportdsl accepts: only names that are defined where they are used, loop variables and
#set names that shadow nothing, ordering on numbers only, a possibly-null value only in a condition
or as `$!`, no macros, ranges or method calls. tests/test_velocity_oracle.py checks the first part
against Velocity; the lead's differential test compares exportdsl's output with Velocity's.

    .venv/bin/python -m tests.oracle.generate --seed 7 --count 3   # JSON lines: template, variables
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Generated", "generate"]

MAX_DEPTH = 3
WORDS = ("Hello", "chat", "<b>", "</b>", "x=1", "a,b", "čau", '"q"', "{", "}", "[", "]", "&amp;")
# A text piece never starts with a character that would extend a short reference or a bare
# directive name before it ($a.b + "c" is $a.bc; #end + "x" is #endx), and never holds # $ or \.
SAFE_STARTS = (" ", "\n", "<", ">", ",", ";", ":", '"', "/", "=", "\t", "{", "}", "*")
MESSAGE_TYPES = ("visitor", "agent", "system")
CONTENTS = ("Hi", "Hello <b>there</b>", 'a "quoted" word', "čau & ahoj", "", "line\nbreak", "50%")


@dataclass(frozen=True)
class Generated:
    seed: int
    template: str
    variables: dict[str, Any]


@dataclass
class _Scope:
    """What is defined where the generator stands: loop variables (name -> kind), #set names,
    and whether a loop encloses this point (for $foreach, $velocityCount and #break)."""

    loops: dict[str, str] = field(default_factory=dict)  # "m1" -> "message", "t2" -> "tag", ...
    sets: list[str] = field(default_factory=list)
    in_loop: bool = False

    def inner(self) -> _Scope:
        return _Scope(dict(self.loops), list(self.sets), self.in_loop)


def generate(seed: int) -> Generated:
    rng = random.Random(seed)
    builder = _Builder(rng)
    template = builder.block(_Scope(), depth=0, items=rng.randint(2, 6))
    if rng.random() < 0.2:
        template = template.replace("\n", "\r\n")
    return Generated(seed, template, _context(rng))


def _context(rng: random.Random) -> dict[str, Any]:
    messages = [
        {
            "type": rng.choice(MESSAGE_TYPES),
            "name": rng.choice(("Ann", "Bob")),
            "content": rng.choice(CONTENTS),
            "triggeredBy": rng.choice((None, "welcome")),
        }
        for _ in range(rng.choice((0, 1, 2, 3, 5)))
    ]
    paths = [
        {"url": f"https://example.com/{n}", "title": f"Page {n}"} for n in range(rng.randint(0, 2))
    ]
    email = rng.choice((None, "ann@example.com", ""))
    return {
        "chat": {"channel": {"id": f"c-{rng.randint(1, 99)}"},
                 "visitor": {"name": "Ann", "email": email},
                 "messages": messages, "paths": paths},
        "pdata": {"source": rng.choice(("web", "app")), "score": rng.randint(0, 5),
                  "tags": rng.sample(["x", "y", "z"], rng.randint(0, 3)),
                  "labels": {"a": "A", "b": "B"}},
    }  # fmt: skip


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names = 0

    def fresh(self, prefix: str) -> str:
        self.names += 1
        return f"{prefix}{self.names}"

    def block(self, scope: _Scope, depth: int, items: int) -> str:
        return "".join(self.item(scope, depth) for _ in range(items))

    def item(self, scope: _Scope, depth: int) -> str:
        choices: list[tuple[float, Any]] = [
            (3, self.text), (3, self.reference), (1.5, self.set_),
        ]  # fmt: skip
        if depth < MAX_DEPTH:
            choices += [(2, self.if_), (2, self.foreach)]
        if scope.in_loop:
            choices.append((0.4, self.break_))
        make = self.rng.choices([c for _, c in choices], weights=[w for w, _ in choices])[0]
        result: str = make(scope, depth)
        return result

    # --- pieces

    def text(self, scope: _Scope, depth: int) -> str:
        rng = self.rng
        piece = rng.choice(SAFE_STARTS) + " ".join(rng.sample(WORDS, rng.randint(0, 3)))
        if rng.random() < 0.4:
            piece += "\n" + self.indent(depth)
        return piece

    def indent(self, depth: int) -> str:
        unit = self.rng.choice(("  ", "    ", "\t"))
        return unit * self.rng.randint(0, depth + 1)

    def line_start(self, depth: int) -> str:
        """Before a directive: often a line of its own, indented, as real templates have them."""
        return "\n" + self.indent(depth) if self.rng.random() < 0.5 else ""

    def line_end(self) -> str:
        """After a directive: often a line break (1.7 eats it), sometimes spaces first."""
        roll = self.rng.random()
        return "\n" if roll < 0.45 else " \t\n" if roll < 0.55 else ""

    def reference(self, scope: _Scope, depth: int) -> str:
        name = self.rng.choice(self.renderable(scope))
        formal = self.rng.random() < 0.5
        quiet = name.startswith("!")
        body = name.lstrip("!")
        ref = f"${'!' if quiet else ''}{{{body}}}" if formal else f"${'!' if quiet else ''}{body}"
        # a short reference ends at a safe character, never at the next piece's first letter
        return ref if formal else ref + self.rng.choice((" ", "<", ";", "\n", ","))

    def renderable(self, scope: _Scope) -> list[str]:
        names = ["chat.channel.id", "chat.visitor.name", "!chat.visitor.email", "pdata.source",
                 "pdata.score"]  # fmt: skip
        for var, kind in scope.loops.items():
            if kind == "message":
                names += [f"{var}.type", f"{var}.name", f"{var}.content", f"!{var}.triggeredBy"]
            elif kind == "path":
                names += [f"{var}.url", f"{var}.title"]
            else:
                names.append(var)
        if scope.in_loop:
            names += ["foreach.count", "foreach.index", "foreach.hasNext", "velocityCount"]
        return names + scope.sets

    def set_(self, scope: _Scope, depth: int) -> str:
        name = self.fresh("v")
        sources = ["'fixed $text'", '"Dear ${chat.visitor.name}"', "42", "-1", "true", "false",
                   "$chat.channel.id", "$pdata.source", "'x'"]  # fmt: skip
        sources += [f"${var}.content" for var, k in scope.loops.items() if k == "message"]
        rhs = self.rng.choice(sources)
        spaces = self.rng.choice((("", ""), (" ", " "), ("  ", " ")))
        text = f"#set(${name}{spaces[0]}={spaces[1]}{rhs})"
        scope.sets.append(name)  # defined from here on in this block and the blocks inside it
        return self.line_start(depth) + text + self.line_end()

    def condition(self, scope: _Scope, level: int = 0) -> str:
        rng = self.rng
        if level < 2 and rng.random() < 0.35:
            left, right = self.condition(scope, level + 1), self.condition(scope, level + 1)
            op = rng.choice(("&&", "||", "and", "or"))
            joined = f"{left} {op} {right}"
            return f"({joined})" if rng.random() < 0.5 else joined
        if level < 2 and rng.random() < 0.15:
            inner = self.condition(scope, level + 1)
            return f"!({inner})" if rng.random() < 0.7 else f"not ({inner})"
        comparison = rng.choice(("<", ">", "<=", ">=", "==", "!=", "lt", "ge"))
        atoms = [
            "$chat.visitor.email", "$chat.visitor.name", "$pdata.tags",
            f"$pdata.score {comparison} {rng.randint(0, 5)}",
            f"$pdata.source {rng.choice(('==', '!=', 'eq', 'ne'))} '{rng.choice(('web', 'app'))}'",
            "$chat.visitor.email == ''", "$pdata.score == '3'",
        ]  # fmt: skip
        for var, kind in scope.loops.items():
            if kind == "message":
                atoms += [f"${var}.type == '{rng.choice(MESSAGE_TYPES)}'", f"${var}.content",
                          f"${var}.content == ''", f"${var}.triggeredBy", f"!${var}.triggeredBy",
                          f"${var}.name == $chat.visitor.name"]  # fmt: skip
            elif kind == "path":
                atoms.append(f"${var}.title == 'Page 0'")
            else:
                atoms.append(f"${var} == '{rng.choice(('x', 'new', 'A'))}'")
        if scope.in_loop:
            atoms += ["$foreach.hasNext", "$foreach.first", "$foreach.last",
                      f"$foreach.count > {rng.randint(0, 3)}", "$velocityHasNext"]  # fmt: skip
        atoms += [f"${name}" for name in scope.sets]
        return rng.choice(atoms)

    def if_(self, scope: _Scope, depth: int) -> str:
        rng = self.rng
        braced = rng.random() < 0.2
        head = "#{if}" if braced else "#if"
        out = self.line_start(depth) + f"{head}({self.condition(scope)})" + self.line_end()
        out += self.block(scope.inner(), depth + 1, rng.randint(0, 3))
        for _ in range(rng.choice((0, 0, 1, 2))):
            out += self.line_start(depth) + f"#elseif({self.condition(scope)})" + self.line_end()
            out += self.block(scope.inner(), depth + 1, rng.randint(0, 3))
        if rng.random() < 0.4:
            out += self.line_start(depth) + "#{else}" + self.line_end()
            out += self.block(scope.inner(), depth + 1, rng.randint(0, 3))
        return out + self.line_start(depth) + "#{end}" + self.line_end()

    def foreach(self, scope: _Scope, depth: int) -> str:
        rng = self.rng
        sources = [("$chat.messages", "message"), ("$chat.paths", "path"), ("$pdata.tags", "tag"),
                   ("$pdata.labels", "tag")]  # fmt: skip
        source, kind = rng.choice(sources)
        var = self.fresh(kind[0])
        inner = scope.inner()
        inner.loops[var] = kind
        inner.in_loop = True
        out = self.line_start(depth) + f"#foreach(${var} in {source})" + self.line_end()
        out += self.block(inner, depth + 1, rng.randint(1, 4))
        if rng.random() < 0.3:  # the comma idiom
            out += "#if($foreach.hasNext),#end"
        return out + self.line_start(depth) + "#{end}" + self.line_end()

    def break_(self, scope: _Scope, depth: int) -> str:
        return f"#if({self.condition(scope)})#{{break}}#end"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print generated templates as JSON lines.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=1)
    args = parser.parse_args(argv)
    for seed in range(args.seed, args.seed + args.count):
        case = generate(seed)
        print(json.dumps({"seed": seed, "template": case.template, "variables": case.variables}))


if __name__ == "__main__":
    main()
