"""The client exports go through (`exportdsl.export.client`): what it keeps between requests, which
destinations it refuses, and how a request that cannot be sent is classified."""

from __future__ import annotations

from backend import ENV, Backend, Reply, connector_text, sample_chat

from exportdsl.compiler.analysis import compile_connector
from exportdsl.compiler.plan import Plan
from exportdsl.connector.reader import parse_connector
from exportdsl.export.client import make_client
from exportdsl.export.exporter import Exporter


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
