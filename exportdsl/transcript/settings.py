"""The transcript's settings, as `render_transcript` takes them, and as they cross a pipe.

`TranscriptSettings` and `Logo` and the rules that check them are defined in
`exportdsl.connector.transcript`, because the connector reader checks them and may not import
this package; here they are offered to the PDF's side, with their wire form for `serve`'s render
processes: a small JSON header and the logo's bytes (bytes across, never pickles).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exportdsl.connector.transcript import (
    LANGUAGES,
    Logo,
    TranscriptSettings,
    check_language,
    check_timezone,
)

__all__ = [
    "LANGUAGES",
    "Logo",
    "TranscriptSettings",
    "check_language",
    "check_timezone",
    "settings_from_wire",
    "settings_to_wire",
]


def settings_to_wire(settings: TranscriptSettings) -> tuple[bytes, bytes]:
    """(JSON header, the logo's bytes or b""): what a render process needs to rebuild them."""
    logo = settings.logo
    header: dict[str, Any] = {
        "title": settings.title,
        "language": settings.language,
        "timezone": settings.timezone,
        "fonts": None if settings.fonts is None else str(settings.fonts),
        "logo": None if logo is None else {"kind": logo.kind, "size": [logo.width, logo.height]},
    }
    return json.dumps(header, separators=(",", ":")).encode(), logo.data if logo else b""


def settings_from_wire(header: bytes, logo_data: bytes) -> TranscriptSettings:
    """`settings_to_wire`'s parts back as settings. The logo was checked where it was read (the
    server's own connector file), so its kind and size are taken as sent."""
    fields = json.loads(header)
    logo = fields["logo"]
    return TranscriptSettings(
        title=fields["title"],
        language=fields["language"],
        timezone=fields["timezone"],
        logo=None if logo is None else Logo(logo_data, logo["kind"], *logo["size"]),
        fonts=None if fields["fonts"] is None else Path(fields["fonts"]),
    )
