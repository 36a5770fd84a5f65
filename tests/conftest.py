"""Shared fixtures: the scripted back end (tests/backend.py), the Velocity 1.7 oracle and a
throwaway PostgreSQL (tests/pgcluster.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pgcluster
import pytest
from backend import backend_fixture, real_backend_fixture
from oracle.velocity import OracleUnavailable, Velocity, oracle_required

__all__ = [
    "backend_fixture",
    "postgres_cluster",
    "postgres_url",
    "real_backend_fixture",
    "velocity",
]


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


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[pgcluster.Cluster]:
    """A PostgreSQL cluster of the session's own on 127.0.0.1, removed at the end. Without
    PostgreSQL installed the tests that need it skip, except where POSTGRES_TESTS=required (as
    .ci/run sets), where they fail: CI must never pass by checking nothing."""
    try:
        cluster = pgcluster.start()
    except pgcluster.PostgresUnavailable as missing:
        if pgcluster.postgres_required(os.environ):
            pytest.fail(f"CI runs the PostgreSQL tests: {missing}")
        pytest.skip(str(missing))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: pgcluster.Cluster) -> Iterator[str]:
    """A fresh, empty database of the session's cluster for each test: its URL (with a password),
    the database dropped afterwards."""
    url = postgres_cluster.database()
    try:
        yield url
    finally:
        postgres_cluster.drop(url)
