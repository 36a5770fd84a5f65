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

from exportdsl.delivery.outbox import Delivery, Outbox
from exportdsl.vocabulary import DeliveryStatus

__all__ = ["Deliver", "Observe", "Outcome", "PoolSettings", "WorkerPool", "log"]

log = logging.getLogger("exportdsl.delivery")


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status: int | None = None  # the back end's HTTP status, when it answered
    error: str = ""  # redacted
    retry_after: float | None = None
    permanent: bool = (
        False  # no point in trying again: not `sending.retryable` (most 4xx), a broken config
    )


Deliver = Callable[
    [Delivery, bytes], Outcome
]  # (the delivery, the chat JSON as received) -> outcome
Observe = Callable[[Delivery, Outcome, float], None]  # metrics: what happened, and how long it took


@dataclass(frozen=True)
class PoolSettings:
    """How many workers, how many at once per back end, how long a claim holds, and how long an
    idle worker waits before it looks again (seconds)."""

    workers: int = 4
    per_target: int = 4
    lease: float = 120.0
    idle: float = 0.2


class WorkerPool:
    def __init__(
        self,
        outbox_path: str,
        deliver: Deliver,
        settings: PoolSettings = PoolSettings(),
        *,
        observe: Observe | None = None,
        outbox_factory: Callable[[str], Outbox] = Outbox,
    ) -> None:
        self.outbox_path = outbox_path
        self.deliver = deliver
        self.per_target = settings.per_target
        self.lease = settings.lease
        self.idle = settings.idle
        self.observe = observe
        self.outbox_factory = outbox_factory
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._in_flight: dict[str, int] = {}  # owner -> the delivery it is attempting
        self._in_flight_lock = threading.Lock()
        self._threads = [
            threading.Thread(
                target=self._work,
                args=(f"worker-{number}",),
                daemon=True,
                name=f"exportdsl-worker-{number}",
            )
            for number in range(settings.workers)
        ]
        self._threads.append(
            threading.Thread(target=self._renew_leases, daemon=True, name="exportdsl-leases")
        )

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """Something was accepted: look now rather than at the next idle tick."""
        self._wake.set()

    def alive(self) -> int:
        """Worker threads running (for /healthz: one that died is a server that delivers less)."""
        return sum(thread.is_alive() for thread in self._threads[:-1])

    @property
    def size(self) -> int:
        return len(self._threads) - 1

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
                try:
                    delivery = outbox.claim(owner, lease=self.lease, per_target=self.per_target)
                    if delivery is None:
                        self._wake.wait(self.idle)
                        self._wake.clear()
                        continue
                    self._attempt(outbox, owner, delivery)
                except (
                    Exception
                ):  # a locked or failing database must not end the worker: wait, go on
                    log.exception("worker %s: the outbox failed; trying again in a second", name)
                    self._stopping.wait(1.0)
        finally:
            outbox.close()

    def _renew_leases(self) -> None:
        """While attempts run, their leases are extended (every third of a lease).

        So a slow back end never makes another worker send the same delivery again.
        """
        outbox = self.outbox_factory(self.outbox_path)
        try:
            while not self._stopping.wait(self.lease / 3):
                with self._in_flight_lock:
                    attempts = list(self._in_flight.items())
                for owner, delivery_id in attempts:
                    try:
                        outbox.renew([delivery_id], owner, self.lease)
                    except Exception:
                        log.exception("could not renew the lease of delivery %s", delivery_id)
        finally:
            outbox.close()

    def _attempt(self, outbox: Outbox, owner: str, delivery: Delivery) -> None:
        started = time.monotonic()
        with self._in_flight_lock:
            self._in_flight[owner] = delivery.id
        try:
            body = outbox.chat_body(delivery.connector, delivery.chat_id, delivery.end_at)
            outcome = self.deliver(delivery, body)
        except Exception as error:  # a bug must not kill the worker; the delivery is retried
            log.exception("delivery %s failed unexpectedly", delivery.id)
            outcome = Outcome(False, error=f"internal error: {type(error).__name__}")
        finally:
            with self._in_flight_lock:
                self._in_flight.pop(owner, None)
        self._finish(outbox, owner, delivery, outcome)
        if self.observe is not None:
            self.observe(delivery, outcome, time.monotonic() - started)

    def _finish(self, outbox: Outbox, owner: str, delivery: Delivery, outcome: Outcome) -> None:
        if outcome.delivered:
            recorded = outbox.succeed(delivery, owner, outcome.status)
            state: str | None = "delivered" if recorded else None
        else:
            state = outbox.fail(
                delivery,
                owner,
                outcome.error,
                status=outcome.status,
                retry_after=outcome.retry_after,
                permanent=outcome.permanent,
            )
        if (
            state is None
        ):  # the lease was lost (a stall longer than a lease): another worker has it now
            log.warning(
                "delivery %s: lease lost during the attempt; its result (%s) is left to the worker "
                "that took it over, which sends it again under the same key",
                delivery.id,
                "delivered" if outcome.delivered else outcome.error,
            )
        elif state == DeliveryStatus.DEAD:
            log.warning(
                "delivery %s is dead after %s attempts: %s",
                delivery.id,
                delivery.attempts,
                outcome.error,
            )
