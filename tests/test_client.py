"""The client exports go through (`exportdsl.export.client`): what it keeps between requests, which
destinations it refuses, and how a request that cannot be sent is classified."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from backend import (
    ACCESS_TOKEN,
    ENV,
    Backend,
    Reply,
    connector_text,
    loader_diagnostics,
    sample_chat,
)

from exportdsl.compiler.analysis import compile_connector
from exportdsl.compiler.plan import Plan
from exportdsl.connector.model import AllowedHosts, RetryPolicy
from exportdsl.connector.reader import parse_connector
from exportdsl.delivery.deliver import outcome
from exportdsl.errors import ConnectorError, RenderError, TokenAnswerError
from exportdsl.export.client import NetworkTransport, checked_addresses, make_client, refusal
from exportdsl.export.dryrun import dry_run
from exportdsl.export.exporter import Exporter
from exportdsl.export.results import ExportResult, PhaseResult
from exportdsl.export.sending import DestinationRefused, Sender
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


# White space at either end never gets here: the plan trims every header value it renders
# (tests/test_exporter.py::test_a_header_value_with_white_space_at_either_end_is_sent_trimmed).
@pytest.mark.parametrize("value", [b"acme\r\nX-Admin: 1", b"ac\x00me", b"ac\x7fme", b"acme\n"])
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
    # a Content-Length the body does not have: h11 refuses the request while sending it (a
    # connector may not write one, XD215: the client's default headers bring it in here)
    text = connector_text(real_backend.base_url, token=False)
    plan = compile_connector(parse_connector(text, "test.yaml"))
    with make_client() as client:
        client.headers["Content-Length"] = "5"
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
    env = ENV | {"CRM": "10.20.30.456:8443"}  # httpx: "Invalid IPv4 address: '10.20.30.456'"
    with make_client() as client:
        result = Exporter(plan, client, env=env).run(sample_chat())
    assert isinstance(result.error, RenderError)
    assert "Invalid IPv4 address" in str(result.error)
    assert "10.20.30" not in str(result.error)
    assert outcome(result).permanent


def test_a_host_name_the_resolver_cannot_take_is_a_render_error_not_a_crash() -> None:
    """A label of 64 characters passes httpx; the socket's IDNA encoding raised UnicodeError,
    which escaped Exporter.run (exit 3)."""
    text = connector_text("http://backend.test", token=False, export_url="http://$env.CRM/report")
    plan = compile_connector(parse_connector(text, "test.yaml"))
    env = ENV | {"CRM": "a" * 64 + ".example"}
    with make_client() as client:
        result = Exporter(plan, client, env=env).run(sample_chat())
    assert isinstance(result.error, RenderError)
    assert "longer than 63 characters" in result.error.message
    assert "a" * 20 not in str(result.error)


# -- item 3: a token answer cannot choose where the report goes --------------------------------


def instance_plan(base: str, allow_hosts: str = "") -> Plan:
    """A Salesforce-style connector: the token answer's instance_url is the report's origin."""
    text = connector_text(
        base, export_url="$tokenResponse.body.JSON.instance_url/report", extra=allow_hosts
    )
    return compile_connector(parse_connector(text, "instance.yaml"))


def instance_token(instance_url: str) -> Reply:
    return Reply(json={"access_token": ACCESS_TOKEN, "instance_url": instance_url})


def run_export(plan: Plan, client: httpx.Client) -> ExportResult:
    return Exporter(plan, client, env=ENV, timing=Timing(sleep=lambda _: None)).run(sample_chat())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_token_answer_cannot_send_the_report_and_its_token_to_a_loopback_address(
    real_backend: Backend, host: str
) -> None:
    port = real_backend.base_url.rsplit(":", 1)[1]
    real_backend.on("/token", instance_token(f"http://{host}:{port}"))
    real_backend.on("/report", Reply(201))
    with make_client() as client:
        result = run_export(instance_plan(real_backend.base_url), client)
    assert isinstance(result.error, TokenAnswerError)
    assert "resolves to a loopback address" in result.error.message
    assert host not in str(result.error)  # the token answer's values are secrets
    assert "allow_hosts" in (result.error.hint or "")
    assert real_backend.requests_to("/report") == []  # nor its Bearer token
    assert outcome(result).permanent  # the outbox does not try again


def test_allow_hosts_admits_an_address_range(real_backend: Backend) -> None:
    real_backend.on("/token", instance_token(real_backend.base_url))
    real_backend.on("/report", Reply(201))
    with make_client() as client:
        result = run_export(
            instance_plan(real_backend.base_url, "allow_hosts: [127.0.0.0/8]"), client
        )
    assert result.ok, result.error
    assert len(real_backend.requests_to("/report")) == 1


def test_one_connectors_allowance_never_serves_another_connector(real_backend: Backend) -> None:
    port = int(real_backend.base_url.rsplit(":", 1)[1])
    real_backend.on("/token", instance_token(f"http://report.test:{port}"))
    real_backend.on("/report", Reply(201))
    allowed = instance_plan(real_backend.base_url, "allow_hosts: [127.0.0.1]")
    transport = NetworkTransport(verify=False, resolver=lambda host, port: ["127.0.0.1"])
    with make_client(transport) as client:  # one worker's client: the allowed connection stays open
        assert run_export(allowed, client).ok
        refused = run_export(instance_plan(real_backend.base_url), client)
    assert isinstance(refused.error, TokenAnswerError)
    assert len(real_backend.requests_to("/report")) == 1


def test_the_dry_run_refuses_an_address_written_as_the_host_as_the_export_does() -> None:
    plan = instance_plan("http://backend.test")
    answer = b'{"access_token": "t0ken-abc", "instance_url": "http://169.254.169.254"}'
    with pytest.raises(TokenAnswerError, match="resolves to a link-local address"):
        dry_run(plan, sample_chat(), env=ENV, token_answer=answer)


def test_the_connection_goes_to_the_address_that_was_checked(real_backend: Backend) -> None:
    """Resolved once, checked, then connected to: the name report.test exists only in this
    resolver, so the report arrives only if the checked address is the one connected to."""
    port = int(real_backend.base_url.rsplit(":", 1)[1])
    lookups: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append((host, port))
        return ["127.0.0.1"]

    real_backend.on("/token", instance_token(f"http://report.test:{port}"))
    real_backend.on("/report", Reply(201))
    plan = instance_plan(real_backend.base_url, "allow_hosts: [report.test]")
    with make_client(NetworkTransport(verify=False, resolver=resolver)) as client:
        assert run_export(plan, client).ok
        assert run_export(plan, client).ok  # the cached token, the kept-alive connection
    assert lookups == [("report.test", port)]
    (first, second) = real_backend.requests_to("/report")
    assert first.headers["host"] == second.headers["host"] == f"report.test:{port}"


def test_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.7"]

    with pytest.raises(DestinationRefused, match="a private address"):
        checked_addresses("crm.example", 443, AllowedHosts(), resolver)
    assert checked_addresses("crm.example", 443, AllowedHosts(frozenset({"crm.example"})), resolver)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("::ffff:169.254.169.254", "link-local"),  # IPv4-mapped
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 of 169.254.169.254
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("100.64.0.1", "not public"),  # shared address space (carrier-grade NAT)
        ("192.0.2.1", "not public"),  # documentation
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str, kind: str) -> None:
    why = refusal(ipaddress.ip_address(address), AllowedHosts())
    assert why is not None and kind in why


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_taken(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), AllowedHosts()) is None


def test_allow_hosts_ranges_take_ipv4_mapped_forms_too() -> None:
    allowed = AllowedHosts(networks=(ipaddress.ip_network("169.254.0.0/16"),))
    assert refusal(ipaddress.ip_address("::ffff:169.254.169.254"), allowed) is None
    assert refusal(ipaddress.ip_address("10.0.0.1"), allowed) is not None


def test_the_connectors_own_hosts_are_not_checked(real_backend: Backend) -> None:
    """The author wrote the host (127.0.0.1 here, from $pdata in many connectors): it is theirs."""
    real_backend.on("/report", Reply(201))
    with make_client() as client:
        assert run_export(tenant_plan(real_backend.base_url, 7), client).ok


EXAMPLE_HINT = "a host name or an address range: allow_hosts: [crm.internal.example, 10.20.0.0/16]"


def load_errors(allow_hosts: str) -> list[tuple[int, int, str, str | None]]:
    text = f"connector: {{id: 1, name: x}}\nclient: {{id: 2}}\nallow_hosts: {allow_hosts}\n"
    return loader_diagnostics(text)


def test_allow_hosts_entries_are_checked_with_their_positions() -> None:
    errors = load_errors("[crm.example, 10.0.0.1/8, 'https://crm.example:8443/', '*.example']")
    assert errors == [
        (
            3,
            28,
            "allow_hosts: '10.0.0.1/8' has bits set after the prefix length",
            "did you mean '10.0.0.0/8'?",
        ),
        (
            3,
            40,
            "allow_hosts: 'https://crm.example:8443/' is neither a host name nor an address range",
            "only the host: 'crm.example', without scheme, port or path",
        ),
        (
            3,
            69,
            "allow_hosts: '*.example' is neither a host name nor an address range",
            "wildcards are not taken: list each host name, or the address range it lives in",
        ),
    ]
    assert load_errors("crm.example")[0][2].startswith("allow_hosts must be a list")
    assert load_errors("['', 127.0.0.1:18080, '[::1]:8443']") == [
        (3, 15, "allow_hosts: an entry is empty", EXAMPLE_HINT),
        (
            3,
            19,
            "allow_hosts: '127.0.0.1:18080' is neither a host name nor an address range",
            "only the address: '127.0.0.1', without a port",
        ),
        (
            3,
            36,
            "allow_hosts: '[::1]:8443' is neither a host name nor an address range",
            "only the address: '::1', without a port",
        ),
    ]


def test_allow_hosts_is_suggested_for_a_misspelt_key() -> None:
    text = "connector: {id: 1, name: x}\nclient: {id: 2}\nallow_host: [crm.example]\n"
    with pytest.raises(ConnectorError) as raised:
        parse_connector(text, "hosts.yaml")
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.hint == "did you mean 'allow_hosts'?"


def test_behind_a_proxy_the_destination_is_checked_before_the_proxy(
    real_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy (nothing listens on port 9) would resolve the name itself: the request never
    gets that far."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the token endpoint, written by the author
    port = real_backend.base_url.rsplit(":", 1)[1]
    real_backend.on("/token", instance_token(f"http://localhost:{port}"))
    with make_client() as client:
        result = run_export(instance_plan(real_backend.base_url), client)
    assert isinstance(result.error, TokenAnswerError), result.error
    assert "resolves to a loopback address" in result.error.message
