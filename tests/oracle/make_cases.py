"""Fill or refresh `expected` in tests/cases/directives*.json from Velocity 1.7 itself.

    .venv/bin/python -m tests.oracle.make_cases          # rewrite every expected, list changes
    .venv/bin/python -m tests.oracle.make_cases --check  # only list changes (exit 1 if any)

To add a case: append {"name", "given": {"template", "variables"}} to a directives*.json file (no
`expected`) and run this. The JSON files are the source; this only writes their `expected` fields
and keeps every other one: `note`, and `exportdsl` ({"expected", "why"}: what exportdsl renders
where it differs from 1.7 on purpose, checked by tests/test_velocity_differential.py).
Check the diff: a changed expected means the corpus disagreed with Velocity (it must not).
"""

from __future__ import annotations

import argparse
import sys

from .cases import CASE_FILES, dump_cases, load_cases, render_case
from .velocity import Velocity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on a change")
    args = parser.parse_args(argv)
    changed = 0
    with Velocity.start() as velocity:
        for path in CASE_FILES:
            cases = load_cases(path)
            names = [case["name"] for case in cases]
            duplicates = {name for name in names if names.count(name) > 1}
            if duplicates:
                print(f"{path}: duplicate case names: {sorted(duplicates)}", file=sys.stderr)
                return 2
            for case in cases:
                expected = render_case(velocity, case).expected()
                if case.get("expected") != expected:
                    changed += 1
                    print(f"{path.name}: {case['name']}: {case.get('expected')} -> {expected}")
                    case["expected"] = expected
            if not args.check:
                path.write_text(dump_cases(cases), encoding="utf-8")
    print(f"{changed} case(s) {'differ' if args.check else 'updated'}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
