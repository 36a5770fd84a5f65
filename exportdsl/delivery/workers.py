"""Delivery workers: threads that claim deliveries from the outbox and run them, one attempt each.

The outbox owns the retry schedule, so a worker makes exactly one attempt and reports how it went
(`Outcome`): delivered, failed and worth another try (with the back end's Retry-After), or failed
for good. A worker that dies mid-attempt leaves a lease that runs out: the delivery is tried again,
with the same idempotency key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from exportdsl.delivery.outbox import DEAD, Delivery, Outbox

log = logging.getLogger("exportdsl.delivery")


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status: int | None = None  # the back end's HTTP status, when it answered
    error: str = ""  # redacted
    retry_after: float | None = None
    permanent: bool = False  # no point in trying again (a 4xx other than 408/425/429, a broken config)


Deliver = Callable[[Delivery, bytes], Outcome]  # (the delivery, the chat JSON as received) -> outcome
Observe = Callable[[Delivery, Outcome, float], None]  # metrics: what happened, and how long it took


class WorkerPool:
    def __init__(self, outbox_path: str, deliver: Deliver, *, workers: int = 4, per_target: int = 4,
                 lease: float = 120.0, idle: float = 0.2, observe: Observe | None = None,
                 outbox_factory: Callable[[str], Outbox] = Outbox) -> None:
        self.outbox_path = outbox_path
        self.deliver = deliver
        self.per_target = per_target
        self.lease = lease
        self.idle = idle
        self.observe = observe
        self.outbox_factory = outbox_factory
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._threads = [threading.Thread(target=self._work, args=(f"worker-{number}",), daemon=True,
                                          name=f"exportdsl-worker-{number}") for number in range(workers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """Something was accepted: look now rather than at the next idle tick."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is in flight (up to ``timeout``), claim nothing new."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self, name: str) -> None:
        outbox = self.outbox_factory(self.outbox_path)
        owner = f"{name}@{id(self):x}:{threading.get_native_id()}"
        try:
            while not self._stopping.is_set():
                delivery = outbox.claim(owner, lease=self.lease, per_target=self.per_target)
                if delivery is None:
                    self._wake.wait(self.idle)
                    self._wake.clear()
                    continue
                self._attempt(outbox, owner, delivery)
        finally:
            outbox.close()

    def _attempt(self, outbox: Outbox, owner: str, delivery: Delivery) -> None:
        started = time.monotonic()
        try:
            body = outbox.chat_body(delivery.connector, delivery.chat_id)
            outcome = self.deliver(delivery, body)
        except Exception as error:  # a bug must not kill the worker; the delivery is retried
            log.exception("delivery %s failed unexpectedly", delivery.id)
            outcome = Outcome(False, error=f"internal error: {type(error).__name__}")
        if outcome.delivered:
            outbox.succeed(delivery, owner, outcome.status)
        else:
            state = outbox.fail(delivery, owner, outcome.error, status=outcome.status,
                                retry_after=outcome.retry_after, permanent=outcome.permanent)
            if state == DEAD:
                log.warning("delivery %s is dead after %s attempts: %s", delivery.id, delivery.attempts,
                            outcome.error)
        if self.observe is not None:
            self.observe(delivery, outcome, time.monotonic() - started)
