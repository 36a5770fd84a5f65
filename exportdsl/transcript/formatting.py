"""Values as the transcript shows them: times in the reader's zone, durations, numbers, ids.

Names of days and months come from the transcript's `Labels` (`labels.py`), never the process
locale's, and every time comes from the chat itself: the same chat gives the same text on any
machine.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exportdsl.errors import ConfigError
from exportdsl.transcript.labels import LABELS, Labels

__all__ = [
    "Clock",
    "duration_text",
    "id_text",
    "number_text",
    "time_of_day",
    "value_text",
]


class Clock:
    """Chat timestamps (ms since 1970, UTC) as local times in the requested zone."""

    def __init__(self, timezone: str, labels: Labels = LABELS["en"]) -> None:
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
            raise ConfigError(
                f"unknown time zone {timezone!r}",
                hint="use an IANA name such as Europe/Prague or UTC",
            ) from None
        self.name = timezone
        self.labels = labels

    def local(self, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, self.zone)

    def full(self, ms: int | None) -> str:
        if ms is None:
            return "—"
        moment = self.local(ms)
        return f"{self.labels.full(moment)} {moment:%Z}".rstrip()

    def day(self, moment: datetime) -> str:
        """The conversation's date line: "Saturday 30 November 2024", "sobota 30 listopada 2024"."""
        return self.labels.day(moment)

    def offset(self, ms: int | None) -> str:
        moment = self.local(ms or 0)
        text = f"{moment:%z}"
        return f"UTC{text[:3]}:{text[3:]}" if text else "UTC"


def time_of_day(moment: datetime) -> str:
    """``16:33:59``, the same in every language; isoformat, not strftime (3 µs each, for every
    message of a long chat)."""
    return moment.time().isoformat("seconds")


def duration_text(
    seconds: float | None, units: tuple[str, str, str] = LABELS["en"].duration_units
) -> str:
    """``3725`` -> ``1 h 2 min 5 s`` (in the ``units`` of hours, minutes and seconds given); a
    negative value (bad data) is shown as it is, in seconds."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 0:
        return f"{total} {units[2]}"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{value} {unit}"
        for value, unit in zip((hours, minutes, secs), units, strict=True)
        if value
    ]
    return " ".join(parts) or f"0 {units[2]}"


def number_text(value: float | None) -> str:
    """A rating or count: ``4.0`` -> ``4``, ``4.5`` stays; a missing value is a dash."""
    if value is None:
        return "—"
    return str(int(value)) if value == int(value) else f"{value:g}"


def id_text(value: int | str | None) -> str:
    """An account or chat id; a missing one is a dash."""
    return "—" if value is None else str(value)


def value_text(value: object) -> str:
    """A variable's value as text: strings as they are, everything else as compact JSON-ish text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
