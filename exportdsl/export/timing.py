"""The time an export reads and the waits it makes, injected as one object.

Tests pass a `Timing` of fakes (a frozen clock, a sleep that only records, a fixed jitter) so
retries and token lifetimes are exact and take no time; everything else uses the real defaults.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Clock", "Sleep", "Timing"]

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Timing:
    """Where an export gets the time from and how it waits."""

    now: Clock = _utc_now  # $dateTime, webhook-timestamp, Retry-After as an HTTP date
    sleep: Sleep = time.sleep  # between attempts
    jitter: Callable[[], float] = random.random  # in [0, 1): the fraction of the backoff ceiling
    monotonic: Callable[[], float] = time.monotonic  # token lifetimes
