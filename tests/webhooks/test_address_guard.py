import ipaddress
import socket

import httpx
import pytest

from apps.webhooks import transport


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not transport.is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert transport.is_public_address(ipaddress.ip_address(address))


def test_a_host_with_any_private_answer_is_refused(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    answers = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.5")]
    monkeypatch.setattr(transport, "resolve", lambda host, port: answers)
    with pytest.raises(transport.UnsafeDestination) as refused:
        transport.checked_address(httpx.URL("https://hooks.example.com/x"))

    assert str(refused.value) == "destination refused"  # what the owner sees
    assert "10.0.0.5" in refused.value.detail  # what the server log gets


@pytest.mark.parametrize(
    "address",
    ["2002:7f00:1::1", "2002:a00:1::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::1"],
    ids=["6to4-loopback", "6to4-private", "teredo", "teredo-prefix"],
)
def test_6to4_and_teredo_addresses_are_refused_like_private_ones(address):
    assert not transport.is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.example.com/x", True),
        ("http://hooks.example.com/x", True),
        ("https://hooks.example.com:443/x", True),
        ("http://hooks.example.com:80/x", True),
        ("https://hooks.example.com:8443/x", False),
        ("http://hooks.example.com:6379/x", False),
    ],
)
def test_ports_other_than_80_and_443_need_the_setting(settings, url, allowed):
    settings.WEBHOOK_ALLOWED_PORTS = ["80", "443"]
    assert transport.port_allowed(httpx.URL(url)) is allowed

    settings.WEBHOOK_ALLOWED_PORTS = ["80", "443", "8443", "6379"]
    assert transport.port_allowed(httpx.URL(url))


def test_a_subscription_on_another_port_is_refused_by_default(settings):
    from apps.core.exceptions import DomainError
    from apps.webhooks.subscriptions import validate_url

    settings.WEBHOOK_ALLOWED_PORTS = ["80", "443"]
    with pytest.raises(DomainError) as refused:
        validate_url("https://hooks.example.com:8443/x")
    assert refused.value.code == "unsafe_url"
    assert validate_url("https://hooks.example.com/x")


def test_the_request_connects_to_the_checked_address(settings, monkeypatch):
    """DNS rebinding: the address checked is the address connected to, whatever DNS says
    afterwards (the name is resolved once)."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    calls = []

    def resolve_once(host, port):
        calls.append(host)
        return [ipaddress.ip_address("93.184.216.34")]

    monkeypatch.setattr(transport, "resolve", resolve_once)
    seen = {}

    def fake_send(self, request, **kwargs):
        seen["url"], seen["host"] = str(request.url), request.headers["Host"]
        seen["sni"] = request.extensions.get("sni_hostname")
        return httpx.Response(204, request=request, stream=httpx.ByteStream(b""))

    monkeypatch.setattr(httpx.Client, "send", fake_send)
    answer = transport.post(url="https://hooks.example.com:8443/in", body=b"{}", headers={})
    assert answer.status_code == 204
    assert calls == ["hooks.example.com"]
    assert seen == {
        "url": "https://93.184.216.34:8443/in",
        "host": "hooks.example.com:8443",
        "sni": "hooks.example.com",
    }


def test_an_unresolvable_host_is_refused_in_the_words_of_a_private_one(settings, monkeypatch):
    def fail(host, port):
        raise socket.gaierror("Name or service not known")

    monkeypatch.setattr(transport, "resolve", fail)
    with pytest.raises(transport.UnsafeDestination) as refused:
        transport.checked_address(httpx.URL("https://nowhere.invalid/"))

    assert str(refused.value) == "destination refused"
    assert "does not resolve" in refused.value.detail
