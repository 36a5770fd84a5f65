"""The export never sends the report: ``$report`` is used nowhere.

Anti-pattern::

    export:
      url: https://crm.example/api/chats
      body: '{"chat": "$chat.channel.id"}'       # the PDF transcript is made and thrown away

jtel's Report Export posts "the PDF report containing the chat session"; an export that never
uses ``$report`` (directly, or through the XML template) sends none of it.

Better: ``"pdf": "$report.encoded.base64"`` (and ``"size": $report.bytes``). A forward connector,
whose body is exactly ``$chat``, posts the chat JSON itself and is exempt.
"""

from __future__ import annotations

from collections.abc import Iterator

from exportdsl.connector.model import TemplateField
from exportdsl.errors import Severity
from exportdsl.lint.api import Finding, LintContext, rule

__all__ = ["RULE", "check"]


def check(context: LintContext) -> Iterator[Finding]:
    export = context.connector.export
    if export is None or export.url is None:
        return
    body = context.plan(export.body) if export.body is not None else None
    if body is not None and body.forwards_chat:
        return  # forward mode: the chat JSON is the payload
    if not all(context.parses(template) for template in _export_templates(context)):
        return  # a syntax error hides what the export uses; it is reported on its own
    if "report" in _used_in_export(context):
        return
    where = export.body or export.url
    yield Finding(
        where.location(),
        "the export never sends the report: $report is used nowhere",
        'add e.g. "pdf": "$report.encoded.base64" to the body',
    )


def _export_templates(context: LintContext) -> Iterator[TemplateField]:
    """The export request's fields, and the XML template it may embed."""
    yield from (field for field in context.fields if field.name.startswith("export."))
    if context.connector.xml_template is not None:
        yield context.connector.xml_template


def _used_in_export(context: LintContext) -> set[str]:
    """Variables the export request uses, directly or through the XML template it embeds."""
    names = {
        reference.name
        for template, reference in context.all_references()
        if template.name.startswith("export.")
    }
    xml = context.connector.xml_template
    if "xmlTemplate" in names and xml is not None:
        names.update(reference.name for reference in context.references(xml))
    return names


RULE = rule("XD507", "report-unused", Severity.WARNING, __doc__, check)
