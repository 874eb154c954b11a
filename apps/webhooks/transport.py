"""The HTTP side of a delivery: the address guard and one pinned, time-limited POST.

The host name is resolved once, every address is checked, and the request connects to the
checked address (the URL's host is kept in ``Host`` and, for https, in SNI and certificate
verification), so a DNS answer that changes between the check and the connect (DNS rebinding)
cannot point a delivery at an internal service.
"""

import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from functools import cache

import certifi
import httpx
from django.conf import settings

ALLOWED_SCHEMES = ("http", "https")
RESPONSE_BODY_LIMIT = 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestination(Exception):
    """The URL points at an address webhooks may not reach (private, loopback, …)."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: str
    duration_ms: int


def is_public_address(address: IPAddress) -> bool:
    """False for private, loopback, link-local, multicast, reserved, unspecified (and other
    non-global) addresses, including IPv4 addresses wrapped in IPv6."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host name resolves to (raises ``socket.gaierror``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def checked_address(url: httpx.URL) -> IPAddress:
    """The address to connect to; ``UnsafeDestination`` if any address of the host is refused
    (one bad answer is enough to refuse: the resolver could hand it out next time)."""
    if url.scheme not in ALLOWED_SCHEMES or not url.host:
        raise UnsafeDestination(f"only http(s) URLs are delivered, not {url.scheme!r}")
    addresses = resolve(url.host, url.port or (443 if url.scheme == "https" else 80))
    if not addresses:
        raise socket.gaierror(f"{url.host} has no address")
    if not settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        refused = [str(a) for a in addresses if not is_public_address(a)]
        if refused:
            raise UnsafeDestination(
                f"{url.host} resolves to a non-public address ({', '.join(refused)}); "
                "set WEBHOOK_ALLOW_PRIVATE_URLS=1 to allow private targets"
            )
    return addresses[0]


@cache
def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


def post(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to the checked address of ``url``; redirects are not followed.

    Raises ``UnsafeDestination``, ``socket.gaierror`` or an ``httpx.TransportError``
    (timeouts included)."""
    target = httpx.URL(url)
    address = checked_address(target)
    pinned = target.copy_with(host=str(address))
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = httpx.Timeout(
        settings.WEBHOOK_READ_TIMEOUT_SECONDS, connect=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS
    )
    request_headers = {
        **headers,
        "Host": target.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": "reservations-webhooks/1.0",
    }
    started = time.monotonic()
    # A client per delivery: no connection is shared between subscribers (a pooled connection
    # to one address could otherwise carry another host's request), no proxy from the env.
    with httpx.Client(
        timeout=timeout, verify=_ssl_context(), trust_env=False, follow_redirects=False
    ) as client:
        request = client.build_request(
            "POST", pinned, content=body, headers=request_headers, extensions=extensions
        )
        response = client.send(request, stream=True)
        try:
            received = b""
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) >= RESPONSE_BODY_LIMIT:
                    break
        finally:
            response.close()
    duration_ms = int((time.monotonic() - started) * 1000)
    text = received[:RESPONSE_BODY_LIMIT].decode("utf-8", errors="replace")
    return Answer(status_code=response.status_code, body=text, duration_ms=duration_ms)
