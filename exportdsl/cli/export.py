"""The commands that run connectors: ``render`` (the dry run), ``export`` and ``demo``.

`cli` imports this module for every command, ``check`` included, so it imports only click here;
httpx, reportlab and the compiler load inside the commands that need them.

Everything they print goes through the exporter's `Redactor`: requests, answers, errors, JSON.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from exportdsl.cli.diagnostics import describe_error
from exportdsl.errors import ExportDslError
from exportdsl.export.shown import format_request, shorten_base64  # light: `re` alone

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "SHOWN_BODY_BYTES",
    "demo",
    "export",
    "format_request",
    "render",
    "result_json",
    "shorten_base64",
]

if TYPE_CHECKING:  # `check` imports this module too; httpx stays unloaded until a request is made
    from exportdsl.compiler.plan import Plan
    from exportdsl.export.exporter import Exporter
    from exportdsl.export.redact import Redactor
    from exportdsl.export.results import Answer, ExportResult, PhaseResult

EXIT_OK, EXIT_FAILED = 0, 1
SHOWN_BODY_BYTES = 64 << 10  # of the back end's answer, in --json

_CONNECTOR = click.argument(
    "connector", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


@click.command(short_help="Show both requests as they would be sent; send nothing.")
@_CONNECTOR
@click.argument("chat", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--token-response",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file standing for the token endpoint's answer body, JSON or form-encoded"
    " (default: placeholders).",
)
@click.option("--full", is_flag=True, help="Show long base64 values whole.")
def render(connector: Path, chat: Path, token_response: Path | None, full: bool) -> None:
    """Dry run: print both requests as they would go on the wire, redacted; nothing is sent."""
    from exportdsl.chat.reader import load_chat
    from exportdsl.export.dryrun import dry_run

    plan = _load_plan(connector)
    try:
        answer = _token_answer(token_response) if token_response else None
        run = dry_run(plan, load_chat(chat), token_answer=answer)
    except ExportDslError as error:  # redacted by the dry run; worded as `export` words it
        _fail(_error_text(_error_json(error)))
    except OSError as error:
        _fail(str(error))
    for name in run.missing_env:
        click.echo(
            f"note: ${{env.{name}}} is not set; shown as <env.{name}>"
            f" (as env.{name.lower()}.invalid where a URL needs a host)",
            err=True,
        )
    texts = [format_request(phase, request, run.redact, full) for phase, request in run.requests]
    click.echo("\n\n".join(texts))


def _token_answer(path: Path) -> bytes:
    """The stand-in token answer, checked as the JSON or form-encoded body it must be: a bad file
    is named as one, not reported as if the back end had answered it."""
    from exportdsl.export.tokens import form_fields

    data = path.read_bytes()
    try:
        json.loads(data)
    except (ValueError, RecursionError) as error:
        if form_fields(data.decode("utf-8", "replace").strip()) is not None:
            return data
        where = f":{error.lineno}:{error.colno}" if isinstance(error, json.JSONDecodeError) else ""
        reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        _fail(
            f"{path}{where}: --token-response is neither JSON ({reason}) nor form-encoded"
            " (name=value&...)"
        )
    return data


@click.command(short_help="Export chats with a connector.")
@_CONNECTOR
@click.argument(
    "chats", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per chat (JSON lines) on stdout."
)
def export(connector: Path, chats: tuple[Path, ...], as_json: bool) -> None:
    """Export each CHAT with CONNECTOR: the token request (if any; POST or GET), then the report
    request."""
    from exportdsl.export.client import make_client
    from exportdsl.export.exporter import Exporter

    try:
        plan = _compile(connector)
    except ExportDslError as error:
        if as_json:  # a program reading the lines still gets one for each chat it named
            for path in chats:
                outcome = _unusable_connector_json(connector, path, error)
                click.echo(json.dumps(outcome, ensure_ascii=False))
        _fail(describe_error(connector, error))
    failures: list[tuple[Path, str]] = []
    with make_client() as client:
        exporter = Exporter(plan, client)
        bar = len(chats) > 1 and sys.stderr.isatty()
        with _progress(chats, bar) as items:
            for path in items:
                outcome = _export_chat(exporter, plan, path)
                if as_json:
                    click.echo(json.dumps(outcome, ensure_ascii=False))
                elif not bar:
                    click.echo(_summary_line(path, outcome))
                if not outcome["ok"]:
                    failures.append((path, _error_text(outcome["error"])))
    # Each failure is printed once: on its chat's line, or (when the progress bar stood in for the
    # lines, or the lines are JSON for a program) in the summary below them.
    _print_summary(len(chats), failures, listed=not bar and not as_json)
    sys.exit(EXIT_FAILED if failures else EXIT_OK)


@click.command(short_help="Export the sample chat to a receiver on 127.0.0.1.")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the receiver saves the PDF (default: a new temporary folder).",
)
def demo(output: Path | None) -> None:
    """Export the bundled sample chat to a receiver started on 127.0.0.1; nothing to install."""
    from exportdsl.export.demo import DEMO_CONNECTOR, run_demo

    target = output or Path(tempfile.mkdtemp(prefix="exportdsl-demo-"))
    click.echo(
        f"exportdsl demo: connector {DEMO_CONNECTOR.name}, sample chat, receiver on 127.0.0.1\n"
    )
    run = run_demo(target)
    for number, result in enumerate(run.results, 1):
        click.echo(
            f"== export {number} of {len(run.results)} (Idempotency-Key {result.idempotency_key})"
        )
        for phase in result.phases:
            click.echo(_describe_phase(phase, run.redact))
        state = "sent" if result.ok else f"FAILED: {run.redact(str(result.error))}"
        click.echo(f"-> {state} in {_ms(result.seconds)}\n")
    click.echo("What the receiver did:")
    for line in run.receiver_log:
        click.echo(f"  {line}")
    if run.saved:
        click.echo(f"\nThe received PDF is saved at {run.saved[0]}")
    sys.exit(EXIT_OK if all(result.ok for result in run.results) else EXIT_FAILED)


# -- shared pieces ------------------------------------------------------------------------------


def _load_plan(path: Path) -> Plan:
    try:
        return _compile(path)
    except ExportDslError as error:
        _fail(describe_error(path, error))


def _compile(path: Path) -> Plan:
    from exportdsl.compiler.analysis import compile_connector
    from exportdsl.connector.reader import load_connector

    return compile_connector(load_connector(path))


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(EXIT_FAILED)


def _describe_phase(phase: PhaseResult, redact: Redactor) -> str:
    if phase.cached:
        return f"## {phase.name}: token from the cache, nothing sent"
    parts = [format_request(phase.name, request, redact) for request in phase.sent]
    answer = phase.answer
    status = f"{answer.status} {answer.reason}" if answer else "no answer"
    attempts = f"{phase.attempts} attempt{'s' if phase.attempts != 1 else ''}"
    body = redact(answer.text.strip()) if answer else ""
    return "\n".join(parts) + f"\n<- {status} ({attempts}, {_ms(phase.seconds)}) {body}\n"


def _export_chat(exporter: Exporter, plan: Plan, path: Path) -> dict[str, Any]:
    """One chat's outcome as a JSON-ready dict, redacted."""
    from exportdsl.chat.reader import load_chat
    from exportdsl.export.results import ExportResult

    try:
        chat = load_chat(path)
    except ExportDslError as error:
        result = ExportResult(plan.connector_id, plan.connector_name, None, error=error)
    else:
        result = exporter.run(chat)
    return result_json(result, path, exporter.redact)


def result_json(result: ExportResult, path: Path, redact: Redactor) -> dict[str, Any]:
    """The --json object of one chat: connector, chat, phases, key, the back end's answer, error."""
    phases = {
        phase.name: {
            "status": phase.status,
            "attempts": phase.attempts,
            "cached": phase.cached,
            "seconds": round(phase.seconds, 4),
        }
        for phase in result.phases
    }
    answers = [phase.answer for phase in result.phases if phase.answer is not None]
    error = result.error
    outcome = {
        "connector": {"id": result.connector_id, "name": result.connector_name},
        "chat": {"file": str(path), "id": result.chat_id},
        "ok": result.ok,
        "idempotency_key": result.idempotency_key,
        "seconds": round(result.seconds, 4),
        "phases": phases,
        "response": _answer_json(answers[-1], redact) if answers else None,
        "error": _error_json(error) if error else None,
    }
    redacted: dict[str, Any] = redact.data(outcome)
    return redacted


def _error_json(error: ExportDslError) -> dict[str, Any]:
    """An error as --json gives it, and as `_error_text` words it for `export` and `render`."""
    return {
        "code": error.code,
        "message": error.message,
        "hint": error.hint,
        # as `exportdsl check --format json` gives a place: 1-based, end inclusive
        "location": dataclasses.asdict(error.location) if error.location else None,
    }


def _unusable_connector_json(connector: Path, path: Path, error: ExportDslError) -> dict[str, Any]:
    """The --json object of a chat not exported because the connector file has errors: shaped as
    every other line, the file's diagnostics as `exportdsl check --format json` gives them."""
    from exportdsl.lint.formats import diagnostic_record

    return {
        "connector": {"id": None, "name": None, "file": str(connector)},
        "chat": {"file": str(path), "id": None},
        "ok": False,
        "idempotency_key": None,
        "seconds": 0.0,
        "phases": {},
        "response": None,
        "error": {
            "code": error.code,
            "message": error.message,
            "hint": error.hint,
            "location": None,
            "diagnostics": [diagnostic_record(str(connector), d) for d in error.diagnostics],
        },
    }


def _answer_json(answer: Answer, redact: Redactor) -> dict[str, Any]:
    """The back end's answer, its body redacted whole before it is cut to `SHOWN_BODY_BYTES`: a
    secret cut in two is no longer recognised, and its first part would show."""
    from exportdsl.export.redact import cut

    body = redact(answer.text)  # by its declared charset
    if answer.truncated:  # cut at reading, before it was redacted: it may end in part of a secret
        body = redact.without_cut_off_tail(body)
    fits = body.encode("utf-8", "surrogatepass")[:SHOWN_BODY_BYTES].decode("utf-8", "ignore")
    shown = cut(body, len(fits), ellipsis="")
    return {
        "status": answer.status,
        "headers": dict(answer.headers),
        "body": shown,
        "truncated": answer.truncated or len(shown) < len(body),
    }


def _summary_line(path: Path, outcome: dict[str, Any]) -> str:
    if not outcome["ok"]:  # a chat's own error names its file already
        return f"{path}: FAILED: {_error_text(outcome['error']).removeprefix(f'{path}: ')}"
    phases = ", ".join(_phase_text(name, phase) for name, phase in outcome["phases"].items())
    return f"{path}: sent ({phases})"


def _phase_text(name: str, phase: dict[str, Any]) -> str:
    if phase["cached"]:
        return f"{name} cached"
    attempts = phase["attempts"]
    return f"{name} {phase['status']} in {_ms(phase['seconds'])}" + (
        f", {attempts} attempts" if attempts > 1 else ""
    )


def _error_text(error: dict[str, Any]) -> str:
    """One run-time error as `export` and `render` print it: place, message, [code], hint."""
    hint = f" (hint: {error['hint']})" if error.get("hint") else ""
    place = error.get("location")
    where = f"{place['file']}:{place['line']}:{place['column']}: " if place else ""
    return f"{where}{error['message']} [{error['code']}]{hint}"


def _print_summary(total: int, failures: list[tuple[Path, str]], listed: bool) -> None:
    """The counts; and each failure's reason unless its chat's line gave it already."""
    sent = total - len(failures)
    click.echo(f"{sent} sent, {len(failures)} failed", err=True)
    for path, reason in [] if listed else failures:
        click.echo(f"  {path}: {reason}", err=True)


@contextmanager
def _progress(items: Iterable[Path], bar: bool) -> Iterator[Iterable[Path]]:
    if not bar:
        yield items
        return
    with click.progressbar(
        list(items),
        label="exporting",
        file=sys.stderr,
        item_show_func=lambda path: str(path) if path else None,
    ) as progress:
        yield progress


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"
