"""An event's batch decided in memory, and its rows written (partition worker).

``decide_in_memory`` takes each event's line of commands in id order and decides them with
``rules.decide`` against a ``Ledger``: the event's counters, its customers' bookings and its
waitlist as the batch changes them; ``write_ledgers`` then writes a round's ledgers in a handful
of statements (grouped UPDATEs and bulk INSERTs), never one per command.
"""

from datetime import timedelta

from django.conf import settings

from apps.accounts.models import Customer
from apps.audit.models import Action
from apps.audit.services import record_batch
from apps.bookings import rules, statements
from apps.bookings.hold_caps import CustomerHolds, HoldLimits
from apps.bookings.models import (
    SEAT_HOLDING_STATUSES,
    Booking,
    BookingRequest,
    BookingStatus,
    CommandKind,
    Reason,
    RequestStatus,
)
from apps.bookings.outcomes import WEBHOOK_EVENT_TYPES, Outcome
from apps.core.bulk import insert_rows
from apps.events.models import Event

HISTORY_ACTIONS = {
    Reason.BOOKED: Action.CREATE,
    Reason.REACTIVATED: Action.REACTIVATE,
    Reason.CANCELLED: Action.CANCEL,
    Reason.PROMOTED: Action.BOOKING_PROMOTED,
    Reason.WAITLISTED: Action.BOOKING_WAITLISTED,
    Reason.LEFT_WAITLIST: Action.WAITLIST_LEFT,
    Reason.CAPACITY_CHANGED: Action.CAPACITY_CHANGED,
    Reason.EVENT_CANCELLED: Action.DELETE,
    Reason.SEATS_CHANGED: Action.BOOKING_SEATS_CHANGED,
    Reason.HELD: Action.HOLD_CREATED,
    Reason.HOLD_CONFIRMED: Action.HOLD_CONFIRMED,
    Reason.HOLD_RELEASED: Action.HOLD_RELEASED,
    Reason.HOLD_EXPIRED: Action.HOLD_EXPIRED,
}


class Ledger:
    """The in-memory state of one event during a batch, and the rows to write at its end."""

    def __init__(
        self,
        event: Event,
        commands: list[BookingRequest],
        now,
        waitlist: list[BookingRequest],
        bookings: list[Booking],
        decider: statements.Decider,
    ):
        """``waitlist``: the event's waitlisted requests in promotion order (oldest first);
        ``bookings``: those of the commands' and the waitlist's customers at the event."""
        self.event = event
        self.commands = commands
        self.now = now
        self.decider = decider
        self.state = rules.state_of(event)
        self.waitlist: dict[int, BookingRequest] = {r.id: r for r in waitlist}
        self.bookings: dict[int, Booking] = {b.customer_id: b for b in bookings}
        self.waitlisted_customers = {r.customer_id: r for r in self.waitlist.values()}
        self.requests: dict[int, BookingRequest] = {}
        self.linked: dict[int, Booking] = {}  # request id -> its booking, as settled
        self.changed_bookings: dict[int, Booking] = {}
        self.history = []
        self.outcomes: list[Outcome] = []
        # The live holds of the customers with a hold command in the round (shared by the
        # round's ledgers) and the caps they are held to; empty when the round has none.
        self.holds: dict[int, CustomerHolds] = {}
        self.hold_limits: HoldLimits | None = None

    def settle(self, command: BookingRequest, decision: rules.Decision) -> None:
        command.status = decision.status
        command.reason = decision.reason
        command.message = decision.message
        command.decided_at = self.now
        self.requests[command.id] = command
        # The command's booking, kept at hand: the relation's descriptor costs more than the
        # rest of a refusal's bookkeeping when thousands are decided in a batch.
        booking = None
        if decision.booking_status is not None:
            booking = self._set_booking(
                command.customer_id,
                decision.booking_status,
                seats=decision.seats,
                expires_at=decision.expires_at,
            )
        elif command.customer_id in self.bookings and command.kind != CommandKind.SET_CAPACITY:
            booking = self.bookings[command.customer_id]
        elif command.booking_id is not None:
            booking = command.booking  # named by the command itself (a hold's expiry)
        if booking is not None:
            command.booking = self.linked[command.id] = booking
        if decision.status == RequestStatus.WAITLISTED:
            self.waitlist[command.id] = command
            self.waitlisted_customers[command.customer_id] = command
        if command.kind == CommandKind.EXPIRE_HOLD and decision.status == RequestStatus.REJECTED:
            return  # the hold was confirmed, released or held again first: nothing happened
        # A refusal that changed nothing is logged as a refusal, whatever its reason.
        changed = decision.status != RequestStatus.REJECTED or decision.booking_status is not None
        self._log(command, decision.reason, booking, changed=changed)
        # A promotion is announced once, as itself, not also as a plain confirmation.
        event_type = (
            "booking.promoted"
            if decision.reason == Reason.PROMOTED
            else WEBHOOK_EVENT_TYPES.get((command.kind, decision.status))
        )
        if event_type:
            self.outcomes.append(Outcome(event_type, command, booking))
        late_confirm = command.kind == CommandKind.CONFIRM_HOLD
        if late_confirm and decision.booking_status == BookingStatus.EXPIRED:
            # This confirm came after the deadline and is what expired the hold.
            self.outcomes.append(Outcome("hold.expired", command, booking))

    def withdraw_waitlisted(self, customer_id: int, reason: Reason) -> None:
        entry = self.waitlisted_customers.pop(customer_id)
        del self.waitlist[entry.id]
        entry.status, entry.reason = RequestStatus.WITHDRAWN, reason
        entry.message, entry.decided_at = rules.MESSAGES[reason], self.now
        self.requests[entry.id] = entry

    def promote_from_waitlist(self) -> None:
        """Strict line: promote the oldest entry while all its seats are free; stop at the first
        that does not fit (nobody behind it overtakes)."""
        while self.waitlist:
            head = next(iter(self.waitlist.values()))
            if not rules.can_promote(self.state, self.now, head.seats):
                return
            del self.waitlist[head.id]
            del self.waitlisted_customers[head.customer_id]
            self.settle(head, rules.promote(self.state, head.seats))

    def cancel_event(self, command: BookingRequest) -> None:
        # The ledger's bookings are newer than the table's: this batch may already have created,
        # cancelled or reactivated some of them, so its copy wins over the stored row.
        for booking in Booking.objects.filter(
            event_id=self.event.pk, status__in=SEAT_HOLDING_STATUSES
        ):
            self.bookings.setdefault(booking.customer_id, booking)
        active = [b for b in self.bookings.values() if b.status in SEAT_HOLDING_STATUSES]
        users = dict(
            Customer.objects.filter(pk__in=[b.customer_id for b in active]).values_list(
                "pk", "user_id"
            )
        )
        for booking in active:
            self._set_booking(booking.customer_id, BookingStatus.CANCELLED)
            self._history(
                booking,
                user_id=users[booking.customer_id],
                action=Action.CANCEL,
                details={"reason": Reason.EVENT_CANCELLED, "request": str(command.uid)},
            )
            self.outcomes.append(Outcome("booking.cancelled", command, booking))
        for customer_id in list(self.waitlisted_customers):
            self.withdraw_waitlisted(customer_id, Reason.EVENT_CANCELLED)

    def _set_booking(
        self, customer_id: int, status: BookingStatus, *, seats: int | None = None, expires_at=None
    ) -> Booking:
        booking = self.bookings.get(customer_id)
        if booking is None:
            booking = Booking(customer_id=customer_id, event_id=self.event.pk)
            self.bookings[customer_id] = booking
        booking.status = status
        if seats is not None:
            booking.seats = seats
        # A live hold has its deadline; an expired one keeps it as a record; others have none.
        if status == BookingStatus.HELD:
            booking.expires_at = expires_at
        elif status != BookingStatus.EXPIRED:
            booking.expires_at = None
        booking.cancelled_at = self.now if status == BookingStatus.CANCELLED else None
        booking.updated_at = self.now
        self.changed_bookings[customer_id] = booking
        return booking

    def _log(
        self, command: BookingRequest, reason: Reason, booking: Booking | None, *, changed: bool
    ) -> None:
        action = HISTORY_ACTIONS.get(reason, Action.BOOKING_REJECTED)
        if not changed:
            action = Action.BOOKING_REJECTED
        target = booking if booking is not None else self.event
        self._history(
            target,
            user_id=command.user_id,
            action=action,
            details={
                "request": str(command.uid),
                "kind": command.kind,
                "status": command.status,
                "reason": reason,
                "event": self.event.pk,
                "requested_at": command.created_at.isoformat(),
            },
        )

    def _history(self, target, *, user_id: int, action: Action, details: dict) -> None:
        # Kept with its target: a new booking gets its id only when the batch is written.
        self.history.append((user_id, action, target, details))


def write_ledgers(ledgers: list[Ledger]) -> None:
    """Write the batches in a handful of statements, whatever their number and size: grouped
    UPDATEs and bulk INSERTs, never a statement per command (nor per event, but for its
    counters). The ledgers share one decision time."""
    [(now, decider)] = {(ledger.now, ledger.decider) for ledger in ledgers}
    changed = [b for ledger in ledgers for b in ledger.changed_bookings.values()]
    created = [b for b in changed if b.pk is None]
    updated = [b for b in changed if b.pk is not None]  # the new rows are written whole
    for booking in created:
        booking.created_at = now
    ids = insert_rows(
        Booking,
        statements.BOOKING_INSERT_FIELDS,
        (
            [getattr(b, Booking._meta.get_field(name).attname) for name in BOOKING_FIELDS]
            for b in created
        ),
        returning_ids=True,
    )
    for booking, pk in zip(created, ids, strict=True):
        booking.pk = pk
        booking._state.adding = False
    # Grouped by what they are set to: a few statuses × a few seat counts, one deadline.
    key = lambda b: (b.status, b.seats, b.expires_at)  # noqa: E731
    for (status, seats, expires_at), group in _grouped(updated, key).items():
        statements.update_bookings(
            [b.pk for b in group],
            status=status,
            seats=seats,
            expires_at=expires_at,
            cancelled_at=now if status == BookingStatus.CANCELLED else None,
            now=now,
        )
    decided = [r for ledger in ledgers for r in ledger.requests.values()]
    for ledger in ledgers:
        for request_id, booking in ledger.linked.items():
            # Through the relation: the id of a booking created by this batch, and the cached
            # row the webhook payloads read.
            ledger.requests[request_id].booking = booking
    # One UPDATE per kind of outcome. A request concerns its customer's one booking for
    # its event (if any): linked in the same statement, so each row is written once.
    for (status, reason, linked), group in _grouped(decided, _outcome_of).items():
        statements.update_requests(
            [r.pk for r in group],
            status=status,
            reason=reason,
            message=rules.MESSAGES[reason],
            decided_at=now,
            decider=decider,
            bookings=[r.booking_id for r in group] if linked else None,
        )
    statements.update_events(
        [
            statements.Counters(
                ledger.event.pk,
                ledger.state.seats_taken,
                ledger.state.capacity,
                ledger.state.waitlist_size,
            )
            for ledger in ledgers
        ],
        now=now,
    )
    for ledger in ledgers:
        if ledger.state.cancelled and ledger.event.deleted_at is None:
            statements.mark_event_cancelled(ledger.event.pk, at=now)
    # New bookings have their ids by now.
    record_batch([entry for ledger in ledgers for entry in ledger.history], at=now)


BOOKING_FIELDS = statements.BOOKING_INSERT_FIELDS


def _outcome_of(request: BookingRequest) -> tuple:
    return request.status, request.reason, request.booking_id is not None


def _grouped(items, key) -> dict:
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def decide_in_memory(
    lines: list[tuple[Event, list[statements.InLine]]], now, decider: statements.Decider
) -> dict[int, Ledger]:
    """Decide each event's commands in order, in memory (``write_ledgers`` writes them), with
    the bookings their customers have there (read with the lines)."""
    ledgers = {}
    holds, hold_limits = _live_holds(lines)
    for event, line in lines:
        # Waitlisted requests in promotion order (oldest first), read only if any exist.
        waitlist = []
        if event.waitlist_size:
            waitlist = statements.requests_in_line(event.pk, RequestStatus.WAITLISTED)
        # One booking per customer and event: the rows of a customer's several requests agree.
        bookings = {b.pk: b for _, b, _ in [*line, *waitlist] if b is not None}
        for request, _, username in [*line, *waitlist]:
            request.customer_username = username  # for the webhook payloads (outcomes)
        commands = [command for command, _, _ in line]
        ledger = Ledger(
            event,
            commands,
            now,
            [request for request, _, _ in waitlist],
            list(bookings.values()),
            decider,
        )
        ledger.holds, ledger.hold_limits = holds, hold_limits
        for command in commands:
            _decide_one(ledger, command)
        ledgers[event.pk] = ledger
    return ledgers


def _live_holds(
    lines: list[tuple[Event, list[statements.InLine]]],
) -> tuple[dict[int, CustomerHolds], HoldLimits | None]:
    """The live holds, over all events, of the customers who ask for a hold in this round, in
    one statement (none without hold commands), and the caps from the settings."""
    customers = {
        in_line.request.customer_id
        for _, line in lines
        for in_line in line
        if in_line.request.kind == CommandKind.HOLD
    }
    if not customers:
        return {}, None
    found = statements.live_holds(sorted(customers))
    holds = {c: CustomerHolds(*found.get(c, (0, 0))) for c in customers}
    return holds, HoldLimits(
        seats_per_event=settings.BOOKING_HELD_SEATS_PER_CUSTOMER_PER_EVENT,
        holds_total=settings.BOOKING_HOLDS_PER_CUSTOMER,
        seats_total=settings.BOOKING_HELD_SEATS_PER_CUSTOMER_TOTAL,
        cooldown=timedelta(seconds=settings.BOOKING_HOLD_COOLDOWN_SECONDS),
    )


def _decide_one(ledger: Ledger, command: BookingRequest) -> None:
    booking = ledger.bookings.get(command.customer_id)
    decision = rules.decide(
        kind=command.kind,
        event=ledger.state,
        now=ledger.now,
        booking_status=booking.status if booking else None,
        booking_seats=booking.seats if booking else None,
        hold_expires_at=booking.expires_at if booking else None,
        waitlisted=command.customer_id in ledger.waitlisted_customers,
        payload=command.payload,
        seats=command.seats,
        requested_at=command.created_at,
        booking_changed_at=booking.updated_at if booking else None,
        holds=ledger.holds.get(command.customer_id),
        hold_limits=ledger.hold_limits,
    )
    confirmed = decision.status == RequestStatus.CONFIRMED
    if command.kind == CommandKind.CANCEL_EVENT and confirmed:
        ledger.cancel_event(command)
    if command.kind == CommandKind.LEAVE_WAITLIST and confirmed:
        ledger.withdraw_waitlisted(command.customer_id, Reason.LEFT_WAITLIST)
    ledger.settle(command, decision)
    ledger.promote_from_waitlist()
