"""Group commit: many concurrent accepts share one transaction, so one fsync serves them all.

With ``synchronous=FULL`` each commit waits for the disk; one commit per hook would cap intake at
the disk's fsync rate. Requests hand their chat to one writer thread and wait; the writer takes
everything that is waiting, commits it in one transaction and answers every waiter.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

from exportdsl.delivery.outbox import Accepted, Incoming, Outbox

__all__ = ["GroupCommitter"]

_STOP = object()


class GroupCommitter:
    def __init__(self, outbox: Outbox, max_batch: int = 512) -> None:
        self.outbox = outbox
        self.max_batch = max_batch
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(
            target=self._run, name="exportdsl-group-commit", daemon=True
        )
        self._thread.start()

    def submit(self, incoming: Incoming) -> Future[Accepted]:
        future: Future[Accepted] = Future()
        self._queue.put((incoming, future))
        return future

    def close(self) -> None:
        """Commit what is waiting, then stop."""
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = _STOP in batch
            work = [item for item in batch if item is not _STOP and _running(item)]
            if work:
                self._commit(work)  # type: ignore[arg-type]
        self.outbox.close()

    def _commit(self, work: list[tuple[Incoming, Future[Accepted]]]) -> None:
        try:
            results = self.outbox.accept_many([incoming for incoming, _ in work])
        except Exception as error:  # nothing of the batch was stored
            if len(work) == 1:  # the waiter answers 503: nothing was stored, nothing is lost
                work[0][1].set_exception(error)
                return
            # One item the database refuses must not fail every hook that shared its transaction:
            # each is tried on its own (a disk that refuses all fails each again, as it should).
            for item in work:
                self._commit([item])
            return
        for (_, future), result in zip(work, results, strict=True):
            future.set_result(result)


def _running(item: object) -> bool:
    """Whether a waiter still waits, its future now running, so it can no longer be cancelled: a
    cancelled future's result cannot be set, and the error killed this thread (uvicorn cancels the
    hooks still waiting when its graceful shutdown runs out), so no later hook was answered. A
    cancelled one is not stored: nobody was told it was."""
    assert isinstance(item, tuple)
    future: Future[Accepted] = item[1]
    return future.set_running_or_notify_cancel()
