"""`exportdsl explain`: what each field refers to, where each value lands and how it is escaped."""

from __future__ import annotations

from exportdsl.compiler.plan import Hole, Plan
from exportdsl.compiler.scope import enclosures

_CONTEXT_WORDS = {
    "text": "inserted as is",
    "url": "inserted as is before the URL's path; the final URL is validated (http/https)",
    "url-origin": "before the URL's path, from run time: only an origin (scheme://host[:port])",
    "url-host": "before the URL's path, from run time: only host and port characters",
    "url-component": "percent-encoded as one URL component",
    "header": "header value; a control character (CR, LF, NUL, …) is a render error",
    "form": "form-encoded",
    "json-string": "escaped as JSON string content",
    "json-value": "inserted as a JSON value",
    "json-key": "inserted as a JSON string (an object key)",
    "xml": "XML-escaped (& < > \" ')",
    "xml-attribute": "XML-escaped for an attribute value (white space as character references)",
    "xml-cdata": "kept inside the CDATA section (']]>' split)",
}


def explain(file: str, plan: Plan) -> str:
    lines = [f"{file}: connector {plan.connector_id} {plan.connector_name!r}"]
    if not plan.export_enabled:
        lines.append(
            "  export disabled: export.url is missing (jtel shows no Report Export button)"
        )
    for field in plan.fields:
        lines.append(
            f"  {field.name}  [{field.kind}, {field.phase.value if field.phase else 'any'} phase]"
        )
        around = enclosures(field.program.nodes) if field.program is not None else {}
        for hole in field.holes:
            inside = around.get(hole.reference.span.start)
            lines.append(f"    {_describe(hole)}" + (f"  [inside {inside}]" if inside else ""))
        if field.program is not None:
            lines.append(
                "    (directives: each value keeps this escaping in every branch and loop run)"
            )
        if not field.holes and field.program is None:
            lines.append("    (literal text)")
    return "\n".join(lines)


def _describe(hole: Hole) -> str:
    return f"{hole.reference!s:<40} {describe_escaping(hole)}"


def describe_escaping(hole: Hole) -> str:
    """How the hole's value is escaped where it lands, in words (also the editor's hover)."""
    how = _CONTEXT_WORDS[hole.context]
    if not hole.escaped:
        how = f"no escaping needed ({hole.alphabet} value in {hole.context} context)"
    secret = "; secret, redacted in output" if hole.reference.name == "env" else ""
    return f"{how}{secret}"


__all__ = ["describe_escaping", "explain"]
