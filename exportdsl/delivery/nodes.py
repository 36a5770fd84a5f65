"""Nodes that know each other are alive: a ``serve`` process's membership in its outbox.

Each process joins the outbox as a node and heartbeats every `BEAT` seconds. After each beat it
looks at its peers: one silent for longer than `SILENCE` is declared dead, and every lease it held
goes back to the others at once (`Outbox.rescue`), so its work is delivered within seconds rather
than when its leases run out. On this host a peer whose process is gone is dead at once, without
waiting for the silence: a server restarted after ``kill -9`` rescues its predecessor's work as it
starts.

Fencing: the dead node's leases are cleared, so if it was only paused (SIGSTOP, a VM migrated)
and resumes, every finish it attempts names a lease it no longer holds and changes nothing; its
next heartbeat finds it declared dead, and it joins again under a new id.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from exportdsl.delivery.logs import fields
from exportdsl.delivery.outbox import Node, Outbox, Rescue

__all__ = ["BEAT", "SILENCE", "Membership", "Rescues", "this_process"]

BEAT = 1.0  # seconds between two heartbeats of a node
SILENCE = 5.0  # a node silent this long is dead: rescue within SILENCE + BEAT of its death

log = logging.getLogger("exportdsl.nodes")


def this_process() -> Node:
    """This process as a node about to join (the times are the outbox's to set)."""
    host, pid = socket.gethostname(), os.getpid()
    return Node(
        id=f"{host}:{pid}:{secrets.token_hex(3)}",
        host=host,
        pid=pid,
        process=_process_token(pid) or "",
        started_at=0.0,
        heartbeat_at=0.0,
        state="alive",
    )


def _process_token(pid: int) -> str | None:
    """What tells a process from any other given the same pid: its pid namespace, the kernel's
    boot id and its start time (Linux's /proc); None when the process is not running, "" where
    there is no /proc to read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return f"{_here()}|{stat.rpartition(')')[2].split()[19]}"  # field 22: the start time
    except FileNotFoundError:
        return None if Path("/proc/self/stat").exists() else ""
    except (OSError, IndexError):
        return ""


def _here() -> str:
    """This pid namespace on this boot of this kernel: where a pid means one process."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
    return f"{namespace}|{boot}"


def gone_here(nodes: Collection[Node], me: Node) -> list[str]:
    """The alive nodes whose process, in this pid namespace, no longer runs (or whose pid another
    process has now): dead without waiting for their silence. Nodes elsewhere (another machine,
    another container) are judged by their silence alone."""
    here = _here()
    return [
        node.id
        for node in nodes
        if node.state == "alive"
        and node.id != me.id
        and here
        and node.process.startswith(here + "|")
        and _process_token(node.pid) != node.process
    ]


@dataclass
class Rescues:
    """What this node has rescued so far (for /healthz and /metrics)."""

    nodes: int = 0
    released: int = 0
    dead: int = 0
    last: float | None = None  # when (time.time())
    rejoined: int = 0  # times this node was declared dead by a peer and joined again

    def add(self, rescue: Rescue) -> None:
        self.nodes += len(rescue.nodes)
        self.released += rescue.released
        self.dead += rescue.dead
        self.last = time.time()


class Membership:
    """This process's node: joins, heartbeats and rescues in a thread of its own."""

    def __init__(
        self,
        open_outbox: Callable[[], Outbox],
        *,
        beat: float = BEAT,
        silence: float = SILENCE,
    ) -> None:
        self.open_outbox = open_outbox
        self.beat = beat
        self.silence = silence
        self.node = this_process()
        self.rescues = Rescues()
        self._outbox: Outbox | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="exportdsl-node")
        self._last_beat = time.monotonic()
        self._judge_from = 0.0  # time.monotonic() before which this node judges nobody

    @property
    def id(self) -> str:
        return self.node.id

    def owner(self, worker: str) -> str:
        """The lease owner a worker of this node claims as: the node's id, then the worker's."""
        return f"{self.node.id}/{worker}"

    def start(self) -> None:
        """Join, rescue at once what dead peers left (a restart after ``kill -9`` gets its
        predecessor's work back now), then beat in the background."""
        self._outbox = self.open_outbox()
        self._outbox.join(self.node)
        log.info("node joined", extra=fields(node=self.node.id))
        self._rescue(self._outbox)
        self._thread.start()

    def stop(self) -> None:
        """Leave: the leases still held (attempts that did not finish in time) go back now."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(self.beat * 5)
        if self._outbox is None:
            return
        try:
            released = self._outbox.leave(self.node.id)
        except Exception:  # the next node to start rescues them after the silence instead
            log.exception("could not leave the outbox", extra=fields(node=self.node.id))
            return
        finally:
            self._outbox.close()
        log.info("node left", extra=fields(node=self.node.id, released=released))

    def peers(self) -> list[Node]:
        """Every node the outbox knows (this one too), alive first."""
        return self._outbox.nodes() if self._outbox is not None else []

    def _run(self) -> None:
        outbox: Outbox | None = None
        failing = False
        try:
            while not self._stopping.wait(self.beat):
                try:
                    outbox = outbox or self.open_outbox()
                    self._beat(outbox)
                    if failing:
                        log.info("heartbeat back", extra=fields(node=self.node.id))
                    failing = False
                except Exception:  # an outbox that fails now: the next beat tries again
                    if not failing:  # once an outage, not every second of it
                        log.exception("heartbeat failed", extra=fields(node=self.node.id))
                    failing = True
                    # ... on an outbox opened anew: a connection pool that failed to connect
                    # waits longer and longer before it tries again (psycopg's pool: 1, 2, 4,
                    # 8, 16 s), and would keep this node silent long after the database is back.
                    outbox = self._closed(outbox)
        finally:
            self._closed(outbox)

    @staticmethod
    def _closed(outbox: Outbox | None) -> None:
        if outbox is not None:
            try:
                outbox.close()
            except Exception:  # closing a broken outbox: nothing more to do for it
                log.debug("closing the heartbeat's outbox failed", exc_info=True)

    def _beat(self, outbox: Outbox) -> None:
        if not outbox.heartbeat(self.node.id):
            self._rejoin(outbox)
        now = time.monotonic()
        if now - self._last_beat > self.silence:
            # This node could not beat for longer than the silence (the outbox was held or out of
            # reach, this process was paused): its peers were likely held as long, and may need
            # longer to beat again (a connection made again after the database came back). It
            # judges none by their silence until they have had a whole silence from now to beat;
            # a peer whose process is gone from this machine is dead all the same.
            self._judge_from = now + self.silence
        self._last_beat = now
        self._rescue(outbox, self.silence if now >= self._judge_from else math.inf)

    def _rejoin(self, outbox: Outbox) -> None:
        old = self.node.id
        self.node = this_process()
        outbox.join(self.node)
        self.rescues.rejoined += 1
        log.warning(
            "this node was declared dead by a peer (silent for longer than %.0f s: paused, or "
            "the outbox was out of reach); the work it held went to the others and it joins "
            "again under a new id",
            self.silence,
            extra=fields(node=self.node.id, was=old),
        )

    def _rescue(self, outbox: Outbox, silence: float | None = None) -> None:
        gone = gone_here(outbox.nodes(), self.node)
        rescue = outbox.rescue(self.silence if silence is None else silence, gone)
        if not rescue.nodes:
            return
        self.rescues.add(rescue)
        log.warning(
            "rescued the work of dead nodes",
            extra=fields(
                node=self.node.id,
                dead_nodes=",".join(rescue.nodes),
                released=rescue.released,
                dead_deliveries=rescue.dead,
            ),
        )
