"""How an accepted command is answered: 202 at once, or, with ``Prefer: wait=N`` (RFC 7240),
like a synchronous API once the worker has decided it."""

import contextlib
import re
import time

from django.conf import settings
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from rest_framework import status
from rest_framework.response import Response

from apps.bookings import selectors
from apps.bookings.models import BookingRequest, CommandKind, RequestStatus
from apps.bookings.serializers import BookingRequestSerializer, request_body
from apps.core.errors import error_body
from apps.core.exceptions import DomainError
from workers import wakeups

_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)
IDEMPOTENCY_KEY_MAX_LENGTH = 255
RETRY_AFTER_MAX_SECONDS = 30
ALREADY_DECIDED = "already_decided"


def requested_wait(request) -> float:
    """Seconds the client asked to wait (``Prefer: wait=N``), capped; 0 when absent."""
    match = _WAIT.search(request.headers.get("Prefer", ""))
    if not match:
        return 0.0
    return min(float(match.group(1)), settings.BOOKING_WAIT_MAX_SECONDS)


def idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise DomainError(
            f"Idempotency-Key must be 1-{IDEMPOTENCY_KEY_MAX_LENGTH} characters.",
            code="invalid_idempotency_key",
        )
    return key


def wait_for_decision(command: BookingRequest, seconds: float) -> BookingRequest:
    """Sleep until the worker announces the command decided (``workers.wakeups``) or the
    deadline passes, then read it. Its row is read once before sleeping (the decision may
    have come first) and re-read after ``BOOKING_WAIT_RECHECK_SECONDS`` without news."""
    deadline = time.monotonic() + seconds
    status = BookingRequest.objects.filter(pk=command.pk).values_list("status", flat=True)
    with wakeups.waiters().watching(command.pk) as decided:
        while status.first() == RequestStatus.PENDING:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            decided.wait(min(left, settings.BOOKING_WAIT_RECHECK_SECONDS))
    return selectors.request_with_position(command.pk)


def command_response(request, command: BookingRequest, *, created: bool = True) -> Response:
    wait = requested_wait(request)
    with wakeups.waiters().slot() if wait else contextlib.nullcontext(False) as waiting:
        # Beyond the process's cap of waiters, answered at once (no Preference-Applied).
        wait = wait if waiting else 0.0
        if wait:
            current = wait_for_decision(command, wait)
    if wait:
        body = BookingRequestSerializer(current, context={"request": request}).data
    elif created:
        # Just recorded, so pending and without a booking: its place in line (counted when the
        # event was read, else now) is all there is to add.
        current = command
        if not hasattr(current, "ahead_in_line"):
            current.ahead_in_line = selectors.ahead_in_line(command)
        body = request_body(current)
    else:
        current = selectors.request_with_position(command.pk)
        body = BookingRequestSerializer(current, context={"request": request}).data
    location = reverse("booking-request-detail", kwargs={"uid": current.uid})
    headers = {"Location": location}
    if wait:
        headers["Preference-Applied"] = f"wait={wait:g}"
    if not created:
        headers["Idempotent-Replayed"] = "true"
    response = _answer(current, body, headers, decided=bool(wait))
    # The same request answers 202 or its outcome depending on Prefer (RFC 9110, Vary).
    patch_vary_headers(response, ["Prefer"])
    return response


def _answer(current: BookingRequest, body: dict, headers: dict, *, decided: bool) -> Response:
    if not decided or current.status in (RequestStatus.PENDING, RequestStatus.WAITLISTED):
        headers.update(poll_headers(body))
        return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)
    if current.status == RequestStatus.REJECTED:
        return Response(
            error_body(current.reason, current.message, {"request": body}),
            status=status.HTTP_409_CONFLICT,
            headers=headers,
        )
    if current.status == RequestStatus.WITHDRAWN:
        return Response(body, status=status.HTTP_200_OK, headers=headers)
    if current.kind in (CommandKind.BOOK, CommandKind.REACTIVATE) and current.booking_id:
        headers["Location"] = reverse("booking-detail", kwargs={"pk": current.booking_id})
        return Response(body, status=status.HTTP_201_CREATED, headers=headers)
    if current.kind == CommandKind.HOLD and current.booking_id:
        headers["Location"] = reverse("hold-detail", kwargs={"pk": current.booking_id})
        return Response(body, status=status.HTTP_201_CREATED, headers=headers)
    return Response(body, status=status.HTTP_200_OK, headers=headers)


def poll_headers(body: dict) -> dict:
    """``Retry-After`` for a pending request (its 202, its GET): when to look again, from its
    place in line and the rate the workers decide at (``workers.wakeups``), 1..30 s."""
    if body["status"] != RequestStatus.PENDING:
        return {}
    seconds = wakeups.seconds_until_decided(body["position"] or 1, most=RETRY_AFTER_MAX_SECONDS)
    return {"Retry-After": str(seconds)}


def withdrawal_response(request, command: BookingRequest, *, withdrawing: bool) -> Response:
    """DELETE of a request: 202 while the worker is to withdraw it (or its outcome, with
    ``Prefer: wait``); 409 ``already_decided`` when it was decided first."""
    if withdrawing:
        return command_response(request, command)
    current = selectors.request_with_position(command.pk)
    body = BookingRequestSerializer(current, context={"request": request}).data
    message = f"Decided ({current.status}) before it could be withdrawn: the decision stands."
    if current.status == RequestStatus.WAITLISTED:
        message += " To leave the waitlist: POST /bookingapi/requests/{id}/leave-waitlist/."
    return Response(
        error_body(ALREADY_DECIDED, message, {"request": body}), status=status.HTTP_409_CONFLICT
    )
