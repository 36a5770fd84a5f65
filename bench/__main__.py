"""Run every benchmark, each in a process of its own so none inherits another's imports, caches or
memory: ``python -m bench`` (``make bench``)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

for module in sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])):
    if module.startswith("bench_"):
        print(f"== {module}", flush=True)
        subprocess.run([sys.executable, "-m", f"bench.{module}"], check=False)
