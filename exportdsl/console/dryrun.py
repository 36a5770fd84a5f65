"""A delivery's requests as its connector renders them (the dry run of ``exportdsl render``), and
its chat's PDF transcript: what the console shows of what a delivery sends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from exportdsl.chat.reader import parse_chat_bytes
from exportdsl.compiler.plan import Plan
from exportdsl.errors import ExportDslError
from exportdsl.export.dryrun import dry_run
from exportdsl.export.shown import format_request

__all__ = ["Rendered", "rendered", "transcript"]


@dataclass(frozen=True)
class Rendered:
    requests: tuple[str, ...]  # each as `exportdsl render` prints it, redacted
    problem: str | None = None  # why they cannot be shown (redacted, as the export would say it)
    missing_env: tuple[str, ...] = ()


def rendered(plan: Plan, body: bytes, env: Mapping[str, str]) -> Rendered:
    """The token and report requests for the stored chat ``body``, rendered now, sent nowhere:
    the token answer is a placeholder, every ``$env`` value and secret redacted."""
    try:
        run = dry_run(plan, parse_chat_bytes(body), env=env)
    except ExportDslError as error:  # redacted by the dry run, as an export's error is
        return Rendered((), str(error))
    texts = tuple(format_request(phase, request, run.redact) for phase, request in run.requests)
    return Rendered(texts, None, run.missing_env)


def transcript(plan: Plan, body: bytes) -> bytes:
    """The stored chat's PDF, with the connector's transcript settings (what ``$report`` is)."""
    from exportdsl.transcript.pdf import render_transcript

    return render_transcript(parse_chat_bytes(body), plan.transcript)
