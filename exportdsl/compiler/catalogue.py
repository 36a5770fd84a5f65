"""The variables a template may use (docs/design.md §3): their shape, their alphabet and where they
are available.

A `Var` is one node of the catalogue tree. Fixed children are checked at compile time; below a
`dynamic` node (a token answer's JSON, chat visitor variables, the environment) anything goes, and
a miss can only be found at render time. ``alphabet`` says what characters a value has when we
produce it ourselves, so the compiler can skip escaping where that alphabet is safe
(`escaping.needs_escaping`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exportdsl.vocabulary import Alphabet, Phase

__all__ = ["ALL_PHASES", "BASE", "Var", "catalogue"]

ALL_PHASES = frozenset(Phase)


@dataclass(frozen=True)
class Var:
    doc: str
    alphabet: Alphabet = Alphabet.ANY  # ANY: escape always; else one of ours (base64, ...)
    children: Mapping[str, Var] = field(default_factory=dict)
    items: Var | None = None  # the shape of each element, for lists
    entries: Var | None = None  # the shape of every entry, for mappings whose keys are free
    dynamic: bool = False  # anything below is allowed and only checked at render time
    leaf: bool = True  # the value itself can be rendered (not only its children)
    phases: frozenset[Phase] = ALL_PHASES


def _record(doc: str, fields: Mapping[str, str | Var], **extra: Any) -> Var:
    children = {
        name: value if isinstance(value, Var) else Var(value) for name, value in fields.items()
    }
    return Var(doc, children=children, **extra)


_CHAT = _record(
    "the chat session (Smartsupp POST-hook JSON)",
    {
        "accountId": "the account id",
        "beginAt": "chat start, milliseconds since the epoch",
        "endAt": "chat end, milliseconds since the epoch",
        "channel": _record(
            "the chat channel",
            {
                "id": "the chat id",
                "isChat": "a chat, not an offline message",
                "isMissed": "missed chat",
                "isTriggered": "started by a trigger",
                "isOffline": "offline message",
                "isCompleted": "completed",
                "isDropped": "dropped",
                "duration": "seconds",
                "avgResponse": "seconds",
                "firstResponse": "seconds",
                "messagesCount": "count",
                "wordsCount": "count",
                "rating": "visitor rating (may be null)",
                "ratingDesc": "rating comment (may be null)",
            },
        ),
        "visitor": _record(
            "the visitor",
            {
                "id": "visitor id",
                "name": "name",
                "email": "e-mail",
                "note": "agent's note",
                "group": "group",
                "groupKey": "group (newer payloads)",
                "ipAddress": "IP address",
                "city": "city",
                "countryCode": "ISO country code",
                "country": "country",
                "userAgent": "browser user agent",
                "platform": "platform",
                "referer": "referring page",
                "variables": Var("visitor variables: <key>.label and <key>.value", dynamic=True),
            },
        ),
        "paths": Var(
            "pages visited", items=_record("a page", {"url": "URL", "title": "page title"})
        ),
        "messages": Var(
            "the messages",
            items=_record(
                "a message",
                {
                    "type": "visitor, agent or system",
                    "name": "author's name",
                    "from": "author id",
                    "content": "text, or a system event such as agent.join",
                    "sentAt": "milliseconds since the epoch",
                    "triggeredBy": "trigger name (may be null)",
                },
            ),
        ),
    },
)

_AFTER_TOKEN = frozenset({Phase.XML, Phase.EXPORT})

BASE: Mapping[str, Var] = {
    "ClientsID": Var("client account id (client.id)"),
    "chatConnector": _record(
        "the connector", {"id": "connector id", "name": "connector name"}, leaf=False
    ),
    "dateTime": Var(
        "export start, yyyy-MM-dd HH:mm:ss in the connector's timezone", alphabet=Alphabet.DATETIME
    ),
    "tokenResponse": _record(
        "the token POST's answer",
        {
            "status": Var("HTTP status", alphabet=Alphabet.INTEGER),
            "headers": Var("response headers by name", dynamic=True, leaf=False),
            "body": _record(
                "raw response text", {"JSON": Var("the parsed JSON answer", dynamic=True)}
            ),
        },
        leaf=False,
        phases=_AFTER_TOKEN,
    ),
    "report": _record(
        "the PDF transcript",
        {
            "encoded": _record(
                "encodings",
                {"base64": Var("the PDF, base64", alphabet=Alphabet.BASE64)},
                leaf=False,
            ),
            "bytes": Var("PDF size in bytes before encoding", alphabet=Alphabet.INTEGER),
        },
        leaf=False,
        phases=_AFTER_TOKEN,
    ),
    "xmlTemplate": _record(
        "the rendered XML template",
        {
            "encoded": _record(
                "encodings",
                {"base64": Var("the XML, base64", alphabet=Alphabet.BASE64)},
                leaf=False,
            ),
        },
        phases=frozenset({Phase.EXPORT}),
    ),
    "chat": _CHAT,
    # Any name, but each value is text: `$env.X.y` is a compile error, not an export-time miss.
    "env": Var(
        "environment variables (always redacted)",
        entries=Var("an environment variable's text"),
        leaf=False,
    ),
}


def catalogue(pdata: Mapping[str, Any]) -> dict[str, Var]:
    """The variables of one connector: the base catalogue plus its own pdata keys."""
    variables = dict(BASE)
    # $pdata alone renders the whole mapping as JSON
    variables["pdata"] = Var(
        "connector pdata", children={key: _shape(value) for key, value in pdata.items()}
    )
    return variables


def _shape(value: Any) -> Var:
    """pdata is known at compile time, so even its nested keys are checked."""
    if isinstance(value, Mapping):
        return Var("pdata value", children={str(k): _shape(v) for k, v in value.items()})
    if isinstance(value, list):
        return Var("pdata list", dynamic=True)
    return Var("pdata value")
