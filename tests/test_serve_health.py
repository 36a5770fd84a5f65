"""Issue 11, items 3 and 4: the intake knows its own health, and one connector that cannot serve
does not stop the others. Real servers on 127.0.0.1 (a process where a start or a signal is
tested), a real SQLite outbox, real storage failures; bounded."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from backend import TOKEN, Backend, Reply
from test_serve import (
    FAST,
    INTAKE_SECRET,
    SERVE_ENV,
    Running,
    chat_json,
    counts,
    free_port,
    serve_command,
    wait_for,
    write_connectors,
)

from exportdsl.delivery.deliver import ExportDeliverer
from exportdsl.delivery.health import StorageHealth
from exportdsl.delivery.outbox import Incoming
from exportdsl.delivery.service import Settings, build
from exportdsl.delivery.sqlite import SqliteOutbox
from exportdsl.delivery.workers import PoolSettings, WorkerPool
from exportdsl.errors import ServeError

AUTH = {"params": {"token": INTAKE_SECRET}}
MONITOR_TOKEN = "monitor-T0KEN-0123456789abcdef"


def forward_text(base: str, path: str, extra: str = "") -> str:
    """A forward-mode connector posting the chat to ``base + path``."""
    return (
        "connector: {id: 8, name: Forward}\nclient: {id: 1001}\n"
        "intake: {secret: $env.INTAKE_SECRET}\n"
        f"export:\n  url: {base}{path}\n  headers: {{Content-Type: application/json}}\n"
        f"  body: $chat\n{extra}"
    )


# a key misspelt on line 4 (column 1): the file does not load, but its intake secret is known
TYPO = (
    "connector: {id: 11, name: Typo}\nclient: {id: 1001}\n"
    "intake: {secret: $env.INTAKE_SECRET}\n"
    "expot:\n  url: http://127.0.0.1:9/typo\n"
)
# not YAML at all: nothing in it can be known, its secret included
NOT_YAML = "intake: {secret: $env.INTAKE_SECRET}\nexport: [unclosed\n"


def needs_keys(base: str) -> str:
    """A connector whose export uses two variables the server's environment does not set."""
    return (
        "connector: {id: 12, name: Needs keys}\nclient: {id: 1001}\n"
        "intake: {secret: $env.INTAKE_SECRET}\n"
        f"export:\n  url: {base}/keys\n"
        "  headers: {Content-Type: application/json, X-Api-Key: $env.XD_UNSET_KEY_ONE}\n"
        '  body: \'{"key": "$env.XD_UNSET_KEY_TWO"}\'\n'
    )


# --- a server process whose stderr the test reads ------------------------------------------------


class Process:
    def __init__(self, tmp_path: Path, folder: Path, database: Path, *options: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = tmp_path / f"stderr-{self.port}.txt"
        with self.stderr_path.open("wb") as stderr:
            self.popen = subprocess.Popen(
                serve_command(folder, database, self.port, "--workers", "2", *options),
                env=os.environ | SERVE_ENV,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def answering(self, seconds: float = 30) -> bool:
        """True once it answers HTTP; False when it exited first."""
        deadline = time.monotonic() + seconds
        while self.popen.poll() is None:
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return True
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"neither served nor exited:\n{self.stderr}"
            time.sleep(0.05)
        return False

    def hook(self, connector: str, body: bytes, **options: Any) -> httpx.Response:
        return httpx.post(f"{self.url}/hooks/{connector}", content=body, timeout=10, **options)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            self.popen.wait(30)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def fill_outbox(database: Path, connector: str, *chat_ids: int, target: str = "t") -> None:
    """Chats accepted and not delivered yet, as a previous server left them."""
    outbox = SqliteOutbox(database)
    try:
        outbox.accept_many(
            [Incoming(connector, str(i), chat_json(i), target, f"key-{i}") for i in chat_ids]
        )
    finally:
        outbox.close()


def damage_middle_pages(database: Path, page: int = 4096) -> None:
    """Four pages in the middle of the file overwritten, as a bad disk or a torn copy does."""
    with database.open("r+b") as file:
        file.seek(database.stat().st_size // page // 2 * page)
        file.write(bytes(range(256)) * (4 * page // 256))


# --- item 3: the outbox checked at start ---------------------------------------------------------


def test_a_damaged_outbox_stops_the_start_with_what_sqlite_said(
    tmp_path: Path, processes: list[Process]
) -> None:
    folder = write_connectors(tmp_path / "connectors", "http://127.0.0.1:9")
    database = tmp_path / "queue.db"
    fill_outbox(database, "crm", *range(1, 150))  # ~150 chats: a file of ~200 pages
    damage_middle_pages(database)
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    process = Process(tmp_path, folder, database)
    processes.append(process)
    assert not process.answering(), "a damaged outbox was served"
    assert process.popen.returncode == 1
    stderr = process.stderr
    assert f"exportdsl serve: {database}: the outbox is damaged" in stderr
    assert "PRAGMA quick_check says: database disk image is malformed" in stderr
    assert f"sqlite3 {database} .recover" in stderr and "backup" in stderr
    assert "Traceback" not in stderr
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before  # nothing was written


# --- item 3: a storage error while serving -------------------------------------------------------


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs prlimit (Linux)")
def test_a_storage_error_is_503_and_unhealthy_until_a_write_succeeds_again(
    tmp_path: Path, real_backend: Backend, processes: list[Process]
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}))
    folder = write_connectors(tmp_path / "connectors", real_backend.base_url)
    process = Process(tmp_path, folder, tmp_path / "queue.db")
    processes.append(process)
    assert process.answering()
    assert process.hook("crm", chat_json(1), **AUTH).status_code == 202
    wait_for(lambda: counts(tmp_path / "queue.db").get("delivered") == 1)  # no attempt in flight
    # A real write error: the process may no longer write past 4 KiB into any file (the WAL is
    # larger), so SQLite's commits fail with an I/O error, as on a failing or full disk.
    limits = resource.prlimit(process.popen.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(process.popen.pid, resource.RLIMIT_FSIZE, (4096, limits[1]))
    try:
        refused = process.hook("crm", chat_json(2), **AUTH)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        pressed = httpx.post(f"{process.url}/connectors/crm/chats/1/export", timeout=5, **AUTH)
        assert pressed.status_code == 503 and pressed.headers["retry-after"] == "5"
        health = httpx.get(f"{process.url}/healthz", timeout=5)
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy"
        assert "the outbox cannot be written (disk I/O error)" in health.json()["error"]
        time.sleep(1.1)  # past the probe interval: the probe write fails too, still unhealthy
        assert httpx.get(f"{process.url}/healthz", timeout=5).status_code == 503
    finally:
        resource.prlimit(process.popen.pid, resource.RLIMIT_FSIZE, limits)
    # the disk is good again: /healthz's probe write finds it, without a hook or a restart
    wait_for(lambda: httpx.get(f"{process.url}/healthz", timeout=5).status_code == 200, 10)
    assert process.hook("crm", chat_json(3), **AUTH).status_code == 202
    wait_for(lambda: counts(tmp_path / "queue.db").get("delivered") == 2)


def test_damage_found_while_serving_stays_until_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "queue.db"
    fill_outbox(database, "crm", *range(1, 150))
    damage_middle_pages(database)
    with sqlite3.connect(database) as db, pytest.raises(sqlite3.DatabaseError) as raised:
        db.execute("SELECT COUNT(*), SUM(LENGTH(body)) FROM chats").fetchall()  # SQLITE_CORRUPT
    health = StorageHealth()
    health.failed(raised.value)
    health.succeeded()  # a write that landed on good pages
    outbox = SqliteOutbox(tmp_path / "other.db")
    try:
        problem = health.check(outbox)  # and no probe write clears it either
    finally:
        outbox.close()
    assert problem is not None and problem.damaged
    assert problem.describe().startswith("the outbox is damaged (database disk image is malformed)")
    written = StorageHealth()  # a write error, by contrast, clears with the next good write
    written.failed(sqlite3.OperationalError("disk I/O error"))
    assert written.problem is not None and not written.problem.damaged
    written.succeeded()
    assert written.problem is None


# --- item 3: protected /healthz and /metrics -----------------------------------------------------


def test_healthz_and_metrics_can_require_a_bearer_token(
    tmp_path: Path, real_backend: Backend
) -> None:
    folder = write_connectors(tmp_path / "connectors", real_backend.base_url)
    settings = Settings(folder, tmp_path / "queue.db", workers=1, schedule=FAST)
    open_server = Running(build(settings, SERVE_ENV))
    try:
        assert open_server.client.get("/healthz").status_code == 200  # the default: open
        assert open_server.client.get("/metrics").status_code == 200
    finally:
        open_server.stop()
    protected = Settings(
        folder, tmp_path / "queue.db", workers=1, monitoring_token_env="MONITOR_TOKEN"
    )
    running = Running(build(protected, SERVE_ENV | {"MONITOR_TOKEN": MONITOR_TOKEN}))
    try:
        for path in ("/healthz", "/metrics"):
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": INTAKE_SECRET},
            ):
                refused = running.client.get(path, headers=headers)
                assert (
                    refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
                )
                assert MONITOR_TOKEN not in refused.text
            allowed = running.client.get(path, headers={"Authorization": f"Bearer {MONITOR_TOKEN}"})
            assert allowed.status_code == 200
        # hooks are not the monitor's business: their own secret, as before
        assert running.hook("crm", chat_json(1), **AUTH).status_code == 202
    finally:
        running.stop()
    with pytest.raises(ServeError, match="environment variable MONITOR_TOKEN is not set"):
        build(protected, SERVE_ENV)


# --- item 4: one connector that cannot serve does not stop the others ----------------------------


def test_a_broken_connector_is_named_at_start_and_answers_503_while_the_others_serve(
    tmp_path: Path, real_backend: Backend, processes: list[Process]
) -> None:
    folder = write_connectors(tmp_path / "connectors", real_backend.base_url)
    (folder / "typo.yaml").write_text(TYPO)
    (folder / "notyaml.yaml").write_text(NOT_YAML)
    (folder / "keys.yaml").write_text(needs_keys(real_backend.base_url))
    process = Process(tmp_path, folder, tmp_path / "queue.db")
    processes.append(process)
    assert process.answering(), process.stderr
    stderr = process.stderr
    # named at start, as `exportdsl check` names them: file:line:col, code, snippet, hint
    assert f"{folder / 'typo.yaml'}:4:1: unknown key 'expot'" in stderr and "[XD002]" in stderr
    assert f"{folder / 'notyaml.yaml'}:" in stderr
    # every $env variable the export uses, not only the intake secret
    assert "environment variable XD_UNSET_KEY_ONE is not set [XD509]" in stderr
    assert "environment variable XD_UNSET_KEY_TWO is not set [XD509]" in stderr
    assert 'hooks="/hooks/crm, /hooks/forward, /hooks/nobutton"' in stderr
    assert "connector not served; its deliveries are held connector=typo hooks=503" in stderr
    assert "connector not served; its deliveries are held connector=notyaml hooks=401" in stderr

    assert process.hook("crm", chat_json(1), **AUTH).status_code == 202  # the others serve
    typo = process.hook("typo", chat_json(2), **AUTH)
    assert (typo.status_code, typo.headers["retry-after"]) == (503, "5")
    assert typo.json()["problems"][0].startswith("typo.yaml:4:1: unknown key 'expot'")
    assert str(tmp_path) not in typo.text  # the file's name; not where the server keeps it
    keys = process.hook("keys", chat_json(3), **AUTH)
    assert keys.status_code == 503 and "XD_UNSET_KEY_ONE" in keys.text
    # without the secret, a broken connector answers as a name that is no connector does: 401
    unknown = process.hook("nothing-here", chat_json(4), params={"token": "guess-0123456789abc"})
    for name in ("typo", "keys", "notyaml"):
        wrong = process.hook(name, chat_json(4), params={"token": "guess-0123456789abc"})
        assert (wrong.status_code, wrong.content) == (401, unknown.content)
    # a file that is not even YAML: its secret cannot be known, so nobody is told more than 401
    assert process.hook("notyaml", chat_json(5), **AUTH).content == unknown.content
    with sqlite3.connect(tmp_path / "queue.db") as db:  # only the serving connector's chat
        assert db.execute("SELECT connector, chat_id FROM chats").fetchall() == [("crm", "1")]
    metrics = httpx.get(f"{process.url}/metrics", timeout=5).text  # for an alert; no names
    assert 'exportdsl_connectors{state="not_served"} 3.0' in metrics
    assert 'exportdsl_connectors{state="serving"} 3.0' in metrics
    with httpx.Client(base_url=process.url) as client:
        button = client.post("/connectors/typo/chats/1/export", **AUTH)
        assert button.status_code == 503
        assert client.post("/connectors/nothing-here/chats/1/export").status_code == 401


def test_when_no_connector_can_serve_the_start_fails_with_every_diagnostic(
    tmp_path: Path, processes: list[Process]
) -> None:
    folder = tmp_path / "connectors"
    folder.mkdir()
    (folder / "typo.yaml").write_text(TYPO)
    (folder / "keys.yaml").write_text(needs_keys("http://127.0.0.1:9"))
    process = Process(tmp_path, folder, tmp_path / "queue.db")
    processes.append(process)
    assert not process.answering()
    assert process.popen.returncode == 1
    stderr = process.stderr
    assert f"exportdsl serve: {folder}: no connector can serve" in stderr
    assert "unknown key 'expot'" in stderr and "XD_UNSET_KEY_TWO is not set" in stderr
    assert "Traceback" not in stderr


def test_an_unset_env_variable_holds_the_connectors_deliveries_never_dead(
    tmp_path: Path, real_backend: Backend
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}))
    real_backend.on("/forward", Reply(200, json={}))
    folder = write_connectors(tmp_path / "connectors", real_backend.base_url)
    database = tmp_path / "queue.db"
    fill_outbox(database, "crm", 7)  # accepted by an earlier server, not delivered yet
    without_key = {name: value for name, value in SERVE_ENV.items() if name != "API_KEY"}
    running = Running(build(Settings(folder, database, workers=2, schedule=FAST), without_key))
    try:
        answer = running.hook("crm", chat_json(8), **AUTH)
        assert answer.status_code == 503 and "API_KEY is not set" in answer.text
        assert running.hook("forward", chat_json(9), **AUTH).status_code == 202  # the others do
        wait_for(lambda: counts(database).get("delivered") == 1)  # forward's: workers are going
        time.sleep(0.5)  # several more looks at the outbox
        (held,) = running.intake.outbox.deliveries(connector="crm")
        assert (held.status, held.attempts, held.last_error) == ("pending", 0, None)
        assert real_backend.requests_to("/report") == []
    finally:
        running.stop()
    # started again with the variable set: the held delivery goes, under its own key
    running = Running(build(Settings(folder, database, workers=2, schedule=FAST), SERVE_ENV))
    try:
        wait_for(lambda: counts(database).get("delivered") == 2)
        (report,) = real_backend.requests_to("/report")
        assert report.headers["idempotency-key"] == "key-7"
    finally:
        running.stop()


def test_a_delivery_whose_connector_is_gone_at_its_attempt_is_put_back_uncounted(
    tmp_path: Path,
) -> None:
    database = tmp_path / "queue.db"
    fill_outbox(database, "gone", 1)
    # the connector was served at the claim and removed before the attempt: no plan for it now
    pool = WorkerPool(str(database), ExportDeliverer({}), PoolSettings(1, 1, 30, idle=0.05))
    pool.start()
    try:
        time.sleep(0.5)
    finally:
        pool.stop()
    view = SqliteOutbox(database)
    try:
        (held,) = view.deliveries()
    finally:
        view.close()
    assert (held.status, held.attempts, held.lease_owner, held.last_error) == (
        "pending",
        0,
        None,
        None,
    )
    assert held.next_attempt_at > held.created_at  # looked at again in a second, not at once


# --- item 4: SIGHUP reloads the folder -----------------------------------------------------------


def test_sighup_reloads_new_fixed_changed_and_removed_connectors_without_dropping_a_hook(
    tmp_path: Path, real_backend: Backend, processes: list[Process]
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}))
    for path in ("/later", "/new", "/forward"):
        real_backend.on(path, Reply(200, json={}))
    base = real_backend.base_url
    folder = write_connectors(tmp_path / "connectors", base)
    (folder / "later.yaml").write_text(forward_text(base, "/later", extra="expot: {}\n"))
    database = tmp_path / "queue.db"
    fill_outbox(database, "later", 40, target="127.0.0.1")  # held while later.yaml is broken
    process = Process(tmp_path, folder, database)
    processes.append(process)
    assert process.answering(), process.stderr
    assert process.hook("later", chat_json(41), **AUTH).status_code == 503

    answers: list[int] = []
    stop = threading.Event()

    def keep_hooking() -> None:  # hooks in flight all through the reload
        with httpx.Client(timeout=10) as client:
            number = 1000
            while not stop.is_set():
                number += 1
                url = f"{process.url}/hooks/crm"
                answers.append(client.post(url, content=chat_json(number), **AUTH).status_code)

    hooking = threading.Thread(target=keep_hooking)
    hooking.start()
    try:
        (folder / "later.yaml").write_text(forward_text(base, "/later"))  # fixed
        (folder / "new.yaml").write_text(forward_text(base, "/new"))  # new
        (folder / "forward.yaml").unlink()  # removed
        crm = (folder / "crm.yaml").read_text()
        (folder / "crm.yaml").write_text(crm + "expot: {}\n")  # was good, now broken
        process.popen.send_signal(signal.SIGHUP)
        wait_for(lambda: "connectors reloaded" in process.stderr, 10)
        time.sleep(0.2)
    finally:
        stop.set()
        hooking.join(10)
    assert answers and set(answers) == {202}, answers
    assert process.popen.poll() is None  # SIGHUP reloads; it does not end the server
    assert process.hook("later", chat_json(42), **AUTH).status_code == 202
    assert process.hook("new", chat_json(43), **AUTH).status_code == 202
    assert process.hook("forward", chat_json(44), **AUTH).status_code == 401  # gone
    assert process.hook("crm", chat_json(45), **AUTH).status_code == 202  # last good version
    # the delivery held while later.yaml was broken goes now, with the others
    wait_for(lambda: {r.json["channel"]["id"] for r in real_backend.requests_to("/later")} >= {40})
    stderr = process.stderr
    assert "connectors reloaded added=new fixed=later removed=forward" in stderr
    assert "broken_previous_serves=crm serving=crm,later,new,nobutton" in stderr
    assert "connector broken; its previous version serves on connector=crm" in stderr
    assert f"{folder / 'crm.yaml'}:" in stderr and "unknown key 'expot'" in stderr
    # and another reload after the fix of crm.yaml takes the fixed file
    (folder / "crm.yaml").write_text(crm)
    process.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: "changed=crm" in process.stderr, 10)
    stop_state = json.loads(httpx.get(f"{process.url}/healthz", timeout=5).text)
    assert stop_state["status"] == "ok"
