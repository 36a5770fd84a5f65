"""The building blocks of reading a connector file's YAML nodes: keys checked against what is
allowed (with "did you mean"), typed scalars, bounded plain data. Every problem becomes a diagnostic
with the file's own line and column; reading goes on, so a file gets all its problems at once."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from exportdsl.connector.model import AllowedHosts, BasicAuth, Header, IPNetwork, TemplateField
from exportdsl.connector.yamlsource import node_location
from exportdsl.errors import ConfigError, Diagnostic, closest
from exportdsl.source import LineIndex, Location
from exportdsl.strictjson import MAX_INTEGER_DIGITS

__all__ = [
    "MAX_DEPTH",
    "MAX_PDATA_VALUES",
    "NUMBERS",
    "STR",
    "ShapeReader",
    "describe",
    "did_you_mean",
    "read_auth",
    "request_methods",
]

MAX_DEPTH = 32  # pdata values may nest; nothing real nests deeper
MAX_PDATA_VALUES = 10_000
_CONSTRUCTOR = SafeConstructor()
# YAML 1.1 reads 1e-1 as text; in a .json file it is a number, as JSON says.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
NUMBERS = (_INT, _FLOAT)
_HOST_NAME = re.compile(
    r"(?i)(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z"
)
_AUTH_KEYS = {
    "basic": "HTTP Basic credentials, RFC 7617: username, password",
    "client_secret_basic": "OAuth client authentication, RFC 6749 2.3.1: client_id, client_secret",
}
_CREDENTIAL_KEYS = {
    "basic": {"username": "the user name (template)", "password": "the password (template)"},
    "client_secret_basic": {
        "client_id": "the OAuth client id (template)",
        "client_secret": "the OAuth client secret (template), e.g. $env.CLIENT_SECRET",
    },
}
_METHODS = {"token": ("POST", "GET", "PUT", "PATCH"), "export": ("POST", "PUT", "PATCH")}
_DIGITS_AND_DOTS = re.compile(r"[0-9.]+\Z")  # not an address, and no host name either
_ALLOW_HOSTS_EXAMPLE = "allow_hosts: [crm.internal.example, 10.20.0.0/16]"


class ShapeReader:
    """Walks YAML nodes, collecting every shape error instead of stopping at the first."""

    def __init__(self, file: str, index: LineIndex) -> None:
        self.file = file
        self.index = index
        self.diagnostics: list[Diagnostic] = []
        self.budget = MAX_PDATA_VALUES
        self.json = file.endswith(".json")

    def fail(self, message: str, node: Node | None, hint: str | None = None) -> None:
        location = (
            node_location(node, self.file) if node is not None else Location(self.file, 1, 1, 1, 1)
        )
        self.diagnostics.append(Diagnostic(ConfigError.code, message, location, hint))

    def mapping(
        self, node: Node, what: str, allowed: Mapping[str, str], required: tuple[str, ...] = ()
    ) -> dict[str, Node] | None:
        if not isinstance(node, MappingNode):
            self.fail(
                f"{what} must be a mapping, not {describe(node)}",
                node,
                f"expected keys: {', '.join(allowed)}",
            )
            return None
        found: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str) or key in found:
                message = (
                    f"duplicate key {key!r} in {what}"
                    if key in found
                    else f"{what}: keys must be text"
                )
                self.fail(message, key_node)
                continue
            if key not in allowed:
                self.fail(f"unknown key {key!r} in {what}", key_node, did_you_mean(key, allowed))
                continue
            found[key] = value_node
        for key in required:
            if key not in found:
                self.fail(f"missing key {key!r} in {what}: {allowed[key]}", node)
        return found

    def section(
        self,
        top: Mapping[str, Node],
        key: str,
        allowed: Mapping[str, str],
        required: tuple[str, ...],
    ) -> dict[str, Node]:
        node = top.get(key)
        if node is None:
            return {}
        return self.mapping(node, f"'{key}'", allowed, required) or {}

    def identifier(self, node: Node | None) -> int | str:
        if node is None:
            return ""
        if isinstance(node, ScalarNode) and node.tag in (_INT, STR) and node.value:
            value: int | str | None = self.scalar(node)
            return "" if value is None else value
        self.fail(f"an id must be a number or text, not {describe(node)}", node)
        return ""

    def text(self, node: Node | None, what: str) -> str:
        if node is None:
            return ""
        if isinstance(node, ScalarNode) and node.tag == STR:
            return str(node.value)
        self.fail(f"{what} must be text, not {describe(node)}", node, _text_hint(node))
        return ""

    def number(
        self,
        node: Node | None,
        what: str,
        default: float,
        limits: tuple[float, float],
        integer: bool = False,
    ) -> float:
        """A number within ``limits`` (inclusive).

        The default when absent or wrong (after a diagnostic).
        """
        if node is None:
            return default
        kinds = (_INT,) if integer else (_INT, _FLOAT)
        readable = isinstance(node, ScalarNode) and node.tag in (*kinds, STR)
        value = self.scalar(node) if isinstance(node, ScalarNode) and readable else None
        if value is None and readable:
            return default  # reported by `scalar`
        if not isinstance(value, int | float):
            self.fail(
                f"{what} must be {'a whole number' if integer else 'a number'}, "
                f"not {describe(node)}",
                node,
            )
            return default
        low, high = limits
        if not low <= value <= high:
            self.fail(f"{what} must be between {low:g} and {high:g}, not {_shown(value)}", node)
            return default
        return float(value)

    def allow_hosts(self, node: Node | None) -> AllowedHosts:
        """``allow_hosts``: host names and address ranges (CIDR; an address alone is its /32 or
        /128) a token answer's host may go to besides public addresses (docs/export.md)."""
        if node is None:
            return AllowedHosts()
        if not isinstance(node, SequenceNode):
            self.fail(
                f"allow_hosts must be a list of host names and address ranges, "
                f"not {describe(node)}",
                node,
                f"write a list: {_ALLOW_HOSTS_EXAMPLE}",
            )
            return AllowedHosts()
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for item in node.value:
            text = self.text(item, "an allow_hosts entry").strip()
            if not text:
                if isinstance(item, ScalarNode) and item.tag == STR:  # else reported already
                    self.fail("allow_hosts: an entry is empty", item, _host_hint(text))
                continue
            network = self._network(text, item)
            if isinstance(network, IPNetwork):
                networks.append(network)
            elif network:
                continue  # reported
            elif _HOST_NAME.match(text.rstrip(".")) and not _DIGITS_AND_DOTS.match(text):
                names.add(text.lower().rstrip("."))
            else:
                self.fail(
                    f"allow_hosts: {text[:80]!r} is neither a host name nor an address range",
                    item,
                    _host_hint(text),
                )
        return AllowedHosts(frozenset(names), tuple(networks))

    def _network(self, text: str, node: Node) -> IPNetwork | bool:
        """``text`` as an address range; True when it is a range with bits set after its prefix
        length (reported here), False when it is not written as one."""
        try:
            return ipaddress.ip_network(text)
        except ValueError:
            pass
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return False
        self.fail(
            f"allow_hosts: {text!r} has bits set after the prefix length",
            node,
            f"did you mean {str(loose)!r}?",
        )
        return True

    def data(self, node: Node, depth: int) -> Any:
        """Plain data (pdata values): scalars, lists and mappings, limited in depth and in size
        (YAML aliases can make a few hundred bytes expand to billions of values)."""
        self.budget -= 1
        if depth > MAX_DEPTH or self.budget < 0:
            if self.budget == -1 or depth == MAX_DEPTH + 1:
                self.fail(
                    f"pdata is nested deeper than {MAX_DEPTH} levels"
                    if depth > MAX_DEPTH
                    else f"pdata holds more than {MAX_PDATA_VALUES:,} values (aliases included)",
                    node,
                )
            return None
        if isinstance(node, MappingNode):
            values = {}
            for key, value in node.value:
                if not isinstance(key, ScalarNode):
                    self.fail("pdata keys must be text", key)
                    continue
                values[str(key.value)] = self.data(value, depth + 1)
            return values
        if isinstance(node, SequenceNode):
            return [self.data(item, depth + 1) for item in node.value]
        return self.scalar(node, sent=True) if isinstance(node, ScalarNode) else None

    def scalar(self, node: ScalarNode, sent: bool = False) -> Any:
        """The scalar's value; None, after a diagnostic, when its tag cannot read it (``!!int abc``,
        ``!!bool maybe``, a number too long for Python to convert). ``sent``: a value sent as
        text (pdata), where a number that loses how it was written is refused too."""
        plain_text = node.tag == STR and not node.style
        try:
            if self.json and plain_text and _JSON_NUMBER.fullmatch(node.value):
                number = node.value
                value = float(number) if any(c in number for c in ".eE") else int(number)
            else:
                value = _scalar(node)
        except (ValueError, KeyError, OverflowError, TypeError):
            self.fail(*_unreadable(node))
            return None
        problem = _unusable_number(value)
        if problem is not None:
            self.fail(problem, node, "numbers in a connector are finite, of at most 300 digits")
            return None
        if not self.json and not node.style and _misread(node, sent):
            self.fail(
                f"YAML 1.1 reads {node.value!r} as {_shown_value(value)}, which is seldom what is "
                "meant",
                node,
                f"quote it for the text ('{node.value}'), or write "
                f"{_shown_value(value)} as it is meant",
            )
            return None
        return value


def _misread(node: ScalarNode, sent: bool) -> bool:
    """Whether YAML 1.1 reads a plain scalar otherwise than it is written (``sent``: a value
    sent as text, where a number's written form is what is meant)."""
    if _YAML11_ONLY.get(node.tag, _NEVER).fullmatch(node.value):
        return True
    return sent and bool(_NOT_AS_WRITTEN.get(node.tag, _NEVER).fullmatch(node.value))


# Plain scalars only YAML 1.1 types (YAML 1.2 and JSON read them as text): yes/no/on/off as
# booleans, a leading 0 as octal, ':' as base 60. `NO` (Norway) became false, an account
# `0012345` the number 5349, a time `9:30` the number 570: refused, with the quoted form as hint.
_YAML11_ONLY = {
    _BOOL: re.compile(r"(?i:yes|no|on|off)"),
    _INT: re.compile(r"[-+]?0[0-7_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+"),
    _FLOAT: re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*"),
}
# In a value sent as text (pdata), also numbers sent otherwise than written: digits grouped with
# '_' (`1_000`: 1000 in YAML 1.1, text in YAML 1.2), and a fraction ending in a zero after its
# first digit (`1.10`, a version: 1.1 in any YAML). In a number field (retry, timeout) they are
# the number meant, and are left alone.
_NOT_AS_WRITTEN = {
    _INT: re.compile(r"[-+]?[0-9][0-9_]*_[0-9_]*"),
    _FLOAT: re.compile(r"(?=[^_]*_)[-+]?[0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]*\.[0-9]+0"),
}
_NEVER = re.compile(r"(?!)")


def _shown_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _shown(number: float) -> str:
    """A number for a message: a whole number as written (``1000000000000000000``, not ``1e+18``),
    one too long to read at a glance by its length (and without converting it to a float, which
    overflows past 309 digits)."""
    if isinstance(number, float):
        return f"{number:g}"
    digits = len(str(abs(number)))
    return str(number) if digits <= 24 else f"a number of {digits:,} digits"


_MAX_INTEGER_BITS = math.ceil(MAX_INTEGER_DIGITS * math.log2(10))  # 997: 2**997 has 301 digits


def _unusable_number(value: Any) -> str | None:
    """Why a number read from the file cannot be used (no request can carry it, and a later
    ``str()`` or float conversion would raise), or None. Measured in bits, never converted: an
    integer written in hex or base 60 can be far longer than its digits in the file."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value.bit_length() > _MAX_INTEGER_BITS:
        return f"a number of more than {MAX_INTEGER_DIGITS} digits cannot be used"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    return None


_TAG_WORDS = {"int": "a number", "float": "a number", "bool": "a boolean (true or false)"}


def _unreadable(node: ScalarNode) -> tuple[str, Node, str]:
    """The diagnostic for a scalar its tag cannot read: message, node, hint."""
    kind = node.tag.rsplit(":", 1)[-1]
    value = node.value
    shown = repr(value) if len(value) <= 40 else f"{value[:20]!r}… ({len(value):,} characters)"
    too_long = kind in ("int", "float") and sum(c.isdigit() for c in value) > 4300
    hint = "numbers have at most 4,300 digits" if too_long else "quote the value to make it text"
    return f"{shown} cannot be read as {_TAG_WORDS.get(kind, '!!' + kind)}", node, hint


def _scalar(node: ScalarNode) -> Any:
    """A plain scalar's value as YAML 1.1 reads it (octal, sexagesimal, .inf, .nan …): PyYAML's own
    constructors, which do not cache (its generic `construct_object` would keep every node)."""
    if node.tag == _INT:
        return _CONSTRUCTOR.construct_yaml_int(node)
    if node.tag == _FLOAT:
        return _CONSTRUCTOR.construct_yaml_float(node)
    if node.tag == _BOOL:
        return _CONSTRUCTOR.construct_yaml_bool(node)
    if node.tag == _NULL:
        return None
    return str(node.value)


def request_methods(phase: str) -> tuple[str, ...]:
    """The methods a request of ``phase`` may use: a token endpoint may be read with GET; a report
    has a body, so it is never a GET."""
    return _METHODS.get(phase, _METHODS["export"])


def read_auth(
    reader: ShapeReader,
    node: Node | None,
    phase: str,
    template: Callable[[Node, str], TemplateField | None],
    headers: tuple[Header, ...],
) -> BasicAuth | None:
    """A request's ``auth``: exactly one of ``basic`` and ``client_secret_basic``, each with both
    its keys as templates (``$env.NAME`` for the secret). ``template`` reads a template field."""
    if node is None:
        return None
    keys = reader.mapping(node, f"'{phase}.auth'", _AUTH_KEYS)
    if not keys:
        if isinstance(node, MappingNode) and not node.value:
            reader.fail(f"{phase}.auth is empty", node, f"expected one of: {', '.join(_AUTH_KEYS)}")
        return None  # otherwise reported
    if len(keys) > 1:
        reader.fail(
            f"{phase}.auth holds {' and '.join(keys)}; a request carries one Authorization",
            node,
            "keep one of them",
        )
        return None
    ((scheme, credentials),) = keys.items()
    allowed = _CREDENTIAL_KEYS[scheme]
    found = reader.mapping(credentials, f"'{phase}.auth.{scheme}'", allowed, tuple(allowed))
    if found is None or len(found) < len(allowed):
        return None  # reported
    user_key, password_key = allowed
    username = template(found[user_key], f"{phase}.auth.{scheme}.{user_key}")
    password = template(found[password_key], f"{phase}.auth.{scheme}.{password_key}")
    authorization = next((h for h in headers if h.name.lower() == "authorization"), None)
    if authorization is not None:
        reader.fail(
            f"{phase} sets both auth and an Authorization header; a request carries one",
            node,
            "keep auth: it builds the Authorization header",
        )
        return None
    if username is None or password is None:
        return None
    return BasicAuth(username, password, form_encoded=scheme == "client_secret_basic")


def _host_hint(text: str) -> str:
    """What an allow_hosts entry that is neither a host name nor a range was meant to be."""
    if text.startswith("*."):
        return "wildcards are not taken: list each host name, or the address range it lives in"
    with_port = re.fullmatch(r"((?:\d{1,3}\.){3}\d{1,3}|\[[0-9a-fA-F:.]+\]):\d+", text)
    if with_port:
        return f"only the address: {with_port[1].strip('[]')!r}, without a port"
    if re.match(r"[0-9a-fA-F:.]+(?:/|\Z)", text):
        return "an address is four numbers 0-255 (or IPv6); a range adds a prefix: 10.20.0.0/16"
    if "://" in text or "/" in text or ":" in text:
        try:
            host = urlsplit(text if "://" in text else f"//{text}").hostname
        except ValueError:
            host = None
        if host:
            return f"only the host: {host!r}, without scheme, port or path"
    if not text.isascii():
        return "write an international name in its xn-- (IDNA) form"
    return f"a host name or an address range: {_ALLOW_HOSTS_EXAMPLE}"


def _text_hint(node: Node) -> str:
    if isinstance(node, ScalarNode) and node.tag == _NULL:
        return "give it a value, or leave the key out for its default"
    if isinstance(node, ScalarNode):
        return "quote the value"
    return "write the value as text, on the key's line or as a '|' block"


def describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {
        STR: "text",
        _INT: "a number",
        _FLOAT: "a number",
        _BOOL: "a boolean",
        _NULL: "empty (null)",
    }.get(node.tag, f"a {node.tag.rsplit(':', 1)[-1]}")


def did_you_mean(word: str, choices: Mapping[str, str] | set[str]) -> str | None:
    close = closest(word, choices)
    if close:
        return f"did you mean {close!r}?"
    if isinstance(choices, Mapping):
        return "expected one of: " + ", ".join(choices)
    return None
