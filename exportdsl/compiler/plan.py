"""The plan: a checked connector's fields, ready to render requests from variables.

Each request (token, XML template, export) is a `_Block`: its holes are computed by code Jinja2
compiled (`backend`), one filter call per hole that looks the value up and escapes it for where it
lands, and each field is then its literal text with the hole values put in by a ``%`` pattern.
A failing hole knows its number, so the error points at the reference in the connector file.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote_plus

from exportdsl.compiler.directives import Program
from exportdsl.compiler.escaping import needs_escaping
from exportdsl.compiler.placement import JsonKey, JsonObject
from exportdsl.compiler.values import describe_missing
from exportdsl.compiler.wire import DOT_SEGMENT
from exportdsl.connector.model import AllowedHosts, RetryPolicy, Signing, Timeouts
from exportdsl.connector.transcript import TranscriptSettings
from exportdsl.credentials import is_credential_header
from exportdsl.errors import MissingValue, RenderError
from exportdsl.language.nodes import Node, Reference, Text
from exportdsl.source import Location, SourceMap
from exportdsl.vocabulary import Alphabet, Context, FieldKind, Phase

__all__ = [
    "BasicAuthPlan",
    "FieldPlan",
    "Hole",
    "Plan",
    "RenderedRequest",
    "RequestPlan",
    "compile_blocks",
    "fills_credential",
    "parts",
]


@dataclass(frozen=True, slots=True)
class Hole:
    """A reference as the plan sees it: where it lands, how it is escaped, where it was written."""

    reference: Reference
    context: Context  # where it lands: picks the escaper
    alphabet: Alphabet  # the value's characters; ANY when not ours
    origin: SourceMap | None = None  # the field's map to the file, for `location`

    @property
    def location(self) -> Location | None:
        """Where the reference was written in the file. Asked only when a render fails: a check
        of a large template does not pay for a thousand positions nobody reads."""
        return None if self.origin is None else self.origin.location(self.reference.span)

    @property
    def escaped(self) -> bool:
        return self.reference.quiet or needs_escaping(self.alphabet, self.context)


def parts(template: tuple[Node, ...], holes: Sequence[Hole]) -> list[str | Hole]:
    """Text and holes in output order, adjacent text merged; comments produce nothing."""
    result: list[str | Hole] = []
    remaining = iter(holes)
    for node in template:
        if isinstance(node, Text):
            if result and isinstance(result[-1], str):
                result[-1] += node.value
            else:
                result.append(node.value)
        elif isinstance(node, Reference):
            result.append(next(remaining))
    return result


@dataclass(frozen=True)
class FieldPlan:
    """One compiled template field.

    A field without holes is a constant and needs no Jinja2 at all.
    """

    name: str
    kind: FieldKind
    phase: Phase | None
    holes: tuple[Hole, ...]
    pieces: tuple[str | Hole, ...]
    json_objects: tuple[JsonObject, ...] = ()  # objects whose keys holes make: checked per render
    # a template with directives renders through its program; `pieces` is then empty
    program: Program | None = None

    @functools.cached_property
    def constant(self) -> str | None:
        if self.holes or self.program is not None:
            return None
        return "".join(piece for piece in self.pieces if isinstance(piece, str))

    @functools.cached_property
    def forwards_chat(self) -> bool:
        """The field is the chat itself: ``$chat`` (``$!chat``, ``${chat}``) and nothing else but
        white space and comments. A report body like that is forward mode: the chat goes on as
        it was posted (docs/serve.md)."""
        meaningful = [piece for piece in self.pieces if not isinstance(piece, str) or piece.strip()]
        return (
            self.program is None
            and len(meaningful) == 1
            and isinstance(meaningful[0], Hole)
            and meaningful[0].reference.path == ("chat",)
        )

    @functools.cached_property
    def pattern(self) -> str:
        """The field as a ``%`` format: literal text around one ``%s`` per hole."""
        return "".join(
            piece.replace("%", "%%") if isinstance(piece, str) else "%s" for piece in self.pieces
        )


_AUTHORITY = re.compile(r"(?i)https?://([^/?#]*)")


def _check_url(name: str, url: str) -> None:
    """Runs on every render of a URL, so it avoids `urlsplit`.

    It checks: printable, no space, http(s), a host.
    """
    if not url.isprintable() or " " in url:
        raise RenderError(
            f"{name}: the URL contains white space or control characters",
            hint="a value before the path is inserted as is; check it",
        )
    match = _AUTHORITY.match(url)
    host = match.group(1).rpartition("@")[2] if match else ""  # without user info
    if not host or host.startswith(":"):
        raise RenderError(  # the URL is not quoted: a value in it may be a secret, cut unrecognised
            f"{name}: the URL is not an http or https URL with a host",
            hint="check the values before its path; nothing was sent",
        )
    digits = _port_text(host)
    if digits and not (digits.isascii() and digits.isdigit()):
        raise RenderError(  # '١٨١٨١', '+18181', '18_181': parsers differ on them; httpx takes some
            f"{name}: the URL's port is not written in the digits 0-9",
            hint="check the value that sets the port; nothing was sent",
        )
    if digits and not 0 < (port := int(digits)) <= _MAX_PORT:
        raise RenderError(  # the port is not quoted: it may come from a secret
            f"{name}: the URL's port is {'0' if port == 0 else 'over 65535'}; "
            "a port is a number from 1 to 65535",
            hint="check the value that sets the port; nothing was sent",
        )
    if DOT_SEGMENT.search(url, match.end() if match else 0):
        raise _DotSegment(
            f"{name}: the URL's path has a '.' or '..' segment, which the client would remove "
            "(the report would go to another resource)",
            hint="a value next to a literal '.' was empty, leaving the dots alone in a segment; "
            "give that segment literal text of its own (/v-${a}.${b}/)",
        )


class _DotSegment(RenderError):
    """Located at the path's values, not at the origin's (`_Request._locate_url`)."""


_MAX_PORT = 65535


def _port_text(host: str) -> str:
    """What follows the ':' of a URL's ``host[:port]`` (an IPv6 address in brackets has its own
    colons); empty when there is no port."""
    port = host.rpartition("]")[2] if host.startswith("[") else host
    return port.rpartition(":")[2] if ":" in port else ""


# A header value's leading and trailing white space is not part of it (RFC 9110 §5.5: a recipient
# strips it), and strict clients refuse to send it: trimmed, so what is sent is what is received.
_OWS = " \t"


class _Block:
    """The fields of one request, compiled together.

    One Jinja2 block yielding one string per hole.
    """

    def __init__(self, fields: Sequence[FieldPlan]) -> None:
        self.fields = tuple(fields)
        # a field with directives renders through its own program, not through the Jinja2 block
        lowered = [field for field in self.fields if field.program is None]
        self.holes = tuple(hole for field in lowered for hole in field.holes)
        self.hole_fields = tuple(field for field in lowered for _ in field.holes)
        self.function: Callable[[Any], Iterator[str]] | None = None
        self.context: Callable[[Mapping[str, Any]], Any] = dict
        self.url = (
            self.fields[0].name if self.fields and self.fields[0].kind == FieldKind.URL else None
        )
        # (pattern, number of holes), the constant text or the program, per field
        self.layout: tuple[tuple[str, int] | str | Program, ...] = tuple(
            field.program
            if field.program is not None
            else (field.pattern, len(field.holes))
            if field.holes
            else field.constant or ""
            for field in self.fields
        )
        self.headers = tuple(field.kind == FieldKind.HEADER for field in self.fields)
        # (field, its first hole's number in the block) for each field with keys made by holes
        starts = [0]
        for each in lowered:
            starts.append(starts[-1] + len(each.holes))
        self.keyed = tuple(
            (each, start) for each, start in zip(lowered, starts, strict=False) if each.json_objects
        )

    @property
    def shape(self) -> tuple[tuple[str, str, tuple[str | int, ...], bool], ...]:
        from exportdsl.compiler.backend import filter_name

        return tuple(
            (
                filter_name(hole.context, hole.escaped),
                hole.reference.name,
                hole.reference.path[1:],
                hole.reference.quiet,
            )
            for hole in self.holes
        )

    def render(self, variables: Mapping[str, Any]) -> list[str]:
        values: tuple[str, ...] = ()
        if self.function is not None:
            try:
                values = tuple(self.function(self.context(variables)))
            except RenderError as error:
                raise self._locate(error) from None
        for keyed, first in self.keyed:
            self._check_keys(keyed, first, values[first : first + len(keyed.holes)])
        texts, start = [], 0
        for item in self.layout:
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, Program):
                texts.append(item.render(variables))
            else:
                pattern, count = item
                texts.append(pattern % values[start : start + count])
                start += count
        if self.url is not None:
            try:
                _check_url(self.url, texts[0])
            except RenderError as error:
                raise self._locate_url(error) from None
        if any(self.headers):
            texts = [
                text.strip(_OWS) if header else text
                for text, header in zip(texts, self.headers, strict=True)
            ]
        return texts

    def _check_keys(self, field: FieldPlan, first: int, values: Sequence[str]) -> None:
        """No key made by a hole may repeat another key of its object (docs/design.md §8.4)."""
        for json_object in field.json_objects:
            found = json_object.repeated(values)
            if found is None:
                continue
            key, other = found
            hole = self.holes[first + _first_hole(key)]
            repeats = (
                f"the key {other!r}"
                if isinstance(other, str)
                else f"the key made by {field.holes[_first_hole(other)].reference}"
            )
            raise RenderError(
                f"{field.name}: the key made by {hole.reference} repeats {repeats} of the same "
                "JSON object",
                location=hole.location,
                hint="parsers keep only one of two equal keys (some compare them ignoring case), "
                "so a value could replace a field the connector sets; put such values in an "
                "object of their own",
            )

    def _locate_url(self, error: RenderError) -> RenderError:
        """A bad final URL, located at the last value before its path: what set the host or
        the port (a URL without such values is checked at compile time, XD213)."""
        in_path = isinstance(error, _DotSegment)
        holes = [
            hole
            for hole in self.fields[0].holes
            if (hole.context is Context.URL_COMPONENT) is in_path
        ]
        if not holes:
            return error
        return RenderError(error.message, location=holes[-1].location, hint=error.hint)

    def _locate(self, error: RenderError) -> RenderError:
        hole = getattr(error, "hole", None)
        if hole is None or not 0 <= hole < len(self.holes):
            return error
        field, where = self.hole_fields[hole], self.holes[hole]
        if isinstance(error, MissingValue):
            error = describe_missing(
                error, where.reference.path, credential=fills_credential(field.name)
            )
        return RenderError(
            f"{field.name}: {error.message}", location=where.location, hint=error.hint
        )


def fills_credential(field_name: str) -> bool:
    """A field whose value is a credential: ``export.auth.…``, ``token.headers.Authorization``."""
    _, _, rest = field_name.partition(".")
    kind, _, name = rest.partition(".")
    return kind == "auth" or (kind == "headers" and is_credential_header(name))


def _first_hole(key: JsonKey) -> int:
    return next(part for part in key.parts if isinstance(part, int))


def compile_blocks(groups: Sequence[Sequence[FieldPlan]]) -> list[_Block]:
    """The blocks of a connector's requests, their code compiled by Jinja2 (or found by shape)."""
    from exportdsl.compiler import (
        backend,
    )  # Jinja2 loads only when something compiles, not for `check`

    blocks = [_Block(group) for group in groups]
    functions = backend.compile_shapes(tuple(block.shape for block in blocks))
    for block, function in zip(blocks, functions, strict=True):
        if block.holes:
            block.function = function
            block.context = backend.RenderContext
    return blocks


class RenderedRequest(NamedTuple):
    """A request as it goes on the wire (a tuple: built on every render, so built cheaply)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: str | None


@dataclass(frozen=True)
class BasicAuthPlan:
    """A request's Basic credentials (connector key ``auth``), rendered into its Authorization
    header: RFC 7617, or with each part form-urlencoded first (OAuth, RFC 6749 §2.3.1)."""

    username: FieldPlan
    password: FieldPlan
    form_encoded: bool

    def header(self, username: str, password: str) -> str:
        if self.form_encoded:  # application/x-www-form-urlencoded as HTML serializes it
            username, password = _form_encode(username), _form_encode(password)
        elif ":" in username:
            raise RenderError(
                f"{self.username.name}: a Basic user name cannot hold ':' (RFC 7617)",
                hint="the first ':' separates the user name from the password",
            )
        credentials = f"{username}:{password}".encode("utf-8", "surrogatepass")
        return "Basic " + base64.b64encode(credentials).decode("ascii")


def _form_encode(text: str) -> str:
    return quote_plus(text, safe="*").replace("~", "%7E")


@dataclass(frozen=True)
class RequestPlan:
    phase: Phase
    method: str
    url: FieldPlan | None
    headers: tuple[tuple[str, FieldPlan], ...]
    body: FieldPlan | None
    block: _Block
    auth: BasicAuthPlan | None = None

    @property
    def fields(self) -> Iterator[FieldPlan]:
        if self.url:
            yield self.url
        yield from (field for _, field in self.headers)
        if self.body:
            yield self.body
        if self.auth:
            yield from (self.auth.username, self.auth.password)

    def render(self, variables: Mapping[str, Any]) -> RenderedRequest:
        if self.url is None:
            raise RenderError(
                f"the {self.phase.value} request has no url, so it cannot be sent",
                hint="set export.url; without it jtel shows no Report Export button",
            )
        texts = self.block.render(variables)
        names = self.header_names
        headers = tuple(zip(names, texts[1 : 1 + len(names)], strict=True))
        body = texts[1 + len(names)] if self.body else None
        if self.auth is not None:
            headers += (("Authorization", self.auth.header(texts[-2], texts[-1])),)
        return RenderedRequest(self.method, texts[0], headers, body)

    @functools.cached_property
    def header_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.headers)

    @property
    def forwards_chat(self) -> bool:
        """Forward mode: the body is exactly ``$chat`` (`FieldPlan.forwards_chat`)."""
        return self.body is not None and self.body.forwards_chat


@dataclass(frozen=True)
class Plan:
    """A checked, compiled connector: what the executor runs."""

    connector_id: int | str
    connector_name: str
    client_id: int | str
    pdata: Mapping[str, Any]
    timezone: str  # IANA name, for $dateTime and the transcript
    token: RequestPlan | None
    export: RequestPlan | None
    xml_template: FieldPlan | None
    xml_block: _Block | None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: Timeouts = field(default_factory=Timeouts)
    signing: Signing | None = None
    allow_hosts: AllowedHosts = field(default_factory=AllowedHosts)
    # the variable holding the intake secret: never sent, yet a back end may echo it, so redacted
    intake_env: str | None = None
    # how its PDF transcript is written (`transcript:`; the time zone is the connector's by default)
    transcript: TranscriptSettings = field(default_factory=TranscriptSettings)

    def connector_variables(self) -> dict[str, Any]:
        """The variables the connector itself defines: $ClientsID, $chatConnector, $pdata."""
        return {
            "ClientsID": self.client_id,
            "pdata": self.pdata,
            "chatConnector": {"id": self.connector_id, "name": self.connector_name},
        }

    def render_xml_template(self, variables: Mapping[str, Any]) -> str | None:
        return self.xml_block.render(variables)[0] if self.xml_block else None

    @property
    def export_enabled(self) -> bool:
        return self.export is not None and self.export.url is not None

    @property
    def fields(self) -> Iterator[FieldPlan]:
        if self.token:
            yield from self.token.fields
        if self.xml_template:
            yield self.xml_template
        if self.export:
            yield from self.export.fields
