"""The connectors `exportdsl serve` serves: a folder's files, each on its own, and reloaded.

One connector that cannot serve does not stop the others: a file that does not load or compile,
or that uses a ``$env`` variable the server's environment does not set, is reported (as
`exportdsl check` reports it) and is *not served*: its hooks answer 503 saying why, and its
deliveries already in the outbox are held (not claimed) until it is served again. A reload
(SIGHUP) reads the folder again: new, changed, fixed and removed files take effect at once, with
one assignment, so a request sees the old set or the new one and a hook in flight keeps the
connector it started with. A file that served and now does not load keeps its last good version
serving (a slip in an edit must not take a working connector down); the reload reports why.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from yaml.nodes import MappingNode, Node, ScalarNode

from exportdsl.compiler.analysis import compile_connector
from exportdsl.compiler.plan import Plan
from exportdsl.connector.model import Connector
from exportdsl.connector.reader import ENV_REFERENCE, parse_connector
from exportdsl.connector.yamlsource import compose, read_text
from exportdsl.delivery.logs import fields
from exportdsl.delivery.server import Endpoint, Unavailable
from exportdsl.errors import Diagnostic, ExportDslError
from exportdsl.lint.api import LintContext
from exportdsl.lint.formats import text as check_text
from exportdsl.lint.rules.xd509_env_not_set import RULE as ENV_NOT_SET
from exportdsl.lint.runner import CONNECTOR_SUFFIXES, FileReport
from exportdsl.source import LineIndex

__all__ = ["MIN_SECRET", "Broken", "ConnectorGauge", "Connectors", "Reload", "Reloader"]

MIN_SECRET = 16  # characters of an intake secret at least

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")

log = logging.getLogger("exportdsl.connectors")


@dataclass(frozen=True)
class Broken:
    """A connector file that cannot serve, and why."""

    name: str
    file: Path
    diagnostics: tuple[Diagnostic, ...]
    text: str | None  # the file's text, for the snippets (None: it could not be read)
    intake_secret: str | None  # when the file names one that is set: who may hear why

    def report(self) -> str:
        """As `exportdsl check` prints it: ``file:line:col: message [CODE]``, snippet, hint."""
        index = LineIndex(self.text) if self.text is not None else None
        return check_text([FileReport(str(self.file), self.diagnostics, index)])

    def unavailable(self) -> Unavailable:
        """What a hook sender with the secret is told: the file's name, never the server's path."""
        reasons = tuple(
            f"{self.file.name}:{d.location.line}:{d.location.column}: {d.message} [{d.code}]"
            if d.location
            else f"{self.file.name}: {d.message} [{d.code}]"
            for d in self.diagnostics
        )
        return Unavailable(self.name, self.intake_secret, reasons)


@dataclass
class Reload:
    """What a load of the folder changed, for the operator."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)  # did not serve before, serves now
    removed: list[str] = field(default_factory=list)
    broken: list[Broken] = field(default_factory=list)  # read now, and cannot serve
    kept: list[str] = field(default_factory=list)  # broken now; the last good version serves on
    still_broken: list[str] = field(default_factory=list)  # unchanged, and still not served
    serving: list[str] = field(default_factory=list)

    def log(self) -> None:
        """A record for each problem of each connector that cannot serve (``problem`` as `check`
        words it: file:line:col, message, code), saying what becomes of the connector."""
        for broken in self.broken:
            if broken.name in self.kept:
                message, hooks = "connector broken; its previous version serves on", None
            elif broken.intake_secret is not None:
                message, hooks = "connector not served; its deliveries are held", 503
            else:  # nobody can be told why: to an outsider a broken connector looks like none
                message, hooks = "connector not served; its deliveries are held", 401
            for problem in broken.diagnostics:
                where = "" if problem.location else f"{broken.file}: "
                log.warning(
                    message,
                    extra=fields(
                        connector=broken.name,
                        hooks=hooks,
                        problem=f"{where}{problem}",
                        hint=problem.hint,
                    ),
                )

    def log_summary(self) -> None:
        log.info(
            "connectors reloaded",
            extra=fields(
                **{
                    key: ",".join(names)
                    for key, names in (
                        ("added", self.added),
                        ("changed", self.changed),
                        ("fixed", self.fixed),
                        ("removed", self.removed),
                        ("not_served", [b.name for b in self.broken if b.name not in self.kept]),
                        ("broken_previous_serves", self.kept),
                        ("still_not_served", self.still_broken),
                    )
                    if names
                },
                serving=",".join(self.serving) or "none",
            ),
        )


@dataclass(frozen=True)
class _Entry:
    file: Path
    text: str | None  # as last read (None: unreadable, read again at every reload)
    endpoint: Endpoint | None  # what serves, maybe an earlier version of the file
    broken: Broken | None  # the file as last read cannot serve

    def read_as(self, file: Path, text: str) -> bool:
        return (self.file, self.text) == (file, text)


class Connectors(Mapping[str, Endpoint]):
    """The connectors that serve, by URL name (a live view: a reload changes it), and the ones
    that do not (`unavailable`)."""

    def __init__(self, folder: Path, env: Mapping[str, str]) -> None:
        self.folder = folder
        self.env = env
        self._entries: dict[str, _Entry] = {}
        self._reloading = threading.Lock()  # one reload at a time; readers never wait

    # --- the live view -----------------------------------------------------------------------

    def __getitem__(self, name: str) -> Endpoint:
        entry = self._entries.get(name)
        if entry is None or entry.endpoint is None:
            raise KeyError(name)
        return entry.endpoint

    def __iter__(self) -> Iterator[str]:
        return (name for name, entry in self._entries.items() if entry.endpoint is not None)

    def __len__(self) -> int:
        return sum(entry.endpoint is not None for entry in self._entries.values())

    def unavailable(self, name: str) -> Unavailable | None:
        """Why a connector whose file is in the folder does not serve; None when it serves or
        there is no such connector."""
        entry = self._entries.get(name)
        if entry is None or entry.endpoint is not None or entry.broken is None:
            return None
        return entry.broken.unavailable()

    def not_served(self) -> int:
        """How many connector names have a file that does not serve (and no earlier version)."""
        return sum(entry.endpoint is None for entry in self._entries.values())

    def log_held(self, pending: Mapping[str, int]) -> None:
        """A warning for each connector name with pending deliveries (``pending``) and no file in
        the folder (removed, renamed, or served by another process on the outbox): its deliveries
        are held, and nothing else would say so. A file that does not serve has warnings of its
        own."""
        for name, count in sorted(pending.items()):
            if name not in self._entries:
                log.warning(
                    "deliveries held: no connector file in the folder has this name",
                    extra=fields(connector=name, deliveries=count, folder=str(self.folder)),
                )

    def serving(self) -> frozenset[str]:
        return frozenset(self)

    def files(self) -> list[tuple[str, Path, Endpoint | None, Broken | None]]:
        """Every connector file by name: its path, what serves (maybe an earlier version of the
        file), and why the file as last read cannot serve (None when it can): the console's."""
        return [(name, e.file, e.endpoint, e.broken) for name, e in sorted(self._entries.items())]

    @property
    def plans(self) -> Mapping[str, Plan]:
        return _Plans(self)

    # --- loading -----------------------------------------------------------------------------

    def reload(self) -> Reload:
        """Read the folder again; the new set takes effect in one assignment."""
        with self._reloading:
            old, new, change = self._entries, dict[str, _Entry](), Reload()
            for name, files in self._files().items():
                entry, file = old.get(name), files[0]
                text, problem = _read(file) if len(files) == 1 else (None, _same_name(name, files))
                if entry is not None and text is not None and entry.read_as(file, text):
                    new[name] = entry  # not compiled again: the same Endpoint, token cache and all
                    if entry.endpoint is None:
                        change.still_broken.append(name)
                    elif entry.broken is not None:  # named at every reload: a restart would not
                        change.kept.append(name)  # serve it (the previous version is gone then)
                    continue
                loaded = problem or self._load(name, file, text or "")
                new[name] = self._entry(name, file, text, loaded, entry, change)
            change.removed = sorted(name for name in old if name not in new)
            self._entries = new
            change.serving = sorted(self)
            return change

    def _entry(
        self,
        name: str,
        file: Path,
        text: str | None,
        loaded: Endpoint | Broken,
        previous: _Entry | None,
        change: Reload,
    ) -> _Entry:
        if isinstance(loaded, Endpoint):
            if previous is None:
                change.added.append(name)
            elif previous.endpoint is None:
                change.fixed.append(name)
            else:
                change.changed.append(name)
            return _Entry(file, text, loaded, None)
        change.broken.append(loaded)
        kept = previous.endpoint if previous is not None else None
        if kept is not None:
            change.kept.append(name)
        return _Entry(file, text, kept, loaded)

    def _files(self) -> dict[str, list[Path]]:
        """The connector files by URL name (two files with one name serve neither)."""
        files: dict[str, list[Path]] = {}
        for path in sorted(self.folder.iterdir()):
            if path.suffix in CONNECTOR_SUFFIXES and path.is_file():
                files.setdefault(path.stem, []).append(path)
        return files

    def _load(self, name: str, file: Path, text: str) -> Endpoint | Broken:
        if not _NAME.match(name):
            problem = Diagnostic(
                "XD701",
                f"{name!r} cannot be a name in a URL",
                hint="name the file with letters, digits, '.', '_' and '-'",
            )
            return Broken(name, file, (problem,), text, None)
        try:
            connector = parse_connector(text, str(file))
        except ExportDslError as error:
            secret = self._secret(_declared_intake_env(text, str(file)))
            return Broken(name, file, error.diagnostics, text, secret)
        problems = list(self._environment_problems(connector))
        plan: Plan | None = None
        try:
            plan = compile_connector(connector)
        except ExportDslError as error:
            problems[:0] = error.diagnostics
        secret = self._secret(connector.intake_secret_env)
        if problems or plan is None:
            return Broken(name, file, tuple(problems), text, secret)
        return Endpoint(name, plan, secret, _target(connector, name))

    def _secret(self, variable: str | None) -> str | None:
        """The intake secret, when its variable is set and long enough."""
        value = self.env.get(variable, "") if variable else ""
        return value if len(value) >= MIN_SECRET else None

    def _environment_problems(self, connector: Connector) -> Iterator[Diagnostic]:
        """Every ``$env`` variable the connector uses that is not set (as ``check --env`` finds
        them: an export with one missing would fail, the delivery dead), and a short secret."""
        assert ENV_NOT_SET.check is not None
        for finding in ENV_NOT_SET.check(LintContext(connector, {}, self.env)):
            yield Diagnostic(ENV_NOT_SET.code, finding.message, finding.location, finding.hint)
        name = connector.intake_secret_env
        if name is not None and 0 < len(self.env.get(name, "")) < MIN_SECRET:
            yield Diagnostic(
                "XD701",
                f"intake.secret: environment variable {name} is shorter than {MIN_SECRET} "
                "characters",
                hint="set it to a long random value; Smartsupp gets it in the hook URL (?token=…)",
            )


class ConnectorGauge(Collector):
    """``exportdsl_connectors{state="serving|not_served"}`` for /metrics: an alert on a connector
    that does not serve (counts only: names would tell an open /metrics' readers which exist)."""

    def __init__(self, connectors: Connectors) -> None:
        self.connectors = connectors

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "exportdsl_connectors", "Connector files by state", labels=["state"]
        )
        family.add_metric(["serving"], len(self.connectors))
        family.add_metric(["not_served"], self.connectors.not_served())
        yield family


class _Plans(Mapping[str, Plan]):
    """The serving connectors' plans, as the workers look them up (live)."""

    def __init__(self, connectors: Connectors) -> None:
        self.connectors = connectors

    def __getitem__(self, name: str) -> Plan:
        return self.connectors[name].plan

    def __iter__(self) -> Iterator[str]:
        return iter(self.connectors)

    def __len__(self) -> int:
        return len(self.connectors)


def _read(file: Path) -> tuple[str | None, Broken | None]:
    try:
        return read_text(file), None
    except ExportDslError as error:
        return None, Broken(file.stem, file, error.diagnostics, None, None)


def _same_name(name: str, files: list[Path]) -> Broken:
    problem = Diagnostic(
        "XD701",
        f"{' and '.join(f.name for f in files)} would both be /hooks/{name}",
        hint="keep one file per connector name",
    )
    return Broken(name, files[0], (problem,), None, None)


def _declared_intake_env(text: str, file: str) -> str | None:
    """``intake.secret``'s variable in a file that does not load as a connector but is YAML: so a
    sender with the secret still hears why (503), and others hear what they would anyway (401)."""
    try:
        root = compose(text, file)
    except ExportDslError:
        return None
    secret = _value(_value(root, "intake"), "secret")
    if not isinstance(secret, ScalarNode):
        return None
    match = ENV_REFERENCE.match(secret.value.strip())
    return (match.group(1) or match.group(2)) if match else None


def _value(node: Node | None, key: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    for key_node, value in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key and isinstance(value, Node):
            return value
    return None


def _target(connector: Connector, name: str) -> str:
    """The back end's host when the export URL names it literally; else one target per connector."""
    url = connector.export.url.source if connector.export and connector.export.url else ""
    host = urlsplit(url.split("$", 1)[0]).hostname if "://" in url.split("$", 1)[0] else None
    return host or f"connector:{name}"


class Reloader:
    """Reloads the connectors when asked (SIGHUP), in a thread of its own: a signal handler must
    not compile connectors on the event loop's thread, and asking twice while a reload runs
    makes one more reload, not two. What a reload did is logged."""

    def __init__(self, connectors: Connectors, after: Callable[[], None]) -> None:
        self.connectors = connectors
        self.after = after  # e.g. wake the workers: a fixed connector's held deliveries can go
        self._requested = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="exportdsl-reload")

    def start(self) -> None:
        self._thread.start()

    def request(self) -> None:
        """Safe in a signal handler: it only sets an event."""
        self._requested.set()

    def _run(self) -> None:
        while True:
            self._requested.wait()
            self._requested.clear()
            folder = str(self.connectors.folder)
            log.info("reloading the connectors", extra=fields(folder=folder))
            try:
                change = self.connectors.reload()
            except OSError as error:  # the folder is gone or unreadable: said, with no traceback
                log.error(  # (it is the operator's to fix, not a bug)
                    "reload failed; the connectors serve on as they were",
                    extra=fields(folder=folder, error=error.strerror or str(error)),
                )
                continue
            except Exception:  # a bug: keep what serves
                log.exception(
                    "reload failed; the connectors serve on as they were",
                    extra=fields(folder=folder),
                )
                continue
            change.log()
            change.log_summary()
            self.after()
