"""Linter benchmark: `exportdsl check` over 1,000 connector files from a cold start.

    .venv/bin/python -m bench.bench_lint

The files are generated from the example connectors with every name, host and pdata key varied,
so no two are alike (no cache helps). Baseline, in the same run: a cold process that only reads
and YAML-parses the same files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.timing import cold_seconds

ROOT = Path(__file__).parent.parent
BASELINE = (
    "import sys, pathlib, yaml\n"
    "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.yaml')):\n"
    "    yaml.compose(p.read_text(), Loader=yaml.CSafeLoader)\n"
)


def generate(folder: Path, count: int) -> None:
    examples = sorted((ROOT / "connectors").glob("*.yaml"))
    for number in range(count):
        text = examples[number % len(examples)].read_text(encoding="utf-8")
        for word in (
            "acme",
            "tenant",
            "contact",
            "archive",
            "client_id",
            "scope",
            "crm",
            "example",
        ):
            text = text.replace(word, f"{word}{number}")
        (folder / f"connector-{number:04d}.yaml").write_text(text, encoding="utf-8")


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        generate(folder, 1000)
        result = subprocess.run(
            [str(Path(sys.executable).with_name("exportdsl")), "check", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        print(f"check of 1,000 generated files: {result.stderr.strip()}")
        check = cold_seconds(
            [str(Path(sys.executable).with_name("exportdsl")), "check", str(folder)]
        )
        baseline = cold_seconds([sys.executable, "-c", BASELINE, str(folder)])
        verdict = "PASS" if check <= 1.5 else "FAIL"
        print(
            f"exportdsl check, 1,000 files, cold: {check:.2f} s wall on {os.cpu_count()} cores "
            f"(read + YAML parse alone: {baseline:.2f} s, {check / baseline:.1f}x); "
            f"target <= 1.5 s {verdict}"
        )


if __name__ == "__main__":
    main()
