"""The console's second review (issue 15), in a real browser (Debian's Chromium through
Selenium, as tests/test_console_browser.py): a chat file uploaded into the playground, its XML
template shown as rendered and its PDF downloaded; a typo after emoji underlined where it is; and
at a phone's width the attempts as cards and check's diagnostics unwrapped (scrolling sideways,
the caret lines under their columns)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import test_console_browser
from backend import Backend, Reply
from test_console_browser import CHAT, SECRET, Served, _log_in, _until

# the browser and the server, as tests/test_console_browser.py makes them
driver = test_console_browser.driver
served = test_console_browser.served

XML_CONNECTOR = """\
connector: {id: 7, name: XML}
client: {id: 1001}
transcript: {title: Uploaded chat}
export:
  url: https://crm.example/in
  headers: {Content-Type: application/json}
  body: |
    {"xml": "$xmlTemplate.encoded.base64", "pdf": "$report.encoded.base64"}
xml_template: |
  <chat id="$chat.channel.id"><visitor>$!chat.visitor.name</visitor></chat>
"""

# a typo after four emoji on its line: each one code point (the server's columns) but two
# UTF-16 units (JavaScript's string indices)
EMOJI_CONNECTOR = """\
connector: {id: 7, name: P}
client: {id: 1001}
export:
  url: https://crm.example/in
  headers: {Content-Type: application/json}
  body: |
    {"e": "\U0001f600\U0001f600\U0001f600\U0001f600", "v": "$chat.visitor.nme", \
"pdf": "$report.encoded.base64"}
"""


def _playground(driver: Any, served: Served) -> None:
    driver.get(f"{served.url}/console/playground")
    if "/console/login" in driver.current_url:
        _log_in(driver, served.url, SECRET)
        _until(lambda: driver.current_url.endswith("/console/"), "not logged in")
        driver.get(f"{served.url}/console/playground")
    from selenium.webdriver.common.by import By

    state = driver.find_element(By.ID, "check-state")
    _until(lambda: state.text == "clean", "the example connector was not checked clean")


def _type_source(driver: Any, text: str) -> None:
    """The connector's text set as if typed (the page listens to ``input``)."""
    driver.execute_script(
        "const source = document.getElementById('source'); source.value = arguments[0];"
        "source.dispatchEvent(new Event('input'));",
        text,
    )


def test_a_chat_file_uploaded_its_xml_rendered_and_its_pdf_downloaded(
    driver: Any, served: Served, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    _playground(driver, served)
    _type_source(driver, XML_CONNECTOR)
    chat_file = tmp_path / "chat.json"
    chat_file.write_text(json.dumps(CHAT | {"visitor": CHAT["visitor"] | {"name": "Ann <b>"}}))
    driver.find_element(By.ID, "chat-file").send_keys(str(chat_file))
    # read in the page into the chat field, then checked and rendered for it
    _until(
        lambda: "Ann <b>" in driver.find_element(By.ID, "chat").get_property("value"),
        "the uploaded chat was not read into the chat field",
    )
    xml = driver.find_element(By.ID, "xml")
    _until(lambda: "<visitor>Ann &lt;b&gt;</visitor>" in xml.text, "no rendered XML: " + xml.text)
    assert xml.text.startswith(f'<chat id="{CHAT["channel"]["id"]}">')
    assert driver.find_elements(By.CSS_SELECTOR, "#xml *") == []  # text, never markup
    assert "chat.json" in driver.find_element(By.ID, "chat-file-state").text

    driver.find_element(By.ID, "pdf").click()
    link = driver.find_element(By.ID, "pdf-link")
    _until(
        lambda: link.is_displayed(), "no PDF link: " + driver.find_element(By.ID, "pdf-state").text
    )
    assert link.get_attribute("href").startswith("blob:")

    def downloaded() -> bool:
        return any(path.suffix == ".pdf" for path in downloads.iterdir())

    _until(downloaded, "the PDF was not downloaded")
    pdf = next(path for path in downloads.iterdir() if path.suffix == ".pdf")
    time.sleep(0.2)  # written whole before it is renamed to .pdf; a moment for the flush
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "Uploaded chat" in text and "Ann <b>" in text


def test_a_typo_after_emoji_is_underlined_where_it_is(driver: Any, served: Served) -> None:
    from selenium.webdriver.common.by import By

    _playground(driver, served)
    _type_source(driver, EMOJI_CONNECTOR)
    _until(
        lambda: bool(driver.find_elements(By.CSS_SELECTOR, "#overlay mark[data-code=XD202]")),
        "no underline for the typo",
    )
    from exportdsl.console.playground import check_source

    (found,) = [d for d in check_source(EMOJI_CONNECTOR, "")["diagnostics"] if d["code"] == "XD202"]
    line = EMOJI_CONNECTOR.splitlines()[found["line"] - 1]
    expected = line[found["column"] - 1 : found["end_column"]]  # code points, as the server counts
    assert expected.endswith("nme"), expected
    mark = driver.find_element(By.CSS_SELECTOR, "#overlay mark[data-code=XD202]")
    assert mark.get_attribute("textContent") == expected


def test_at_a_phones_width_attempts_are_cards_and_diagnostics_scroll(
    driver: Any, served: Served, real_backend: Backend, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    long_error = "tenant archived: " + " ".join(["unavailable"] * 30)
    real_backend.on("/report", Reply(410, json={"error": long_error}))
    failed = served.hook(41)
    driver.get(f"{served.url}/console/")
    if "/console/login" in driver.current_url:
        _log_in(driver, served.url, SECRET)
        _until(lambda: driver.current_url.endswith("/console/"), "not logged in")
    try:
        driver.set_window_size(360, 800)

        def dead() -> bool:
            driver.get(f"{served.url}/console/deliveries/{failed}")
            return bool(driver.find_elements(By.CSS_SELECTOR, "#attempts tr.attempt"))

        _until(dead, "the failed attempt was not recorded")
        error, row, page = driver.execute_script(
            "const cell = document.querySelector('#attempts tr.attempt td.error');"
            "const row = cell.closest('tr');"
            "return [cell.getBoundingClientRect().width, row.getBoundingClientRect().height,"
            " document.documentElement.scrollWidth];"
        )
        assert error > 250, error  # a card's width, not a squeezed column (54 px before)
        assert row < 900, row  # 1,400 px before
        assert page <= 360, page
        label = driver.execute_script(
            "return getComputedStyle(document.querySelector('#attempts td.error'), '::before')"
            ".content;"
        )
        assert label == '"error"'

        # the connectors page: check's output unwrapped, each caret under its column
        (tmp_path / "connectors" / "typo.yaml").write_text(
            "connector: {id: 5, name: t}\nclient: {id: 1001}\n"
            "export: {url: 'https://crm.example/in/$ClientID', headers: {Content-Type: text/plain},"
            " body: $report.encoded.base64}\n"
        )
        served.process.send_signal(signal.SIGHUP)  # serve reads its folder again

        def listed() -> bool:
            driver.get(f"{served.url}/console/connectors")
            return bool(driver.find_elements(By.CSS_SELECTOR, "tr[data-name=typo]"))

        _until(listed, "the new connector file was not listed")
        pre = "tr[data-name=typo] pre.diagnostics"
        width, scrolls, wraps = driver.execute_script(
            "const pre = document.querySelector(arguments[0]);"
            "return [pre.getBoundingClientRect().width, pre.scrollWidth > pre.clientWidth,"
            " getComputedStyle(pre).whiteSpace];",
            pre,
        )
        assert wraps == "pre" and scrolls and width > 250, (width, scrolls, wraps)
        assert driver.execute_script("return document.documentElement.scrollWidth;") <= 360
    finally:
        driver.set_window_size(1280, 900)
