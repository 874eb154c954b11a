"""Rate limits (DRF throttles) with their rates in ``settings.THROTTLE_RATES``.

Every throttle here derives from :class:`ScopedRateThrottle`; a refused request becomes a
``429`` in the one error shape, with ``Retry-After``, in ``apps.core.errors`` (the one place a
throttled request passes). Counts live in the ``default`` cache, which every process shares
(Redis on the scale-out profile, files under ``DATA_DIR`` on the embedded default).
"""

import hashlib
import logging
import time

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import SimpleRateThrottle

from apps.core.clients import canonical_username, client_address

logger = logging.getLogger(__name__)

OFF = ("", "off", "none")
# After a cache error, this process lets requests through without asking the cache again for
# this long (one failed round trip per window, not one per request).
CACHE_RETRY_SECONDS = 5.0
_cache_down_until = 0.0


class ScopedRateThrottle(SimpleRateThrottle):
    """A throttle whose rate is ``settings.THROTTLE_RATES[scope]`` (read per request, so tests
    and deployments set it; ``off`` disables it). Subclasses say what a request is counted by."""

    scope: str
    writes_only = False

    def __init__(self):
        # The rate is read in allow_request; SimpleRateThrottle's reads DRF's settings at init.
        pass

    def get_rate(self) -> str | None:
        rate = settings.THROTTLE_RATES.get(self.scope)
        return None if rate is None or rate.strip().lower() in OFF else rate

    def ident(self, request, view) -> str | None:
        """What to count this request by; None: not counted."""
        raise NotImplementedError

    def get_ident(self, request) -> str:
        """The client's address, believed from ``X-Forwarded-For`` only behind
        ``TRUSTED_PROXIES`` (``apps.core.clients``), never by DRF's ``NUM_PROXIES`` count."""
        return client_address(request)

    def get_cache_key(self, request, view) -> str | None:
        ident = self.ident(request, view)
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        if self.writes_only and request.method in SAFE_METHODS:
            return True
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        # Outside the cache guard: a bad body (400, 413) is the request's error, not the cache's.
        self.key = self.get_cache_key(request, view)
        if self.key is None or time.monotonic() < _cache_down_until:
            return True
        try:
            if hasattr(self.cache, "hit_log"):  # Redis: one atomic round trip
                allowed = self._allow_by_hit_log()
            else:
                allowed = self._allow_by_history()
        except Exception:  # noqa: BLE001 - the cache is down: limits wait, requests do not
            _cache_unavailable(self.scope)
            return True
        if not allowed:
            # Read by the error handler, which names the scope in the 429.
            request.throttled_scope = self.scope
        return allowed

    def _allow_by_history(self) -> bool:
        """DRF's sliding window: the cached list of hit times, read then written."""
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.throttle_failure()
        return self.throttle_success()

    def _allow_by_hit_log(self) -> bool:
        """The same window, kept by the cache itself (``apps.core.cache.RedisCache.hit_log``).
        ``history`` is shaped for DRF's ``wait()``: as many entries as hits, the oldest last."""
        self.now = self.timer()
        allowed, count, oldest = self.cache.hit_log(
            self.key, now=self.now, window=self.duration, limit=self.num_requests
        )
        self.history = [oldest] * count
        return allowed


def _cache_unavailable(scope: str) -> None:
    global _cache_down_until
    _cache_down_until = time.monotonic() + CACHE_RETRY_SECONDS
    logger.warning(
        "throttle %s: cache unavailable; requests pass unthrottled for %s s",
        scope,
        CACHE_RETRY_SECONDS,
        exc_info=True,
    )


class PerIpThrottle(ScopedRateThrottle):
    """Counted by client address (``apps.core.clients.client_address``)."""

    def ident(self, request, view) -> str | None:
        return self.get_ident(request)


class PerUserThrottle(ScopedRateThrottle):
    """Counted by the signed-in user; write methods only (reads are not limited)."""

    writes_only = True

    def ident(self, request, view) -> str | None:
        return str(request.user.pk) if request.user and request.user.is_authenticated else None


def username_in(request) -> str | None:
    """The ``username`` a login or registration names: from a DRF request's JSON body, or a
    form's (the admin's login page)."""
    data = getattr(request, "data", None)
    if data is None:
        data = request.POST
    username = data.get("username") if hasattr(data, "get") else None
    return username if isinstance(username, str) else None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()  # a safe cache key


class PerUsernameThrottle(ScopedRateThrottle):
    """Counted by the ``username`` in the body as authentication compares it
    (``canonical_username``: stripped, NFKC, case-folded), so that spellings of one name share
    a count."""

    def ident(self, request, view) -> str | None:
        username = username_in(request)
        key = canonical_username(username) if username else ""
        return _digest(key) if key else None


class PerUsernameAndIpThrottle(PerUsernameThrottle):
    """Counted by the username (as ``PerUsernameThrottle``) together with the client address:
    guessing one account's password from one address is slowed down, while a stranger
    elsewhere who fails on purpose cannot lock the account's owner out."""

    def ident(self, request, view) -> str | None:
        username = super().ident(request, view)
        return None if username is None else _digest(username, self.get_ident(request))


class LoginIpThrottle(PerIpThrottle):
    scope = "login_ip"


class LoginUsernameThrottle(PerUsernameAndIpThrottle):
    """Failed or not, logins of one username from one address."""

    scope = "login_username"


LOGIN_THROTTLES = (LoginIpThrottle, LoginUsernameThrottle)


def login_refused(request) -> tuple[str, float] | None:
    """``(scope, seconds to wait)`` when a login attempt is over a limit, else None: the API's
    login view and the admin's login page count attempts through the same throttles."""
    refusals = []
    for throttle_class in LOGIN_THROTTLES:  # each counts the attempt, as DRF's views do
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            refusals.append((throttle.wait() or 1.0, throttle.scope))
    if not refusals:
        return None
    wait, scope = max(refusals)
    return scope, wait


class RegisterIpThrottle(PerIpThrottle):
    scope = "register_ip"


class RegisterUsernameThrottle(PerUsernameThrottle):
    scope = "register_username"


class CommandThrottle(PerUserThrottle):
    """Booking commands (book, cancel, reactivate, change seats, leave the waitlist, hold,
    confirm, release) per user: what reaches an event's queue."""

    scope = "commands"


class HoldThrottle(PerUserThrottle):
    """New holds per user, besides the ``commands`` count: holding seats is cheap to ask for
    and keeps them from everyone else until the hold lapses."""

    scope = "holds"


class WebhookChangeThrottle(PerUserThrottle):
    """Changes to webhook subscriptions (create, update, delete, rotate, redeliver) per user."""

    scope = "webhook_changes"
