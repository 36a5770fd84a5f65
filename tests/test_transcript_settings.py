"""Per-connector transcript settings (issue 14 item 4): the connector key ``transcript:`` checked
like every other key (tests/cases/transcript-settings.json, and the golden
tests/lint/examples/transcript-settings.yaml), the logo's checks, the same rules behind
``exportdsl transcript``'s options, and the settings reaching the PDF through the exporter and
through serve's render processes (real runs, a back end on 127.0.0.1)."""

from __future__ import annotations

import base64
import io
import json
import signal
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from backend import TOKEN, Backend, Reply, connector_text, sample_chat
from click.testing import CliRunner
from PIL import Image
from pypdf import PdfReader
from test_exporter import exporter
from test_serve import INTAKE_SECRET, chat_json, counts, free_port, start_process, wait_for

import exportdsl
from exportdsl.chat.reader import parse_chat_bytes
from exportdsl.cli.main import main
from exportdsl.compiler.analysis import compile_connector
from exportdsl.connector.reader import load_connector, parse_connector
from exportdsl.connector.transcript import MAX_LOGO_BYTES, read_logo
from exportdsl.delivery.rendering import (
    InThread,
    RenderPool,
    read_render_request,
    render_request,
)
from exportdsl.errors import ConfigError, ConnectorError
from exportdsl.transcript.pdf import render_transcript
from exportdsl.transcript.settings import TranscriptSettings

ROOT = Path(__file__).parent.parent
CASES = json.loads((ROOT / "tests" / "cases" / "transcript-settings.json").read_text("utf-8"))
LOGO = ROOT / "tests" / "data" / "logo.png"  # 240x80, transparent background
CHAT = ROOT / "tests" / "data" / "chats" / "smartsupp.json"


def pdftotext(pdf: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        command = ["pdftotext", "-enc", "UTF-8", file.name, "-"]
        text = subprocess.run(command, capture_output=True, check=True, text=True).stdout
    return " ".join(text.split())


def images(pdf: bytes) -> list[tuple[int, int]]:
    """The pixel sizes of the images drawn on the first page."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    return [(image.image.width, image.image.height) for image in page.images if image.image]


def image_file(folder: Path, name: str, size: tuple[int, int], kind: str = "PNG") -> Path:
    path = folder / name
    Image.new("RGB", size, (200, 30, 30)).save(path, kind)
    return path


# -- the connector key ----------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_case(case: dict[str, Any]) -> None:
    text = "\n".join(case["given"]["connector"]) + "\n"
    expected = case["expected"]
    if "diagnostics" not in expected:
        settings = parse_connector(text, "c.yaml").transcript
        assert {key: getattr(settings, key) for key in expected["settings"]} == expected["settings"]
        return
    with pytest.raises(ConnectorError) as caught:
        parse_connector(text, "c.yaml")
    found = caught.value.diagnostics
    assert [(d.code, d.location.line, d.location.column) for d in found if d.location] == [
        (want["code"], want["line"], want["column"]) for want in expected["diagnostics"]
    ]
    for diagnostic, want in zip(found, expected["diagnostics"], strict=True):
        assert want["message"] in diagnostic.message
        assert want.get("hint", "") in (diagnostic.hint or "")


def test_a_connector_carries_its_settings_to_the_plan(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_bytes(LOGO.read_bytes())
    (tmp_path / "fonts").mkdir()
    path = tmp_path / "crm.yaml"
    path.write_text(
        connector_text("https://crm.example", token=False)
        + "transcript: {title: Fall 42, language: de, logo: logo.png, fonts: fonts}\n"
    )
    plan = compile_connector(load_connector(path))
    settings = plan.transcript
    assert (settings.title, settings.language, settings.timezone) == (
        "Fall 42",
        "de",
        "Europe/Prague",
    )
    assert settings.logo is not None and (settings.logo.kind, settings.logo.width) == ("png", 240)
    assert settings.logo.data == LOGO.read_bytes() and settings.fonts == tmp_path / "fonts"
    assert plan.timezone == "Europe/Prague"


def bad_logo(folder: Path, problem: str) -> tuple[str, str]:
    """A logo with ``problem``: its name, and what the error says."""
    if problem == "missing":
        return "nowhere.png", "logo file 'nowhere.png' not found"
    if problem == "not an image":
        (folder / "notes.png").write_text("just text\n")
        return "notes.png", "logo 'notes.png' is not a PNG or JPEG image"
    if problem == "wrong type":
        Image.new("RGB", (10, 10)).save(folder / "logo.gif", "GIF")
        return "logo.gif", "logo 'logo.gif' is a GIF image; a logo is a PNG or JPEG image"
    if problem == "too many bytes":
        (folder / "big.png").write_bytes(LOGO.read_bytes() + b"\0" * MAX_LOGO_BYTES)
        return "big.png", "logo 'big.png' is 1,049,093 bytes; a logo may have at most 1,048,576"
    if problem == "too many pixels":
        Image.new("1", (5000, 20)).save(folder / "wide.png")
        return "wide.png", "logo 'wide.png' is 5000x20 pixels; at most 4096x4096 are taken"
    if problem == "damaged":
        (folder / "cut.png").write_bytes(LOGO.read_bytes()[:200])
        return "cut.png", "logo 'cut.png' is a damaged or unreadable PNG image"
    if problem == "a folder":
        (folder / "folder.png").mkdir()
        return "folder.png", "logo 'folder.png' is not a file"
    raise AssertionError(problem)


PROBLEMS = [
    "missing",
    "not an image",
    "wrong type",
    "too many bytes",
    "too many pixels",
    "damaged",
    "a folder",
]


@pytest.mark.parametrize("problem", PROBLEMS)
def test_a_bad_logo_is_reported_at_its_key_by_check(tmp_path: Path, problem: str) -> None:
    name, message = bad_logo(tmp_path, problem)
    path = tmp_path / "crm.yaml"
    path.write_text(
        "connector: {id: 1, name: x}\nclient: {id: 2}\ntranscript:\n"
        f"  language: cs\n  logo: {name}\n"
    )
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:5:9: {message}" in result.output
    assert f"5 |   logo: {name}\n  |         {'^' * len(name)}" in result.output
    assert "hint: " in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("problem", PROBLEMS)
def test_a_bad_logo_option_is_a_usage_error(
    tmp_path: Path, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    name, message = bad_logo(tmp_path, problem)
    result = CliRunner().invoke(main, ["transcript", str(CHAT), "-o", "x.pdf", "--logo", name])
    assert result.exit_code == 2
    assert "Invalid value for '--logo'" in result.output and message in result.output
    assert not (tmp_path / "x.pdf").exists()


def test_a_jpeg_logo_is_taken(tmp_path: Path) -> None:
    image_file(tmp_path, "photo.jpg", (300, 100), "JPEG")
    logo = read_logo("photo.jpg", tmp_path)
    assert (logo.kind, logo.width, logo.height) == ("jpeg", 300, 100)
    with pytest.raises(ConfigError, match="not found"):
        read_logo("photo.jpg", tmp_path / "elsewhere")


# -- exportdsl transcript -------------------------------------------------------------------------
def test_unknown_language_option_is_a_usage_error_with_the_list(tmp_path: Path) -> None:
    for command in ("transcript", "report"):
        result = CliRunner().invoke(
            main, [command, str(CHAT), "-o", str(tmp_path / "x.pdf"), "--language", "pl-PL"]
        )
        assert result.exit_code == 2
        assert (
            "Invalid value for '--language': unknown transcript language 'pl-PL'" in result.output
        )
        assert "did you mean 'pl'?" in result.output and "cs (Czech)" in result.output


def test_transcript_takes_the_settings_from_a_connector_and_options_override(
    tmp_path: Path,
) -> None:
    (tmp_path / "logo.png").write_bytes(LOGO.read_bytes())
    connector = tmp_path / "crm.yaml"
    connector.write_text(
        "connector: {id: 1, name: x}\nclient: {id: 2}\ntimezone: Europe/Warsaw\n"
        "transcript: {language: pl, title: Rozmowa z klientem, logo: logo.png}\n"
    )
    target = tmp_path / "chat.pdf"
    arguments = ["transcript", str(CHAT), "-o", str(target), "--connector", str(connector)]
    assert CliRunner().invoke(main, arguments).exit_code == 0
    text = pdftotext(target.read_bytes())
    assert "Rozmowa z klientem" in text and "piątek 27 marca 2015" in text
    assert "16:33:59" in text  # Europe/Warsaw, the connector's zone
    assert images(target.read_bytes()) == [(240, 80)]
    overridden = [*arguments, "--language", "cs", "--timezone", "UTC", "--title", "Případ"]
    assert CliRunner().invoke(main, overridden).exit_code == 0
    text = pdftotext(target.read_bytes())
    assert "Případ" in text and "pátek 27. března 2015" in text and "15:33:59" in text


def test_transcript_with_a_bad_connector_shows_its_diagnostics(tmp_path: Path) -> None:
    connector = tmp_path / "crm.yaml"
    (tmp_path / "logo.png").write_text("not an image")
    connector.write_text(
        "connector: {id: 1, name: x}\nclient: {id: 2}\ntranscript:\n  language: klingon\n"
        "  logo: logo.png\n"
    )
    result = CliRunner().invoke(
        main,
        ["transcript", str(CHAT), "-o", str(tmp_path / "x.pdf"), "--connector", str(connector)],
    )
    assert result.exit_code == 1
    assert f"{connector}:4:13: unknown transcript language 'klingon' [XD002]" in result.output
    assert "4 |   language: klingon\n  |             ^^^^^^^" in result.output
    assert f"{connector}:5:9: logo 'logo.png' is not a PNG or JPEG image [XD002]" in result.output
    assert not (tmp_path / "x.pdf").exists()


def test_transcript_options_are_checked_by_the_same_rules(tmp_path: Path) -> None:
    def run(*options: str) -> str:
        result = CliRunner().invoke(
            main, ["transcript", str(CHAT), "-o", str(tmp_path / "x.pdf"), *options]
        )
        assert result.exit_code == 2
        return result.output

    assert "unknown time zone 'Europe/Prage'" in run("--timezone", "Europe/Prage")
    assert "did you mean 'Europe/Prague'?" in run("--timezone", "Europe/Prage")
    assert "fonts folder 'nope' does not exist" in run("--fonts", "nope")
    assert "the title is empty" in run("--title", " ")


# -- the logo in the PDF --------------------------------------------------------------------------
def test_the_logo_is_drawn_in_its_box_and_the_bytes_are_the_same_twice() -> None:
    chat = parse_chat_bytes(CHAT.read_bytes())
    settings = TranscriptSettings(logo=read_logo(LOGO.name, LOGO.parent))
    pdf = render_transcript(chat, settings)
    assert pdf == render_transcript(chat, settings)
    assert images(pdf) == [(240, 80)]
    assert images(render_transcript(chat)) == []
    # scaled to the 150 x 48 box, the aspect kept (240:80 = 3: 144 x 48), at the top right
    assert b"144 0 0 48 401.2756 744 cm" in _page_stream(pdf)


def test_a_tall_jpeg_logo_keeps_its_aspect(tmp_path: Path) -> None:
    image_file(tmp_path, "tall.jpg", (100, 400), "JPEG")
    chat = parse_chat_bytes(CHAT.read_bytes())
    pdf = render_transcript(chat, TranscriptSettings(logo=read_logo("tall.jpg", tmp_path)))
    assert images(pdf) == [(48, 192)]  # 4 pixels a point of the 12 x 48 points it is drawn at
    assert b"12 0 0 48 533.2756 744 cm" in _page_stream(pdf)  # 48 high, 12 wide


def _page_stream(pdf: bytes) -> bytes:
    contents = PdfReader(io.BytesIO(pdf)).pages[0].get_contents()
    assert contents is not None
    return bytes(contents.get_data())


# -- through the exporter and serve's render processes --------------------------------------------
def test_the_exporter_renders_with_the_connectors_settings(
    tmp_path: Path, real_backend: Backend
) -> None:
    (tmp_path / "logo.png").write_bytes(LOGO.read_bytes())
    path = tmp_path / "crm.yaml"
    path.write_text(
        connector_text(real_backend.base_url)
        + "transcript: {language: pl, timezone: UTC, logo: logo.png}\n"
    )
    plan = compile_connector(load_connector(path))
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}))
    assert exporter(real_backend, plan).run(sample_chat()).ok
    (report,) = real_backend.requests_to("/report")
    pdf = base64.b64decode(report.json["pdf"])
    assert pdf == render_transcript(sample_chat(), plan.transcript)
    text = pdftotext(pdf)
    assert "Zapis czatu" in text and "piątek 27 marca 2015" in text and "15:33:59" in text
    assert images(pdf) == [(240, 80)]


def test_settings_cross_the_render_process_pipe_as_bytes() -> None:
    settings = TranscriptSettings(
        title="Žádost č. 7",
        language="cs",
        timezone="Europe/Prague",
        logo=read_logo(LOGO.name, LOGO.parent),
        fonts=ROOT / "tests" / "data",
    )
    request = render_request(settings, b'{"messages": []}')
    (header_length,) = struct.unpack_from(">I", request)
    header = json.loads(request[4 : 4 + header_length])  # JSON, not a pickle
    assert header["language"] == "cs" and header["logo"] == {"kind": "png", "size": [240, 80]}
    assert read_render_request(request) == (settings, b'{"messages": []}')
    pool = RenderPool(1)
    try:
        chat = parse_chat_bytes(CHAT.read_bytes())
        assert pool(chat, settings) == InThread()(chat, settings)
    finally:
        pool.close()


def test_serve_renders_with_the_connectors_settings_in_its_render_processes(
    tmp_path: Path, real_backend: Backend
) -> None:
    real_backend.on("/token", TOKEN)
    real_backend.on("/report", Reply(201, json={}))
    folder = tmp_path / "connectors"
    folder.mkdir()
    (folder / "logo.png").write_bytes(LOGO.read_bytes())
    (folder / "crm.yaml").write_text(
        connector_text(
            real_backend.base_url,
            extra="intake: {secret: $env.INTAKE_SECRET}\n"
            "transcript: {language: cs, title: Přepis pro CRM, logo: logo.png}",
        )
    )
    database, port = tmp_path / "q.db", free_port()
    process = start_process(folder, database, port, "--render-processes", "1")
    try:
        answer = httpx.post(
            f"http://127.0.0.1:{port}/hooks/crm",
            content=chat_json(3),
            params={"token": INTAKE_SECRET},
            timeout=10,
        )
        assert answer.status_code == 202
        wait_for(lambda: counts(database) == {"delivered": 1})
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) in (0, -signal.SIGTERM)
    (report,) = real_backend.requests_to("/report")
    pdf = base64.b64decode(report.json["pdf"])
    plan = compile_connector(load_connector(folder / "crm.yaml"))
    assert pdf == InThread()(parse_chat_bytes(chat_json(3)), plan.transcript)
    text = pdftotext(pdf)
    assert "Přepis pro CRM" in text and "pátek 27. března 2015" in text
    assert images(pdf) == [(240, 80)]


def test_the_example_connectors_still_check_clean() -> None:
    for path in sorted((ROOT / "connectors").glob("*.yaml")):
        assert exportdsl.load_connector(path).transcript.language == "en"
