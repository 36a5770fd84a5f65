"""`exportdsl serve`: connectors from a folder, the outbox, the workers and the intake, together."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from exportdsl.delivery.connectors import MIN_SECRET, ConnectorGauge, Connectors, Reload
from exportdsl.delivery.database import check_intact
from exportdsl.delivery.deliver import ExportDeliverer
from exportdsl.delivery.limits import Limits
from exportdsl.delivery.nodes import BEAT, SILENCE
from exportdsl.delivery.outbox import Schedule
from exportdsl.delivery.server import Intake
from exportdsl.delivery.store import is_postgres, open_outbox
from exportdsl.delivery.workers import PoolSettings, WorkerPool
from exportdsl.errors import ServeError

__all__ = ["Settings", "build", "load_connectors", "monitoring_token"]


@dataclass(frozen=True)
class Settings:
    connectors: Path
    database: str | Path  # a SQLite file or a postgresql:// URL (`store.open_outbox`)
    workers: int = 4
    per_target: int = 4
    lease: float = 120.0
    schedule: Schedule = field(default_factory=Schedule)
    retention: float | None = None  # seconds; None: delivered deliveries and chats are kept
    sweep_every: float = 3600.0  # seconds between two retention passes
    # the environment variable holding the token /healthz and /metrics require (None: open)
    monitoring_token_env: str | None = None
    limits: Limits = field(default_factory=Limits)
    beat: float = BEAT  # seconds between two heartbeats of this node
    silence: float = SILENCE  # a node silent this long is dead, its work rescued


def load_connectors(folder: Path, env: Mapping[str, str]) -> tuple[Connectors, Reload]:
    """Every connector file in ``folder``, each loaded on its own; its name in URLs is the file
    name without the suffix. The start fails only when no connector at all can serve."""
    connectors = Connectors(folder, env)
    loaded = connectors.reload()
    if not loaded.serving:
        if not loaded.broken:
            raise ServeError(f"{folder}: no connector files (.yaml, .yml, .json)")
        diagnostics = "\n".join(broken.report() for broken in loaded.broken)
        raise ServeError(
            f"{folder}: no connector can serve; fix them (`exportdsl check --env {folder}` finds "
            f"the same problems), then start again\n{diagnostics}"
        )
    return connectors, loaded


def monitoring_token(variable: str | None, env: Mapping[str, str]) -> str | None:
    """The token /healthz and /metrics require, from the environment variable named (never from
    the command line, where every user of the machine can read it)."""
    if variable is None:
        return None
    token = env.get(variable, "")
    if len(token) < MIN_SECRET:
        problem = "not set" if not token else f"shorter than {MIN_SECRET} characters"
        raise ServeError(
            f"--monitoring-token-env: environment variable {variable} is {problem}",
            hint="set it to a long random value: monitors send it as Authorization: Bearer",
        )
    return token


def build(
    settings: Settings, env: Mapping[str, str] | None = None, connectors: Connectors | None = None
) -> Intake:
    environment = os.environ if env is None else env
    token = monitoring_token(settings.monitoring_token_env, environment)
    if connectors is None:
        connectors, _ = load_connectors(settings.connectors, environment)
    if not is_postgres(settings.database):
        check_intact(settings.database)  # before anything writes to it
    location = str(settings.database)
    deliverer = ExportDeliverer(connectors.plans, env=environment)
    pool = WorkerPool(
        location,
        deliverer,
        PoolSettings(
            settings.workers,
            settings.per_target,
            settings.lease,
            retention=settings.retention,
            sweep_every=settings.sweep_every,
            beat=settings.beat,
            silence=settings.silence,
        ),
        outbox_factory=partial(open_outbox, schedule=settings.schedule, durable=False),
    )
    pool.serving = connectors.serving
    intake = Intake(connectors, location, pool, limits=settings.limits)
    intake.unavailable = connectors.unavailable
    intake.monitoring_token = token
    pool.observe = intake.metrics.observe
    intake.metrics.registry.register(ConnectorGauge(connectors))
    return intake
