"""Hover, completion and go to definition inside a connector's templates (no editor protocol here).

What a reference can be, where it is available and how it is escaped come from the compiler: the
catalogue of variables and phases (`compiler.catalogue`), the checked fields' holes (their landing
place and escaping), a loop's state (`analysis.loop_state`). The scope at a position (the loops
around it, the names #set gave before it) is read from the template's text before the cursor, so
it also holds while a directive is half typed and the template does not parse yet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from exportdsl.compiler.analysis import loop_state
from exportdsl.compiler.catalogue import Var, catalogue
from exportdsl.compiler.directives import LOOP_NAMES
from exportdsl.compiler.explain import describe_escaping
from exportdsl.errors import ExportDslError
from exportdsl.language.nodes import (
    Node,
    Reference,
    Segment,
    format_path,
    read_by,
    walk,
)
from exportdsl.language.parser import parse
from exportdsl.lsp.view import Place, View
from exportdsl.source import Location, Span
from exportdsl.vocabulary import Alphabet, Phase

__all__ = ["Completion", "Hover", "complete", "definition", "hover"]

_PHASE_WORDS = {
    Phase.TOKEN: "the token request (phase 1)",
    Phase.XML: "the XML template (between the phases)",
    Phase.EXPORT: "the export request (phase 2)",
}
# A token endpoint's answer as RFC 6749 §5.1 (and OpenID Connect, Salesforce) defines it: what
# `$tokenResponse.body.JSON.` most often continues with. Anything else is allowed all the same.
TOKEN_ANSWER_FIELDS = {
    "access_token": "the access token (RFC 6749 §5.1)",
    "token_type": "the token's type, e.g. Bearer (RFC 6749 §5.1)",
    "expires_in": "seconds the token lives (RFC 6749 §5.1; the cache honours it)",
    "refresh_token": "a refresh token (RFC 6749 §5.1)",
    "scope": "the scope granted (RFC 6749 §5.1)",
    "id_token": "an OpenID Connect ID token",
    "instance_url": "the API's base URL (Salesforce)",
}
_TOKEN_JSON = ("tokenResponse", "body", "JSON")

_PATH = r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*|\[\d+\]|\['[^']*'\]|\[\"[^\"]*\"\])*"
_STEP = re.compile(r"\.([A-Za-z][A-Za-z0-9_]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_REFERENCE = re.compile(rf"\$!?(?:\{{(?P<formal>{_PATH})\}}?|(?P<short>{_PATH}))")
_DIRECTIVES = re.compile(
    r"""(?P<escaped>\\[#$])
    | (?P<comment>\#\#[^\n]*|\#\*.*?(?:\*\#|\Z)|\#\[\[.*?(?:\]\]\#|\Z))
    | \#\{?foreach\}?\s*\(\s*(?P<loop>\$!?\{?[A-Za-z][A-Za-z0-9_]*\}?)\s+in\s+(?P<source>[^)]*)\)
    | \#\{?if\}?\s*\((?P<if>)
    | \#\{?end\}?(?P<end>)
    | \#\{?set\}?\s*\(\s*(?P<set>\$!?\{?[A-Za-z][A-Za-z0-9_]*\}?)\s*=\s*(?P<value>[^)]*)\)""",
    re.VERBOSE | re.DOTALL,
)
# What stands before the cursor: a loop's list being written, a property after a dot, a name.
_LOOP_SOURCE = re.compile(
    r"\#\{?foreach\}?\s*\(\s*\$!?\{?[A-Za-z][A-Za-z0-9_]*\}?\s+in\s+(?P<typed>\$?!?\{?[\w.]*)\Z"
)
_LOOP_OPEN = re.compile(r"\#\{?foreach\}?\s*\(\s*(?P<typed>\$?[\w]*)\Z")
_MEMBER = re.compile(rf"\$!?\{{?(?P<path>{_PATH})\.(?P<typed>[A-Za-z][A-Za-z0-9_]*)?\Z")
_HEAD = re.compile(r"\$!?\{?(?P<typed>[A-Za-z][A-Za-z0-9_]*)?\Z")


@dataclass(frozen=True)
class _Loop:
    variable: str
    variable_at: int  # template offset of its `$`
    source: str  # the list's reference as written


@dataclass(frozen=True)
class _Scope:
    loops: tuple[_Loop, ...] = ()  # outermost first
    sets: Mapping[str, tuple[str, int]] = field(default_factory=dict)  # name: (value, offset)


def _scope(source: str, offset: int) -> _Scope:
    """The loops open at ``offset`` and the names #set gave before it (one scope a render, as in
    Velocity 1.7), read from the text before it."""
    stack: list[_Loop | None] = []  # None: an #if
    sets: dict[str, tuple[str, int]] = {}
    for match in _DIRECTIVES.finditer(source, 0, offset):
        if match.group("loop") is not None:
            name = match.group("loop").lstrip("$!{").rstrip("}")
            stack.append(_Loop(name, match.start("loop"), match.group("source").strip()))
        elif match.group("if") is not None:
            stack.append(None)
        elif match.group("end") is not None and stack:
            stack.pop()
        elif match.group("set") is not None:
            name = match.group("set").lstrip("$!{").rstrip("}")
            sets[name] = (match.group("value").strip(), match.start("set"))
    return _Scope(tuple(loop for loop in stack if loop is not None), sets)


def _path(written: str) -> tuple[str | int, ...] | None:
    """``$chat.messages[0]`` (or ``${…}``) -> ("chat", "messages", 0); None for anything else."""
    found = _REFERENCE.fullmatch(written.strip())
    if found is None:
        return None
    text = found.group("formal") or found.group("short")
    head = re.match(r"[A-Za-z][A-Za-z0-9_]*", text)
    assert head is not None  # the pattern starts with a name
    steps: list[str | int] = [head.group()]
    for step in _STEP.finditer(text, head.end()):
        name, index, single, double = step.groups()
        steps.append(int(index) if index is not None else name or single or double or "")
    return tuple(steps)


class _Resolver:
    """Catalogue nodes for paths at one place: the connector's variables and the local names."""

    def __init__(self, view: View, place: Place) -> None:
        self.view = view
        self.phase = place.phase
        self.variables = catalogue(view.pdata)
        self.scope = _scope(place.field.source, place.offset)
        self.resolving: set[str] = set()

    def resolve(self, path: tuple[str | int, ...], loops: int | None = None) -> Var | None:
        """The node a path reaches (dynamic where the catalogue stops knowing), or None."""
        head = str(path[0])
        var = self.local(head, self.scope.loops[:loops] if loops is not None else None)
        if var is None:
            var = self.variables.get(head)
        for key in path[1:]:
            if var is None or var.dynamic:
                return var
            var = _step(var, key)
        return var

    def local(self, name: str, loops: tuple[_Loop, ...] | None = None) -> Var | None:
        loops = self.scope.loops if loops is None else loops
        for depth in range(len(loops) - 1, -1, -1):
            if loops[depth].variable == name:
                return self.element(loops, depth)
        if name == "foreach" and loops:
            return self.loop_state(loops)
        if name in LOOP_NAMES and loops:
            return self.variables_of_loop()[name]
        if name in self.scope.sets and name not in self.resolving:
            value = _path(self.scope.sets[name][0])
            self.resolving.add(name)  # `#set($a = $b)#set($b = $a)` must not recurse forever
            try:
                resolved = self.resolve(value) if value is not None else None
            finally:
                self.resolving.discard(name)
            return resolved or Var("a value written by #set")
        return None

    def element(self, loops: tuple[_Loop, ...], depth: int) -> Var:
        source = _path(loops[depth].source)
        listed = self.resolve(source, depth) if source is not None else None
        if listed is not None and listed.items is not None:
            return listed.items
        if listed is not None and listed.entries is not None:
            return listed.entries
        return Var("an element of the list, known at render time", dynamic=True)

    def loop_state(self, loops: tuple[_Loop, ...]) -> Var:
        parent = self.loop_state(loops[:-1]) if len(loops) > 1 else None
        return loop_state(parent)

    @staticmethod
    def variables_of_loop() -> dict[str, Var]:
        return {
            "velocityCount": Var("the item's number, from 1 (Velocity 1.7's name)"),
            "velocityHasNext": Var("true but for the last item (Velocity 1.7's name)"),
        }

    def names(self) -> dict[str, Var]:
        """Every name a reference may start with here."""
        names = {
            name: var
            for name, var in self.variables.items()
            if self.phase in var.phases and self.view.exists(name)
        }
        loops = self.scope.loops
        if loops:
            names["foreach"] = self.loop_state(loops)
            names.update(self.variables_of_loop())
        for depth, loop in enumerate(loops):
            names[loop.variable] = self.element(loops, depth)
        for name in self.scope.sets:
            names[name] = self.local(name) or Var("a value written by #set")
        return names


def _step(var: Var, key: str | int) -> Var | None:
    if isinstance(key, int):
        return var.items
    if var.items is not None:
        return None
    return var.children.get(key) or var.entries


# --- hover ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hover:
    markdown: str
    start: int  # the reference up to the hovered step: the file's text in [start, end)
    end: int


def hover(view: View, offset: int) -> Hover | None:
    place = view.place(offset)
    if place is None:
        return None
    found = _reference_at(place)
    if found is None:
        return _hover_declaration(view, place)
    reference, path, end = found
    resolver = _Resolver(view, Place(place.field, place.phase, reference.span.start))
    here = _escaping(view, place, reference)
    return _hover(view, place, resolver, path, here, (reference.span.start, end))


def _hover(
    view: View,
    place: Place,
    resolver: _Resolver,
    path: tuple[str | int, ...],
    here: str,
    span: tuple[int, int],
) -> Hover:
    """What ``path`` is where the resolver stands, over the template's text in ``span``."""
    var = resolver.resolve(path)
    shown = "$" + _dotted(path)
    lines = [f"**`{shown}`**" + (f": {var.doc}" if var is not None else "")]
    if var is None:
        lines.append("\nnot known here: `exportdsl check` says why")
    else:
        lines.append(f"\n- value: {_value_type(var, path, view)}")
        local = resolver.local(str(path[0])) is not None
        root = resolver.resolve(path[:1]) or var  # a property is available where its root is
        lines.append(f"- phase: {_PHASE_WORDS[place.phase]}" + _availability(root, local))
    lines.append(f"- here: {here}")
    origin = place.field.origin
    start, last = origin.file_offset(span[0]), origin.file_offset(span[1] - 1)
    return Hover("\n".join(lines), start, last + 1)


_DECLARED = {
    "loop": "the loop's variable, declared here: each element of the list in turn",
    "set": "the name #set gives, declared here: the value after `=`",
}


def _hover_declaration(view: View, place: Place) -> Hover | None:
    """On the variable a #foreach declares or the name a #set gives (or on the directive's word
    before it): what it holds after the directive."""
    source = place.field.source
    for match in _DIRECTIVES.finditer(source):
        if match.start() > place.offset:
            return None
        for kind, here in _DECLARED.items():
            start, end = match.span(kind)
            if start >= 0 and match.start() <= place.offset < end:  # `#set(` or the name itself
                name = match.group(kind).lstrip("$!{").rstrip("}")
                after = Place(place.field, place.phase, match.end())
                return _hover(view, place, _Resolver(view, after), (name,), here, (start, end))
    return None


def _reference_at(place: Place) -> tuple[Reference, tuple[str | int, ...], int] | None:
    """The reference at the place, its path up to the step under the cursor, where that ends."""
    try:
        references: Iterable[Reference] = _references(parse(place.field.source))
    except ExportDslError:  # a directive or a `${` half typed elsewhere in the template
        references = _written_references(place.field.source)
    for reference in references:
        if reference.span.start <= place.offset < reference.span.end:
            steps = [s for s in reference.segments if s.span.start <= place.offset]
            end = steps[-1].span.end if steps else reference.name_span.end
            return reference, (reference.name, *(s.key for s in steps)), end
    return None


def _written_references(source: str) -> Iterator[Reference]:
    """The references of a template that does not parse, as they are written (`$name.steps`,
    `${…}`; not after a backslash): hover and definition go on working while it is typed."""
    for found in _REFERENCE.finditer(source):
        if source[max(0, found.start() - 1) : found.start()] == "\\":
            continue
        group = "formal" if found.group("formal") else "short"
        head = re.match(r"[A-Za-z][A-Za-z0-9_]*", found.group(group))
        assert head is not None  # the pattern starts with a name
        name_start = found.start(group)
        steps = []
        for step in _STEP.finditer(found.group(group), head.end()):
            name, index, single, double = step.groups()
            key: str | int = int(index) if index is not None else name or single or double or ""
            steps.append(Segment(key, Span(name_start + step.start(), name_start + step.end())))
        yield Reference(
            head.group(),
            tuple(steps),
            quiet=source[found.start() + 1 : found.start() + 2] == "!",
            formal=group == "formal",
            span=Span(found.start(), found.end()),
            name_span=Span(name_start, name_start + head.end()),
        )


def _references(nodes: tuple[Node, ...]) -> Iterator[Reference]:
    for node in walk(nodes):
        yield from read_by(node)


def _dotted(path: tuple[str | int, ...]) -> str:
    return format_path(path)


def _value_type(var: Var, path: tuple[str | int, ...], view: View) -> str:
    if path[0] == "pdata" and len(path) > 1:
        value: Any = view.pdata
        for key in path[1:]:
            value = value.get(key) if isinstance(value, Mapping) else None
        return f"{_json_type(value)}, from this file's pdata"
    if var.items is not None:
        return "a list: index it (`[0]`) or loop over it with `#foreach`"
    if var.dynamic:
        return (
            "any JSON value, known only at render time "
            "(a missing one is an error, unless quiet: `$!…`)"
        )
    if not var.leaf:
        parts = ", ".join(f"`.{name}`" for name in var.children) or "`.NAME`"
        return f"an object, not a value by itself: use one of its parts ({parts})"
    if var.children:
        return "an object, rendered as compact JSON; its parts: " + ", ".join(
            f"`.{name}`" for name in var.children
        )
    return {
        Alphabet.INTEGER: "an integer",
        Alphabet.BASE64: "base64 text",
        Alphabet.DATETIME: "text, `yyyy-MM-dd HH:mm:ss`",
    }.get(var.alphabet, "a value, rendered as text")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return "null"


def _availability(var: Var, local: bool) -> str:
    if local:
        return "; a name the template gives (a loop variable, `$foreach`, a `#set`)"
    if var.phases == frozenset(Phase):
        return "; available in every phase"
    return "; available in " + " and ".join(_PHASE_WORDS[p] for p in Phase if p in var.phases)


def _escaping(view: View, place: Place, reference: Reference) -> str:
    plan = view.plans.get(place.field.name)
    if plan is not None:
        for hole in plan.holes:
            if hole.reference.span.start == reference.span.start:
                return describe_escaping(hole)
    if plan is None:
        return "how it is escaped is known once the file has no errors"
    if not plan.holes and plan.program is None and "$" in place.field.source:
        return "how it is escaped is known once the template has no syntax error"
    return "read by a directive (a condition, a loop's list, a #set value): not output here"


# --- completion ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    label: str
    detail: str
    kind: str  # "variable", "property" or "snippet"
    insert: str
    start: int  # the file's text in [start, end) is what the insertion replaces
    end: int
    filter: str = ""  # what the editor matches the typed text against (else: insert)


def complete(view: View, offset: int) -> list[Completion]:
    place = view.place(offset)
    if place is None:
        return []
    before = place.field.source[: place.offset]
    if _not_a_template(before):
        return []
    resolver = _Resolver(view, place)
    loop_source = _LOOP_SOURCE.search(before)
    if loop_source is not None:
        return _lists(resolver, place, loop_source.start("typed"))
    loop_open = _LOOP_OPEN.search(before)
    if loop_open is not None:
        return _loops(resolver, place, loop_open.start("typed"))
    member = _MEMBER.search(before)
    if member is not None:
        path = _path("$" + member.group("path"))
        start = member.start("typed") if member.group("typed") else place.offset
        return _members(resolver, place, path, start) if path else []
    head = _HEAD.search(before)
    if head is not None:
        start = head.start("typed") if head.group("typed") else place.offset
        return [
            _item(place, start, name, var.doc, "variable", name)
            for name, var in resolver.names().items()
        ]
    return []


def _not_a_template(before: str) -> bool:
    """Whether the end of ``before`` (the cursor) stands where the template is text the engine
    does not read: in a ``##`` or ``#* … *#`` comment, in ``#[[ … ]]#``, or in a reference escaped
    with a backslash (``\\$chat.``). `check` reads no reference there; completion offers none."""
    for match in _DIRECTIVES.finditer(before):
        comment = match.group("comment")
        if comment is not None and match.end() == len(before):
            return not comment.endswith(("*#", "]]#"))
    dollar = before.rfind("$")
    return (
        dollar > 0
        and before[dollar - 1] == "\\"
        and re.fullmatch(r"\$!?\{?[\w.]*", before[dollar:]) is not None
    )


def _item(place: Place, start: int, label: str, detail: str, kind: str, insert: str) -> Completion:
    origin = place.field.origin
    return Completion(
        label, detail, kind, insert, origin.file_offset(start), origin.file_offset(place.offset)
    )


def _members(
    resolver: _Resolver, place: Place, path: tuple[str | int, ...], start: int
) -> list[Completion]:
    var = resolver.resolve(path)
    if var is None:
        return []
    if path == _TOKEN_JSON:
        children = {name: Var(doc) for name, doc in TOKEN_ANSWER_FIELDS.items()}
    elif var.dynamic or var.items is not None:
        children = {}
    else:
        children = dict(var.children)
    return [
        _property(place, start, name, child.doc)
        for name, child in children.items()
        if _NAME.fullmatch(name) or "'" not in name
    ]


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _property(place: Place, start: int, name: str, doc: str) -> Completion:
    """``.name``; a key no name can write (``my key``) in brackets, in place of the dot:
    ``$pdata['my key']`` (each ``'`` doubled in a single-quoted YAML value, as YAML reads it)."""
    if _NAME.fullmatch(name):
        return _item(place, start, name, doc, "property", name)
    dot = place.field.source.rfind(".", 0, start)
    origin = place.field.origin
    first = origin.anchors[0]
    single_quoted = first > 0 and origin.index.text[first - 1] == "'"  # YAML doubles a ' there
    quote = "''" if single_quoted else "'"
    item = _item(place, dot, name, doc, "property", f"[{quote}{name}{quote}]")
    return replace(item, filter=f".{name}")


def _lists(resolver: _Resolver, place: Place, start: int) -> list[Completion]:
    """After ``#foreach($x in``: the lists (and objects of free keys) available here."""
    found = []
    for name, var in resolver.names().items():
        for path, listed in _list_paths((name,), var, 3):
            written = "$" + _dotted(path)
            found.append(_item(place, start, written, listed.doc, "variable", written))
    for key, value in resolver.view.pdata.items():
        if isinstance(value, list):
            written = "$" + _dotted(("pdata", key))
            found.append(_item(place, start, written, "a pdata list", "variable", written))
    return found


def _list_paths(
    path: tuple[str | int, ...], var: Var, depth: int
) -> Iterator[tuple[tuple[str | int, ...], Var]]:
    if var.items is not None:
        yield path, var
    elif depth and not var.dynamic:
        for name, child in var.children.items():
            yield from _list_paths((*path, name), child, depth - 1)


def _loops(resolver: _Resolver, place: Place, start: int) -> list[Completion]:
    """Right after ``#foreach(``: a whole loop head over each list, its variable named after it."""
    found = []
    for item in _lists(resolver, place, place.offset):
        last = item.label.rsplit(".", 1)[-1]
        variable = last[:-1] if last.endswith("s") and len(last) > 1 else "item"
        written = f"${variable} in {item.label}"
        found.append(_item(place, start, written, item.detail, "snippet", written))
    return found


# --- go to definition ----------------------------------------------------------------------------


def definition(view: View, offset: int) -> Location | None:
    """Where the name under the cursor is defined: a pdata key, a loop variable, a #set, the
    token or xml_template section."""
    place = view.place(offset)
    if place is None:
        return None
    found = _reference_at(place)
    if found is None:
        return None
    reference = found[0]
    scope = _scope(place.field.source, reference.span.start)
    for loop in reversed(scope.loops):
        if loop.variable == reference.name:
            return place.field.location(Span(loop.variable_at, loop.variable_at + 1))
    if reference.name in scope.sets:
        at = scope.sets[reference.name][1]
        return place.field.location(Span(at, at + 1))
    if reference.name == "pdata" and len(reference.segments) >= 1:
        return view.pdata_locations.get(str(reference.segments[0].key))
    section = {"tokenResponse": "token", "xmlTemplate": "xml_template"}.get(reference.name)
    return view.sections.get(section) if section else None
