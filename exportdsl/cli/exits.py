"""The exit codes of `exportdsl check`, `explain` and `transcript`, and of an internal error.

A module of their own so that the command modules and `main` share them without importing each
other (`main` imports every command module to register it).
"""

from __future__ import annotations

__all__ = ["EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_INTERNAL"]

# Usage errors exit with 2: click's own code for them.
EXIT_CLEAN, EXIT_FINDINGS, EXIT_INTERNAL = 0, 1, 3
