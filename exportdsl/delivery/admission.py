"""What a hook must pass before it is accepted: only a chat that can be delivered is answered 2xx.

The chat model reads the body (strict JSON, the JSON paths of its errors), the chat must have an
id (the outbox deduplicates on it), and the connector's requests are rendered for it as the dry
run renders them (`RenderCheck`: no PDF, stand-ins for what only the export knows). A render error
caused by a chat value refuses the hook with that value's JSON path (`ChatError`), so the sender
hears at once what a delivery would only have found out dead. A render error no chat value
caused (a stand-in, the connector's own text) is not the sender's to fix: the hook is accepted,
and the delivery reports it. All of it is CPU work: the intake runs it off its event loop for a
large chat (`INLINE_ADMISSION`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exportdsl.chat.reader import ChatSession, json_path, parse_chat_bytes
from exportdsl.compiler.escaping import ESCAPERS, Escaper
from exportdsl.compiler.plan import Hole, Plan
from exportdsl.compiler.values import MISSING, step, to_json
from exportdsl.errors import ChatError, ExportDslError, RenderError
from exportdsl.export.build import idempotency_key
from exportdsl.export.dryrun import RenderCheck
from exportdsl.language.nodes import Foreach, If, Node, Reference, Set
from exportdsl.source import Location

__all__ = ["INLINE_ADMISSION", "Admission", "Admitted"]

INLINE_ADMISSION = 64 << 10
"""A hook body up to this size is admitted on the event loop (the sample chat's 2 KiB take
~0.2 ms, 64 KiB ~2 ms); a larger one in a thread. A thread is not free: while the workers render
PDFs it waits for the GIL, and the loop waits for it again to take the answer back; with every hook
in a thread, bench_serve's p99 at 300 hooks/s grew from 44 ms to 570 ms."""

Steps = tuple[str | int, ...]
EVERY_ITEM = -1  # in a loop variable's path: whichever item of the list the loop is at


@dataclass(frozen=True)
class Admitted:
    """A chat that passed, and the Idempotency-Key of its delivery (the export's own)."""

    chat: ChatSession
    key: str


class Admission:
    """One connector's admission of hooks (thread-safe: the intake runs it in worker threads)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.render_check = RenderCheck(plan) if plan.export_enabled else None
        # a plan's render errors are located at the reference whose value failed
        self.holes: dict[Location, Hole] = {
            hole.location: hole
            for field in plan.fields
            for hole in field.holes
            if hole.location is not None
        }
        # holes of loop variables and #set names read the chat too (`$m.content` in
        # `#foreach($m in $chat.messages)`): the chat path each reads, by its location
        self.bound_paths: dict[Location, Steps] = {}
        for field in plan.fields:
            if field.program is None:
                continue
            paths = _chat_paths(field.program.nodes, {})
            for hole in field.holes:
                steps = paths.get(hole.reference.span.start)
                if hole.location is not None and hole.reference.name != "chat" and steps:
                    self.bound_paths[hole.location] = steps

    def __call__(self, body: bytes) -> Admitted:
        """The chat in ``body``, admitted; raises a `ChatError` with the JSON path when it cannot
        be delivered."""
        chat = parse_chat_bytes(body)
        if chat.channel.id is None:
            raise ChatError("missing, expected the chat's id", json_path="channel.id")
        key = idempotency_key(self.plan, chat)
        if self.render_check is not None:
            try:
                self.render_check(chat)
            except ExportDslError as error:
                refusal = self._caused_by_the_chat(chat, error)
                if refusal is not None:
                    raise refusal from None
        return Admitted(chat, key)

    def _caused_by_the_chat(self, chat: ChatSession, error: ExportDslError) -> ChatError | None:
        """The refusal for a render error at a ``$chat`` reference; None for any other error."""
        hole = self.holes.get(error.location) if error.location is not None else None
        if not isinstance(error, RenderError) or hole is None:
            return None
        escape = ESCAPERS[hole.context]
        if hole.reference.name == "chat":
            path = hole.reference.path[1:]
            value = _value_at(chat.raw, path)  # a missing one is named where the connector looked
            inside = None if value is MISSING else _first_refused(value, escape)
            where: Steps | None = path + (inside or ())
        elif hole.location in self.bound_paths:
            where = _first_unsendable_item(chat.raw, self.bound_paths[hole.location], escape)
        else:
            where = None
        if where is None:
            return None
        return ChatError(
            f"the connector cannot send this chat: {error.message}",
            json_path=json_path(where),
            hint=error.hint,
        )


def _chat_paths(nodes: tuple[Node, ...], names: dict[str, Steps]) -> dict[int, Steps]:
    """The chat path each output reference reads (by its span's start), through the loops and
    `#set`s before it: `$m.content` inside `#foreach($m in $chat.messages)` reads
    ``messages.EVERY_ITEM.content``; `$n` after `#set($n = $chat.visitor.name)` reads
    ``visitor.name``. ``names`` holds the variables bound so far (a `#set` lasts for the render,
    a loop variable for its loop). References to nothing read from the chat are left out."""
    found: dict[int, Steps] = {}
    for node in nodes:
        if isinstance(node, Reference):
            steps = _chat_path(node, names)
            if steps is not None:
                found[node.span.start] = steps
        elif isinstance(node, Set):
            value = _chat_path(node.value, names) if isinstance(node.value, Reference) else None
            if value is None:
                names.pop(node.name, None)
            else:
                names[node.name] = value
        elif isinstance(node, If):
            for branch in node.branches:
                found |= _chat_paths(branch.body, names)
        elif isinstance(node, Foreach):
            outer = names.pop(node.variable, None)
            source = _chat_path(node.source, names) if isinstance(node.source, Reference) else None
            if source is not None:
                names[node.variable] = (*source, EVERY_ITEM)
            found |= _chat_paths(node.body, names)
            names.pop(node.variable, None)
            if outer is not None:  # restored after the loop, as 1.7 restores it
                names[node.variable] = outer
    return found


def _chat_path(reference: Reference, loops: Mapping[str, Steps]) -> Steps | None:
    rest = tuple(reference.path[1:])
    if reference.name == "chat":
        return rest
    return loops[reference.name] + rest if reference.name in loops else None


def _first_unsendable_item(value: Any, steps: Steps, escape: Escaper) -> Steps | None:
    """Which item a loop's hole could not carry: the path along ``steps`` (each `EVERY_ITEM`
    tried in order) of the first value ``escape`` refuses, else of the first missing one (an
    item a branch skips may lack a value without harm, so a refused value is the likelier cause)."""
    return _first_along(value, steps, escape, (), missing=False) or _first_along(
        value, steps, escape, (), missing=True
    )


def _first_along(
    value: Any, steps: Steps, escape: Escaper, done: Steps, *, missing: bool
) -> Steps | None:
    if not steps:
        if value is MISSING or value is None:
            return done if missing else None
        if missing or not _refuses(escape, value):
            return None
        return done + (_first_refused(value, escape) or ())
    key, rest = steps[0], steps[1:]
    if key != EVERY_ITEM:
        return _first_along(step(value, key), rest, escape, (*done, key), missing=missing)
    for index, item in _children(value):  # a loop over an object takes its values, as 1.7's
        found = _first_along(item, rest, escape, (*done, index), missing=missing)
        if found is not None:
            return found
    return None


def _children(value: Any) -> Iterable[tuple[str | int, Any]]:
    """An object's members or a list's items with their keys; nothing for any other value."""
    if isinstance(value, Mapping):
        return value.items()
    if isinstance(value, list):
        return enumerate(value)
    return ()


def _value_at(raw: Mapping[str, Any], path: Steps) -> Any:
    value: Any = raw
    for key in path:
        value = step(value, key)  # as the render looks values up
        if value is MISSING:
            break
    return value


def _first_refused(value: Any, escape: Escaper, steps: Steps = ()) -> Steps | None:
    """Where inside an object or a list (rendered whole, as JSON) the first key or string is that
    the escaper refuses (a lone surrogate, a character the place cannot carry), in document
    order. None when no part is refused alone, or the value is no container: its own path says
    it. Recursive: the reader refuses chats nested deeper than 64 levels."""
    for key, child in _children(value):
        here = (*steps, key)
        if isinstance(key, str) and _refused(key, escape):
            return here
        if isinstance(child, str):
            if _refused(child, escape):
                return here
        elif (found := _first_refused(child, escape, here)) is not None:
            return found
    return None


def _refuses(escape: Escaper, value: Any) -> bool:
    """Whether ``escape`` refuses ``value`` as the hole renders it."""
    try:
        escape(value)
    except RenderError:
        return True
    return False


def _refused(text: str, escape: Escaper) -> bool:
    """Whether ``text``, as it appears in a JSON rendering, is refused where it lands."""
    return _refuses(escape, to_json(text))
