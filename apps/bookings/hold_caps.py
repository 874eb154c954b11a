"""The caps on one customer's holds, part of the decision rules (pure: no database).

A customer may keep at most ``seats_per_event`` seats in a hold at one event, and at most
``holds_total`` live holds with ``seats_total`` seats over all events (``hold_limit_reached``).
After their seats at an event are given back (a hold released or expired, a booking
cancelled), a new hold there waits ``cooldown`` (``hold_cooldown``): releasing and holding
again at once would keep the seats from everyone else.

The event's worker decides them like every other rule. Per event the cap is exact (the event's
commands are decided one at a time); over all events the live holds are read when the worker's
round begins, and a worker of another partition may grant the same customer a hold at that
moment: the overall caps are a soft bound, passed at most by the holds decided at once on
other partitions.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from apps.bookings.models import BookingStatus, Reason


@dataclass(frozen=True)
class HoldLimits:
    seats_per_event: int
    holds_total: int
    seats_total: int
    cooldown: timedelta


@dataclass
class CustomerHolds:
    """A customer's live holds over all events and their seats, kept current by ``decide``
    as the round grants, confirms, releases or expires holds."""

    holds: int = 0
    seats: int = 0


Caps = tuple[CustomerHolds, HoldLimits]

# The customer's seats at the event were given back: the cool-down runs from that change.
GIVEN_BACK = (BookingStatus.CANCELLED, BookingStatus.EXPIRED)


def hold_refusal(
    now: datetime,
    status: BookingStatus | None,
    changed_at: datetime | None,
    seats: int,
    caps: Caps | None,
) -> Reason | None:
    """Why a hold of ``seats`` is refused, given the customer's booking at the event (its
    status and when it last changed) and their live holds; None when the caps allow it (or
    there are none)."""
    if caps is None:
        return None
    holds, limits = caps
    if status in GIVEN_BACK and changed_at is not None and now < changed_at + limits.cooldown:
        return Reason.HOLD_COOLDOWN
    if (
        seats > limits.seats_per_event
        or holds.holds + 1 > limits.holds_total
        or holds.seats + seats > limits.seats_total
    ):
        return Reason.HOLD_LIMIT_REACHED
    return None


def count_holds(
    holds: CustomerHolds,
    *,
    was: BookingStatus | None,
    seats: int,
    now: BookingStatus | None,
    granted: int | None,
) -> None:
    """Count a decision into the customer's live holds: the booking was ``was`` with
    ``seats``; the decision made it ``now`` (None: untouched) with ``granted`` seats."""
    was_held = was == BookingStatus.HELD
    held = now == BookingStatus.HELD or (was_held and now is None)
    if held and not was_held:
        holds.holds += 1
        holds.seats += granted or 0
    elif was_held and not held:
        holds.holds -= 1
        holds.seats -= seats
