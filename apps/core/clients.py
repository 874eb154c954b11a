"""Who a request comes from: its client address and the username it names.

``client_address`` is the one answer to "which address sent this" for the per-address rate
limits, the log lines and the ``/metrics`` allow-list. ``X-Forwarded-For`` is believed only
when the connection comes from a network in ``settings.TRUSTED_PROXIES`` (empty by default:
no proxy, the TCP peer is the client), and then only as far back as the hops that are
themselves trusted proxies: the first untrusted address from the right is the client. A count
of proxies alone is never trusted: a client that reaches the service directly would choose
its own address by sending the header.

``canonical_username`` is the one spelling of a username that logins, registrations and the
login throttle compare: outer whitespace stripped, NFKC (full-width "ａｌｉｃｅ" is "alice"),
case-folded.
"""

import ipaddress
import unicodedata
from functools import lru_cache

from django.conf import settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def canonical_username(raw: str) -> str:
    """The username as authentication compares it: NFKC, outer whitespace stripped (before
    and after, as NFKC can turn a character into a space), case-folded."""
    return unicodedata.normalize("NFKC", raw.strip()).strip().casefold()


def display_username(raw: str) -> str:
    """The username as stored and shown: NFKC and stripped, its case kept."""
    return unicodedata.normalize("NFKC", raw.strip()).strip()


@lru_cache(maxsize=8)
def parsed_networks(configured: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """Networks as configured (``TRUSTED_PROXIES``, ``METRICS_ALLOWED_NETWORKS``), parsed once;
    settings validate them at start-up."""
    return tuple(ipaddress.ip_network(network, strict=False) for network in configured)


def _parsed(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.9:5000"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _within(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def client_address(request) -> str:
    """The client's address: the TCP peer (``REMOTE_ADDR``), unless the peer is a trusted
    proxy; then the right-most address of ``X-Forwarded-For`` that is not a trusted proxy
    itself. A hop that is not an address stops the walk at the last trusted hop."""
    peer = request.META.get("REMOTE_ADDR", "")
    networks = parsed_networks(tuple(settings.TRUSTED_PROXIES))
    address = _parsed(peer)
    if not networks or address is None or not _within(address, networks):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([h for h in forwarded.split(",") if h.strip()]):
        parsed = _parsed(hop)
        if parsed is None:
            break
        address = parsed
        if not _within(address, networks):
            break
    return str(address)


def address_in(request, networks: list[str]) -> bool:
    """Whether the request's client address is in one of ``networks`` (CIDRs or addresses)."""
    address = _parsed(client_address(request))
    return address is not None and _within(address, parsed_networks(tuple(networks)))
