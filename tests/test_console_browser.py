"""The console in a real browser (issue 15, part 4): Debian's Chromium, headless, driven by
Selenium through Debian's chromedriver, against `exportdsl serve --console-secret-env` in its own
process, delivering to a back end on 127.0.0.1 (tests/backend.py).

Log in (and be refused with a wrong secret), see deliveries arrive while hooks are posted (no
reload), filter by status, open a failed delivery and read its attempt history, send it again and
see it delivered. Without Chromium these tests skip, except where CONSOLE_BROWSER_TESTS=required
(.ci/run sets it): CI must never pass by checking nothing."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from backend import ENV, SAMPLE_CHAT, Backend, Reply, connector_text

SECRET = "console-S3CRET-0123456789"
INTAKE_SECRET = "intake-S3CRET-0123456789"
SERVE_ENV = ENV | {"INTAKE_SECRET": INTAKE_SECRET, "CONSOLE_SECRET": SECRET}
CHAT = json.loads(SAMPLE_CHAT.read_text(encoding="utf-8"))
WAIT = 20.0  # seconds for anything the page should show (it polls every 2 s)

# What a headless Chromium needs here: no sandbox (root in a container), no GPU, and nothing
# that calls home (no first-run, sync, component updates or background requests).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


def _browser_missing() -> str | None:
    """Why the browser tests cannot run here; None when they can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the dev extra)"
    if _chromium() is None:
        return "Chromium is not installed (apt-get install chromium chromium-driver)"
    if shutil.which("chromedriver") is None:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


def _chromium() -> str | None:
    """Debian's Chromium binary (its /usr/bin/chromium is a shell wrapper), else one on PATH."""
    binary = Path("/usr/lib/chromium/chromium")
    return str(binary) if binary.is_file() else shutil.which("chromium")


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = _browser_missing()
    if missing is not None:
        if os.environ.get("CONSOLE_BROWSER_TESTS") == "required":
            pytest.fail(f"CI runs the console's browser tests: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.binary_location = _chromium() or ""
    made = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    made.set_page_load_timeout(30)
    try:
        yield made
    finally:
        made.quit()


class Served:
    """`exportdsl serve` with the console, in its own process."""

    def __init__(self, folder: Path, database: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            str(Path(sys.executable).with_name("exportdsl")), "serve",
            "--connectors", str(folder), "--db", str(database), "--port", str(self.port),
            "--workers", "2", "--render-processes", "0", "--retry-schedule", "0.5,0.5",
            "--console-secret-env", "CONSOLE_SECRET",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, env=os.environ | SERVE_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _until(self._healthy, "exportdsl serve did not start")

    def _healthy(self) -> bool:
        assert self.process.poll() is None, (
            self.process.stderr.read() if self.process.stderr else ""
        )
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def hook(self, chat_id: int) -> int:
        chat = CHAT | {"channel": CHAT["channel"] | {"id": chat_id}}
        answer = httpx.post(
            f"{self.url}/hooks/crm",
            content=json.dumps(chat).encode(),
            params={"token": INTAKE_SECRET},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        return int(answer.json()["delivery"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def served(tmp_path: Path, real_backend: Backend) -> Iterator[Served]:
    folder = tmp_path / "connectors"
    folder.mkdir()
    (folder / "crm.yaml").write_text(
        connector_text(
            real_backend.base_url, token=False, extra="intake: {secret: $env.INTAKE_SECRET}"
        )
    )
    running = Served(folder, tmp_path / "queue.db")
    try:
        yield running
    finally:
        running.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _until(condition: Callable[[], bool], why: str, seconds: float = WAIT) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, why
        time.sleep(0.1)


def _log_in(driver: Any, url: str, secret: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/console/")
    assert driver.current_url.endswith("/console/login")
    field = driver.find_element(By.ID, "secret")
    field.clear()
    field.send_keys(secret)
    driver.find_element(By.ID, "login").click()


def _listed(driver: Any) -> dict[int, str]:
    """The deliveries the list shows now: id → state (read with one script: the rows are
    replaced every two seconds, so elements found one by one may be gone when read)."""
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll('tr.delivery'))"
        ".map(row => [row.dataset.id, row.dataset.state]);"
    )
    return {int(delivery): state for delivery, state in rows}


def test_the_console_in_a_browser(driver: Any, served: Served, real_backend: Backend) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # refused with a wrong secret, then in with the right one
    driver.delete_all_cookies()
    _log_in(driver, served.url, "not-the-secret-at-all")
    assert "wrong secret" in driver.find_element(By.ID, "problem").text
    assert driver.current_url.endswith("/console/login")
    _log_in(driver, served.url, SECRET)
    _until(lambda: driver.current_url.endswith("/console/"), "no deliveries page after login")
    session = driver.get_cookie("exportdsl_console")
    assert session is not None and session["httpOnly"] and session["sameSite"] == "Strict"
    assert session["secure"]
    assert _listed(driver) == {}

    # deliveries arrive while hooks are posted, without a reload: one refused for good (410)...
    driver.execute_script("window.consoleNotReloaded = true;")
    real_backend.on("/report", Reply(410, json={"error": "tenant archived"}))
    failed = served.hook(1)
    _until(lambda: _listed(driver).get(failed) == "dead", "the dead delivery did not show")
    # ...then two delivered
    real_backend.on("/report", Reply(201, json={"id": "r-1"}))
    delivered = [served.hook(2), served.hook(3)]
    _until(
        lambda: all(_listed(driver).get(each) == "delivered" for each in delivered),
        "the delivered ones did not show",
    )
    assert driver.execute_script("return window.consoleNotReloaded === true;")

    # filter by status
    Select(driver.find_element(By.ID, "status")).select_by_value("dead")
    driver.find_element(By.ID, "filter").click()
    _until(lambda: "status=dead" in driver.current_url, "the filter was not applied")
    _until(lambda: _listed(driver) == {failed: "dead"}, "the filter did not show the dead one")

    # the failed delivery's attempt history
    driver.find_element(By.LINK_TEXT, str(failed)).click()
    _until(lambda: driver.current_url.endswith(f"/deliveries/{failed}"), "no delivery page")
    attempts = driver.find_elements(By.CSS_SELECTOR, "#attempts tr.attempt")
    assert [row.get_attribute("data-outcome") for row in attempts] == ["dead"]
    cells = attempts[0].find_elements(By.TAG_NAME, "td")
    assert cells[4].text == "410" and "tenant archived" in cells[6].text
    assert "410" in cells[5].text  # the error names the answer

    # send it again, and see it delivered
    driver.find_element(By.ID, "retry").click()
    _until(lambda: "queued again" in driver.page_source, "the retry was not confirmed")

    def delivered_now() -> bool:
        driver.refresh()
        return bool(driver.find_element(By.ID, "state").text == "delivered")

    _until(delivered_now, "the retried delivery was not delivered")
    outcomes = [
        row.get_attribute("data-outcome")
        for row in driver.find_elements(By.CSS_SELECTOR, "#attempts tr.attempt")
    ]
    assert outcomes == ["dead", "delivered"]

    # the Report Export button: a new delivery of the same chat, delivered with a key of its own
    driver.find_element(By.ID, "report-export").click()
    _until(lambda: "Report Export pressed" in driver.page_source, "the press was not confirmed")
    pressed = int(driver.current_url.split("/deliveries/")[1].split("?")[0])
    assert pressed > max(delivered)
    _until(delivered_now, "the Report Export delivery was not delivered")
    keys = [item.headers.get("idempotency-key") for item in real_backend.requests_to("/report")]
    assert keys[-1] is not None and keys[-1].endswith(".export-1")

    # at a phone's width the page does not scroll sideways (the tables scroll inside their box)
    driver.set_window_size(390, 844)
    for path in ("/console/", f"/console/deliveries/{failed}"):
        driver.get(f"{served.url}{path}")
        width = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth];"
        )
        assert width[0] <= width[1], (path, width)
    driver.set_window_size(1280, 900)


def test_a_typo_typed_into_the_playground_is_underlined_at_its_line(
    driver: Any, served: Served
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(f"{served.url}/console/playground")
    if driver.current_url.endswith("/console/login"):
        _log_in(driver, served.url, SECRET)
        driver.get(f"{served.url}/console/playground")
    state = driver.find_element(By.ID, "check-state")
    _until(lambda: state.text == "clean", "the example connector was not checked clean")
    assert "POST https://crm.acme.example/" in driver.find_element(By.ID, "requests").text

    # the caret after "$Clients", then Backspace: "$ClientID", as a person would make the typo
    driver.execute_script(
        "const source = document.getElementById('source');"
        "const at = source.value.indexOf('$ClientsID') + '$Clients'.length;"
        "source.focus(); source.setSelectionRange(at, at);"
    )
    ActionChains(driver).send_keys(Keys.BACKSPACE).perform()
    _until(
        lambda: bool(driver.find_elements(By.CSS_SELECTOR, "#diagnostics li[data-code=XD201]")),
        "no diagnostic for the typo",
    )
    found = driver.find_element(By.CSS_SELECTOR, "#diagnostics li[data-code=XD201]")
    assert found.get_attribute("data-line") == "11"
    assert found.text.startswith("11:18: error: export.body: undefined variable $ClientID [XD201]")
    assert "did you mean $ClientsID?" in found.text
    assert driver.find_element(By.ID, "requests").text == ""
    # underlined in the layer behind the text: on line 11, at the name, where the text area shows it
    text, line, offset = driver.execute_script(
        "const overlay = document.getElementById('overlay');"
        "const mark = overlay.querySelector('mark[data-code=XD201]');"
        "const range = document.createRange(); range.setStart(overlay, 0);"
        "range.setEndBefore(mark);"
        "const top = mark.getBoundingClientRect().top - overlay.getBoundingClientRect().top;"
        "return [mark.textContent, range.toString().split('\\n').length, top];"
    )
    assert (text, line) == ("ClientID", 11)
    line_height = 13 * 1.5  # the editor's font: 13px, line height 1.5; 0.5rem of padding
    assert abs(offset - (8 + 10 * line_height)) < 4, offset

    # and fixed again: clean, the requests back
    ActionChains(driver).send_keys("s").perform()
    _until(lambda: state.text == "clean", "the fixed connector was not checked clean")
    assert driver.find_elements(By.CSS_SELECTOR, "#overlay mark") == []
