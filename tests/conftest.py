"""Shared fixtures: the scripted back end (tests/backend.py) and the Velocity 1.7 oracle."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from backend import backend_fixture, real_backend_fixture
from oracle.velocity import OracleUnavailable, Velocity, oracle_required

__all__ = ["backend_fixture", "real_backend_fixture", "velocity"]


@pytest.fixture(scope="session")
def velocity() -> Iterator[Velocity]:
    """Apache Velocity 1.7, one JVM for the session (tests/oracle/velocity.py). Without Java or
    Debian's `velocity` the tests that need it skip, except in CI (VELOCITY_ORACLE=required, as
    .ci/run sets, or the usual CI variable), where a missing oracle fails them: CI must never pass
    by checking nothing."""
    try:
        oracle = Velocity.start()
    except OracleUnavailable as missing:
        if oracle_required(os.environ):
            pytest.fail(f"CI runs the Velocity oracle: {missing}")
        pytest.skip(str(missing))
    with oracle:
        yield oracle
