"""The durable outbox's contract: accepted chats, their deliveries, and the nodes that work them.

Two back ends keep it: a SQLite file (`sqlite.py`, the embedded default: one machine) and a
PostgreSQL database (`postgres.py`: several ``serve`` nodes on one outbox); `store.open_outbox`
picks one from ``--db``. Both keep the same promises, and one test suite holds both to them:

- a chat is stored, with its delivery, in the transaction that accepts it, and that transaction is
  durable before the hook is answered: nothing accepted is lost;
- a chat is a duplicate when its connector holds it with the same ``endAt`` or a later one;
- workers claim one delivery at a time with a lease; two never hold the same one, and a target (a
  back end's host) never has more than ``per_target`` deliveries leased at once, across all nodes;
- every finish is fenced by the lease's owner: a worker that lost its lease cannot overwrite the
  work of the one that took over;
- nodes heartbeat; a node silent for longer than the silence allowed is declared dead, and every
  lease it held is released to the others at once, its attempt uncounted (a chat whose attempts
  keep killing their node goes dead after `MAX_CRASHES`);
- every attempt whose finish is recorded is kept in the delivery's history (`Attempt`), in the
  same transaction as the finish: when it started and how long it took (by the outbox's clock),
  what came of it, the back end's status, the error, the first KiB of the answer and the request
  as it went out, as redacted by the worker. The history goes with its delivery (purge,
  retention);
- every text from outside stored with an attempt (the error, the answer, the request) goes in
  through `storable`: what one back end refuses (PostgreSQL: a NUL) is never stored by either.
"""

from __future__ import annotations

import math
import random
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from exportdsl.errors import OutboxError
from exportdsl.export.redact import cut
from exportdsl.vocabulary import DeliveryStatus

__all__ = [
    "FAILED_BEFORE",
    "MAX_ANSWER_CHARS",
    "MAX_CRASHES",
    "MAX_ERROR_CHARS",
    "MAX_REQUEST_CHARS",
    "NO_END",
    "PURGE_BATCH",
    "RETRYABLE",
    "SCHEMA_VERSION",
    "Accepted",
    "Attempt",
    "AttemptTexts",
    "Delivery",
    "DeliveryQuery",
    "Expired",
    "Incoming",
    "Node",
    "Outbox",
    "Rescue",
    "Schedule",
    "crash_error",
    "failed_before",
    "storable",
    "total_attempts",
]

MAX_ERROR_CHARS = 2000  # of a failed attempt's (redacted) error, as stored
MAX_ANSWER_CHARS = 1024  # of an attempt's (redacted) answer, as stored in its history
MAX_REQUEST_CHARS = 16 << 10  # of an attempt's request as sent (redacted, the PDF left out)
PURGE_BATCH = 1000  # rows removed in one transaction
# of both back ends: 2 gave chats versions, 3 added nodes and crash counts, 4 attempt histories,
# 5 the request as sent with each attempt
SCHEMA_VERSION = 5
MAX_CRASHES = 3  # attempts cut short by their node's death before a delivery is dead
# A pending delivery that has failed before: an attempt of it finished with a failure, whose error
# the delivery keeps (a dead one sent again keeps its last error; a delivered one has none). Not
# ``attempts > 0``: the count goes up at the claim, so a first attempt still under way would be
# "retrying" before anything failed. The one meaning of "retrying", the same SQL for both back
# ends, and the console's (`failed_before`).
FAILED_BEFORE = "(last_error IS NOT NULL)"
RETRYABLE = ("pending", "dead")  # what the console sends again (never a delivered one)

NO_END = -1
"""The version of a chat without ``endAt``: any chat with one is later."""


# What no stored text may hold: NUL (PostgreSQL's text refuses it) and lone surrogates (neither
# back end can encode them as UTF-8)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str | None) -> str | None:
    """``text`` as both back ends can store it: each NUL and lone surrogate as U+FFFD (a back
    end's UTF-16 answer read as UTF-8 is full of NULs). Every text from outside goes through
    this at the outbox's boundary: one that cannot be stored would fail the attempt's record
    again and again."""
    if text is None or _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub("\ufffd", text)


def failed_before(delivery: Delivery) -> bool:
    """Whether a delivery is "retrying" when pending: `FAILED_BEFORE`, in Python."""
    return delivery.status == DeliveryStatus.PENDING and delivery.last_error is not None


def total_attempts(delivery: Delivery, recorded: int) -> int:
    """A delivery's attempts over its whole history, as the console says them everywhere: those
    recorded, or its count since it was last sent again when that is higher (the one under way,
    one whose lease was lost)."""
    return max(recorded, delivery.attempts)


def crash_error(crashes: int) -> str:
    """What a delivery whose attempts keep dying with their node says, dead."""
    return (
        f"its node died during each of its last {crashes} attempts (killed, out of memory?): "
        "this chat may crash its worker; look at it before sending it again"
    )


@dataclass(frozen=True)
class Schedule:
    """When to try again, as the webhook senders do: the first attempt at once, then after 5 s,
    5 min, 30 min, 2 h, 5 h, 10 h and 10 h (``waits``), each with ±20% jitter; after the last
    failure the delivery is dead."""

    waits: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    jitter: float = 0.2
    max_retry_after: float = 86400.0  # a Retry-After beyond a day is clamped

    def __post_init__(self) -> None:
        if not all(math.isfinite(wait) and wait >= 0 for wait in self.waits):
            raise OutboxError(f"retry waits must be finite and not negative: {self.waits}")

    @property
    def attempts(self) -> int:
        return len(self.waits) + 1

    def delay(
        self, failed_attempts: int, retry_after: float | None, rng: random.Random
    ) -> float | None:
        """Seconds until the next attempt after ``failed_attempts`` failures; None: give up."""
        if failed_attempts > len(self.waits):
            return None
        base = self.waits[failed_attempts - 1]
        jittered = base * (1 + rng.uniform(-self.jitter, self.jitter))
        if retry_after is not None:
            jittered = max(jittered, min(retry_after, self.max_retry_after))
        return jittered


@dataclass(frozen=True)
class Delivery:
    id: int
    connector: str
    chat_id: str
    reason: str
    idempotency_key: str
    target: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    lease_owner: str | None
    lease_until: float | None
    last_error: str | None
    last_status: int | None
    created_at: float
    finished_at: float | None
    end_at: int = NO_END  # the version of the chat it delivers (`Incoming.end_at`)
    crashes: int = 0  # attempts cut short by their node's death (not counted in ``attempts``)


@dataclass(frozen=True)
class Attempt:
    """One attempt of a delivery, as its history keeps it (`Outbox.attempts`)."""

    delivery_id: int
    number: int  # 1, 2, ... over the delivery's whole history (a retry goes on counting)
    started_at: float  # by the outbox's clock: its finish's time less its duration
    seconds: float  # how long it took
    outcome: str  # delivered | retry (another one is scheduled) | dead
    status: int | None  # the back end's HTTP status, when it answered
    error: str | None  # redacted, at most `MAX_ERROR_CHARS`
    answer: str | None  # the answer's body, redacted, at most `MAX_ANSWER_CHARS`
    # the request as it went out (redacted, the PDF's base64 a placeholder); None when not
    # recorded: no request went out, or the attempt was made before schema 5
    request: str | None = None


@dataclass(frozen=True)
class AttemptTexts:
    """An attempt's texts from outside (redacted by the worker) as both back ends store them:
    each `storable`, then cut to its limit (after redaction: no marker cut open)."""

    error: str | None
    answer: str | None
    request: str | None

    @classmethod
    def of(cls, error: str | None, answer: str | None, request: str | None) -> AttemptTexts:
        return cls(
            _kept(error, MAX_ERROR_CHARS),
            _kept(answer, MAX_ANSWER_CHARS),
            _kept(request, MAX_REQUEST_CHARS),
        )


def _kept(text: str | None, limit: int) -> str | None:
    kept = storable(text)
    return None if kept is None else cut(kept, limit)


@dataclass(frozen=True)
class DeliveryQuery:
    """Which deliveries to list (`Outbox.find`), the latest first: every filter given holds.
    ``status`` is a `DeliveryStatus`, ``retrying`` (pending, failed before: `FAILED_BEFORE`, as
    `counts` has it) or ``waiting`` (pending, not retrying); ``since``/``until`` bound
    ``created_at`` (until excluded); ``before`` is the keyset page's bound: only ids below it (the
    last id of the page before); ``after`` the bound going forward (toward the newest): only ids
    above it, the oldest of them first (`ascending`)."""

    connector: str | None = None
    status: str | None = None
    chat_id: str | None = None
    since: float | None = None
    until: float | None = None
    before: int | None = None
    after: int | None = None
    limit: int = 50

    def conditions(self) -> list[tuple[str, object]]:
        """The filters given, each a column condition (``?`` its one value) in the same words
        for both back ends."""
        found: list[tuple[str, object]] = []
        if self.status == "retrying":
            found += [("status = ?", "pending"), (f"{FAILED_BEFORE} = ?", True)]
        elif self.status == "waiting":  # pending, not failed before (the console's pending)
            found += [("status = ?", "pending"), (f"{FAILED_BEFORE} = ?", False)]
        elif self.status:
            found.append(("status = ?", self.status))
        for condition, value in (
            ("connector = ?", self.connector),
            ("chat_id = ?", self.chat_id),
            ("created_at >= ?", self.since),
            ("created_at < ?", self.until),
            ("id < ?", self.before),
            ("id > ?", self.after),
        ):
            if value is not None and value != "":
                found.append((condition, value))
        return found

    @property
    def ascending(self) -> bool:
        """A page going forward (``after``): its rows are taken the oldest first, so that the
        page is the one just above the bound; the caller shows them the latest first."""
        return self.after is not None and self.before is None

    def order(self) -> str:
        return "id ASC" if self.ascending else "id DESC"


@dataclass(frozen=True)
class Incoming:
    """A chat to accept: for which connector, its id, the JSON as received, where it will go, the
    Idempotency-Key its delivery carries (the export's own, so a CLI export of it matches), and
    its version: its ``endAt``, later when the chat was re-opened and finished again."""

    connector: str
    chat_id: str
    body: bytes
    target: str
    key: str
    end_at: int | None = None


@dataclass(frozen=True)
class Expired:
    """What a retention pass removed."""

    deliveries: int
    chats: int
    nodes: int = 0  # records of nodes dead or stopped before then


@dataclass(frozen=True)
class Accepted:
    delivery_id: int | None  # None when the chat was already accepted before (a duplicate)
    duplicate: bool


@dataclass(frozen=True)
class Node:
    """A ``serve`` process working the outbox, as the outbox knows it."""

    id: str  # host:pid:random, unique for the process's life
    host: str
    pid: int
    process: str  # what tells this process from a later one with its pid (boot id, start time)
    started_at: float
    heartbeat_at: float  # by the outbox's clock (PostgreSQL: the database's, never a node's)
    state: str  # alive | dead (declared so by a peer) | stopped (left on its own)


@dataclass(frozen=True)
class Rescue:
    """What one rescue pass did: the nodes it declared dead, the deliveries their leases held
    that went back to the others, and those that went dead after `MAX_CRASHES`."""

    nodes: tuple[str, ...] = ()
    released: int = 0
    dead: int = 0


class Outbox(ABC):
    """The outbox: accepting chats (the intake), claiming and finishing deliveries (the workers),
    the nodes' membership, and the operator's view (list, show, retry, purge, count).

    ``clock`` gives "now" as seconds since 1970. Both back ends are safe to share between threads.
    """

    location: str  # what --db named, its password left out (safe to show)
    found_version: int | None  # the schema version it had when opened; None: made by this open
    clock: Callable[[], float]
    schedule: Schedule
    rng: random.Random

    # --- accepting -------------------------------------------------------------------------------

    @abstractmethod
    def accept_many(self, batch: Sequence[Incoming]) -> list[Accepted]:
        """Store chats and their deliveries in one durable transaction (a group commit)."""

    @abstractmethod
    def request_export(self, connector: str, chat_id: str, target: str) -> int:
        """The Report Export button: a new delivery of a stored chat (its latest version), with a
        key of its own (the hook's and a number): pressing again means exporting again."""

    # --- working ---------------------------------------------------------------------------------

    @abstractmethod
    def claim(
        self,
        owner: str,
        lease: float = 60.0,
        per_target: int = 4,
        connectors: Collection[str] | None = None,
    ) -> Delivery | None:
        """The next due delivery, leased to ``owner`` (``node-id/worker``); counts as an attempt.
        None when nothing is due or every due target is at its limit. With ``connectors``, only
        theirs: the deliveries of a connector that is not served wait, untouched."""

    @abstractmethod
    def renew(self, delivery_ids: Sequence[int], owner: str, lease: float) -> int:
        """Extend the leases of deliveries still being attempted; how many are still ``owner``'s."""

    @abstractmethod
    def release(self, delivery: Delivery, owner: str, hold: float = 1.0) -> bool:
        """Put a claimed delivery back, attempt uncounted, to be looked at in ``hold`` seconds.
        False when the lease was lost."""

    @abstractmethod
    def succeed(
        self,
        delivery: Delivery,
        owner: str,
        status: int | None = None,
        *,
        seconds: float = 0.0,
        answer: str | None = None,
        request: str | None = None,
    ) -> bool:
        """Record the delivery as delivered, and the attempt in its history (it took ``seconds``;
        ``answer``: the first of the answer's body, redacted; ``request``: the request as it went
        out, redacted); False when the lease was lost
        (nothing is recorded then: the worker that took it over records its own)."""

    @abstractmethod
    def fail(
        self,
        delivery: Delivery,
        owner: str,
        error: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
        seconds: float = 0.0,
        answer: str | None = None,
        request: str | None = None,
    ) -> str | None:
        """Record a failed attempt: pending again after the schedule's delay, or dead; and the
        attempt in the delivery's history, as `succeed` does. The new status, or None when the
        lease was lost (another worker owns the delivery now)."""

    @abstractmethod
    def chat_body(self, connector: str, chat_id: str, end_at: int | None = None) -> bytes:
        """A stored chat as received: the version ``end_at`` (a delivery's), or the latest."""

    def watch(self, wake: Callable[[], None], stopping: threading.Event) -> None:
        """Call ``wake`` whenever another process may have stored work, until ``stopping``;
        returns at once where the back end cannot tell (the workers then poll)."""
        return None

    # --- nodes -----------------------------------------------------------------------------------

    @abstractmethod
    def join(self, node: Node) -> None:
        """Register a node, alive, its heartbeat now."""

    @abstractmethod
    def heartbeat(self, node_id: str) -> bool:
        """The node is alive now; False when a peer has declared it dead meanwhile (its leases
        are gone: it must join again under a new id)."""

    @abstractmethod
    def leave(self, node_id: str) -> int:
        """A node stopping on its own: marked stopped, and the leases it still holds (attempts
        that did not finish in time) released at once, uncounted. How many were released."""

    @abstractmethod
    def rescue(self, silence: float, gone: Collection[str] = ()) -> Rescue:
        """Declare dead the alive nodes whose last heartbeat is more than ``silence`` seconds
        old, and those in ``gone`` (known dead: a process no longer running on this host), then
        release every lease the dead hold: uncounted, a crash counted, due at once; dead after
        `MAX_CRASHES`."""

    @abstractmethod
    def nodes(self) -> list[Node]:
        """Every node the outbox knows, alive ones first."""

    @abstractmethod
    def forget_nodes(self, older_than: float) -> int:
        """Remove the records of nodes dead or stopped, silent for more than ``older_than``
        seconds (every start and rejoin makes one); how many."""

    # --- the operator's view ---------------------------------------------------------------------

    @abstractmethod
    def deliveries(
        self, status: str | None = None, connector: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        """The latest deliveries first."""

    @abstractmethod
    def find(self, query: DeliveryQuery) -> list[Delivery]:
        """The deliveries ``query`` selects, the latest (highest id) first, at most its limit: a
        page of a keyset listing (the next page's ``before`` is this page's last id), as fast on
        the last page of 100,000 deliveries as on the first."""

    @abstractmethod
    def delivery(self, delivery_id: int) -> Delivery | None: ...

    @abstractmethod
    def attempts(self, delivery_id: int) -> list[Attempt]:
        """A delivery's attempt history, the first first (empty for an unknown delivery)."""

    @abstractmethod
    def recorded_attempts(self, delivery_ids: Sequence[int]) -> dict[int, int]:
        """How many attempts each delivery's history holds (a listing's page at once; a
        delivery without any is left out)."""

    @abstractmethod
    def retry(
        self,
        ids: Sequence[int] = (),
        status: str | None = None,
        *,
        states: Collection[str] | None = None,
    ) -> int:
        """Send deliveries again now, with a fresh schedule (dead ones included); one being
        attempted right now is left alone, and with ``states`` one in any other state (checked in
        the same UPDATE: a delivery delivered meanwhile is not sent twice). How many."""

    @abstractmethod
    def purge(
        self, ids: Sequence[int] = (), status: str | None = None, older_than: float | None = None
    ) -> int:
        """Remove finished deliveries (never pending ones) with their attempt histories; with
        ``older_than``, only those finished more than that many seconds ago."""

    @abstractmethod
    def purge_chats(self, older_than: float) -> int:
        """Remove the chats no delivery refers to, received more than ``older_than`` s ago."""

    def expire(self, older_than: float) -> Expired:
        """Retention: the deliveries delivered more than ``older_than`` seconds ago, then the
        chats no delivery needs any more received before then (`purge_chats`). Pending and dead
        deliveries and their chats stay."""
        deliveries = self.purge(status=DeliveryStatus.DELIVERED, older_than=older_than)
        return Expired(deliveries, self.purge_chats(older_than), self.forget_nodes(older_than))

    @abstractmethod
    def vacuum(self) -> None:
        """Give the space of removed rows back to the file system."""

    @abstractmethod
    def pending_by_connector(self) -> dict[str, int]:
        """Pending deliveries (accepted work not delivered yet) by connector name."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """Deliveries by state, "chats", and "retrying": those of the pending ones that failed
        before (`FAILED_BEFORE`; the console shows pending less retrying as waiting)."""

    # --- the database itself ---------------------------------------------------------------------

    @abstractmethod
    def schema_version(self) -> int:
        """The schema version the database carries (`SCHEMA_VERSION` once upgraded)."""

    @abstractmethod
    def probe(self) -> None:
        """A durable write that changes nothing: is the outbox writable? Raises what fails."""

    @abstractmethod
    def close(self) -> None:
        """Close this thread's connection (or the pool)."""
