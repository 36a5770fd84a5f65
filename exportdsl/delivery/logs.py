"""The serving process's log: one line a record, as text or JSON, every record redacted.

`install` puts one handler on the root logger, so the records of every logger reach it (exportdsl's,
httpx's, uvicorn's), and puts `LogRedaction` on that handler: a handler's filter sees every record
it writes, children's included, and redacts the traceback before any formatter sees it. A logger's
own filter would see neither its children's records nor the traceback (formatted later).

The handler writes from a thread of its own (`DeferredStreamHandler`): a record is formatted and
redacted where it is logged, and its line queued; the writer thread writes what is queued every
`WRITE_EVERY` seconds. A write releases the GIL, and the intake's event loop, logging a line for
every hook, then waited for the GIL behind the workers rendering PDFs; warnings and errors are
written at once (what was queued first, then they), so no problem waits, and nothing is lost at an
orderly exit.

Records carry their facts as fields (``extra=fields(connector=…, chat=…)``): text puts them after
the message as ``key=value`` (an operator greps ``delivery=42``), JSON as keys of the line's object.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
import socket
import sys
import threading
import weakref
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import uvicorn

from exportdsl.export.exporter import env_names
from exportdsl.export.redact import LogRedaction, Redactor

if TYPE_CHECKING:
    from exportdsl.delivery.server import Endpoint, Intake

__all__ = [
    "FORMATS",
    "WRITE_EVERY",
    "DeferredStreamHandler",
    "JsonFormatter",
    "Server",
    "TextFormatter",
    "fields",
    "install",
    "listening",
    "serve_secrets",
]

FORMATS = ("text", "json")
_PLAIN = re.compile(r'[^\s"=\\]+\Z')  # a text value written without quotes
_OURS = "_exportdsl_serve_handler"
WRITE_EVERY = 0.02  # seconds an INFO line may wait in the queue before it is written

log = logging.getLogger("exportdsl.intake")


def fields(**values: object) -> dict[str, Any]:
    """``extra=`` of a record with these fields (None ones are left out)."""
    return {"fields": {key: value for key, value in values.items() if value is not None}}


def serve_secrets(endpoints: Iterable[Endpoint], env: Mapping[str, str]) -> Redactor:
    """What the served connectors keep secret, known from the start: every ``$env`` value they
    use and their intake secrets (the exports add their tokens while they run)."""
    secrets = Redactor()
    for endpoint in endpoints:
        if endpoint.intake_secret is not None:
            secrets.add(endpoint.intake_secret)
        for name in env_names(endpoint.plan):
            if env.get(name):
                secrets.add(env[name])
    return secrets


def install(
    log_format: str, secrets: Redactor | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """The process's one log handler (replacing one installed before): ``log_format`` is "text" or
    "json"; exportdsl's records from INFO, everyone else's from WARNING."""
    handler = DeferredStreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(LogRedaction(secrets))
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()  # what it queued is written first
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):  # a handler of uvicorn's own would write unredacted
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("exportdsl").setLevel(logging.INFO)
    # what Python would write to stderr itself goes through the handler too: redacted, and in JSON
    # a record like every other line
    threading.excepthook = _thread_died
    logging.captureWarnings(True)
    return handler


class DeferredStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A `logging.StreamHandler` whose INFO lines are written by a thread of its own, every
    `WRITE_EVERY` seconds: formatting (and the handler's filters: redaction) still happens in the
    thread that logs, so only finished, redacted text is queued. A WARNING or worse, or a record
    with a traceback, writes the queue and itself at once; so does `flush` (and `close`, which
    `logging.shutdown` calls at exit). In a forked child the writer thread does not exist: there
    every record is written at once."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._lines: collections.deque[str] = collections.deque()  # appends need no lock
        self._writing = threading.Lock()  # one writer at a time keeps the lines in order
        self._pid = os.getpid()
        self._closed = threading.Event()
        threading.Thread(
            target=_write_every,
            args=(weakref.ref(self), self._closed),
            name="exportdsl-log-writer",
            daemon=True,
        ).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)
            return
        urgent = record.levelno >= logging.WARNING or record.exc_text or record.exc_info
        if urgent or self._closed.is_set() or os.getpid() != self._pid:
            self.flush()

    def flush(self) -> None:
        """Writes every queued line, in order, and flushes the stream."""
        with self._writing:
            if not self._lines:
                return
            lines = []
            while self._lines:
                lines.append(self._lines.popleft())
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except Exception:
                self.handleError(logging.makeLogRecord({"msg": "log lines could not be written"}))

    def close(self) -> None:
        self._closed.set()
        self.flush()
        super().close()


def _write_every(handler: weakref.ref[DeferredStreamHandler], closed: threading.Event) -> None:
    """The writer thread's loop: it holds its handler only weakly, so a handler dropped without
    `close` (a test's) does not live on for the thread's sake, and the thread ends with it."""
    while not closed.wait(WRITE_EVERY):
        alive = handler()
        if alive is None:
            return
        alive.flush()
        del alive


def _thread_died(uncaught: threading.ExceptHookArgs) -> None:
    """A thread's uncaught exception, as a record with its traceback (Python's default writes the
    traceback straight to stderr: neither redacted nor, with ``--log-format json``, a record)."""
    if uncaught.exc_type is SystemExit:
        return
    logging.getLogger("exportdsl").error(
        "a thread ended with an uncaught exception",
        exc_info=uncaught.exc_value,
        extra=fields(thread=uncaught.thread.name if uncaught.thread else None),
    )


def listening(url: str, hooks: str, outbox: object) -> None:
    """The first record: where the server listens, its hooks, its outbox."""
    log.info("listening", extra=fields(url=url, hooks=hooks, outbox=str(outbox)))


class TextFormatter(logging.Formatter):
    """``2026-11-30T15:50:01.123Z INFO exportdsl.delivery delivered connector=crm chat=42 …``: one
    line a record (line breaks in the message are escaped, so no text can forge a record); a
    traceback follows on lines that begin with two spaces."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().replace("\r", "\\r").replace("\n", "\\n")
        parts = [_time(record), record.levelname, record.name, message]
        parts += [f"{key}={_text(value)}" for key, value in _fields(record).items()]
        line = " ".join(parts)
        for extra in (_exception(self, record), record.stack_info):
            if extra:
                line += "\n" + "\n".join("  " + text for text in extra.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the record's fields, and
    ``exception`` (the traceback) when there is one. ASCII only: nothing a record holds can make
    the line unwritable or unreadable."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            document.setdefault(key, value)
        exception = _exception(self, record)
        if exception:
            document["exception"] = exception
        if record.stack_info:
            document["stack"] = record.stack_info
        return json.dumps(document, default=str)


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fields(record: logging.LogRecord) -> dict[str, object]:
    found = getattr(record, "fields", None)
    return dict(found) if isinstance(found, Mapping) else {}


def _exception(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    """The traceback: `LogRedaction` has formatted and redacted it into ``exc_text``."""
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    return record.exc_text or ""


def _text(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if _PLAIN.match(text) else json.dumps(text, ensure_ascii=False)


class Server(uvicorn.Server):
    """uvicorn's server, saying at a shutdown what it waits for, and when it is done."""

    def __init__(self, config: uvicorn.Config, intake: Intake) -> None:
        super().__init__(config)
        self.intake = intake

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        log.info(
            "shutting down: no new connections; waiting for the hooks in flight",
            extra=fields(
                hooks=self.intake.hooks_in_flight,
                deliveries=self.intake.pool.in_flight(),
                wait_s=self.config.timeout_graceful_shutdown,
            ),
        )
        await super().shutdown(sockets)
        log.info(
            "stopped",
            extra=fields(
                hooks=self.intake.hooks_in_flight, deliveries=self.intake.pool.in_flight()
            ),
        )
        # uvicorn raises the signal that stopped it again once it is done, and its default action
        # ends the process without `logging.shutdown`: what is queued is written now
        for handler in logging.getLogger().handlers:
            handler.flush()
