"""Secrets never leave the process in clear.

Every output, log line and error goes through `Redactor`.

A secret is known by value (an `$env` value a connector uses, a token from the token phase's
answer, the value of an Authorization-like header) and is replaced wherever it shows, in every form
a request can carry it in: raw, percent-encoded (URL and form), JSON- and XML-escaped, and base64
(standalone, and inside a longer base64 text at each of the three possible alignments, so an XML
template holding a secret does not leak it through ``$xmlTemplate.encoded.base64``).

A back end's answer may spell a secret's bytes too: hex (either case) and quoted-printable (an
echo in a mail-like body) are literal forms of every secret (`_byte_spellings`).

A non-ASCII secret is also looked for as mojibake: its UTF-8 bytes read as Latin-1 or
Windows-1252 (`_mojibake`), how a receiver that decodes headers as Latin-1 echoes it back.

A back end that echoes a secret spells it its own way: PHP escapes ``/`` as ``\\/``, one encoder
writes ``%2f``, another ``%7E`` for ``~`` or ``%20`` for a space in a path, and any mix of encoded
and plain characters is possible. So besides literal forms (base64 at each alignment), a text is
decoded once (`_decode`: percent-encoding in either case, JSON's escapes, XML's entities; a space
and ``+`` taken as the same) and each secret, spelled the same way, is looked for in the decoded
text; what it covers in the original is replaced. No pattern is made per secret or over them:
adding a secret stays a set insertion (docs/design.md §8.5).
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import json
import logging
import quopri
import re
import sys
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from exportdsl.credentials import CREDENTIAL_HEADERS
from exportdsl.errors import ExportDslError

__all__ = [
    "LOGGERS",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "SENSITIVE_HEADERS",
    "LogRedaction",
    "Redactor",
    "SecretSet",
    "cut",
    "guard_logs",
    "header_secrets",
    "is_sensitive_name",
    "json_secrets",
    "redact_error",
    "release_logs",
]

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 4
"""Shorter values are not treated as secrets: replacing every ``1`` or ``on`` would garble all
output and such a value protects nothing anyway."""

SENSITIVE_HEADERS = CREDENTIAL_HEADERS  # every value of these headers is a secret
_SENSITIVE_NAME = re.compile(
    r"(?i)token|secret|passw|api.?key|auth|session|cookie|credential|signature|jwt"
)
_PUBLIC_KEYS = frozenset(
    {
        "token_type",
        "expires_in",
        "refresh_expires_in",
        "scope",
        "issued_token_type",
        "not-before-policy",
        "not_before_policy",
    }
)  # token-answer keys that hold no secret
_AUTH_SCHEME = re.compile(r"(?i)(?:bearer|basic|token|digest|negotiate|apikey)\s+(\S.*)\Z")


def is_sensitive_name(name: str) -> bool:
    """A header or JSON key whose value is a secret by its name.

    For example Authorization, access_token, ...
    """
    return name.lower() in SENSITIVE_HEADERS or _SENSITIVE_NAME.search(name) is not None


@dataclass(frozen=True, slots=True)
class _Spelling:
    """A secret as looked for in a decoded text (`_decode`): every encoding of it, mixed or not."""

    canonical: str  # the secret with each space as ``+``, as `_decode` leaves a text


_Form = str | _Spelling
"""What a redactor replaces: a literal form (base64 at an alignment, ...) or a spelling."""


def _reach(form: _Form) -> int:
    return len(form.canonical) if isinstance(form, _Spelling) else len(form)


class SecretSet:
    """Secrets with their forms worked out once, to hand to many redactors: a token is registered
    with every export that uses it, and working out a secret's forms costs far more than adding
    them (`Redactor.include`)."""

    __slots__ = ("forms", "secrets")

    def __init__(self, secrets: Iterable[str] = (), literals: Iterable[str] = ()) -> None:
        self.secrets: frozenset[str] = frozenset(
            value for value in (*secrets, *literals) if len(value) >= MIN_SECRET_LENGTH
        )
        forms: set[_Form] = set()
        for secret in secrets:
            forms |= _forms(secret) if len(secret) >= MIN_SECRET_LENGTH else set()
        for literal in literals:
            forms |= _literal_forms(literal) if len(literal) >= MIN_SECRET_LENGTH else set()
        self.forms: frozenset[_Form] = frozenset(forms)

    def __bool__(self) -> bool:
        return bool(self.forms)


class Redactor:
    """Collects secrets and blanks them out of text. Cheap when there is nothing to hide.

    Bounded for the life of a process: an exporter keeps one for the connector's own secrets (its
    ``$env`` values, the signing secret) and gives each export a `scope` of it, which holds what
    that export alone met (the token, signatures, the back end's cookies) and goes when the export
    is done with. A secret's forms are literal strings (replaced longest first) and its spelling,
    looked for in the text decoded once (module docstring); adding one costs a set insertion,
    never a compilation (docs/design.md §8.5).
    """

    def __init__(self, secrets: Iterable[str] = (), *, parent: Redactor | None = None) -> None:
        self.parent = parent
        self._forms: set[_Form] = set()
        self._secrets: set[str] = set()  # as added, so adding one again costs a set lookup
        self._version = 0  # one more at each addition
        # (version, the parent's ordered forms, every form of this one and its parents, longest
        # first): one tuple, replaced whole, so a thread that redacts a log record while the
        # export's thread adds a secret never pairs a version with forms that lack it
        self._sorted: tuple[int, tuple[_Form, ...], tuple[_Form, ...]] = (0, (), ())
        for secret in secrets:
            self.add(secret)

    def scope(self) -> Redactor:
        """A redactor that knows this one's secrets and its own: one export's, dropped with it."""
        return type(self)(parent=self)

    def knows(self, secret: str) -> bool:
        return secret in self._secrets or (self.parent is not None and self.parent.knows(secret))

    def add(self, secret: str) -> None:
        """Hide ``secret`` (and its encoded forms) from now on; too short values are ignored."""
        if len(secret) < MIN_SECRET_LENGTH or self.knows(secret):
            return
        self._secrets.add(secret)
        self._add_forms(_forms(secret))

    def add_literal(self, value: str) -> None:
        """Hide a value that never enters a template (a signature, a back end's cookie): only the
        forms an answer or a log can show it in (as is, percent-encoded, JSON-escaped)."""
        if len(value) < MIN_SECRET_LENGTH or self.knows(value):
            return
        self._secrets.add(value)
        self._add_forms(_literal_forms(value))

    def include(self, secrets: SecretSet) -> None:
        """Hide a `SecretSet`: its forms are already worked out, so this is a set union."""
        if secrets.secrets - self._secrets:
            self._secrets |= secrets.secrets
            self._add_forms(secrets.forms)

    def merge(self, other: Redactor) -> None:
        """Hide everything ``other`` hides, its parents' secrets included (to print the results
        of several exports with one redactor)."""
        layer: Redactor | None = other
        while layer is not None:
            self._secrets |= layer._secrets
            self._add_forms(layer._forms)
            layer = layer.parent

    def _add_forms(self, forms: Iterable[_Form]) -> None:
        new = set(forms) - self._forms
        if new:
            self._forms |= new
            self._version += 1

    def add_header(self, name: str, value: str, *, literal: bool = False) -> None:
        """A header's value when its name says it is a secret.

        The credential after an auth scheme too. ``literal``: a header of an answer (its value
        never enters a template), hidden by `add_literal`.
        """
        for secret in header_secrets(name, value):
            if literal:
                self.add_literal(secret)
            else:
                self.add(secret)

    def add_json(self, value: Any, sensitive: bool = False) -> None:
        """Every text or number below a secret-looking key of a JSON answer (access_token, ...)."""
        for secret in json_secrets(value, sensitive):
            self.add(secret)

    def __bool__(self) -> bool:
        return bool(self._forms) or (self.parent is not None and bool(self.parent))

    def ordered_forms(self) -> tuple[_Form, ...]:
        """Every form this redactor hides, its parents' included, longest first: a secret's base64
        is not half-replaced by a shorter form inside it. Sorted again only after an addition."""
        inherited = self.parent.ordered_forms() if self.parent is not None else ()
        version, parents, ordered = self._sorted
        if version != self._version or parents is not inherited:
            version = self._version  # read before the forms: an addition meanwhile sorts again
            ordered = tuple(sorted(self._forms.union(inherited), key=_reach, reverse=True))
            self._sorted = (version, inherited, ordered)
        return ordered

    def __call__(self, text: str) -> str:
        if not text:
            return text
        forms = self.ordered_forms()
        # Spellings first: a literal form found first could take the '\\' of an escape that spells
        # the secret's next character (``…\\u005c``) and leave the rest to show.
        spellings = [form.canonical for form in forms if isinstance(form, _Spelling)]
        if spellings:
            text = _redact_spellings(text, spellings)
        for form in forms:
            if not isinstance(form, _Spelling) and form in text:
                text = text.replace(form, REDACTED)
        return text

    def shorten(self, text: str, limit: int, ellipsis: str = "…") -> str:
        """``text`` redacted, then cut to at most ``limit`` characters (`cut`). Never the other way
        round: a secret cut in two is no longer recognised, and its first part would show."""
        return cut(self(text), limit, ellipsis)

    def without_cut_off_tail(self, text: str) -> str:
        """A redacted ``text`` whose original was cut before it was redacted (an answer read up to
        `sending.MAX_ANSWER_BYTES`), without its last characters: it may end in the first part of
        a secret, which is no longer recognised. As many go as the longest secret takes, spelled
        in the widest escape; hiding a little of a cut-off answer's end costs nothing."""
        longest = max((_reach(form) for form in self.ordered_forms()), default=0)
        return cut(text, max(len(text) - _WIDEST_ESCAPE * longest, 0), ellipsis="")

    def data(self, value: Any) -> Any:
        """A JSON-like value with every text inside redacted (keys included)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {self(str(key)): self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


def cut(text: str, limit: int, ellipsis: str = "…") -> str:
    """A redacted ``text`` cut to at most ``limit`` characters, ``ellipsis`` included when cut.

    A cut inside a `REDACTED` marker moves to the marker's start: a reader takes
    ``[REDAC`` for text of the answer. Only for redacted text (`Redactor.shorten`): cutting a
    text before redacting it leaves the part of a secret before the cut unrecognised.
    """
    if len(text) <= limit:
        return text
    end = max(limit - len(ellipsis), 0)
    marker = text.rfind(REDACTED, max(end - len(REDACTED) + 1, 0), end + len(REDACTED) - 1)
    if 0 <= marker < end < marker + len(REDACTED):
        end = marker
    return text[:end] + ellipsis


def header_secrets(name: str, value: str) -> list[str]:
    """The secrets a header carries when its name says it carries any: the value, the credential
    after an auth scheme ("Bearer [REDACTED]" still says which scheme), each cookie's value."""
    if not is_sensitive_name(name):
        return []
    scheme = _AUTH_SCHEME.match(value)
    secrets = [scheme.group(1) if scheme else value]
    lowered = name.lower()
    if lowered in ("cookie", "set-cookie"):  # each cookie's value is a secret on its own
        pairs = value.split(";")[:1] if lowered == "set-cookie" else value.split(";")
        secrets += [pair.partition("=")[2].strip() for pair in pairs]
    return secrets


def json_secrets(value: Any, sensitive: bool = False) -> list[str]:
    """Every text or number below a secret-looking key (or everywhere, with ``sensitive``) of a
    JSON value, but those under keys that hold no secret (`token_type`, `expires_in`, ...)."""
    found: list[str] = []
    _collect_json(value, sensitive, found)
    return found


def _collect_json(value: Any, sensitive: bool, found: list[str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if str(key).lower() not in _PUBLIC_KEYS:
                _collect_json(item, sensitive or is_sensitive_name(str(key)), found)
    elif isinstance(value, list):
        for item in value:
            _collect_json(item, sensitive, found)
    elif sensitive and isinstance(value, str | int | float) and not isinstance(value, bool):
        found.append(value if isinstance(value, str) else _number_text(value))


def _number_text(number: int | float) -> str:
    try:
        return str(number)
    except ValueError:  # an int beyond str()'s digit limit: no template can print it either
        return ""


def _forms(secret: str) -> set[_Form]:
    """Every form of the secret (`_encoded_forms`), of its trimmed form, and, as a carrier that
    folds case shows them, of their lowercase (`_variants`)."""
    exact, folded = _variants(secret)
    forms: set[_Form] = set()
    for variant in exact:
        forms |= _encoded_forms(variant)
    for variant in folded:
        forms |= _literal_forms_of(variant)
    return forms


def _variants(secret: str) -> tuple[set[str], set[str]]:
    """The texts that give a secret away: the secret and its trimmed form (a header's value is
    trimmed before it is sent: ``$'\tSECRET'`` goes out as ``SECRET``), and apart, the lowercase of
    each (a URL's host is folded to lowercase: ``$env.HOST`` of ``Tenant42.Example`` goes out as
    ``tenant42.example``). Lowercase ones show only where case was folded, never encoded further
    (base64 of a folded host is no template's), so they get the literal forms alone. Too short
    ones are dropped (`MIN_SECRET_LENGTH`)."""
    trimmed = {secret, secret.strip()}
    exact = {
        text
        for text in trimmed | {wrong for text in trimmed for wrong in _mojibake(text)}
        if len(text) >= MIN_SECRET_LENGTH
    }
    return exact, {text.lower() for text in exact} - exact


def _mojibake(text: str) -> set[str]:
    """A non-ASCII secret as a receiver that read its UTF-8 bytes as Latin-1 or Windows-1252
    shows it (HTTP headers are Latin-1 to many servers: ``ü`` echoed back as ``Ã¼``); given the
    encodings of a secret like any other spelling (an echo is often JSON- or %-encoded)."""
    if text.isascii():
        return set()
    data = text.encode("utf-8", "surrogatepass")
    found = {data.decode("latin-1")}
    with contextlib.suppress(UnicodeDecodeError):  # a byte cp1252 leaves undefined (0x81, ...)
        found.add(data.decode("cp1252"))
    return found


def _encoded_forms(secret: str) -> set[_Form]:
    """The secret's spelling, and as literals its usual encodings (replaced in the order of their
    length with the rest: a Basic credential goes whole before its password's base64 inside it)
    and the base64 of each form a template can put it in."""
    escaped_json = json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = _literal_strings(secret) | {_xml_escape(secret), quote(secret, safe="/:@")}
    forms |= _byte_spellings(secret.encode("utf-8", "surrogatepass"))
    # base64 of each form a template can put the secret in: an XML template holding an escaped
    # secret is base64-encoded whole into $xmlTemplate.encoded.base64
    for text in (
        secret,
        _xml_escape(secret),
        escaped_json,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    ):
        for fragment in _base64_fragments(text.encode("utf-8")):
            forms |= {
                fragment,
                fragment.replace("+", "-").replace("/", "_"),
                quote(fragment, safe=""),
            }
    long_enough: set[_Form] = {form for form in forms if len(form) >= MIN_SECRET_LENGTH}
    return long_enough | {_spelling(secret)}


def _literal_forms(value: str) -> set[_Form]:
    """The literal forms (`_literal_forms_of`) of a value and of its trimmed form (`_variants`);
    not of their lowercase: a literal never enters a template, so never a URL's host."""
    forms: set[_Form] = set()
    for variant in _variants(value)[0]:
        forms |= _literal_forms_of(variant)
    return forms


def _literal_forms_of(value: str) -> set[_Form]:
    """A value an answer or a log shows as is or escaped, never base64-encoded: its spelling."""
    long_enough: set[_Form] = {
        form for form in _literal_strings(value) if len(form) >= MIN_SECRET_LENGTH
    }
    return long_enough | {_spelling(value)}


def _literal_strings(value: str) -> set[str]:
    return {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }


def _byte_spellings(data: bytes) -> set[str]:
    """A secret's bytes as a back end may echo them: hex in either case, and quoted-printable
    (``=3D`` for ``=``, ``=C3=BC`` for ``ü``; soft line breaks left out, and its hex in lower
    case as a lenient encoder writes it)."""
    printable = quopri.encodestring(data).decode("ascii").replace("=\n", "").rstrip("\n")
    return {
        data.hex(),
        data.hex().upper(),
        printable,
        _QP_ESCAPE.sub(lambda escape: escape.group().lower(), printable),
    }


_QP_ESCAPE = re.compile(r"=[0-9A-F]{2}")


def _spelling(secret: str) -> _Spelling:
    return _Spelling(secret.replace(" ", "+"))


_ESCAPE = re.compile(
    r"(?P<percent>(?:%[0-9A-Fa-f]{2})+)"
    r"|\\u(?P<pair>[dD][89abAB][0-9A-Fa-f]{2}\\u[dD][c-fC-F][0-9A-Fa-f]{2})"
    r"|\\u(?P<unit>[0-9A-Fa-f]{4})"
    r"|\\(?P<short>[\"\\/bfnrt])"
    r"|&(?:(?P<named>amp|lt|gt|quot|apos)|#(?P<decimal>[0-9]{1,7})|#[xX](?P<hex>[0-9A-Fa-f]{1,6}));"
)
_WIDEST_ESCAPE = len("\\uD83D\\uDE00")  # text one decoded character may take (or %F0%9F%98%80)
_SHORT_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _redact_spellings(text: str, spellings: list[str]) -> str:
    """``text`` with every spelling of the secrets (`_Spelling.canonical`, longest first) found in
    its decoded form replaced where it stands in ``text``."""
    decoded, starts, ends = _decode(text)
    spans: list[tuple[int, int]] = []
    for spelling in spellings:
        found = decoded.find(spelling)
        while found >= 0:
            spans.append((starts[found], ends[found + len(spelling) - 1]))
            found = decoded.find(spelling, found + len(spelling))
    if not spans:
        return text
    pieces, position = [], 0
    for start, end in _merged(spans):
        pieces += [text[position:start], REDACTED]
        position = end
    return "".join(pieces) + text[position:]


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _decode(text: str) -> tuple[str, range | list[int], range | list[int]]:
    """``text`` with every escape decoded (percent-encoding with either case of hex, JSON's
    ``\\uXXXX`` and short escapes, XML's entities) and each space as ``+``; for each character of
    it, where it starts and ends in ``text``. A text with no escape is its own decoded form."""
    if _ESCAPE.search(text) is None:
        return text.replace(" ", "+"), range(len(text)), range(1, len(text) + 1)
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    for match in _ESCAPE.finditer(text):
        parts.append(text[position : match.start()])
        starts.extend(range(position, match.start()))
        ends.extend(range(position + 1, match.start() + 1))
        for character, start, end in _unescaped(match):
            parts.append(character)
            starts.append(start)
            ends.append(end)
        position = match.end()
    parts.append(text[position:])
    starts.extend(range(position, len(text)))
    ends.extend(range(position + 1, len(text) + 1))
    return "".join(parts).replace(" ", "+"), starts, ends


def _unescaped(match: re.Match[str]) -> Iterator[tuple[str, int, int]]:
    """The characters an escape stands for, each with the span of ``match``'s text it came from."""
    start, end = match.span()
    if match["percent"] is not None:
        yield from _percent_decoded(match.string, start, end)
    elif match["pair"] is not None:
        high, low = int(match["pair"][:4], 16), int(match["pair"][6:], 16)
        yield chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)), start, end
    elif match["unit"] is not None:
        yield chr(int(match["unit"], 16)), start, end
    elif match["short"] is not None:
        yield _SHORT_ESCAPES[match["short"]], start, end
    elif match["named"] is not None:
        yield _ENTITIES[match["named"]], start, end
    else:
        code = int(match["decimal"]) if match["decimal"] is not None else int(match["hex"], 16)
        yield (chr(code) if code <= sys.maxunicode else "\ufffd"), start, end


def _percent_decoded(text: str, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """A run of ``%XX`` decoded as UTF-8, each character with the span of its bytes."""
    data = bytes.fromhex(text[start:end].replace("%", ""))
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:  # not UTF-8 throughout: byte by byte, a bad one as U+FFFD
        yield from _percent_decoded_bytewise(data, start)
        return
    for character in decoded:
        width = 3 * len(character.encode("utf-8", "surrogatepass"))
        yield character, start, start + width
        start += width


def _percent_decoded_bytewise(data: bytes, start: int) -> Iterator[tuple[str, int, int]]:
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    begun = start
    for index, byte in enumerate(data):
        characters = decoder.decode(bytes((byte,)))
        for character in characters:
            yield character, begun, start + 3 * (index + 1)
        if characters:
            begun = start + 3 * (index + 1)
    for character in decoder.decode(b"", final=True):
        yield character, begun, start + 3 * len(data)


def _base64_fragments(data: bytes) -> set[str]:
    """The base64 characters that encode only ``data``, for each alignment inside a longer text.

    With ``k`` bytes before the secret, the characters from ceil(8k/6) up to floor(8(k+n)/6) depend
    on the secret's bytes alone; the whole encoding (with padding) is the standalone form.
    """
    fragments = {base64.b64encode(data).decode("ascii")}
    for before in range(3):
        encoded = base64.b64encode(bytes(before) + data).decode("ascii")
        start, end = -(-8 * before // 6), 8 * (before + len(data)) // 6
        fragments.add(encoded[start:end])
    return fragments


def _xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


class LogRedaction(logging.Filter):
    """A handler's filter that redacts every record the handler gets, from any logger (a logger's
    own filters never see its children's records): the message, the traceback and stack (as the
    handler would format them, so `exc_info` is formatted here and kept redacted in `exc_text`) and
    the structured fields (``record.fields``). ``secrets`` are known for the handler's life (what
    `exportdsl serve` learns at start); on top, every redactor an export has registered
    (`guard_logs`) while it runs, and those of the exports an exception escaped from (a traceback is
    logged after its export is over)."""

    def __init__(self, secrets: Redactor | None = None) -> None:
        super().__init__()
        self.secrets = secrets
        # the last combination: (each redactor's ordered forms, the redactor made of them all)
        self._combined: tuple[tuple[tuple[_Form, ...], ...], Redactor] = ((), Redactor())

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self._redactor(record)
        if not redact:
            return True
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        record.exc_info = None  # only the redacted text goes on to any formatter
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            record.fields = {key: redact.data(value) for key, value in fields.items()}
        return True

    def _redactor(self, record: logging.LogRecord) -> Redactor:
        """One redactor over the handler's secrets, the live exports' and the escaped ones'."""
        with _LIVE_LOCK:
            live = [redactor for redactor in _LIVE if redactor]
        escaped = _escaped_redactors(record.exc_info[1] if record.exc_info else None)
        redactors = [redactor for redactor in (self.secrets, *live, *escaped) if redactor]
        if len(redactors) == 1:
            return redactors[0]
        # one redactor of them all, so a longer form is never half-replaced by another's shorter;
        # made again only when the set changed (an export began or ended, or met a secret)
        forms = tuple(redactor.ordered_forms() for redactor in redactors)
        known, combined = self._combined
        if len(known) != len(forms) or any(a is not b for a, b in zip(known, forms, strict=True)):
            combined = Redactor()
            for redactor in redactors:
                combined.merge(redactor)
            self._combined = (forms, combined)
        return combined


_FORMATTER = logging.Formatter()
_LIVE: weakref.WeakSet[Redactor] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()  # exports register and release from many threads
_ESCAPED = "_exportdsl_redactors"  # on an exception: the redactors of the exports it escaped
# Where no handler is configured (the CLI), Python writes warnings through `logging.lastResort`.
_LAST_RESORT = LogRedaction()
# Whatever handlers an application embedding exportdsl has, the loggers that see requests redact
# their own records too (httpx logs each request's URL). A logger's filter sees only its own
# records, so the names are listed; the handler's filter above is what covers every logger.
_AT_SOURCE = LogRedaction()
LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "exportdsl",
)


def guard_logs(redactor: Redactor) -> None:
    """From now on, and while ``redactor`` lives, log records pass through it on their way out of
    every handler with a `LogRedaction` (the one `exportdsl serve` installs, and Python's last
    resort handler), and those of `LOGGERS` through any handler."""
    with _LIVE_LOCK:
        if not _LIVE:
            last_resort = logging.lastResort
            if last_resort is not None and _LAST_RESORT not in last_resort.filters:
                last_resort.addFilter(_LAST_RESORT)
            for name in LOGGERS:
                logger = logging.getLogger(name)
                if _AT_SOURCE not in logger.filters:
                    logger.addFilter(_AT_SOURCE)
        _LIVE.add(redactor)


def release_logs(redactor: Redactor) -> None:
    """``redactor`` no longer sees log records: its export is over (its records went out). When an
    exception is escaping the export, the redactor goes with it: whoever catches it may log its
    traceback, which can quote the export's token."""
    with _LIVE_LOCK:
        _LIVE.discard(redactor)
    escaping = sys.exception()
    if escaping is not None and redactor:
        escaping.__dict__.setdefault(_ESCAPED, []).append(redactor)


def _escaped_redactors(error: BaseException | None) -> list[Redactor]:
    """The redactors attached to an exception and to those it was chained to."""
    found: list[Redactor] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        found += error.__dict__.get(_ESCAPED, [])
        error = error.__cause__ or error.__context__
    return found


def redact_error(redact: Redactor, error: ExportDslError) -> ExportDslError:
    """``error`` with its message and hint redacted, in place: errors are made where the secrets
    they may quote are not all known yet, and redacted where they leave the export."""
    error.message = redact(error.message)
    error.args = (error.message,)
    error.hint = redact(error.hint) if error.hint else error.hint
    return error
