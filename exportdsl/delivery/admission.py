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
from exportdsl.source import Location

__all__ = ["INLINE_ADMISSION", "Admission", "Admitted"]

INLINE_ADMISSION = 64 << 10
"""A hook body up to this size is admitted on the event loop (the sample chat's 2 KiB take
~0.2 ms, 64 KiB ~2 ms); a larger one in a thread. A thread is not free: while the workers render
PDFs it waits for the GIL, and the loop waits for it again to take the answer back; with every hook
in a thread, bench_serve's p99 at 300 hooks/s grew from 44 ms to 570 ms."""

Steps = tuple[str | int, ...]


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
        if not isinstance(error, RenderError) or hole is None or hole.reference.name != "chat":
            return None
        path = hole.reference.path[1:]
        value = _value_at(chat.raw, path)  # a missing one is named where the connector looked
        inside = None if value is MISSING else _first_refused(value, ESCAPERS[hole.context])
        where = path + (inside or ())
        return ChatError(
            f"the connector cannot send this chat: {error.message}",
            json_path=json_path(where),
            hint=error.hint,
        )


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
    children: Iterable[tuple[str | int, Any]]
    if isinstance(value, Mapping):
        children = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return None
    for key, child in children:
        here = (*steps, key)
        if isinstance(key, str) and _refused(key, escape):
            return here
        if isinstance(child, str):
            if _refused(child, escape):
                return here
        elif (found := _first_refused(child, escape, here)) is not None:
            return found
    return None


def _refused(text: str, escape: Escaper) -> bool:
    """Whether ``text``, as it appears in a JSON rendering, is refused where it lands."""
    try:
        escape(to_json(text))
    except RenderError:
        return True
    return False
