"""The intake's own health: is the outbox writable, and who may ask.

After a write of accepted chats fails (a full disk, an I/O error, a damaged file), the intake
says so: hooks answer 503 with Retry-After (they cannot be stored) and ``/healthz`` is unhealthy,
so a load balancer sends the traffic elsewhere. The state clears by itself when a write succeeds
again: the next group commit, or the probe write ``/healthz`` makes while the state lasts (a node
the balancer has taken out gets no hooks, so it must find out on its own). Damage found while
running stays until a restart, whose start check (``PRAGMA quick_check``) decides: a write that
happens to succeed says nothing about the pages that failed to read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from exportdsl.delivery.outbox import Outbox

__all__ = ["PROBE_INTERVAL", "StorageHealth", "StorageProblem"]

PROBE_INTERVAL = 1.0  # seconds: /healthz, asked often while unhealthy, probes at most this often

# SQLite's names for a file whose pages do not read as they should
_DAMAGED = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


@dataclass(frozen=True)
class StorageProblem:
    error: str  # what SQLite said
    since: float  # when it was first seen (time.time())
    damaged: bool  # the file is damaged: only a restart (and its check) clears this

    def describe(self) -> str:
        if self.damaged:
            return (
                f"the outbox is damaged ({self.error}); restart the server: its start check says "
                "what to do"
            )
        return f"the outbox cannot be written ({self.error})"


class StorageHealth:
    """Whether the last write of the outbox succeeded; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._problem: StorageProblem | None = None
        self._lock = threading.Lock()
        self._last_probe = float("-inf")
        self._probing = False  # a probe is under way (it may wait up to 30 s for a held outbox)

    @property
    def problem(self) -> StorageProblem | None:
        return self._problem

    def failed(self, error: BaseException) -> None:
        damaged = str(getattr(error, "sqlite_errorname", None) or "").startswith(_DAMAGED)
        with self._lock:
            previous = self._problem
            self._problem = StorageProblem(
                str(error) or type(error).__name__,
                previous.since if previous else self.clock(),
                damaged or (previous is not None and previous.damaged),
            )

    def succeeded(self) -> None:
        with self._lock:
            if self._problem is not None and not self._problem.damaged:
                self._problem = None

    def check(self, outbox: Outbox) -> StorageProblem | None:
        """The problem, if it lasts: while there is one that a write can clear, a probe write is
        made (at most every `PROBE_INTERVAL` seconds, and one at a time: while one waits for an
        outbox another process holds, the others answer with the problem as it stands instead of
        queueing behind it, each holding a thread). Blocks: run it off the event loop."""
        problem = self._problem
        if problem is None or problem.damaged:
            return problem
        with self._lock:
            now = time.monotonic()
            if self._probing or now - self._last_probe < PROBE_INTERVAL:
                return self._problem
            self._last_probe, self._probing = now, True
        try:
            outbox.probe()
        except Exception as error:  # whatever the back end raises: it cannot be written
            self.failed(error)
        else:
            self.succeeded()
        finally:
            self._probing = False
        return self._problem
