"""`make mutation`'s last step: the kill ratio of the mutmut run in mutants/.

Reads mutmut's results (mutants/**/*.py.meta) and the equivalent mutants listed in
docs/mutation.md (their ids in backquotes at the start of a table row), prints the figures and the
surviving mutants that are not listed, and exits 1 when fewer than 95% of the non-equivalent
mutants are killed. Run from the project root after `mutmut run`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

THRESHOLD = 0.95
KILLED = {1, 3}  # test failure; pytest internal error
TIMEOUT = {36, 24, -24, 152, 255}  # the mutant made the tests hang: detected as well
SURVIVED = {0}
NO_TESTS = {5, 33}  # no selected test reaches the mutated function
EQUIVALENT_ROW = re.compile(r"^\|\s*`(exportdsl\.[^`]+__mutmut_\d+)`", re.MULTILINE)


def results(root: Path) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for meta in sorted((root / "mutants").rglob("*.py.meta")):
        found.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    return found


def main() -> int:
    root = Path.cwd()
    codes = results(root)
    if not codes:
        print("no mutmut results in mutants/: run `make mutation`", file=sys.stderr)
        return 2
    listed = set(EQUIVALENT_ROW.findall((root / "docs" / "mutation.md").read_text("utf-8")))
    killed = {key for key, code in codes.items() if code in KILLED}
    timeouts = {key for key, code in codes.items() if code in TIMEOUT}
    survivors = {key for key, code in codes.items() if code in SURVIVED | NO_TESTS}
    other = set(codes) - killed - timeouts - survivors
    equivalent = survivors & listed
    real = sorted(survivors - listed)
    stale = sorted(listed - survivors)  # listed as equivalent, yet killed now (or gone)
    judged = len(codes) - len(equivalent)
    ratio = (len(killed) + len(timeouts)) / judged if judged else 1.0
    print(f"mutants:                     {len(codes)}")
    print(f"killed:                      {len(killed)} (+ {len(timeouts)} by timeout)")
    print(f"equivalent survivors:        {len(equivalent)} (docs/mutation.md)")
    print(f"non-equivalent survivors:    {len(real)}")
    if other:
        print(f"not checked or suspicious:   {len(other)}: {', '.join(sorted(other))}")
    print(f"kill ratio (non-equivalent): {ratio:.1%} (at least {THRESHOLD:.0%} wanted)")
    for key in real:
        print(f"  survived: {key}  (mutmut show {key})")
    for key in stale:
        print(f"  listed as equivalent but not a survivor: {key}")
    return 0 if ratio >= THRESHOLD and not other else 1


if __name__ == "__main__":
    sys.exit(main())
