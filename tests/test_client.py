"""The client exports go through (`exportdsl.export.client`): what it keeps between requests, which
destinations it refuses, and how a request that cannot be sent is classified."""

from __future__ import annotations

import httpx
import pytest
from backend import ENV, Backend, Reply, connector_text, sample_chat

from exportdsl.compiler.analysis import compile_connector
from exportdsl.compiler.plan import Plan
from exportdsl.connector.model import RetryPolicy
from exportdsl.connector.reader import parse_connector
from exportdsl.delivery.deliver import outcome
from exportdsl.errors import RenderError
from exportdsl.export.client import make_client
from exportdsl.export.exporter import Exporter
from exportdsl.export.results import PhaseResult
from exportdsl.export.sending import Sender
from exportdsl.export.timing import Timing
from exportdsl.vocabulary import Phase


def tenant_plan(base: str, connector_id: int) -> Plan:
    text = connector_text(base, token=False).replace("id: 7,", f"id: {connector_id},")
    return compile_connector(parse_connector(text, f"tenant-{connector_id}.yaml"))


# -- item 8: no state leaks between connectors ---------------------------------------------------


def test_a_cookie_one_connector_received_never_goes_with_another_connectors_report(
    real_backend: Backend,
) -> None:
    real_backend.on("/report", Reply(201, headers={"Set-Cookie": "session=tenant-a; Path=/"}))
    with make_client() as client:  # one worker: one client for every connector it serves
        tenant_a = Exporter(tenant_plan(real_backend.base_url, 7), client, env=ENV)
        tenant_b = Exporter(tenant_plan(real_backend.base_url, 8), client, env=ENV)
        assert tenant_a.run(sample_chat()).ok
        assert tenant_b.run(sample_chat()).ok
        assert tenant_a.run(sample_chat()).ok  # nor with the next export of the same connector
        kept = len(client.cookies)
    _, second, third = real_backend.requests_to("/report")
    assert "cookie" not in second.headers
    assert "cookie" not in third.headers
    assert kept == 0  # nothing kept at all


# -- item 5: a request no HTTP/1.1 connection can carry is a configuration error -------------------


@pytest.mark.parametrize("value", [b" acme", b"acme\t", b"acme\r\nX-Admin: 1", b"ac\x00me"])
def test_an_illegal_header_value_names_its_field_and_is_never_sent(
    real_backend: Backend, value: bytes
) -> None:
    real_backend.on("/report", Reply(201))
    phase = PhaseResult(Phase.EXPORT)
    with make_client() as client:
        sender = Sender(client, RetryPolicy(attempts=3), Timing(sleep=lambda _: None), 5.0)
        request = httpx.Request(
            "POST", f"{real_backend.base_url}/report", headers=[(b"X-Tenant", value)]
        )
        with pytest.raises(RenderError) as raised:
            sender.send(phase, lambda: request)
    assert raised.value.message.startswith("export.headers.X-Tenant: the value ")
    assert "acme" not in str(raised.value)  # a header value may be a secret
    assert phase.attempts == 0
    assert real_backend.received == []


def test_a_local_protocol_error_is_a_configuration_error_the_outbox_does_not_retry(
    real_backend: Backend,
) -> None:
    # a Content-Length the body does not have: h11 refuses the request while sending it
    text = connector_text(real_backend.base_url, token=False).replace(
        "    Content-Type: application/json\n",
        "    Content-Type: application/json\n    Content-Length: 5\n",
    )
    plan = compile_connector(parse_connector(text, "test.yaml"))
    with make_client() as client:
        result = Exporter(plan, client, env=ENV, timing=Timing(sleep=lambda _: None)).run(
            sample_chat()
        )
    assert isinstance(result.error, RenderError)
    assert "HTTP/1.1 cannot carry it" in result.error.message
    phase = result.phase(Phase.EXPORT)
    assert phase is not None and phase.attempts == 1  # never retried
    assert outcome(result).permanent  # nor by the outbox


def test_an_invalid_url_error_never_quotes_a_part_of_a_secret(real_backend: Backend) -> None:
    text = connector_text(real_backend.base_url, token=False, export_url="http://$env.CRM/report")
    plan = compile_connector(parse_connector(text, "test.yaml"))
    env = ENV | {"CRM": "crm.example:s3cretport"}  # httpx: "Invalid port: 's3cretport'"
    with make_client() as client:
        result = Exporter(plan, client, env=env).run(sample_chat())
    assert isinstance(result.error, RenderError)
    assert "Invalid port" in str(result.error)
    assert "s3cret" not in str(result.error)
    assert outcome(result).permanent
