"""Apache Velocity 1.7 as an oracle: one JVM, many templates, one fresh engine per template.

`Velocity.start()` compiles tests/oracle/VelocityOracle.java once into a cache directory (keyed by
the source and the jars, so an edit recompiles) and starts it; `render(template, variables)` sends
one JSON line and reads one back. Debian's `velocity` package and a JDK are the only requirements
(`apt-get install velocity default-jdk-headless`); `find_missing()` says what is absent.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CLASSPATH_JARS",
    "OracleUnavailable",
    "Rendered",
    "Velocity",
    "find_missing",
    "oracle_required",
]

SOURCE = Path(__file__).with_name("VelocityOracle.java")
# Debian's velocity 1.7 jar has no Class-Path in its manifest: its two dependencies by hand
# (`apt-cache depends velocity`: libcommons-collections3-java, libcommons-lang-java).
CLASSPATH_JARS = (
    Path("/usr/share/java/velocity-1.7.jar"),
    Path("/usr/share/java/commons-collections3.jar"),
    Path("/usr/share/java/commons-lang.jar"),
)
START_TIMEOUT = 60.0  # a cold JVM on a loaded CI machine
RENDER_TIMEOUT = 20.0  # one template; the corpus's take milliseconds


class OracleUnavailable(RuntimeError):
    """Java, javac or the Velocity jars are missing, or the oracle process died."""


@dataclass(frozen=True)
class Rendered:
    """What Velocity 1.7 made of one template: its output, or the error it raised."""

    output: str | None = None
    error: str | None = None  # the first line of the exception's message (it carries the position)
    error_type: str | None = None  # the exception's class, e.g. ParseErrorException

    def expected(self) -> dict[str, Any]:
        """The `expected` field of a case in tests/cases/directives.json."""
        if self.error is not None:
            return {"error": {"type": self.error_type, "message": self.error}}
        return {"output": self.output}


def find_missing() -> list[str]:
    """What the oracle needs and this machine lacks (empty: it can run)."""
    missing = [tool for tool in ("java", "javac") if shutil.which(tool) is None]
    missing += [str(jar) for jar in CLASSPATH_JARS if not jar.is_file()]
    return missing


def oracle_required(environ: Mapping[str, str]) -> bool:
    """Whether a missing oracle fails the tests (CI: .ci/run's VELOCITY_ORACLE=required or a CI
    system's usual CI=true) rather than skipping them (a laptop without Java)."""
    ci = environ.get("CI", "").lower() not in ("", "0", "false")
    return ci or environ.get("VELOCITY_ORACLE") == "required"


def _compiled_classes() -> Path:
    """The directory holding VelocityOracle.class, compiled now unless an identical build exists."""
    key = hashlib.sha256(SOURCE.read_bytes())
    for jar in CLASSPATH_JARS:
        key.update(f"{jar}:{jar.stat().st_size}:{jar.stat().st_mtime_ns}".encode())
    cache = Path(tempfile.gettempdir()) / f"exportdsl-velocity-oracle-{key.hexdigest()[:16]}"
    if (cache / "VelocityOracle.class").is_file():
        return cache
    build = Path(tempfile.mkdtemp(prefix="exportdsl-velocity-build-"))
    compiled = subprocess.run(
        ["javac", "-nowarn", "-d", str(build), "-cp", os.pathsep.join(map(str, CLASSPATH_JARS)),
         str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )  # fmt: skip
    if compiled.returncode != 0:
        raise OracleUnavailable(f"javac failed on {SOURCE}:\n{compiled.stderr}")
    try:
        build.rename(cache)  # atomic: a parallel session either wins or finds the cache complete
    except OSError:
        shutil.rmtree(build, ignore_errors=True)
    return cache


class Velocity:
    """One running oracle process. Not thread-safe: one request at a time, as pytest runs."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._pending = b""

    @classmethod
    def start(cls) -> Velocity:
        missing = find_missing()
        if missing:
            raise OracleUnavailable(
                "the Velocity 1.7 oracle needs " + ", ".join(missing)
                + " (apt-get install velocity default-jdk-headless)"
            )  # fmt: skip
        classes = _compiled_classes()
        classpath = [str(classes), *map(str, CLASSPATH_JARS)]
        # Run in the class directory: Velocity's file loader (#parse, #include, the global macro
        # library VM_global_library.vm) reads the working directory, which must not be the repo.
        process = subprocess.Popen(
            ["java", "-Xss8m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp",
             os.pathsep.join(classpath), "VelocityOracle"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=classes,
        )  # fmt: skip
        oracle = cls(process)
        if oracle.render("ok", timeout=START_TIMEOUT).output != "ok":
            oracle.close()
            raise OracleUnavailable("the Velocity oracle does not answer as expected")
        return oracle

    def render(
        self,
        template: str,
        variables: dict[str, Any] | None = None,
        *,
        strict: bool = True,
        timeout: float = RENDER_TIMEOUT,
    ) -> Rendered:
        """Render with a fresh Velocity 1.7 engine (strict references unless told otherwise)."""
        request = {"template": template, "variables": variables or {}, "strict": strict}
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(request).encode("ascii") + b"\n")
            stdin.flush()
        except BrokenPipeError as gone:
            raise OracleUnavailable("the Velocity oracle has exited") from gone
        answer = json.loads(self._read_line(timeout))
        if "error" in answer:
            return Rendered(error=answer["error"], error_type=answer["type"])
        return Rendered(output=answer["output"])

    def _read_line(self, timeout: float) -> bytes:
        stdout = self._process.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([stdout], [], [], left)[0]:
                self.close()
                raise OracleUnavailable(f"the Velocity oracle gave no answer within {timeout} s")
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                raise OracleUnavailable("the Velocity oracle has exited")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line

    def close(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> Velocity:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
