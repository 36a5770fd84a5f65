"""Delivery workers: threads that claim deliveries from the outbox and run them, one attempt each.

The outbox owns the retry schedule, so a worker makes exactly one attempt and reports how it went
(`Outcome`): delivered, failed and worth another try (with the back end's Retry-After), or failed
for good. The pool's process is a node of the outbox (`nodes.Membership`): a process that dies
mid-attempt is declared dead by its peers (or by its successor as it starts) within seconds, and
its deliveries are tried again, with the same idempotency key, that attempt uncounted. A worker
thread that stalls past its lease loses it the same way, when the lease runs out.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from exportdsl.delivery.logs import fields
from exportdsl.delivery.nodes import BEAT, SILENCE, Membership
from exportdsl.delivery.outbox import Delivery, Outbox
from exportdsl.delivery.store import open_outbox
from exportdsl.vocabulary import DeliveryStatus

__all__ = ["Deliver", "Observe", "Outcome", "PoolSettings", "WorkerPool", "log"]

log = logging.getLogger("exportdsl.delivery")
retention_log = logging.getLogger("exportdsl.retention")


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status: int | None = None  # the back end's HTTP status, when it answered
    error: str = ""  # redacted
    retry_after: float | None = None
    permanent: bool = (
        False  # no point in trying again: not `sending.retryable` (most 4xx), a broken config
    )
    held: bool = False  # not attempted: its connector is not served now; back as it was, uncounted
    answer: str | None = None  # the first of the answer's body, redacted (the attempt's history)
    request: str | None = None  # the request as it went out, redacted (the attempt's history)


Deliver = Callable[
    [Delivery, bytes], Outcome
]  # (the delivery, the chat JSON as received) -> outcome
Observe = Callable[[Delivery, Outcome, float], None]  # metrics: what happened, and how long it took


@dataclass(frozen=True)
class PoolSettings:
    """How many workers, how many at once per back end, how long a claim holds, and how long an
    idle worker waits before it looks again (seconds); with a ``retention`` (seconds), every
    ``sweep_every`` seconds what is delivered and older goes, with the chats no delivery needs."""

    workers: int = 4
    per_target: int = 4
    lease: float = 120.0
    idle: float = 0.2
    retention: float | None = None
    sweep_every: float = 3600.0
    beat: float = BEAT  # seconds between two heartbeats of this node
    silence: float = SILENCE  # a node silent this long is dead, its work rescued


class WorkerPool:
    def __init__(
        self,
        location: str | Path,
        deliver: Deliver,
        settings: PoolSettings = PoolSettings(),
        *,
        observe: Observe | None = None,
        outbox_factory: Callable[[str], Outbox] = open_outbox,
    ) -> None:
        self.outbox_path = str(location)
        self.deliver = deliver
        self.per_target = settings.per_target
        self.lease = settings.lease
        self.idle = settings.idle
        self.observe = observe
        self.outbox_factory = outbox_factory
        # the connectors whose deliveries may be claimed (None: all); the others' wait, untouched
        self.serving: Callable[[], Collection[str]] | None = None
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
        self.retention = settings.retention
        self.sweep_every = settings.sweep_every
        self._sweeper = threading.Thread(
            target=self._sweep, daemon=True, name="exportdsl-retention"
        )
        self.membership = Membership(
            lambda: self.outbox_factory(self.outbox_path),
            beat=settings.beat,
            silence=settings.silence,
        )
        self._watcher = threading.Thread(target=self._watch, daemon=True, name="exportdsl-watch")

    def start(self) -> None:
        """Join the outbox as a node (rescuing what dead peers left), then start working."""
        self.membership.start()
        self._watcher.start()
        for thread in self._threads:
            thread.start()
        if self.retention is not None:
            self._sweeper.start()

    def wake(self) -> None:
        """Something was accepted: look now rather than at the next idle tick."""
        self._wake.set()

    def alive(self) -> int:
        """Worker threads running (for /healthz: one that died is a server that delivers less)."""
        return sum(thread.is_alive() for thread in self._threads[:-1])

    @property
    def size(self) -> int:
        return len(self._threads) - 1

    def in_flight(self) -> int:
        """Deliveries being attempted right now."""
        with self._in_flight_lock:
            return len(self._in_flight)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is in flight (up to ``timeout``), claim nothing new."""
        self._stopping.set()
        self._wake.set()
        log.info(
            "workers stopping: waiting for the deliveries in flight",
            extra=fields(deliveries=self.in_flight(), wait_s=timeout),
        )
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._sweeper.is_alive():
            self._sweeper.join(max(0.0, deadline - time.monotonic()))
        left = self.in_flight()
        log.log(
            logging.WARNING if left else logging.INFO,
            "workers stopped"
            + ("; the deliveries still in flight go back to the outbox, uncounted" if left else ""),
            extra=fields(deliveries=left),
        )
        self.membership.stop()

    def _watch(self) -> None:
        """Woken by the outbox when another node stores work (PostgreSQL's NOTIFY); where the
        back end cannot tell, the workers look every `PoolSettings.idle` seconds."""
        outbox = self.outbox_factory(self.outbox_path)
        try:
            outbox.watch(self.wake, self._stopping)
        except Exception:  # polling goes on: only the wake-ups are lost
            log.exception("watching the outbox failed; the workers poll it")
        finally:
            outbox.close()

    def _work(self, name: str) -> None:
        outbox = self.outbox_factory(self.outbox_path)
        failing = False  # the outbox failed: said once, until it answers again
        try:
            while not self._stopping.is_set():
                owner = self.membership.owner(name)  # its node's id may change (a rejoin)
                try:
                    delivery = outbox.claim(
                        owner,
                        lease=self.lease,
                        per_target=self.per_target,
                        connectors=self.serving() if self.serving is not None else None,
                    )
                except Exception:  # a locked or failing database must not end the worker
                    if not failing:
                        log.exception(
                            "the outbox failed; the worker tries again every second",
                            extra=fields(worker=name),
                        )
                    failing = True
                    self._stopping.wait(1.0)
                    outbox = self._reopened(outbox)
                    continue
                if failing:
                    log.info("the outbox answers again", extra=fields(worker=name))
                    failing = False
                if delivery is None:
                    self._wake.wait(self.idle)
                    self._wake.clear()
                    continue
                try:
                    self._attempt(outbox, owner, delivery)
                except Exception:  # its result is recorded again and again (`_record`)
                    log.exception("the attempt failed unexpectedly", extra=fields(worker=name))
        finally:
            outbox.close()

    def _reopened(self, outbox: Outbox) -> Outbox:
        """A fresh outbox after a failure, when one can be opened: a PostgreSQL pool that lost
        its server retries with a growing back-off (1, 2, 4 … 16 s), so after an outage the
        workers would wait for it that long; a fresh one connects at once. Else the old one."""
        try:
            fresh = self.outbox_factory(self.outbox_path)
        except Exception:  # still out of reach: the next failure tries again
            return outbox
        outbox.close()
        return fresh

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
                        log.exception(
                            "could not renew the lease", extra=fields(delivery=delivery_id)
                        )
        finally:
            outbox.close()

    def _sweep(self) -> None:
        """Retention: at the start and every `sweep_every` seconds, the deliveries delivered longer
        ago than the retention go, and the chats no delivery needs any more (`Outbox.expire`)."""
        retention = self.retention or 0.0
        outbox = self.outbox_factory(self.outbox_path)
        about = fields(retention_days=round(retention / 86400, 3), every_s=self.sweep_every)
        retention_log.info("retention on", extra=about)
        try:
            while True:
                try:
                    expired = outbox.expire(retention)
                except Exception:  # a locked or failing database: the next sweep tries again
                    retention_log.exception("retention: the outbox failed", extra=about)
                else:
                    if expired.deliveries or expired.chats:
                        retention_log.info(
                            "retention: removed",
                            extra=fields(deliveries=expired.deliveries, chats=expired.chats),
                        )
                if self._stopping.wait(self.sweep_every):
                    return
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
            log.exception("attempt failed unexpectedly", extra=_about(delivery))
            outcome = Outcome(False, error=f"internal error: {type(error).__name__}")
        finally:
            with self._in_flight_lock:
                self._in_flight.pop(owner, None)
        if outcome.held:  # no attempt was made: nothing to log or count as one
            outbox.release(delivery, owner)
            log.info("held: its connector is not served", extra=_about(delivery))
            return
        seconds = time.monotonic() - started
        log.info(
            "attempt",
            extra=_about(
                delivery,
                attempt=delivery.attempts,
                duration_ms=round(seconds * 1000, 1),
                status=outcome.status,
                error=None if outcome.delivered else outcome.error,
            ),
        )
        self._record(outbox, owner, delivery, outcome, seconds)
        if self.observe is not None:
            self.observe(delivery, outcome, seconds)

    def _record(
        self, outbox: Outbox, owner: str, delivery: Delivery, outcome: Outcome, seconds: float
    ) -> None:
        """The attempt's outcome recorded, while the outbox fails meanwhile (PostgreSQL
        restarted): a lease left behind would count toward its back end's limit on every node
        until it ran out (--lease, 120 s), and a delivery made would be made again.

        Bounded: when the outbox answers but will not take this record (what came from outside
        does not fit it), the outcome goes in without the answer's texts (`_plain`); when nothing
        goes in for a lease's time, the worker gives up and goes on with other deliveries (the
        lease runs out: the delivery is attempted again, under the same key). A worker never
        stays on one record for ever while the others' deliveries wait."""
        failed = False
        deadline = time.monotonic() + self.lease
        while True:
            try:
                self._finish(outbox, owner, delivery, outcome, seconds)
                return
            except Exception:
                if self._stopping.is_set():  # leaving the outbox releases the lease
                    raise
                if not failed:  # once, not every second of an outage
                    log.exception(
                        "could not record the attempt; trying again every second",
                        extra=_about(delivery),
                    )
                failed = True
            try:
                self._finish(outbox, owner, delivery, _plain(outcome), seconds)
            except Exception:  # the outbox fails whatever the record: an outage, wait for it
                pass
            else:
                log.warning(
                    "the attempt was recorded without its answer and request: the outbox would "
                    "not take them",
                    extra=_about(delivery),
                )
                return
            if time.monotonic() >= deadline:
                log.error(
                    "gave up recording the attempt; its lease runs out and it is attempted "
                    "again, under the same key",
                    extra=_about(delivery, waited_s=round(self.lease, 1)),
                )
                return
            self._stopping.wait(1.0)

    def _finish(
        self, outbox: Outbox, owner: str, delivery: Delivery, outcome: Outcome, seconds: float
    ) -> None:
        if outcome.delivered:
            recorded = outbox.succeed(
                delivery,
                owner,
                outcome.status,
                seconds=seconds,
                answer=outcome.answer,
                request=outcome.request,
            )
            state: str | None = DeliveryStatus.DELIVERED if recorded else None
        else:
            state = outbox.fail(
                delivery,
                owner,
                outcome.error,
                status=outcome.status,
                retry_after=outcome.retry_after,
                permanent=outcome.permanent,
                seconds=seconds,
                answer=outcome.answer,
                request=outcome.request,
            )
        if (
            state is None
        ):  # the lease was lost (a stall longer than a lease): another worker has it now
            log.warning(
                "lease lost during the attempt; its result is left to the worker that took it "
                "over, which sends it again under the same key",
                extra=_about(delivery, result="delivered" if outcome.delivered else outcome.error),
            )
        elif state == DeliveryStatus.DELIVERED:
            log.info(
                "delivered",
                extra=_about(delivery, attempt=delivery.attempts, status=outcome.status),
            )
        elif state == DeliveryStatus.DEAD:
            log.warning(
                "dead",
                extra=_about(
                    delivery,
                    attempt=delivery.attempts,
                    status=outcome.status,
                    reason=outcome.error,
                ),
            )
        else:
            self._log_retry(outbox, delivery, outcome)

    def _log_retry(self, outbox: Outbox, delivery: Delivery, outcome: Outcome) -> None:
        again = outbox.delivery(delivery.id)  # the outbox decided when, with its jitter
        when = again.next_attempt_at if again is not None else None
        log.info(
            "retry scheduled",
            extra=_about(
                delivery,
                attempt=delivery.attempts,
                next_attempt=_iso(when) if when is not None else None,
                in_s=round(when - outbox.clock(), 1) if when is not None else None,
                retry_after=outcome.retry_after,
            ),
        )


def _plain(outcome: Outcome) -> Outcome:
    """The outcome without the texts that came from outside (the answer, the request as sent,
    the error quoting the answer): what is recorded when the outbox refuses those."""
    error = "" if outcome.delivered else "the attempt failed; its error could not be recorded"
    status = f" (HTTP {outcome.status})" if outcome.status is not None else ""
    return dataclasses.replace(
        outcome, error=error + (status if error else ""), answer=None, request=None
    )


def _about(delivery: Delivery, **more: object) -> dict[str, object]:
    """``extra=`` naming the delivery (connector, chat, delivery id), with ``more`` fields."""
    return fields(connector=delivery.connector, chat=delivery.chat_id, delivery=delivery.id, **more)


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
