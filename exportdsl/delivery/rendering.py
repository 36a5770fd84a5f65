"""Where the workers' PDF transcripts are rendered: in the worker's own thread, or in processes.

A transcript is about 2 ms of pure-Python CPU (reportlab), and the GIL lets one thread run it at a
time: rendered in the worker threads, it caps `exportdsl serve` at what one core renders, and keeps
the intake's event loop waiting for the GIL meanwhile. `RenderPool` renders in processes of its own
(`--render-processes`, one a CPU by default): the worker thread waits for the PDF without the GIL.

A worker thread takes an idle render process (or waits for one), writes the transcript's settings (a
small JSON header and the logo's bytes) and the chat's JSON as received down its pipe, and reads the
PDF back (bytes both ways, never pickles). The
processes are new interpreters (never forks of the threaded server) whose environment holds none of
the server's secrets; they start with the workers (or at the first render), each loading reportlab
and the fonts before its first chat, and end after the workers have stopped. A render process that
dies (kill -9, out of memory) fails only the render it was doing, with `RenderProcessLost`: the
deliverer makes that a failed attempt worth another try, and a new process takes its place; one
found dead while idle is replaced before it is given a chat.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import struct
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Protocol

from exportdsl.chat.model import ChatSession
from exportdsl.chat.reader import parse_chat_bytes
from exportdsl.errors import ExportDslError
from exportdsl.transcript.settings import (
    TranscriptSettings,
    settings_from_wire,
    settings_to_wire,
)

__all__ = [
    "InThread",
    "RenderFailed",
    "RenderPool",
    "RenderProcessLost",
    "Renderer",
    "cpu_count",
    "read_render_request",
    "render_chat_json",
    "render_request",
    "renderer",
    "serve_pipes",
]

WARM_CHAT = Path(__file__).parent.parent / "data" / "sample-chat.json"  # the bundled sample


class Renderer(Protocol):
    """(chat, transcript settings) -> the PDF transcript; started with the workers, closed after
    them."""

    def __call__(self, chat: ChatSession, settings: TranscriptSettings) -> bytes: ...

    def start(self) -> None: ...

    def close(self) -> None: ...


class RenderProcessLost(Exception):
    """The process rendering the transcript died before it answered (killed, out of memory): the
    attempt failed, not the chat; it is tried again. Not an `ExportDslError`: the exporter would
    take that for a problem of the connector or the chat, and give the delivery up."""


class RenderFailed(Exception):
    """A render process raised something else than an `ExportDslError`: its name and message (only
    bytes cross back). Like any unexpected error of an attempt, the delivery is tried again."""


def cpu_count() -> int:
    """The CPUs this process may run on (a container's or `taskset`'s share, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def renderer(processes: int) -> Renderer:
    """`RenderPool` of ``processes``; 0: `InThread`."""
    return RenderPool(processes) if processes > 0 else InThread()


class InThread:
    """Rendered in the worker's thread, one at a time: the GIL runs one anyway, and several threads
    wanting it at once would keep the intake's event loop waiting for it."""

    def __init__(self) -> None:
        self._rendering = threading.Lock()

    def __call__(self, chat: ChatSession, settings: TranscriptSettings) -> bytes:
        from exportdsl.transcript.pdf import render_transcript  # reportlab loads on first use

        with self._rendering:
            return render_transcript(chat, settings)

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


class RenderPool:
    """``processes`` render processes; a worker thread takes an idle one (or waits for one), sends
    it the chat and waits for the PDF on its pipe, without the GIL."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError(f"a render pool needs 1 process or more, not {processes}")
        self.processes = processes
        self._idle: queue.SimpleQueue[_RenderProcess] = queue.SimpleQueue()
        self._running: list[_RenderProcess] = []
        self._lock = threading.Lock()  # the pool starts once; one process is replaced at a time
        self._closed = False

    def __call__(self, chat: ChatSession, settings: TranscriptSettings) -> bytes:
        posted = chat.posted if chat.posted is not None else json.dumps(chat.raw).encode()
        self.start()
        process = self._idle.get()
        try:
            if not process.alive():  # it died idle: the chat had no part in it
                process = self._replace(process)
            return process.render(posted, settings)
        except _Lost as lost:
            process = self._replace(process)
            raise RenderProcessLost(
                f"the transcript's render process died before it answered ({lost}); a new one "
                "was started"
            ) from None
        finally:
            self._idle.put(process)

    def start(self) -> None:
        """Starts the processes, each loading reportlab and the fonts; without waiting for them."""
        with self._lock:
            if self._closed:
                raise RenderProcessLost("the render processes are shut down (serve is stopping)")
            while len(self._running) < self.processes:
                process = _RenderProcess()
                self._running.append(process)
                self._idle.put(process)

    def close(self) -> None:
        """Once the workers have stopped: each process ends once it has answered."""
        with self._lock:
            self._closed = True
            running, self._running = self._running, []
        for process in running:
            process.stop()

    def pids(self) -> list[int]:
        """The render processes' ids (for tests and the benchmark)."""
        with self._lock:
            return [process.pid for process in self._running]

    def _replace(self, lost: _RenderProcess) -> _RenderProcess:
        lost.stop()
        with self._lock:
            if self._closed:
                raise RenderProcessLost("the render processes are shut down (serve is stopping)")
            process = _RenderProcess()
            self._running[self._running.index(lost)] = process
            return process


class _Lost(Exception):
    """The pipe to a render process broke: it died."""


class _RenderProcess:
    """One render process and its two pipes; one render at a time.

    Started as a new interpreter (never a fork of the threaded server, which would copy locks
    other threads hold, and its memory) with an environment of its own: none of the server's
    variables but the few that say where the font cache is, so no secret is ever in it, not even
    in /proc/PID/environ. Across the pipes go bytes, never pickles: the process reads chats from
    anyone, and a pickle from it would run code in the server."""

    def __init__(self) -> None:
        ours_in, theirs_out = os.pipe()
        theirs_in, ours_out = os.pipe()
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-c",
                    _CHILD,
                    json.dumps(sys.path),
                    *map(str, (theirs_in, theirs_out)),
                ],
                pass_fds=(theirs_in, theirs_out),
                env={name: os.environ[name] for name in _PASSED_ON if name in os.environ},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        finally:
            os.close(theirs_in)
            os.close(theirs_out)
        self._requests = Connection(ours_out, readable=False)
        self._answers = Connection(ours_in, writable=False)
        self.pid = self._process.pid

    def alive(self) -> bool:
        return self._process.poll() is None

    def render(self, chat_json: bytes, settings: TranscriptSettings) -> bytes:
        try:
            self._requests.send_bytes(render_request(settings, chat_json))
            answer = self._answers.recv_bytes()
        except (EOFError, OSError):
            raise _Lost(self._end()) from None
        return _result(answer)

    def _end(self) -> str:
        """How it ended: killed by a signal, or with an exit code."""
        try:
            code = self._process.wait(5)
        except subprocess.TimeoutExpired:
            return "its pipe broke"
        if code >= 0:
            return f"exit code {code}"
        if code == -signal.SIGKILL:
            return "killed by SIGKILL: kill -9, or the kernel when memory ran out"
        return f"killed by signal {-code}"

    def stop(self) -> None:
        """Its pipe closed, it ends (after the render under way); killed if it has not in 10 s."""
        self._requests.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._answers.close()


# The render process's whole program: the server's import path, then `serve_pipes`.
_CHILD = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from exportdsl.delivery.rendering import serve_pipes; "
    "serve_pipes(int(sys.argv[2]), int(sys.argv[3]))"
)
# How much lower a render process's priority is than serve's: with the CPU taken, serve's event
# loop gets ~90% of a core against a render process (weights 1024 and 110)
RENDER_NICENESS = 10
# What a render process keeps of the server's environment: where the font cache is, and the time
# zones (none of it secret)
_PASSED_ON = ("HOME", "XDG_CACHE_HOME", "PYTHONTZPATH")
# The first byte of an answer: the PDF follows, or our error as JSON, or another's message
_PDF, _OURS, _OTHER = b"P", b"E", b"F"
# A request: the settings' JSON header and the logo's bytes, each after its length, then the chat
_LENGTH = struct.Struct(">I")


def render_request(settings: TranscriptSettings, chat_json: bytes) -> bytes:
    """What goes down a render process's pipe for one chat."""
    header, logo = settings_to_wire(settings)
    return b"".join((_LENGTH.pack(len(header)), header, _LENGTH.pack(len(logo)), logo, chat_json))


def read_render_request(request: bytes) -> tuple[TranscriptSettings, bytes]:
    """`render_request`'s settings and chat JSON."""
    (header_length,) = _LENGTH.unpack_from(request)
    header_end = _LENGTH.size + header_length
    (logo_length,) = _LENGTH.unpack_from(request, header_end)
    logo_start = header_end + _LENGTH.size
    logo_end = logo_start + logo_length
    header, logo = request[_LENGTH.size : header_end], request[logo_start:logo_end]
    return settings_from_wire(header, logo), request[logo_end:]


def _result(answer: bytes) -> bytes:
    kind, body = answer[:1], answer[1:]
    if kind == _PDF:
        return body
    if kind == _OURS:
        error = json.loads(body)
        raise ExportDslError(error["message"], hint=error["hint"], code=error["code"])
    raise RenderFailed(body.decode("utf-8", "replace"))


def serve_pipes(requests: int, answers: int) -> None:
    """A render process: a PDF for every chat read from ``requests``, until it is closed (serve
    closes it once its workers have stopped, and the kernel when serve dies).

    SIGINT and SIGTERM are for serve (a Ctrl-C or systemd signal the whole group): a stop lets the
    renders under way finish, and then closes the pipe. It runs at a lower priority than serve: a
    hook waiting for the CPU must not wait behind a PDF (deliveries can wait, a sender cannot)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(RENDER_NICENESS)
    reader, writer = Connection(requests, writable=False), Connection(answers, readable=False)
    _prepare()
    while True:
        try:
            settings, chat_json = read_render_request(reader.recv_bytes())
            writer.send_bytes(_answer(chat_json, settings))
        except (EOFError, BrokenPipeError):  # serve closed the pipe, or died
            return


def _answer(chat_json: bytes, settings: TranscriptSettings) -> bytes:
    """The PDF, or the error raised instead: ours by its message, hint and code, any other by its
    name and message."""
    try:
        return _PDF + render_chat_json(chat_json, settings)
    except ExportDslError as error:
        about = {"message": error.message, "hint": error.hint, "code": error.code}
        return _OURS + json.dumps(about).encode()
    except Exception as error:
        return _OTHER + f"{type(error).__name__}: {error}".encode()


def render_chat_json(chat_json: bytes, settings: TranscriptSettings) -> bytes:
    """The PDF transcript of a chat given as its JSON text."""
    from exportdsl.transcript.pdf import render_transcript

    return render_transcript(parse_chat_bytes(chat_json), settings)


def _prepare() -> None:
    """reportlab and the fonts loaded and a transcript rendered, so the first chat waits for none
    of it."""
    from exportdsl.transcript.pdf import render_transcript

    render_transcript(parse_chat_bytes(WARM_CHAT.read_bytes()))
