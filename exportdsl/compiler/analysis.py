"""Connector -> Plan: parse every field, check every reference, place every hole, lower to Jinja2.

All errors of a connector are collected (syntax, unknown variables and properties, wrong phase,
bodies that can never be well formed), each located in the file, and raised together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from exportdsl.compiler import rules
from exportdsl.compiler.catalogue import Var, catalogue
from exportdsl.compiler.directives import LOOP_NAMES, Program, has_directives
from exportdsl.compiler.placement import (
    BodyShape,
    body_shape,
    kind_for_content_type,
    place,
    shape_of,
)
from exportdsl.compiler.plan import (
    BasicAuthPlan,
    FieldPlan,
    Hole,
    Plan,
    RequestPlan,
    compile_blocks,
    fills_credential,
    parts,
)
from exportdsl.compiler.scope import loop_problems, output_references
from exportdsl.compiler.variants import place_directives
from exportdsl.compiler.wire import form_flaws
from exportdsl.connector.model import Connector, Header, Request, TemplateField
from exportdsl.errors import ConnectorError, Diagnostic, ExportDslError, closest
from exportdsl.language.nodes import (
    Comment,
    Expression,
    Foreach,
    If,
    Interpolated,
    Literal,
    Node,
    Reference,
    Set,
    Text,
    format_path,
    references_in,
    walk,
)
from exportdsl.language.parser import parse
from exportdsl.source import Span
from exportdsl.vocabulary import Alphabet, Context, FieldKind, Phase

__all__ = ["analyse_connector", "check_connector", "compile_connector", "loop_state"]

# What may stand before a URL's path (scheme, host, port): values the connector's owner
# controls, and the token answer (OAuth servers send the API's base URL there, e.g.
# Salesforce's instance_url).
_SHAPE_WORDS = {FieldKind.JSON: "JSON", FieldKind.XML: "XML", FieldKind.FORM: "a form"}
_MEDIA_TYPES = {
    FieldKind.JSON: "application/json",
    FieldKind.XML: "application/xml",
    FieldKind.FORM: "application/x-www-form-urlencoded",
}
# Headers only the HTTP client may write (XD215), and why (RFC 9110 §7.2, §7.6.1, §8.6).
_HOP_BY_HOP = "it manages the connection, hop by hop"
_CLIENT_HEADERS = {
    "host": "it names the URL's host (another one would reach another virtual host)",
    "content-length": "it is the length of the body it sends",
    "transfer-encoding": "it frames the body with Content-Length; two framings make the request "
    "ambiguous (request smuggling)",
    "expect": "it does not wait for a 100 Continue answer",
    "connection": _HOP_BY_HOP,
    "keep-alive": _HOP_BY_HOP,
    "proxy-connection": _HOP_BY_HOP,
    "upgrade": _HOP_BY_HOP,
    "te": _HOP_BY_HOP,
    "trailer": "it sends no trailer fields",
}
_URL_PREFIX_VARIABLES = frozenset({"pdata", "env", "ClientsID", "chatConnector", "tokenResponse"})
# Of those, the values not written in the connector file: they may set only an origin there.
_RUN_TIME_VARIABLES = frozenset({"env", "tokenResponse"})


def compile_connector(connector: Connector) -> Plan:
    """The connector's plan.

    Raises `ConnectorError` with every diagnostic when anything is wrong.
    """
    compiler = _Compiler(connector)
    fields = compiler.analyse()
    if compiler.diagnostics:
        raise ConnectorError(
            connector.path, tuple(sorted(compiler.diagnostics, key=lambda d: d.order))
        )
    return _assemble(connector, fields)


def check_connector(connector: Connector) -> list[Diagnostic]:
    """Every compile diagnostic of a connector, in file order (nothing is compiled to code)."""
    return analyse_connector(connector)[1]


def analyse_connector(connector: Connector) -> tuple[dict[str, FieldPlan], list[Diagnostic]]:
    """Every field checked and placed (by field name), and the diagnostics, without compiling code.
    The linter's rules look at the fields: their references, where each lands, how it is escaped."""
    compiler = _Compiler(connector)
    fields = compiler.analyse()
    return fields, sorted(compiler.diagnostics, key=lambda d: d.order)


def _assemble(connector: Connector, fields: Mapping[str, FieldPlan]) -> Plan:
    def group(request: Request | None) -> list[FieldPlan]:
        if request is None or request.url is None:
            return []  # a request without a url is never rendered
        return [fields[field.name] for field in request.fields]

    xml = fields.get(connector.xml_template.name) if connector.xml_template else None
    token_block, export_block, xml_block = compile_blocks(
        [group(connector.token), group(connector.export), [xml] if xml else []]
    )

    def request_plan(request: Request | None, block: Any) -> RequestPlan | None:
        if request is None:
            return None
        return RequestPlan(
            Phase(request.phase),
            request.method,
            fields[request.url.name] if request.url else None,
            tuple((header.name, fields[header.value.name]) for header in request.headers),
            fields[request.body.name] if request.body else None,
            block,
            BasicAuthPlan(
                fields[request.auth.username.name],
                fields[request.auth.password.name],
                request.auth.form_encoded,
            )
            if request.auth
            else None,
        )

    return Plan(
        connector.id,
        connector.name,
        connector.client_id,
        connector.pdata,
        connector.timezone,
        request_plan(connector.token, token_block),
        request_plan(connector.export, export_block),
        xml,
        xml_block if xml else None,
        retry=connector.retry,
        timeout=connector.timeout,
        signing=connector.signing,
        allow_hosts=connector.allow_hosts,
        intake_env=connector.intake_secret_env,
        transcript=connector.transcript,
    )


class _Compiler:
    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.variables = catalogue(connector.pdata)
        self.diagnostics: list[Diagnostic] = []
        self.resolved: dict[tuple[Phase, tuple[str | int, ...]], Var] = {}  # see `resolve`

    def analyse(self) -> dict[str, FieldPlan]:
        """Every field checked and placed, by name; problems go to `diagnostics`."""
        fields: dict[str, FieldPlan] = {}
        for request in (self.connector.token, self.connector.export):
            if request is not None:
                fields.update(self.request(request))
        xml = self.connector.xml_template
        if xml is not None:
            fields[xml.name] = self.field(xml, FieldKind.XML, Phase.XML)
        return fields

    def request(self, request: Request) -> Iterable[tuple[str, FieldPlan]]:
        phase = request.phase
        if request.url:
            yield request.url.name, self.field(request.url, FieldKind.URL, phase)
        for header in request.headers:
            self.check_client_header(header)
            yield header.value.name, self.field(header.value, FieldKind.HEADER, phase)
        if request.body:
            yield request.body.name, self.field(request.body, self.body_kind(request), phase)
        if request.auth:  # they end in a header: no control characters, as in one
            for credential in (request.auth.username, request.auth.password):
                yield credential.name, self.field(credential, FieldKind.HEADER, phase)

    def check_client_header(self, header: Header) -> None:
        """Headers the HTTP client writes from the URL and the body, or for the connection, are
        refused (XD215): a second framing (Transfer-Encoding beside Content-Length) is request
        smuggling, a wrong Content-Length or Host fails every export or goes elsewhere."""
        why = _CLIENT_HEADERS.get(header.name.lower())
        if why is None:
            return
        self.diagnose(
            header.value,
            rules.CLIENT_HEADER.code,
            f"{header.name} is the HTTP client's to write: {why}",
            Span(0, max(1, len(header.value.source))),
            f"remove the {header.name} header (the HTTP client writes what the request needs)",
        )

    def body_kind(self, request: Request) -> FieldKind:
        """JSON, XML, form or text, from the request's Content-Type as it is sent (comments and
        #[[ ]]# read as the language reads them). The escaping of every hole in the body hangs on
        it, so a Content-Type that a value could change is refused when the body has references."""
        header = request.header("Content-Type")
        if header is None:
            return self.unshaped_text(request, "the request has no Content-Type")
        try:
            nodes = parse(header.value.source)
        except ExportDslError:
            return FieldKind.TEXT  # reported as the header's own syntax error
        references = [node for node in nodes if isinstance(node, Reference)]
        # a directive makes the Content-Type as dynamic as a reference does
        dynamic = [node for node in nodes if not isinstance(node, (Text, Comment))]
        if dynamic and request.body is not None and _has_references(request.body.source):
            what = "reference" if isinstance(dynamic[0], Reference) else "directive"
            self.diagnose(
                header.value,
                rules.DYNAMIC_CONTENT_TYPE.code,
                f"the Content-Type holds a {what}, so the body's escaping cannot be decided",
                dynamic[0].span,
                "write the Content-Type literally (application/json, application/xml, …)",
            )
        declared = "".join(node.value for node in nodes if isinstance(node, Text))
        kind = kind_for_content_type(declared)
        why = f"its Content-Type is {declared.strip()!r}"
        if kind == FieldKind.TEXT and not references:
            return self.unshaped_text(request, why)
        if kind != FieldKind.TEXT and self.contradicted(request, kind, why):
            return FieldKind.TEXT  # one error (XD211), not the parse errors of the wrong kind
        return kind

    def unshaped_text(self, request: Request, why: str) -> FieldKind:
        """A text body; refused when it is shaped as JSON, XML or a form and has references: its
        values would go in unescaped and could add fields (XD211)."""
        shape = _shape(request, strings=True)
        if request.body is not None and shape is not None:
            self.diagnose(
                request.body,
                rules.SHAPED_BODY_WITHOUT_TYPE.code,
                f"the body looks like {_SHAPE_WORDS[shape.kind]} but {why}, "
                "so its values would go in as text, unescaped",
                Span(shape.at, shape.at + 1),
                f"add the header Content-Type: {_MEDIA_TYPES[shape.kind]} "
                "(the values are then escaped for it)",
            )
        return FieldKind.TEXT

    def contradicted(self, request: Request, kind: FieldKind, why: str) -> bool:
        """Whether a body with references starts as another kind than its Content-Type says
        (XD211): JSON under a form type would have its values form-encoded inside JSON."""
        shape = _shape(request)
        if request.body is None or shape is None or not shape.leading or shape.kind == kind:
            return False
        self.diagnose(
            request.body,
            rules.SHAPED_BODY_WITHOUT_TYPE.code,
            f"the body looks like {_SHAPE_WORDS[shape.kind]} but {why}, "
            f"so its values would be escaped for {_SHAPE_WORDS[kind]} inside "
            f"{_SHAPE_WORDS[shape.kind]}",
            Span(shape.at, shape.at + 1),
            f"write the Content-Type the body is: {_MEDIA_TYPES[shape.kind]}, or a body that "
            f"is {_SHAPE_WORDS[kind]}",
        )
        return True

    def field(self, field: TemplateField, kind: FieldKind, phase: Phase) -> FieldPlan:
        try:
            nodes = parse(field.source)
        except ExportDslError as error:
            self.diagnose(field, error.code, error.message, error.span or Span(0, 1), error.hint)
            return FieldPlan(field.name, kind, phase, (), ())
        if has_directives(nodes):
            return self.directive_field(field, nodes, kind, phase)
        placement = place(nodes, kind)
        problems = placement.problems
        if kind == FieldKind.TEXT and body_shape(nodes) == FieldKind.FORM:
            problems += tuple(form_flaws(nodes))  # a form under another Content-Type (or none)
        for problem in problems:
            self.diagnose(field, problem.code, problem.message, problem.span, problem.hint)
        references = [node for node in nodes if isinstance(node, Reference)]
        contexts = _run_time_origins(nodes, placement.contexts)
        holes = self.holes(
            field, references, contexts, lambda reference: self.check(field, reference, phase)
        )
        return FieldPlan(
            field.name, kind, phase, holes, tuple(parts(nodes, holes)), placement.objects
        )

    def holes(
        self,
        field: TemplateField,
        references: Sequence[Reference],
        contexts: Sequence[Context],
        alphabet: Callable[[Reference], Alphabet],
    ) -> tuple[Hole, ...]:
        """Each reference with the context it lands in and its value's alphabet, once every one
        standing before a URL's path has been checked."""
        for reference, context in zip(references, contexts, strict=True):
            self.check_url_prefix(field, reference, context)
        return tuple(
            Hole(reference, context, alphabet(reference), field.origin)
            for reference, context in zip(references, contexts, strict=True)
        )

    def check_url_prefix(
        self, field: TemplateField, reference: Reference, context: Context
    ) -> None:
        if context == Context.URL_PREFIX and reference.name not in _URL_PREFIX_VARIABLES:
            self.diagnose(
                field,
                rules.UNTRUSTED_URL_PREFIX.code,
                f"{reference} stands before the URL's path, where it would be inserted as is",
                reference.span,
                "only connector values ($pdata, $env, …) may form the scheme and host; "
                "put it after a '/' or '?', where it is percent-encoded",
            )

    def directive_field(
        self, field: TemplateField, nodes: tuple[Node, ...], kind: FieldKind, phase: Phase
    ) -> FieldPlan:
        """A field with directives: placed in every expansion (`variants`), every reference checked
        in its scope (loop variables, #set names), rendered by a `Program`."""
        placement = place_directives(nodes, kind)
        for problem in (*placement.problems, *loop_problems(nodes)):
            self.diagnose(field, problem.code, problem.message, problem.span, problem.hint)
        alphabets = _Scoped(self, field, phase).run(nodes)
        references = output_references(nodes)
        flat = tuple(node for node in walk(nodes) if isinstance(node, (Text, Reference)))
        contexts = _run_time_origins(
            flat, tuple(placement.contexts.get(ref.span.start, Context.TEXT) for ref in references)
        )
        holes = self.holes(
            field,
            references,
            contexts,
            lambda reference: alphabets.get(reference.span.start, Alphabet.ANY),
        )
        program = Program(
            field.name,
            nodes,
            {hole.reference.span.start: hole.context for hole in holes},
            {hole.reference.span.start: hole.escaped for hole in holes},
            field.location,
            credential=fills_credential(field.name),
        )
        return FieldPlan(field.name, kind, phase, holes, (), program=program)

    def diagnose(
        self, field: TemplateField, code: str, message: str, span: Span, hint: str | None
    ) -> None:
        self.diagnostics.append(
            Diagnostic(code, f"{field.name}: {message}", field.location(span), hint)
        )

    def check(
        self,
        field: TemplateField,
        reference: Reference,
        phase: Phase,
        local: Mapping[str, Var] | None = None,
    ) -> Alphabet:
        """The reference's alphabet; reports what is wrong with it. ``local``: the names a
        template's directives define where the reference stands (loop variables, #set)."""
        var = self.resolve(field, reference, phase, local or {})
        if var is None:
            return Alphabet.ANY
        if var.dynamic:
            return Alphabet.ANY
        if not var.leaf:  # $env alone would send the whole environment
            parts = ", ".join(f".{name}" for name in var.children)
            hint = (
                f"use one of its parts: {parts}"
                if parts
                else f"name one of its entries: ${reference.dotted}.NAME"
            )
            self.diagnose(
                field,
                rules.UNKNOWN_PROPERTY.code,
                f"${reference.dotted} is not a value by itself",
                reference.span,
                hint,
            )
        return var.alphabet

    def resolve(
        self, field: TemplateField, reference: Reference, phase: Phase, local: Mapping[str, Var]
    ) -> Var | None:
        """The catalogue node a reference reaches (dynamic where the catalogue stops knowing), or
        None after reporting what is wrong with it."""
        if reference.name in local:
            var = local[reference.name]
        elif reference.name in LOOP_NAMES:
            return None  # outside a loop: reported as XD217 (`scope.loop_problems`)
        else:
            # a catalogue path reaches the same node wherever it stands in the phase: a body of
            # 1,000 lines reads the same few paths hundreds of times
            known = self.resolved.get((phase, reference.path))
            if known is not None:
                return known
            problem = self.check_head(field, reference, phase, local)
            if problem:
                self.diagnose(field, *problem)
                return None
            reached = self.walk_path(field, reference, self.variables[reference.name])
            if reached is not None:
                self.resolved[phase, reference.path] = reached
            return reached
        return self.walk_path(field, reference, var)

    def walk_path(self, field: TemplateField, reference: Reference, var: Var) -> Var | None:
        """The node a reference's steps reach from ``var`` (None after reporting a wrong step)."""
        for depth, segment in enumerate(reference.segments):
            if var.dynamic:
                return var
            step = _step(var, segment.key, reference, depth)
            if isinstance(step, Var):
                var = step
                continue
            message, hint = step
            self.diagnose(field, rules.UNKNOWN_PROPERTY.code, message, segment.span, hint)
            return None
        return var

    def exists(self, name: str) -> bool:
        """Whether the connector has what the variable comes from.

        A token phase, an XML template.
        """
        return {
            "tokenResponse": self.connector.token is not None,
            "xmlTemplate": self.connector.xml_template is not None,
        }.get(name, True)

    def check_head(
        self,
        field: TemplateField,
        reference: Reference,
        phase: Phase,
        local: Mapping[str, Var] | None = None,
    ) -> tuple[str, str, Span, str | None] | None:
        name, span = reference.name, reference.name_span
        if name not in self.variables:
            available = [
                key
                for key, var in self.variables.items()
                if phase in var.phases and self.exists(key)
            ]
            here = sorted(local or {})  # the loop variables, $foreach, the #set names in scope
            close = closest(name, [*here, *available])
            hint = (
                (f"did you mean ${close}? " if close else "")
                + f"available in the {phase.value} phase: "
                + ", ".join(f"${key}" for key in available)
                + ("; here also: " + ", ".join(f"${key}" for key in here) if here else "")
            )
            return rules.UNDEFINED_VARIABLE.code, f"undefined variable ${name}", span, hint
        if name == "tokenResponse" and self.connector.token is None:
            return (
                rules.TOKEN_RESPONSE_WITHOUT_TOKEN_PHASE.code,
                "$tokenResponse is used but the connector has no token phase",
                span,
                "add a 'token:' section with the token request, or remove the reference",
            )
        if name == "xmlTemplate" and phase is Phase.XML:
            return (
                rules.XML_TEMPLATE_SELF_REFERENCE.code,
                "the XML template cannot refer to itself",
                span,
                None,
            )
        if name == "xmlTemplate" and self.connector.xml_template is None:
            return (
                rules.XML_TEMPLATE_MISSING.code,
                "$xmlTemplate is used but the connector has no xml_template",
                span,
                "add an 'xml_template:' section, or remove the reference",
            )
        var = self.variables[name]
        if phase not in var.phases:
            where = " and ".join(p.value for p in Phase if p in var.phases)
            return (
                rules.WRONG_PHASE.code,
                f"${name} is not available in the {phase.value} phase",
                span,
                f"${name} exists only in the {where} phase{'s' if ' and ' in where else ''}",
            )
        return None


_ANYTHING = Var("a value only known at render time", dynamic=True)
_SET_VALUE = Var("a value written by #set")


def loop_state(parent: Var | None) -> Var:
    """``$foreach`` inside a loop (Velocity 1.7's loop tool)."""
    return Var(
        "the loop's state",
        children={
            "count": Var("the item's number, from 1"),
            "index": Var("the item's number, from 0"),
            "hasNext": Var("true but for the last item"),
            "first": Var("true for the first item"),
            "last": Var("true for the last item"),
            "parent": parent or Var("the enclosing loop's $foreach (null at the outermost)"),
        },
        leaf=False,
    )


class _Scoped:
    """Checks every reference of a template with directives against the catalogue, in scope:
    a loop's variable has the type of the list's elements (``$m.contnet`` is XD202), #set names
    last from the #set on (one scope per render, as in 1.7), neither may shadow a catalogue name
    (XD218), and a loop reads a list (XD219)."""

    def __init__(self, compiler: _Compiler, field: TemplateField, phase: Phase) -> None:
        self.compiler, self.field, self.phase = compiler, field, phase
        self.local: dict[str, Var] = {}
        self.alphabets: dict[int, Alphabet] = {}

    def run(self, nodes: tuple[Node, ...]) -> dict[int, Alphabet]:
        for node in nodes:
            if isinstance(node, Reference):
                alphabet = self.compiler.check(self.field, node, self.phase, self.local)
                self.alphabets[node.span.start] = alphabet
            elif isinstance(node, If):
                for branch in node.branches:
                    if branch.condition is not None:
                        self.read(branch.condition)
                    self.run(branch.body)
            elif isinstance(node, Foreach):
                self.loop(node)
            elif isinstance(node, Set):
                var = self.value(node.value)
                self.name(node.name, node.name_span, "#set")
                self.local[node.name] = var
        return self.alphabets

    def read(self, expression: Expression) -> None:
        for reference in references_in(expression):
            self.compiler.resolve(self.field, reference, self.phase, self.local)

    def value(self, expression: Expression) -> Var:
        if isinstance(expression, Reference):
            var = self.compiler.resolve(self.field, expression, self.phase, self.local)
            return var if var is not None else _ANYTHING
        self.read(expression)
        return _SET_VALUE

    def name(self, name: str, span: Span, what: str) -> None:
        if name in self.compiler.variables:  # the loop's own names: `scope.loop_problems`
            self.compiler.diagnose(
                self.field,
                rules.SHADOWED_NAME.code,
                f"{what} names ${name}, which the template language already defines",
                span,
                f"choose another name than ${name}",
            )

    def loop(self, node: Foreach) -> None:
        element = self.element(node)
        self.name(node.variable, node.variable_span, "the loop variable")
        names = (node.variable, *LOOP_NAMES)
        saved = {name: self.local.get(name) for name in names}
        self.local[node.variable] = element
        self.local["foreach"] = loop_state(saved["foreach"])
        self.local["velocityCount"] = Var("the item's number, from 1")
        self.local["velocityHasNext"] = Var("true but for the last item")
        self.run(node.body)
        for name, var in saved.items():
            if var is None:
                self.local.pop(name, None)
            else:
                self.local[name] = var

    def element(self, node: Foreach) -> Var:
        """The type of the loop's items; reports a source that is not a list."""
        source = node.source
        var = self.value(source) if isinstance(source, Reference) else None
        if var is None or var is _SET_VALUE:
            self.compiler.diagnose(
                self.field,
                rules.NOT_A_LIST.code,
                "#foreach loops over a list, not over a literal value",
                source.span,
                "loop over a list the chat holds, e.g. $chat.messages",
            )
            return _ANYTHING
        if var.items is not None:
            return var.items
        if var.entries is not None:
            return var.entries
        if var.dynamic or var.children:
            return _ANYTHING  # an object's values, or a list only the render sees
        self.compiler.diagnose(
            self.field,
            rules.NOT_A_LIST.code,
            f"{source} is not a list",
            source.span,
            "#foreach loops over a list, e.g. $chat.messages",
        )
        return _ANYTHING


def _step(
    var: Var, key: str | int, reference: Reference, depth: int
) -> Var | tuple[str, str | None]:
    """The catalogue node below ``var`` for the reference's step ``depth``, or (message, hint)
    when there is none (the path is written out only then)."""
    if isinstance(key, int):
        if var.items is not None:
            return var.items
        return f"{_walked(reference, depth)} is not a list; it cannot be indexed", None
    if var.items is not None:
        where = _walked(reference, depth)
        return f"{where} is a list; pick an element first, e.g. {where}[0]", None
    if key in var.children:
        return var.children[key]
    if var.entries is not None:
        return var.entries
    where = _walked(reference, depth)
    if not var.children:
        return f"{where} is a value with no properties", f"use {where} itself"
    close = closest(key, var.children)
    available = "available: " + ", ".join(var.children)
    return f"{where} has no property {key!r}", (
        f"did you mean {close!r}? " if close else ""
    ) + available


def _walked(reference: Reference, depth: int) -> str:
    """The reference's path up to its step ``depth``, as written: ``$chat.visitor``."""
    return "$" + format_path(reference.path[: depth + 1])


def _run_time_origins(nodes: tuple[Node, ...], contexts: tuple[Context, ...]) -> list[Context]:
    """A value only known at run time (the token answer, the environment) before a URL's path may
    set the origin and nothing more: the whole origin where the URL starts, host and port
    characters after a literal scheme (docs/design.md §8.4). The connector's own values (pdata,
    ids) are the author's and stay as they are."""
    placed = iter(contexts)
    result: list[Context] = []
    literal_before = False
    for node in nodes:
        if isinstance(node, Text):
            literal_before = literal_before or bool(node.value)
        elif isinstance(node, Reference):
            context = next(placed)
            if context == Context.URL_PREFIX and node.name in _RUN_TIME_VARIABLES:
                context = Context.URL_HOST if literal_before else Context.URL_ORIGIN
            result.append(context)
    return result


def _shape(request: Request, *, strings: bool = False) -> BodyShape | None:
    """The shape of a request's body with references (`shape_of`); None without references or
    when the body does not parse (reported as its own syntax error). With ``strings``, the
    strings #set writes count as the body's text: a hole writes them, and in a text body as is."""
    body = request.body
    if body is None or not _has_references(body.source):
        return None
    try:  # every branch's and loop body's text too: a directive cannot hide the shape
        nodes = walk(parse(body.source))
    except ExportDslError:
        return None
    return shape_of(tuple(_with_set_strings(nodes) if strings else nodes))


def _with_set_strings(nodes: list[Node]) -> Iterable[Node]:
    """The nodes, each #set's string in its place as text and references: in a text body,
    `#set($x = "{""name"": ""$chat.visitor.name""}")$x` is JSON with the value unescaped."""
    for node in nodes:
        if isinstance(node, Set) and isinstance(node.value, Interpolated):
            yield from node.value.parts
        elif isinstance(node, Set) and isinstance(node.value, Literal):
            text = str(node.value.value)
            yield Text(text, node.value.span, node.value.span.start + 1)
        else:
            yield node


def _has_references(source: str) -> bool:
    try:
        return bool(output_references(parse(source)))
    except ExportDslError:
        return "$" in source
