"""Where each hole lands, decided at compile time (docs/design.md §4.2).

Each field has a kind (url, header, json, xml, form, text). For json and xml the literal text around
the holes is scanned, so a hole inside a JSON string is escaped as string content and a hole outside
one becomes a JSON value; an XML hole in text or an attribute value is entity-escaped and one in a
CDATA section is split safely. The same pass builds a placeholder document (every hole replaced by
a value that is valid there) and parses it: a body that can never be well formed is a compile error,
located in the template.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import re
import unicodedata
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import cast
from xml.parsers import expat

from exportdsl import strictjson
from exportdsl.compiler import rules, wire
from exportdsl.compiler.problem import Problem
from exportdsl.language.nodes import Node, Reference, Text
from exportdsl.source import Span
from exportdsl.vocabulary import Context, FieldKind

__all__ = [
    "BodyShape",
    "Boundary",
    "JsonKey",
    "JsonObject",
    "Placement",
    "Problem",
    "body_shape",
    "fold_key",
    "kind_for_content_type",
    "place",
    "place_expansion",
    "shape_of",
]


@dataclass(frozen=True, slots=True)
class JsonKey:
    """An object key with holes: raw JSON string content and hole numbers (within the field), or
    one bare reference (``{$k: 1}``) whose rendered value is the whole quoted key."""

    parts: tuple[str | int, ...]
    bare: bool

    def text(self, values: Sequence[str]) -> str | None:
        """The key as a parser reads it, from the field's rendered hole values."""
        if self.bare:
            token = values[int(self.parts[0])]
        else:
            token = '"' + "".join(p if isinstance(p, str) else values[p] for p in self.parts) + '"'
        try:
            key: str = json.loads(token)
        except ValueError:
            return None  # cannot happen for escaped values; a broken body is XD210
        return key


# Java's String.equalsIgnoreCase (Jackson's case-insensitive keys, many back ends) equals two
# characters when their upper cases, or the lower cases of those, are equal. str.casefold() folds
# each such pair alike (the long s and s, the Kelvin sign and k, final and other sigma, ...) but the
# Turkish dotted capital I and dotless small i, whose Java cases reach the ASCII i.
_JAVA_ONLY_FOLDS = str.maketrans({"\u0130": "i", "\u0131": "i"})


def fold_key(key: str) -> str:
    """A JSON key as parsers that ignore case compare it: equal folds for every two keys that
    Python's casefold() or Java's equalsIgnoreCase() call equal (more rather than fewer)."""
    return key.translate(_JAVA_ONLY_FOLDS).casefold()


@dataclass(frozen=True, slots=True)
class JsonObject:
    """One JSON object of a body that has keys with holes: its literal keys (decoded) and those.

    At render time no key may equal another key of the same object, ignoring case: with two
    equal keys, parsers keep the first or the last (some match keys ignoring case), so a value
    could replace a field the connector sets (docs/design.md §8.4)."""

    literal: tuple[str, ...]
    keys: tuple[JsonKey, ...]

    def repeated(self, values: Sequence[str]) -> tuple[JsonKey, str | JsonKey] | None:
        """The first key with holes that repeats a literal key or an earlier key with holes."""
        seen: dict[str, str | JsonKey] = {fold_key(key): key for key in self.literal}
        for key in self.keys:
            text = key.text(values)
            if text is None:
                continue
            other = seen.setdefault(fold_key(text), key)
            if other is not key:
                return key, other
        return None


@dataclass(frozen=True, slots=True)
class Boundary:
    """Where a branch or loop body starts or ends in one expansion of a template with directives
    (`variants`): the scanners record their lexical state there (Go html/template's rule)."""

    body: int  # the directive's span start
    start: bool
    span: Span  # the directive, for the error


@dataclass(frozen=True, slots=True)
class Placement:
    contexts: tuple[Context, ...]  # one per Reference, in order
    problems: tuple[Problem, ...]
    objects: tuple[JsonObject, ...] = ()  # JSON objects with keys made by holes
    # the lexical state at each body boundary of an expansion (`Boundary`)
    boundaries: tuple[tuple[Boundary, object], ...] = ()
    # what the expansion's tail was scanned to (`Tail`): the same object each time the tail is
    # entered in the same state, so the tail's contexts are those of that first time
    scanned: object = dataclasses.field(default=None, repr=False, compare=False)


def kind_for_content_type(content_type: str | None) -> FieldKind:
    """The field kind of a body, from its request's literal Content-Type."""
    media = (content_type or "").split(";")[0].strip().lower()
    subtype = media.partition("/")[2]
    if subtype in ("json", "x-json") or media.endswith(
        "+json"
    ):  # text/json, application/x-json too
        return FieldKind.JSON
    if subtype in ("xml", "x-xml") or media.endswith("+xml"):
        return FieldKind.XML
    if media == "application/x-www-form-urlencoded":
        return FieldKind.FORM
    return FieldKind.TEXT


_HOLE = "\0"  # a hole in the body's skeleton (a literal NUL reads as one: harmless for a shape)
_FORM_SHAPE = re.compile(r"[\w.\-\[\]%\0]+=[^&;=\s]*(?:[&;][\w.\-\[\]%\0]+=[^&;=\s]*)*")
# Literal text that only JSON or XML is made of: a key (`{"`, `":`), a tag (`<a`, `</a`).
_INNER_MARKS = (
    (FieldKind.JSON, re.compile(r'\{\s*"|"\s*:')),
    (FieldKind.XML, re.compile(r"</?[A-Za-z_][\w.:-]*[\s/>]")),
)


@dataclass(frozen=True, slots=True)
class BodyShape:
    """What a body looks like, and the source offset of the literal text that shows it."""

    kind: FieldKind
    at: int
    leading: bool = True  # from the body's start (not from marks inside it)


def _invisible(char: str) -> bool:
    """What a reader does not see before a body's first mark: white space, a BOM or another
    format character (U+200B, U+2060, …), a control character. (``isspace`` covers every space
    and line or paragraph separator: categories Zs, Zl, Zp.)"""
    return char.isspace() or unicodedata.category(char) in ("Cf", "Cc")


def shape_of(nodes: tuple[Node, ...]) -> BodyShape | None:
    """What a body looks like, whatever its Content-Type says (docs/design.md §8.4): its
    *skeleton* is its literal text with each hole as a stand-in (comments produce nothing).

    - JSON or XML when the skeleton's first visible character, after any holes, white space,
      BOM or format characters, is ``{`` or ``[`` (JSON), ``<`` (XML): ``$pdata.p{"v": …}``
      is JSON, since a hole there may well be empty;
    - a form when the rest (or all of it) is ``name=value`` pairs joined by ``&`` or ``;``;
    - JSON or XML too when text only those are made of (``{"``, ``":``, ``<tag``, ``</tag``)
      comes before a hole: ``Report: {"v": "$name"}``, ``Dear <b>$name</b>``.

    None for anything else (``Hello $chat.visitor.name, your chat…``)."""
    skeleton, offsets = _skeleton(nodes)
    visible = _skip(skeleton, 0, holes=False)
    start = _skip(skeleton, visible, holes=True)
    if skeleton[start : start + 1] in ("{", "["):
        return BodyShape(FieldKind.JSON, offsets[start])
    if skeleton[start : start + 1] == "<":
        return BodyShape(FieldKind.XML, offsets[start])
    for first in (visible, start):  # `$v=1` is a form, and so is `${pdata.p}v=$x;r=1`
        if _FORM_SHAPE.fullmatch(skeleton[first:].rstrip()):
            return BodyShape(FieldKind.FORM, offsets[first])
    last_hole = skeleton.rfind(_HOLE)
    marks = [
        (match.start(), kind)
        for kind, pattern in _INNER_MARKS
        if (match := pattern.search(skeleton, 0, max(last_hole, 0))) is not None
    ]
    if not marks:
        return None
    first, kind = min(marks)
    return BodyShape(kind, offsets[first], leading=False)


def _skip(skeleton: str, start: int, holes: bool) -> int:
    """The first position from ``start`` that is not invisible (nor a hole, with ``holes``)."""
    while start < len(skeleton):
        char = skeleton[start]
        if not (holes if char == _HOLE else _invisible(char)):
            return start
        start += 1
    return start


def body_shape(nodes: tuple[Node, ...]) -> FieldKind | None:
    """The kind `shape_of` finds, if any."""
    shape = shape_of(nodes)
    return shape.kind if shape is not None else None


def _skeleton(nodes: tuple[Node, ...]) -> tuple[str, list[int]]:
    """The body's literal text with a `_HOLE` per reference, and each character's source offset."""
    chars: list[str] = []
    offsets: list[int] = []
    for node in nodes:
        if isinstance(node, Text):
            chars.append(node.value)
            offsets.extend(range(node.value_start, node.value_start + len(node.value)))
        elif isinstance(node, Reference):
            chars.append(_HOLE)
            offsets.append(node.span.start)
    return "".join(chars), offsets


# Fields whose holes all land in the same context, whatever the text around them.
_UNSEEN = object()  # a tail not scanned from this state yet

_UNIFORM = {FieldKind.HEADER: Context.HEADER, FieldKind.FORM: Context.FORM}


# What no request can carry, by field kind (`wire`).
_WIRE_CHECKS = {
    FieldKind.URL: wire.url_flaws,
    FieldKind.HEADER: wire.header_flaws,
    FieldKind.FORM: wire.form_flaws,
}


def place(nodes: tuple[Node, ...], kind: FieldKind) -> Placement:
    placement = _place(nodes, kind)
    check = _WIRE_CHECKS.get(kind)
    if check is None:
        return placement
    return Placement(
        placement.contexts, placement.problems + tuple(check(nodes)), placement.objects
    )


def place_expansion(
    nodes: Sequence[Node | Boundary], kind: FieldKind, tail: Tail | None = None
) -> Placement:
    """`place` for one expansion of a template with directives (`variants`); ``tail``: what the
    expansions of the template before this one learnt about the text they all end with."""
    if kind == FieldKind.JSON:
        placement = _Json().run(nodes, tail)
    elif kind == FieldKind.XML:
        placement = _Xml().run(nodes, tail)
    else:
        placement = _place(_without_boundaries(nodes), kind)
    check = _WIRE_CHECKS.get(kind)
    if check is None:
        return placement
    problems = placement.problems + tuple(check(_without_boundaries(nodes)))
    return dataclasses.replace(placement, problems=problems)


def _without_boundaries(nodes: Sequence[Node | Boundary]) -> tuple[Node, ...]:
    return tuple(node for node in nodes if not isinstance(node, Boundary))


def _place(nodes: tuple[Node, ...], kind: FieldKind) -> Placement:
    if kind == FieldKind.JSON:
        return _Json().run(nodes)
    if kind == FieldKind.XML:
        return _Xml().run(nodes)
    if kind == FieldKind.URL:
        return _place_url(nodes)
    context = _UNIFORM.get(kind, Context.TEXT)
    return Placement(tuple(context for node in nodes if isinstance(node, Reference)), ())


def _place_url(nodes: tuple[Node, ...]) -> Placement:
    """Holes in scheme or authority go in as is (the final URL is validated); holes in the path,
    query or fragment are percent-encoded so they can only ever be one component."""
    literal = ""
    in_path = False
    contexts: list[Context] = []
    for node in nodes:
        if isinstance(node, Text) and not in_path:
            literal += node.value
            after_scheme = literal.split("://", 1)[-1]
            in_path = any(mark in after_scheme for mark in "/?#")
        elif isinstance(node, Reference):
            contexts.append(Context.URL_COMPONENT if in_path else Context.URL_PREFIX)
            literal += "\0"
    return Placement(tuple(contexts), ())


@dataclass(frozen=True, slots=True)
class _Scanned:
    """What scanning a template's tail did, entered in one scanner state: what it added to each
    of the scanner's lists (document offsets counted from the tail's start), and the state after."""

    contexts: tuple[Context, ...]
    problems: tuple[Problem, ...]
    document: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    length: int
    finished: tuple[JsonObject, ...]
    after: Hashable


class Tail:
    """The text and references after a template's last directive, which every expansion of the
    template ends with (`variants`): scanned once for each scanner state an expansion enters it
    in, then replayed. Its first node is a reference, so the text before it is scanned whole
    (as `_Scanner.flush` would) before the tail begins. A 1,000-line body after a #foreach is
    scanned once rather than once per loop run."""

    def __init__(self, nodes: Sequence[Node]) -> None:
        first = next((n for n, node in enumerate(nodes) if isinstance(node, Reference)), None)
        self.nodes = tuple(nodes[first:]) if first is not None else ()
        # by the state entered in; None where the tail numbers holes (keys with holes), which
        # depends on the holes before it
        self.scanned: dict[Hashable, _Scanned | None] = {}

    def cut(self, nodes: Sequence[Node | Boundary]) -> int:
        """Where the tail begins in an expansion (its length when it does not end with the tail:
        a top-level #break ended it early)."""
        start = len(nodes) - len(self.nodes)
        if not self.nodes or start < 0 or tuple(nodes[start:]) != self.nodes:
            return len(nodes)
        return start


class _Scanner:
    """Shared bookkeeping.

    Contexts per hole, and a placeholder document mapped back to the source.
    """

    def __init__(self) -> None:
        self.contexts: list[Context] = []
        self.problems: list[Problem] = []
        self.document: list[str] = []
        self.offsets: list[tuple[int, int]] = []  # (document offset, source offset) at each piece
        self.length = 0
        self.finished: list[JsonObject] = []  # JSON objects with keys made by holes
        # a replayed tail's offsets (`offsets` counted from ``base``), after `offsets`: an error's
        # position is rarely asked for, so they are not copied into `offsets`
        self.replayed: list[tuple[int, tuple[tuple[int, int], ...]]] = []
        self.numbered = False  # a hole's number was kept (in a key): see `Tail`

    def emit(self, text: str, source_offset: int) -> None:
        self.offsets.append((self.length, source_offset))
        self.document.append(text)
        self.length += len(text)

    def source_offset(self, document_offset: int) -> int:
        best = (0, 0)
        replayed = ((at + base, source) for base, run in self.replayed for at, source in run)
        for piece in itertools.chain(self.offsets, replayed):
            if piece[0] > document_offset:
                break
            best = piece
        return best[1] + (document_offset - best[0])

    def run(self, nodes: Sequence[Node | Boundary], tail: Tail | None = None) -> Placement:
        boundaries: list[tuple[Boundary, object]] = []
        cut = len(nodes) if tail is None else tail.cut(nodes)
        self.pieces(nodes[:cut] if cut < len(nodes) else nodes, boundaries)
        scanned = self.tail(tail) if tail is not None and cut < len(nodes) else None
        self.validate(nodes[-1].span.end if nodes else 0)
        return Placement(
            tuple(self.contexts), tuple(self.problems), self.objects(), tuple(boundaries), scanned
        )

    def pieces(
        self, nodes: Sequence[Node | Boundary], boundaries: list[tuple[Boundary, object]]
    ) -> None:
        texts: list[Text] = []
        for node in nodes:
            if isinstance(node, Text):
                texts.append(node)
            elif isinstance(node, Reference):
                self.flush(texts)
                self.hole(node)
            elif isinstance(node, Boundary):
                self.flush(texts)
                boundaries.append((node, self.lexical()))
        self.flush(texts)

    def tail(self, tail: Tail) -> _Scanned | None:
        """The tail's pieces, replayed when it was scanned from this state before; what they did
        (None for a tail that is not replayed)."""
        entry = self.snapshot()
        scanned = tail.scanned.get(entry, _UNSEEN)
        if isinstance(scanned, _Scanned):
            self.replay(scanned)
            return scanned
        marks = (len(self.contexts), len(self.problems), len(self.document), len(self.finished))
        length, self.numbered = self.length, False
        self.pieces(tail.nodes, [])
        if scanned is _UNSEEN:
            tail.scanned[entry] = (
                None
                if self.numbered
                else _Scanned(
                    tuple(self.contexts[marks[0] :]),
                    tuple(self.problems[marks[1] :]),
                    tuple(self.document[marks[2] :]),
                    tuple((at - length, source) for at, source in self.offsets[marks[2] :]),
                    self.length - length,
                    tuple(self.finished[marks[3] :]),
                    self.snapshot(),
                )
            )
        return tail.scanned[entry]

    def replay(self, scanned: _Scanned) -> None:
        self.contexts.extend(scanned.contexts)
        self.problems.extend(scanned.problems)
        self.document.extend(scanned.document)
        self.replayed.append((self.length, scanned.offsets))  # the tail is the last of the text
        self.length += scanned.length
        self.finished.extend(scanned.finished)
        self.restore(scanned.after)

    def snapshot(self) -> Hashable:
        """Everything the scanning of more text depends on (but the hole count: `numbered`)."""
        raise NotImplementedError

    def restore(self, state: Hashable) -> None:
        raise NotImplementedError

    def lexical(self) -> object:
        """The scanner's lexical context (in a string, in a tag, …), without the nesting."""
        raise NotImplementedError

    def objects(self) -> tuple[JsonObject, ...]:
        return tuple(self.finished)

    def flush(self, texts: list[Text]) -> None:
        """Adjacent texts (split by an escape or a comment) are one stretch of output.

        Scan them as one.
        """
        if texts:
            self.scan("".join(text.value for text in texts))
            for text in texts:
                self.emit(text.value, text.value_start)
            texts.clear()

    def scan(self, text: str) -> None:
        raise NotImplementedError

    def hole(self, node: Reference) -> None:
        raise NotImplementedError

    def validate(self, end: int) -> None:
        raise NotImplementedError


class _Keys:
    """The keys of one open JSON object, as the scanner meets them."""

    def __init__(self) -> None:
        self.literal: list[str] = []
        self.templated: list[JsonKey] = []

    @classmethod
    def of(cls, literal: Sequence[str], templated: Sequence[JsonKey]) -> _Keys:
        keys = cls()
        keys.literal, keys.templated = list(literal), list(templated)
        return keys

    def add(self, parts: list[str | int], bare: bool) -> None:
        if bare or any(isinstance(part, int) for part in parts):
            merged: list[str | int] = []
            for part in parts:  # the scanner hands text over a run at a time
                if isinstance(part, str) and merged and isinstance(merged[-1], str):
                    merged[-1] += part
                else:
                    merged.append(part)
            self.templated.append(JsonKey(tuple(merged), bare))
            return
        text = "".join(map(str, parts))
        if _PLAIN_KEY.fullmatch(text):  # what json.loads would give back as it is, decoded
            self.literal.append(text)
            return
        with contextlib.suppress(ValueError):  # a broken key: the body is reported as XD210
            self.literal.append(json.loads('"' + text + '"'))


# A JSON string's content without escapes or the control characters JSON refuses in a string.
_PLAIN_KEY = re.compile(r"[^\\\x00-\x1f]*")


# `_Json.snapshot`: in a string, escaped, the open containers, a key expected, the key being read,
# each open container's keys (an object's literal keys and keys with holes; None for a list)
_JsonState = tuple[
    bool,
    bool,
    tuple[str, ...],
    bool,
    tuple[str | int, ...] | None,
    tuple[tuple[tuple[str, ...], tuple[JsonKey, ...]] | None, ...],
]
# What changes the JSON scanner's state: in a string, its end or an escape; outside, structure.
_STRING_STOP = re.compile(r'["\\]')
_STRUCTURE_STOP = re.compile(r'["{}\[\],:]')


class _Json(_Scanner):
    def __init__(self) -> None:
        super().__init__()
        self.in_string = False
        self.escaped = False
        self.containers: list[str] = []  # the open '{' and '['
        self.expect_key = False  # right after '{' or an object's ',': a key comes next
        self.keys: list[_Keys | None] = []  # per open container: an object's keys, or None
        self.key: list[str | int] | None = None  # the key string being read: text and holes

    def lexical(self) -> object:
        return (self.in_string, self.escaped)

    def snapshot(self) -> Hashable:
        keys = tuple(
            None if keys is None else (tuple(keys.literal), tuple(keys.templated))
            for keys in self.keys
        )
        key = None if self.key is None else tuple(self.key)
        return (self.in_string, self.escaped, tuple(self.containers), self.expect_key, key, keys)

    def restore(self, state: Hashable) -> None:
        in_string, escaped, containers, expect_key, key, keys = cast(_JsonState, state)
        self.in_string, self.escaped, self.expect_key = in_string, escaped, expect_key
        self.containers = list(containers)
        self.key = None if key is None else list(key)
        self.keys = [None if entry is None else _Keys.of(*entry) for entry in keys]

    def scan(self, text: str) -> None:
        # run by run: only a quote or a backslash (in a string) and the structural characters
        # (outside one) change the state; the characters between are skipped (in a key, taken)
        # in one step. A long body is placed once per distinct expansion of its directives.
        position, end = 0, len(text)
        while position < end:
            if self.in_string and self.escaped:
                self.string(text[position])  # the escaped character, whatever it is
                position += 1
                continue
            stop = (_STRING_STOP if self.in_string else _STRUCTURE_STOP).search(text, position)
            at = end if stop is None else stop.start()
            if self.in_string and self.key is not None and at > position:
                self.key.append(text[position:at])  # `_Keys.add` joins the pieces
            if stop is None:
                return
            if self.in_string:
                self.string(text[at])
            else:
                self.structure(text[at])
            position = at + 1

    def string(self, char: str) -> None:
        if self.escaped:
            self.escaped = False
        elif char == "\\":
            self.escaped = True
        elif char == '"':
            self.in_string = False
            if self.key is not None:
                self.end_key(self.key)
                self.key = None
            return
        if self.key is not None:
            self.key.append(char)

    def end_key(self, parts: list[str | int], bare: bool = False) -> None:
        # a key is only ever expected with an object open (`expect_key`): there is a last entry
        keys = self.keys[-1]
        if keys is not None:
            keys.add(parts, bare)

    def structure(self, char: str) -> None:
        if char == '"':
            self.in_string = True
            if self.expect_key:
                self.key = []
        elif char in "{[":
            self.containers.append(char)
            self.keys.append(_Keys() if char == "{" else None)
            self.expect_key = char == "{"
        elif char in "}]":
            if self.containers:
                self.containers.pop()
                self.close(self.keys.pop())
            self.expect_key = False
        elif char == ",":
            self.expect_key = bool(self.containers) and self.containers[-1] == "{"
        elif char == ":":
            self.expect_key = False

    def close(self, keys: _Keys | None) -> None:
        if keys is not None and keys.templated:
            self.finished.append(JsonObject(tuple(keys.literal), tuple(keys.templated)))

    def hole(self, node: Reference) -> None:
        number = len(self.contexts)
        self.numbered = (
            self.numbered or self.key is not None or (not self.in_string and self.expect_key)
        )
        if self.in_string:
            self.contexts.append(Context.JSON_STRING)
            if self.key is not None:
                self.key.append(number)
        else:
            if self.expect_key:
                self.end_key([number], bare=True)
            self.contexts.append(Context.JSON_KEY if self.expect_key else Context.JSON_VALUE)
            self.expect_key = False
        self.escaped = False
        self.emit("x" if self.in_string else '""', node.span.start)

    def validate(self, end: int) -> None:
        document = "".join(self.document)
        try:
            strictjson.loads(document)
        except strictjson.NumberError as error:  # NaN, 1e999, 400 digits: no receiver reads them
            at = self.source_offset(max(document.find(error.literal), 0))
            self.problems.append(
                Problem(
                    rules.MALFORMED_BODY.code,
                    f"the body's JSON has a number no receiver can read: {error}",
                    Span(at, at + len(error.literal)),
                    "write the number as text in quotes, or leave it out",
                )
            )
        except json.JSONDecodeError as error:
            at = self.source_offset(error.pos) if error.pos < len(document) else end
            self.problems.append(
                Problem(
                    rules.MALFORMED_BODY.code,
                    f"the body can never be valid JSON: {error.msg.lower()}",
                    Span(at, at + 1),
                    "a reference outside quotes is inserted as a JSON value; "
                    "inside quotes as string text",
                )
            )
        except RecursionError:
            self.problems.append(
                Problem(rules.MALFORMED_BODY.code, "the JSON body is nested too deeply", Span(0, 1))
            )


_XML_CONTEXTS = {
    "text": Context.XML_TEXT,
    "attribute": Context.XML_ATTRIBUTE,
    "cdata": Context.XML_CDATA,
}


# XML: what kind of markup a position is in, to place holes; expat checks the placeholder document.
_XML_OPENERS = (
    ("<!--", "comment", "-->"),
    ("<![CDATA[", "cdata", "]]>"),
    ("<?", "pi", "?>"),
    ("<!", "declaration", ">"),
    ("<", "tag", ">"),
)


_XML_CLOSERS = {state: closer for _, state, closer in _XML_OPENERS}
# What changes the state in a tag (a quote opens an attribute value, '>' ends the tag), and in an
# attribute value (its own quote)
_TAG_STOP = re.compile("[\"'>]")
_ATTRIBUTE_STOPS = {quote: re.compile(quote) for quote in "\"'"}


class _Xml(_Scanner):
    def __init__(self) -> None:
        super().__init__()
        self.state = "text"
        self.quote = ""

    def lexical(self) -> object:
        return (self.state, self.quote if self.state == "attribute" else "")

    def snapshot(self) -> Hashable:
        return (self.state, self.quote)

    def restore(self, state: Hashable) -> None:
        self.state, self.quote = cast(tuple[str, str], state)

    def scan(self, text: str) -> None:
        position = 0
        while position < len(text):
            position = self.step(text, position)

    def step(self, text: str, position: int) -> int:
        """From ``position`` past the next thing that changes the state (the end of the text when
        nothing does): characters that change nothing are skipped in one step."""
        if self.state == "text":
            position = text.find("<", position)  # every opener starts with '<'
            if position < 0:
                return len(text)
            for opener, state, _ in _XML_OPENERS:
                if text.startswith(opener, position):
                    self.state = state
                    return position + len(opener)
        if self.state in ("tag", "attribute"):
            stop = (_TAG_STOP if self.state == "tag" else _ATTRIBUTE_STOPS[self.quote]).search(
                text, position
            )
            return len(text) if stop is None else self.step_tag(text[stop.start()], stop.start())
        closer = _XML_CLOSERS[self.state]
        position = text.find(closer, position)
        if position < 0:
            return len(text)
        self.state = "text"
        return position + len(closer)

    def step_tag(self, char: str, position: int) -> int:
        if self.state == "attribute":
            if char == self.quote:
                self.state = "tag"
        elif char in "\"'":
            self.state, self.quote = "attribute", char
        elif char == ">":
            self.state = "text"
        return position + 1

    def hole(self, node: Reference) -> None:
        if self.state in ("text", "attribute", "cdata"):
            self.contexts.append(_XML_CONTEXTS[self.state])
        else:
            self.contexts.append(Context.XML_TEXT)
            where = {
                "tag": "an element's markup",
                "comment": "an XML comment",
                "pi": "a processing instruction",
                "declaration": "a declaration",
            }[self.state]
            self.problems.append(
                Problem(
                    rules.REFERENCE_IN_XML_MARKUP.code,
                    f"{node} stands inside {where}, where no escaping can keep the XML well formed",
                    node.span,
                    "put references in element text or in a quoted attribute value",
                )
            )
        self.emit("x", node.span.start)

    def validate(self, end: int) -> None:
        document = "".join(self.document)
        parser = expat.ParserCreate()
        try:
            parser.Parse(document, True)
        except expat.ExpatError as error:
            offset = _offset_of(document, error.lineno, error.offset)
            at = self.source_offset(offset) if offset < len(document) else end
            message = (
                expat.errors.messages.get(error.code, str(error)) if error.code else str(error)
            )
            self.problems.append(
                Problem(
                    rules.MALFORMED_BODY.code,
                    f"the XML is not well formed: {message}",
                    Span(at, at + 1),
                    _xml_hint(message),
                )
            )


def _offset_of(document: str, line: int, column: int) -> int:
    starts = [0] + [match.end() for match in re.finditer("\n", document)]
    return starts[min(line, len(starts)) - 1] + column


def _xml_hint(message: str) -> str:
    if "junk after document element" in message:
        return "an XML document has exactly one root element"
    if "undefined entity" in message:
        return "XML knows only &amp; &lt; &gt; &quot; &apos; and numeric character references"
    return "check that every element is closed and every '&' is written as &amp;"
