"""Fixtures shared by the export and serve tests: the scripted back end (tests/backend.py)."""

from backend import backend_fixture, real_backend_fixture

__all__ = ["backend_fixture", "real_backend_fixture"]
