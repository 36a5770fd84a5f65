"""`exportdsl serve`: connectors from a folder, the outbox, the workers and the intake, together."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from exportdsl.compiler.analysis import compile_connector
from exportdsl.compiler.plan import Plan
from exportdsl.connector.model import Connector
from exportdsl.connector.reader import load_connector
from exportdsl.delivery.deliver import ExportDeliverer
from exportdsl.delivery.outbox import Outbox, Schedule
from exportdsl.delivery.server import Endpoint, Intake
from exportdsl.delivery.workers import PoolSettings, WorkerPool
from exportdsl.errors import ConnectorError, Diagnostic, ExportDslError, ServeError

__all__ = ["Settings", "build", "load_endpoints"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


@dataclass(frozen=True)
class Settings:
    connectors: Path
    database: Path
    workers: int = 4
    per_target: int = 4
    lease: float = 120.0
    schedule: Schedule = field(default_factory=Schedule)
    retention: float | None = None  # seconds; None: delivered deliveries and chats are kept
    sweep_every: float = 3600.0  # seconds between two retention passes


def load_endpoints(folder: Path, env: Mapping[str, str]) -> dict[str, Endpoint]:
    """Every connector file in ``folder``, compiled; its name in URLs is the file name without
    the suffix. Any error stops the start, with every diagnostic."""
    endpoints: dict[str, Endpoint] = {}
    problems: list[Diagnostic] = []
    for path in sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".json")):
        if not _NAME.match(path.stem):
            raise ServeError(
                f"{path}: {path.stem!r} cannot be a name in a URL",
                hint="use letters, digits, '.', '_' and '-'",
            )
        try:
            connector = load_connector(path)
            plan = compile_connector(connector)
        except ExportDslError as error:
            problems.extend(error.diagnostics)
            continue
        endpoints[path.stem] = Endpoint(
            path.stem, plan, _intake_secret(connector, env), _target(connector, path)
        )
    if problems:
        raise ConnectorError(str(folder), tuple(problems))
    if not endpoints:
        raise ServeError(f"{folder}: no connector files (.yaml, .yml, .json)")
    return endpoints


def _intake_secret(connector: Connector, env: Mapping[str, str]) -> str | None:
    name = connector.intake_secret_env
    if name is None:
        return None
    secret = env.get(name, "")
    if len(secret) < 16:
        raise ServeError(
            f"{connector.path}: intake.secret: ${'env.' + name} is "
            f"{'not set' if not secret else 'shorter than 16 characters'}",
            hint="set it to a long random value; Smartsupp gets it in the hook URL (?token=…)",
        )
    return secret


def _target(connector: Connector, path: Path) -> str:
    """The back end's host when the export URL names it literally; else one target per connector."""
    url = connector.export.url.source if connector.export and connector.export.url else ""
    host = urlsplit(url.split("$", 1)[0]).hostname if "://" in url.split("$", 1)[0] else None
    return host or f"connector:{path.stem}"


def build(settings: Settings, env: Mapping[str, str] | None = None) -> Intake:
    environment = os.environ if env is None else env
    endpoints = load_endpoints(settings.connectors, environment)
    plans: dict[str, Plan] = {name: endpoint.plan for name, endpoint in endpoints.items()}
    deliverer = ExportDeliverer(plans, env=environment)
    pool = WorkerPool(
        str(settings.database),
        deliverer,
        PoolSettings(
            settings.workers,
            settings.per_target,
            settings.lease,
            retention=settings.retention,
            sweep_every=settings.sweep_every,
        ),
        outbox_factory=partial(Outbox, schedule=settings.schedule, durable=False),
    )
    intake = Intake(endpoints, str(settings.database), pool)
    pool.observe = intake.metrics.observe
    return intake
