"""Connector files -> a typed `Connector`; every template field knows where it stands in the file.

The shape is checked here, all at once: unknown keys (with "did you mean"), missing keys and wrong
types each become a diagnostic with the file's own line and column, and the file is refused with
all of them in one `ConnectorError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from exportdsl.connector.model import (
    Connector,
    Header,
    Request,
    RetryPolicy,
    Signing,
    TemplateField,
    Timeouts,
)
from exportdsl.connector.pdata import PdataReader
from exportdsl.connector.shape import (
    NUMBERS,
    STR,
    describe,
    read_auth,
    request_methods,
)
from exportdsl.connector.transcript import (
    TranscriptSettings,
    check_fonts_folder,
    check_language,
    check_timezone,
    read_logo,
)
from exportdsl.connector.yamlsource import (
    compose,
    decode,
    node_location,
    read_text,
    scalar_map,
    source_text,
    yaml_quoted,
)
from exportdsl.errors import ConfigError, ConnectorError, Diagnostic
from exportdsl.source import LineIndex
from exportdsl.vocabulary import Phase

__all__ = ["ENV_REFERENCE", "load_connector", "parse_connector"]

_SIGNATURE_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})

_T = TypeVar("_T")
_D = TypeVar("_D")

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # RFC 9110 token


def load_connector(path: str | Path) -> Connector:
    """Read and check a connector file (YAML or JSON); raises `ExportDslError` subclasses."""
    path = Path(path)
    return parse_connector(read_text(path), str(path))


def parse_connector(text: str, file: str = "<connector>") -> Connector:
    if isinstance(text, bytes):
        text = decode(text, file)
    index = LineIndex(text)
    root = compose(text, file)
    reader = _Reader(file, index)
    connector = reader.connector(root)
    if reader.diagnostics or connector is None:
        raise ConnectorError(file, tuple(sorted(reader.diagnostics, key=lambda d: d.order)))
    return connector


# --- the shape of a connector file -------------------------------------------------------------

_TOP_KEYS = {
    "connector": "the connector's id and name",
    "client": "the client account",
    "timezone": "IANA zone for $dateTime",
    "pdata": "connector data for $pdata",
    "token": "phase 1, the token POST",
    "export": "phase 2, the report POST",
    "xml_template": "the XML template for $xmlTemplate",
    "retry": "how the report request is retried: attempts, backoff, max_delay",
    "timeout": "seconds: connect, total",
    "signing": "Standard Webhooks signing: secret",
    "intake": "real-time POST hooks: secret",
    "allow_hosts": "host names and address ranges a token answer's URL may point to",
    "transcript": "the PDF transcript: title, language, timezone, logo, fonts",
}
_TRANSCRIPT_KEYS = {
    "title": "the transcript's title (default: the language's 'Chat transcript')",
    "language": "the language of its labels and dates: en, de, pl or cs",
    "timezone": "IANA zone of the times shown (default: the connector's timezone)",
    "logo": "a PNG or JPEG file, relative to this file, drawn at the top right",
    "fonts": "a folder of extra fonts, relative to this file, searched first",
}
_RETRY_KEYS = {
    "attempts": "how many times a request is sent at most (1 to 20)",
    "backoff": "seconds; the first wait, doubling with each attempt (full jitter)",
    "max_delay": "seconds; the longest wait, also for the back end's Retry-After",
}
_TIMEOUT_KEYS = {"connect": "seconds to open a connection", "total": "seconds one attempt may take"}
_SIGNING_KEYS = {"secret": "$env.NAME holding the whsec_... secret"}
_INTAKE_KEYS = {"secret": "$env.NAME holding the secret hooks must present"}
ENV_REFERENCE = re.compile(r"\$(?:env\.([A-Za-z][A-Za-z0-9_]*)|\{env\.([A-Za-z][A-Za-z0-9_]*)\})\Z")
_REQUEST_KEYS = {
    "url": "the request URL",
    "method": "POST, PUT or PATCH (GET too for the token request)",
    "headers": "header templates",
    "body": "the body template",
    "auth": "Basic credentials: basic or client_secret_basic",
}


def _title(text: str) -> str:
    if not text.strip():
        raise ConfigError("transcript.title is empty", hint="leave it out for the default title")
    return text


class _Reader(PdataReader):
    """Reads a connector: its sections, requests, templates and pdata."""

    def connector(self, root: Node | None) -> Connector | None:
        if root is None:
            self.fail(
                "the file is empty; expected a connector mapping",
                None,
                "start from an example in connectors/",
            )
            return None
        top = self.mapping(root, "the connector file", _TOP_KEYS, required=("connector", "client"))
        if top is None:
            return None
        ident = self.section(
            top,
            "connector",
            {"id": "the connector's id (number or text)", "name": "the connector's name"},
            ("id", "name"),
        )
        client = self.section(top, "client", {"id": "the client account id, $ClientsID"}, ("id",))
        pdata, pdata_locations = self.pdata(top.get("pdata"))
        token = self.request(top, "token", url_required=True)
        export = self.request(top, "export", url_required=False)
        xml_node = top.get("xml_template")
        xml_template = self.template(xml_node, "xml_template") if xml_node is not None else None
        signing = self.signing(top.get("signing"))
        if signing is not None and export is not None:
            self.signed_headers_not_written(export.headers)
        timezone = self.timezone(top.get("timezone"))
        return Connector(
            path=self.file,
            id=self.identifier(ident.get("id")),
            name=self.text(ident.get("name"), "connector.name"),
            client_id=self.identifier(client.get("id")),
            timezone=timezone,
            pdata=pdata,
            pdata_locations=pdata_locations,
            token=token,
            export=export,
            xml_template=xml_template,
            text=self.index,
            retry=self.retry(top.get("retry")),
            timeout=self.timeout(top.get("timeout")),
            signing=signing,
            intake_secret_env=self.env_secret(top.get("intake"), "intake", _INTAKE_KEYS),
            allow_hosts=self.allow_hosts(top.get("allow_hosts")),
            transcript=self.transcript(top.get("transcript"), timezone),
        )

    def timezone(self, node: Node | None) -> str:
        name = self.text(node, "timezone") if node is not None else "UTC"
        if not name:
            return "UTC"  # the wrong type is reported already
        return self.checked(node, name, check_timezone, name)

    def transcript(self, node: Node | None, timezone: str) -> TranscriptSettings:
        """``transcript:``, checked by the same rules as the CLI's options; its time zone is the
        connector's unless it names one. A file (logo, fonts) is relative to the connector file."""
        keys = self.mapping(node, "'transcript'", _TRANSCRIPT_KEYS) if node is not None else None
        if not keys:
            return TranscriptSettings(timezone=timezone)
        base = Path(self.file).parent
        return TranscriptSettings(
            title=self.setting(keys, "title", _title, None),
            language=self.setting(keys, "language", check_language, "en"),
            timezone=self.setting(keys, "timezone", check_timezone, timezone),
            logo=self.setting(keys, "logo", lambda text: read_logo(text, base), None),
            fonts=self.setting(keys, "fonts", lambda text: check_fonts_folder(text, base), None),
        )

    def setting(
        self, keys: Mapping[str, Node], key: str, rule: Callable[[str], _T], default: _D
    ) -> _T | _D:
        """The text of ``transcript.<key>`` checked by ``rule``; absent, of a wrong type (reported)
        or refused by the rule (its `ConfigError` reported at the value): the default."""
        node = keys.get(key)
        if node is None:
            return default
        text = self.text(node, f"transcript.{key}")
        if not (isinstance(node, ScalarNode) and node.tag == STR):
            return default
        return self.checked(node, text, rule, default)

    def checked(
        self, node: Node | None, value: str, rule: Callable[[str], _T], default: _D
    ) -> _T | _D:
        """``rule(value)``; its `ConfigError` becomes a diagnostic at ``node``."""
        try:
            return rule(value)
        except ConfigError as error:
            self.fail(error.message, node, error.hint)
            return default

    def retry(self, node: Node | None) -> RetryPolicy:
        default = RetryPolicy()
        keys = self.mapping(node, "'retry'", _RETRY_KEYS) if node is not None else None
        if not keys:
            return default
        return RetryPolicy(
            attempts=int(
                self.number(
                    keys.get("attempts"), "retry.attempts", default.attempts, (1, 20), integer=True
                )
            ),
            backoff=self.number(keys.get("backoff"), "retry.backoff", default.backoff, (0, 60)),
            max_delay=self.number(
                keys.get("max_delay"), "retry.max_delay", default.max_delay, (0, 300)
            ),
        )

    def timeout(self, node: Node | None) -> Timeouts:
        default = Timeouts()
        keys = self.mapping(node, "'timeout'", _TIMEOUT_KEYS) if node is not None else None
        if not keys:
            return default
        return Timeouts(
            connect=self.number(
                keys.get("connect"), "timeout.connect", default.connect, (0.001, 300)
            ),
            total=self.number(keys.get("total"), "timeout.total", default.total, (0.001, 3600)),
        )

    def signed_headers_not_written(self, headers: tuple[Header, ...]) -> None:
        """With ``signing:``, the signature's headers are the signer's: one the connector writes
        would be replaced without a word (docs/export.md "Signing")."""
        for header in headers:
            if header.name.lower() in _SIGNATURE_HEADERS:
                location = header.value.location()
                self.diagnostics.append(
                    Diagnostic(
                        ConfigError.code,
                        f"export.headers.{header.name}: the signer writes this header, so this "
                        "value would be replaced without a word",
                        location,
                        "remove it; the signer writes webhook-id, webhook-timestamp and "
                        "webhook-signature on every attempt",
                    )
                )

    def signing(self, node: Node | None) -> Signing | None:
        name = self.env_secret(node, "signing", _SIGNING_KEYS)
        return Signing(name) if name else None

    def env_secret(self, node: Node | None, section: str, allowed: Mapping[str, str]) -> str | None:
        """``{secret: $env.NAME}`` -> NAME; a secret written into the file is an error."""
        keys = (
            self.mapping(node, f"'{section}'", allowed, ("secret",)) if node is not None else None
        )
        if not keys or "secret" not in keys:
            return None
        secret = keys["secret"]
        match = ENV_REFERENCE.match(self.text(secret, f"{section}.secret"))
        if match is None:
            self.fail(
                f"{section}.secret must be a reference to an environment variable",
                secret,
                "write secret: $env.NAME; a secret does not belong in a connector file",
            )
            return None
        return match.group(1) or match.group(2)

    def template(
        self, node: Node, name: str, numbers_allowed: bool = False
    ) -> TemplateField | None:
        scalar_ok = isinstance(node, ScalarNode) and (
            node.tag == STR or (numbers_allowed and node.tag in NUMBERS)
        )
        if not isinstance(node, ScalarNode) or not scalar_ok:
            self.fail(
                f"{name} must be a template (text), not {describe(node)}",
                node,
                self.quote_hint(node, name.rpartition(".")[2]),
            )
            return None
        return TemplateField(
            name, str(node.value), scalar_map(node, self.file, self.index), node.start_mark.line + 1
        )

    def quote_hint(self, node: Node, key: str) -> str:
        """How to make the value text: for a `{...}` YAML took for a mapping, or a body's `[...]`
        it took for a list (JSON, say), the value quoted whole. (A URL in brackets is no JSON.)"""
        meant_as_text = isinstance(node, MappingNode) or (
            key == "body" and isinstance(node, SequenceNode)
        )
        written = source_text(node, self.index.text) if meant_as_text else None
        if written is None:
            return "quote the value, or use a '|' block for several lines"
        return f"YAML read it as {describe(node)}; quote it whole: {key}: {yaml_quoted(written)}"

    def request(self, top: Mapping[str, Node], phase: str, url_required: bool) -> Request | None:
        node = top.get(phase)
        if node is None:
            return None
        keys = self.mapping(node, f"'{phase}'", _REQUEST_KEYS, ("url",) if url_required else ())
        if keys is None:
            return None
        url = self.template(keys["url"], f"{phase}.url") if "url" in keys else None
        body = self.template(keys["body"], f"{phase}.body") if "body" in keys else None
        method = self.method(keys.get("method"), phase)
        if method == "GET" and "body" in keys:
            self.fail(
                f"{phase}.body: a GET request has no body",
                keys["body"],
                "send the values in the URL's query (they are percent-encoded there), "
                "or use method: POST",
            )
        headers = self.headers(keys.get("headers"), phase)
        return Request(
            Phase(phase),
            url,
            method,
            headers,
            body,
            node_location(node, self.file),
            read_auth(self, keys.get("auth"), phase, self.template, headers),
        )

    def method(self, node: Node | None, phase: str) -> str:
        if node is None:
            return "POST"
        method = self.text(node, "method").upper()
        methods = request_methods(phase)
        if method not in methods:
            self.fail(
                f"method {method!r} is not supported for the {phase} request; "
                f"expected one of {', '.join(methods)}",
                node,
            )
        return method

    def headers(self, node: Node | None, phase: str) -> tuple[Header, ...]:
        if node is None:
            return ()
        if not isinstance(node, MappingNode):
            self.fail(
                f"{phase}.headers must be a mapping of header name to value, not {describe(node)}",
                node,
            )
            return ()
        headers: list[Header] = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
            if not _HEADER_NAME.match(name):
                self.fail(
                    f"{name!r} is not a valid header name",
                    key_node,
                    "header names are letters, digits and !#$%&'*+.^_`|~-",
                )
                continue
            if name.lower() in seen:
                self.fail(
                    f"duplicate header {name!r} in {phase}.headers",
                    key_node,
                    "header names are case-insensitive",
                )
                continue
            seen.add(name.lower())
            value = self.template(value_node, f"{phase}.headers.{name}", numbers_allowed=True)
            if value is not None:
                headers.append(Header(name, value))
        return tuple(headers)
