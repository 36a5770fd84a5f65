"""The user's cache folder for what is slow to make and safe to keep: Lark's grammar analysis and
the parsed fonts.

Both are pickles, so the folder must be the user's own (mode 0700, owned by them): a shared
temporary folder would let another user plant one. Without such a folder nothing is cached and
everything is made anew (slower, never wrong).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_folder", "private_file"]


def cache_folder() -> Path | None:
    """``$XDG_CACHE_HOME/exportdsl`` (or ``~/.cache/exportdsl``), made if need be; None when it
    cannot be made, is not the user's own, or others may write into it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "exportdsl")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not _private(os.stat(folder)) or not os.access(folder, os.W_OK):
            return None
    except OSError:
        return None
    return Path(folder)


def private_file(path: Path) -> bool:
    """Whether a cached file is one only this user could have written (checked before loading it:
    another user's pickle would run their code)."""
    try:
        return path.is_file() and _private(path.stat())
    except OSError:
        return False


def _private(stat: os.stat_result) -> bool:
    return stat.st_uid == os.getuid() and not stat.st_mode & 0o022  # no group or world write
