"""The client's address (X-Forwarded-For believed from trusted proxies only) and the one
spelling of a username."""

import pytest
from django.test import RequestFactory

from apps.core.clients import canonical_username, client_address

factory = RequestFactory()


def address(peer: str, forwarded: str | None = None) -> str:
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return client_address(factory.get("/", REMOTE_ADDR=peer, **headers))


def test_with_no_trusted_proxy_the_peer_is_the_client(settings):
    settings.TRUSTED_PROXIES = []
    assert address("203.0.113.9", "198.51.100.1") == "203.0.113.9"


def test_a_peer_outside_the_trusted_networks_cannot_forward(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert address("203.0.113.9", "198.51.100.1") == "203.0.113.9"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("198.51.100.1", "198.51.100.1"),
        # What the client sent itself stays left of what the proxy appended.
        ("192.0.2.66, 198.51.100.1", "198.51.100.1"),
        # Two trusted proxies in a row: the first untrusted hop from the right.
        ("198.51.100.1, 10.1.2.3", "198.51.100.1"),
        # No header: the proxy itself.
        ("", "10.0.0.2"),
        # Garbage stops the walk at the last trusted hop.
        ("not-an-address, 10.1.2.3", "10.1.2.3"),
        ("198.51.100.1:5123", "198.51.100.1"),
        ("[2001:db8::7]:443", "2001:db8::7"),
    ],
)
def test_behind_trusted_proxies_the_first_untrusted_hop_from_the_right(settings, forwarded, client):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert address("10.0.0.2", forwarded) == client


@pytest.mark.parametrize(
    "spelling", ["alice", " Alice", "ALICE\t", "ａｌｉｃｅ", "\u3000alice\u2028"]
)
def test_spellings_of_a_username_are_one(spelling):
    assert canonical_username(spelling) == "alice"
