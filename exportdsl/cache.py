"""The user's cache folder for what is slow to make and safe to keep: Lark's grammar analysis and
the parsed fonts.

Both are pickles, so the folder must be the user's own (mode 0700, owned by them): a shared
temporary folder would let another user plant one. Without such a folder nothing is cached and
everything is made anew (slower, never wrong).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_folder"]


def cache_folder() -> Path | None:
    """``$XDG_CACHE_HOME/exportdsl`` (or ``~/.cache/exportdsl``), made if need be; None when it
    cannot be made or is not the user's own."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "exportdsl")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if os.stat(folder).st_uid != os.getuid() or not os.access(folder, os.W_OK):
            return None
    except OSError:
        return None
    return Path(folder)
