"""The HTTP side of a delivery: the address guard and one pinned, time-limited POST.

The host name is resolved once, every address is checked, and the request connects to the
checked address (the URL's host is kept in ``Host`` and, for https, in SNI and certificate
verification), so a DNS answer that changes between the check and the connect (DNS rebinding)
cannot point a delivery at an internal service.
"""

import contextlib
import ipaddress
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from functools import cache

import certifi
import httpx
from django.conf import settings

ALLOWED_SCHEMES = ("http", "https")
RESPONSE_BODY_LIMIT = 1024
DEFAULT_PORTS = {"http": 80, "https": 443}
# IPv6 prefixes that carry an IPv4 address a router unwraps (6to4, Teredo): refused like private
# ones, since the wrapped address may be anything.
TUNNELLED = (ipaddress.ip_network("2002::/16"), ipaddress.ip_network("2001::/32"))
# What subscription owners see when the guard refuses; the addresses go to the server log only.
REFUSED = "destination refused"

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestination(Exception):
    """The URL points at an address or port webhooks may not reach (private, loopback, …).
    ``str()`` is what the subscription's owner sees; ``detail`` is for the server log."""

    def __init__(self, detail: str):
        super().__init__(REFUSED)
        self.detail = detail


class AttemptDeadlineExceeded(httpx.TimeoutException):
    """The attempt (connect, send, response) ran past ``WEBHOOK_ATTEMPT_DEADLINE_SECONDS``."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: str
    duration_ms: int


def is_public_address(address: IPAddress) -> bool:
    """False for private, loopback, link-local, site-local, multicast, reserved, unspecified
    (and other non-global) addresses, including IPv4 addresses wrapped in IPv6."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.is_site_local or any(address in network for network in TUNNELLED):
            # fec0::/10, deprecated site-local (RFC 3879): Python counts it as global.
            return False
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
    if not port_allowed(url):
        raise UnsafeDestination(f"port {url.port} is not in WEBHOOK_ALLOWED_PORTS")
    # A name that does not resolve is refused in the same words as a private one: the owner
    # must not learn which names resolve inside the service's network.
    try:
        addresses = resolve(url.host, url.port or DEFAULT_PORTS[url.scheme])
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeDestination(f"{url.host} does not resolve: {exc}") from exc
    if not addresses:
        raise UnsafeDestination(f"{url.host} has no address")
    if not settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        refused = [str(a) for a in addresses if not is_public_address(a)]
        if refused:
            raise UnsafeDestination(
                f"{url.host} resolves to a non-public address ({', '.join(refused)}); "
                "set WEBHOOK_ALLOW_PRIVATE_URLS=1 to allow private targets"
            )
    return addresses[0]


def port_allowed(url: httpx.URL) -> bool:
    """80 and 443 (the scheme's default included); others only if ``WEBHOOK_ALLOWED_PORTS``
    lists them (``*``: any)."""
    port = url.port or DEFAULT_PORTS.get(url.scheme)
    allowed = settings.WEBHOOK_ALLOWED_PORTS
    return "*" in allowed or str(port) in allowed


class _Deadline:
    """Cuts an attempt off at its deadline: httpx's timeouts are per read, so a receiver that
    drips a byte at a time would hold the sender for ever. The sockets the attempt opens are
    recorded (httpcore's trace hook) and shut down when the timer fires, which ends any
    blocking read or write at once."""

    def __init__(self, seconds: float):
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event_name: str, info: dict) -> None:
        if event_name not in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


@cache
def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


def post(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to the checked address of ``url``; redirects are not followed. The whole
    attempt (resolve, connect, send, response headers and at most ``RESPONSE_BODY_LIMIT``
    bytes of body) ends within ``WEBHOOK_ATTEMPT_DEADLINE_SECONDS``.

    Raises ``UnsafeDestination`` (a host that does not resolve included) or an
    ``httpx.TransportError`` (timeouts, ``AttemptDeadlineExceeded`` included)."""
    started = time.monotonic()
    limit = settings.WEBHOOK_ATTEMPT_DEADLINE_SECONDS
    target = httpx.URL(url)
    try:
        address = checked_address(target)
    except UnsafeDestination as exc:
        logger.warning("webhook to %s refused: %s", target.host, exc.detail)
        raise
    remaining = limit - (time.monotonic() - started)
    if remaining <= 0:
        raise AttemptDeadlineExceeded("attempt deadline exceeded while resolving")
    pinned = target.copy_with(host=str(address))
    timeout = httpx.Timeout(
        min(settings.WEBHOOK_READ_TIMEOUT_SECONDS, remaining),
        connect=min(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS, remaining),
    )
    request_headers = {
        **headers,
        "Host": target.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "User-Agent": "reservations-webhooks/1.0",
    }
    deadline = _Deadline(remaining)
    extensions = {"trace": deadline.trace}
    if target.scheme == "https":
        extensions["sni_hostname"] = target.host
    received = b""
    try:
        # A client per delivery: no connection is shared between subscribers (a pooled
        # connection to one address could otherwise carry another host's request), no proxy
        # from the env.
        with httpx.Client(
            timeout=timeout, verify=_ssl_context(), trust_env=False, follow_redirects=False
        ) as client:
            request = client.build_request(
                "POST", pinned, content=body, headers=request_headers, extensions=extensions
            )
            response = client.send(request, stream=True)
            try:
                for chunk in response.iter_raw(RESPONSE_BODY_LIMIT):
                    received += chunk
                    if len(received) >= RESPONSE_BODY_LIMIT:
                        break
            finally:
                response.close()
    except (httpx.TransportError, OSError) as exc:
        if deadline.fired:
            raise AttemptDeadlineExceeded(f"attempt deadline of {limit:g} s exceeded") from exc
        raise
    finally:
        deadline.cancel()
    if deadline.fired:
        raise AttemptDeadlineExceeded(f"attempt deadline of {limit:g} s exceeded")
    duration_ms = int((time.monotonic() - started) * 1000)
    text = received[:RESPONSE_BODY_LIMIT].decode("utf-8", errors="replace")
    return Answer(status_code=response.status_code, body=text, duration_ms=duration_ms)
