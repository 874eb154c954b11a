"""The worker side of the pipeline (runs in the partition worker that holds the event's lease):
``decide_pending`` decides every pending command of one event, in id order, in one transaction
per batch; the outcomes become webhook deliveries in the same transaction."""

import functools
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from apps.bookings import refusals, rules, statements
from apps.bookings.ledger import Ledger, decide_in_memory, write_ledgers
from apps.bookings.models import (
    BookingRequest,
    Reason,
    RequestStatus,
)
from apps.bookings.outcomes import outcome_data
from apps.core import metrics
from apps.events.models import Event
from apps.partitions.services import PartitionLost, this_process
from apps.webhooks import deliveries as webhooks
from workers import wakeups

logger = logging.getLogger(__name__)


# Not a command's fault: the partition changed hands, or the database itself failed. The run
# stops, the commands stay pending, and the next doorbell (the sweeper rings again) decides them.
RUN_FAULTS = (PartitionLost, OperationalError, InterfaceError)


@dataclass
class Handover:
    """What decided batches tell others once their transaction commits: the decided requests
    (woken if they wait, ``Prefer: wait``) and the webhook deliveries (to the webhooks queue),
    in one message each for all the batches of a partition round."""

    decided: list[int] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)

    def after_commit(self) -> None:
        """Send both once the caller's transaction commits (nothing if it rolls back)."""
        if self.decided:
            transaction.on_commit(lambda: wakeups.announce(self.decided), robust=True)
        if self.deliveries:
            transaction.on_commit(
                lambda: webhooks.hand_over_deliveries(delivery_ids=self.deliveries), robust=True
            )


def decide_pending(
    *, event_id: int, partition: int | None = None, owner_generation: int | None = None
) -> int:
    """Decide every pending command of one event, oldest first. Returns how many were decided.

    Safe to call any number of times, from any number of processes: each batch locks the event
    (row lock on PostgreSQL, the write lock on SQLite) and re-reads what is still pending. With
    ``partition``, an event that is not (or no longer) on it is left alone; with
    ``owner_generation``, each batch first checks the caller still owns the partition
    (``PartitionLost`` otherwise). A batch that fails for any other reason is rolled back and
    its commands are decided one by one, so one bad command cannot block its event.
    """
    fence = {"partition": partition, "owner_generation": owner_generation}
    decided = 0
    while True:
        handover = Handover()
        count = _decide_next_batch(event_id, fence, handover)
        handover.after_commit()  # at once, unless inside a caller's transaction
        decided += count
        if count < settings.BOOKING_DECISION_BATCH:
            return decided


def _decide_next_batch(event_id: int, fence: dict, handover: Handover) -> int:
    """One batch of the event's line (in a transaction, or a savepoint of the caller's); if it
    fails for a reason of its own, its commands one by one."""
    try:
        return _decide_batch(
            event_id=event_id,
            limit=settings.BOOKING_DECISION_BATCH,
            handover=handover,
            **fence,
        )
    except RUN_FAULTS:
        raise
    except Exception:  # noqa: BLE001 - a bug, a constraint, a counter out of step: any
        logger.exception("event %s: batch failed; deciding one by one", event_id)
        return _decide_singly(event_id=event_id, handover=handover, **fence)


def decide_partition(
    *, partition: int, first_event_id: int | None = None, owner_generation: int | None = None
) -> int:
    """Decide every event of a partition that has pending commands (the rung one first).
    Only the worker that holds the partition's lease calls this (with its generation). One
    event's failure is logged and leaves its commands pending; the other events go on.

    A run goes in rounds: one batch of every event with pending commands, all in one
    transaction and written together (``_round_together``), so a run over many events with a
    few commands each pays one commit (one fsync) and one statement per table, not one per
    event; events whose batch was full get another round. A round that fails is run again
    event by event, each batch in a savepoint. A round that does not commit (the database
    failed) decided nothing: its commands stay pending for the next doorbell. Once a round
    commits, its decided requests are announced (``Prefer: wait``) and its webhook deliveries
    handed over in one message each, not one per event."""
    fence = {"partition": partition, "owner_generation": owner_generation}
    decided = 0
    while True:
        try:
            count, full = _round_together(first_event_id, fence)
        except PartitionLost:
            raise
        except Exception:  # noqa: BLE001 - any failure: the round again, event by event
            logger.warning(
                "partition %s: a round failed as a whole; deciding its events one at a time",
                partition,
                exc_info=True,
            )
            events = _rung_first(statements.events_with_pending(partition), first_event_id)
            count, full, rolled_back = _round_event_by_event(events, fence)
            if rolled_back:
                logger.warning(
                    "partition %s: a round of %d decisions rolled back", partition, count
                )
                return decided
        decided += count
        if not full:
            return decided


def _rung_first(events: list[int], first_event_id: int | None) -> list[int]:
    if first_event_id in events:
        events.remove(first_event_id)
        events.insert(0, first_event_id)
    return events


def _round_together(first_event_id: int | None, fence: dict) -> tuple[int, bool]:
    """One batch of each event of the partition with pending commands (the rung one first),
    decided one event after the other and written together: one statement per table for the
    whole round, not per event (under a spread load a round covers several events with a
    command or two each, and per-event statements cost more than the decisions). The events
    are found and locked by one statement. Any failure rolls the whole round back (the caller
    then runs it event by event, each in its own savepoint). ``(0, False)`` when none has
    pending commands."""
    started = time.perf_counter()
    limit = settings.BOOKING_DECISION_BATCH
    handover = Handover()
    with transaction.atomic():
        taken = _take(None, limit, first_event_id=first_event_id, **fence)
        _write_taken(taken, handover, started)
        handover.after_commit()
    sizes = [t.size for t in taken]
    return sum(sizes), any(size >= limit for size in sizes)


def _round_event_by_event(events: list[int], fence: dict) -> tuple[int, bool, bool]:
    """One batch of each event, each in its own savepoint: one event's failure is logged and
    leaves its commands pending (or decides them one by one); the others go on."""
    full, count, handover = False, 0, Handover()
    with transaction.atomic():
        for event_id in events:
            batch = _decide_event_safely(event_id, fence, handover)
            count += batch
            full = full or batch >= settings.BOOKING_DECISION_BATCH
        handover.after_commit()
        # A savepoint that could not be rolled back (the connection failed) dooms the round.
        rolled_back = transaction.get_rollback()
    return count, full, rolled_back


def _decide_event_safely(event_id: int, fence: dict, handover: Handover) -> int:
    try:
        return _decide_next_batch(event_id, fence, handover)
    except PartitionLost:
        raise
    except Exception:  # noqa: BLE001 - never let one event stop the partition
        logger.exception("event %s: left pending; deciding the partition's other events", event_id)
        return 0


def _decide_singly(*, event_id: int, handover: Handover, **fence) -> int:
    decided = 0
    for _ in range(settings.BOOKING_DECISION_BATCH):
        try:
            count = _decide_batch(event_id=event_id, limit=1, handover=handover, **fence)
        except RUN_FAULTS:
            raise
        except Exception:  # noqa: BLE001 - this one command cannot be decided
            failed = _fail_oldest_pending(event_id=event_id, **fence)
            logger.exception(
                "event %s: command %s could not be decided; rejected with internal_error",
                event_id,
                failed.uid if failed else None,
            )
            count = 0
            if failed is not None:
                handover.decided.append(failed.pk)  # a waiter (Prefer: wait) hears of it too
                count = 1
        if not count:
            break
        decided += count
    return decided


def _fail_oldest_pending(
    *, event_id: int, partition: int | None, owner_generation: int | None
) -> BookingRequest | None:
    """Reject the oldest pending command of the event (the one that failed); that request."""
    with transaction.atomic():
        events, now, decider = _locked_events([event_id], partition, owner_generation)
        if not events:
            return None
        oldest = (
            BookingRequest.objects.filter(event_id=event_id, status=RequestStatus.PENDING)
            .order_by("id")
            .first()
        )
        if oldest is None:
            return None
        oldest.status, oldest.reason = RequestStatus.REJECTED, Reason.INTERNAL_ERROR
        oldest.decided_at = now
        failed = BookingRequest.objects.filter(pk=oldest.pk, status=RequestStatus.PENDING).update(
            status=oldest.status,
            reason=oldest.reason,
            message=rules.MESSAGES[Reason.INTERNAL_ERROR],
            decided_at=oldest.decided_at,
            decided_partition=decider.partition,
            decided_generation=decider.generation,
            decided_by=decider.holder,
        )
    if not failed:
        return None
    metrics.count_decisions([oldest])
    metrics.observe_time_to_decision([oldest])
    logger.error(
        "request %s rejected: it could not be decided (internal_error)",
        oldest.uid,
        extra={"request_id": str(oldest.uid)},
    )
    return oldest


def _locked_events(
    event_ids: list[int] | None, partition: int | None, owner_generation: int | None
) -> tuple[list[Event], datetime | None, statements.Decider | None]:
    """Lock the events (None: the partition's events with pending commands), then read what
    their counters must match, the partition's owner (locked) and the time, in a statement of
    its own (``statements.fresh_counts``: it sees what committed while the locks were awaited).
    Returns the events to decide, the decision time and who decides; those gone, on another
    partition or whose counters disagree with their rows are left out. ``PartitionLost`` when
    ``owner_generation`` is not (or no longer) the partition's."""
    # NO KEY: API inserts of new commands take KEY SHARE on the event (their foreign key);
    # a plain FOR UPDATE would make every request wait for the batch to commit.
    if event_ids is None:
        rows = statements.locked_events_with_pending(partition)
    else:
        rows = statements.locked_events(event_ids)
    if not rows:
        return [], None, None
    fenced = rows[0].partition if partition is None else partition
    counted = statements.fresh_counts([e.pk for e in rows], fenced)
    if owner_generation is not None and counted.generation != owner_generation:
        raise PartitionLost(f"partition {partition}: generation {owner_generation} is not current")
    if owner_generation is None and counted.held:
        # A caller without a lease (a shell, a script, a test) decides only partitions nobody
        # holds: a held partition is its owner's alone, even while the owner is paused or dead
        # (the standby that takes over decides it, under a generation of its own).
        raise PartitionLost(
            f"partition {fenced} is held (generation {counted.generation}); only its owner "
            "decides it"
        )
    found = []
    for event in rows:
        if partition is not None and event.partition != partition:
            logger.info("event %s is on partition %s, not %s", event.pk, event.partition, partition)
        elif _counters_agree(event, *counted.counts[event.pk]):
            found.append(event)
    decider = statements.Decider(
        rows[0].partition if partition is None else partition, owner_generation, this_process()
    )
    return found, counted.now or timezone.now(), decider


def _counters_agree(event: Event, seats: int, waitlisted: int) -> bool:
    """Whether the event's counters match its rows, counted under its lock. If not (a write
    from outside the worker, a bug), its commands are left pending and the counters are not
    touched: lowering ``seats_taken`` to its rows is what sells seats twice if the count is
    wrong, and raising it trusts rows that should not be there (docs/fencing.md)."""
    counters = {
        "seats_taken": (event.seats_taken, seats),
        "waitlist_size": (event.waitlist_size, waitlisted),
    }
    disagree = {name: pair for name, pair in counters.items() if pair[0] != pair[1]}
    for name, (counter, rows) in disagree.items():
        logger.error(
            "event %s: %s %s disagrees with its rows (%s); its commands stay pending until an "
            "operator repairs it",
            event.pk,
            name,
            counter,
            rows,
        )
        metrics.count_counter_mismatch(counter=name, above_rows=counter > rows)
    return not disagree


def _decide_batch(
    *,
    event_id: int,
    limit: int,
    partition: int | None = None,
    owner_generation: int | None = None,
    handover: Handover,
) -> int:
    """Decide up to ``limit`` pending commands of the event, in one transaction (a savepoint
    inside the caller's). Its decided requests and webhook deliveries are added to
    ``handover`` as its last step (a batch that fails adds none), for the caller to send once
    its transaction commits."""
    started = time.perf_counter()
    with transaction.atomic():
        taken = _take([event_id], limit, partition, owner_generation)
        if not taken:
            return 0
        _write_taken(taken, handover, started)
    return taken[0].size


@dataclass
class _Taken:
    """One event's batch, decided in memory: what was refused by one statement, and the
    ledger of the commands decided one by one (None when there were none)."""

    event: Event
    refused: list
    ledger: Ledger | None

    @property
    def size(self) -> int:
        return len(self.refused) + (len(self.ledger.commands) if self.ledger else 0)


def _take(
    event_ids: list[int] | None,
    limit: int,
    partition: int | None,
    owner_generation: int | None,
    first_event_id: int | None = None,
) -> list[_Taken]:
    """Lock the events (None: the partition's events with pending commands, ``first_event_id``
    first) and decide up to ``limit`` pending commands of each, oldest first: the head of a
    sold-out line in one statement, the rest in memory (written by ``_write_taken``); the
    events in the order given, those gone, elsewhere or with nothing pending left out. What
    every event needs is read in one statement per kind for all of them (the events; the
    heads of their lines with their customers' bookings), not one per event."""
    events, now, decider = _locked_events(event_ids, partition, owner_generation)
    locked = {e.pk: e for e in events}
    if event_ids is None:
        event_ids = _rung_first(list(locked), first_event_id)
    events = [locked[e] for e in event_ids if e in locked]
    refused = {
        e.pk: refusals.refuse_head_of_line(e, limit=limit, now=now, decider=decider) for e in events
    }
    sizes = {e.pk: limit - len(refused[e.pk]) for e in events if len(refused[e.pk]) < limit}
    lines = statements.lines(sizes) if sizes else {}
    ledgers = decide_in_memory([(e, lines[e.pk]) for e in events if e.pk in lines], now, decider)
    taken = [_Taken(e, refused[e.pk], ledgers.get(e.pk)) for e in events]
    return [t for t in taken if t.size]


def _write_taken(taken: list[_Taken], handover: Handover, started: float) -> None:
    """Write the batches' outcomes together (their bookings, requests, counters and history, and
    their webhook deliveries), and add what they decided to ``handover`` as the last step."""
    ledgers = [t.ledger for t in taken if t.ledger is not None]
    created = []
    if ledgers:
        write_ledgers(ledgers)
        created = webhooks.create_deliveries(
            batches=[(ledger.event, ledger.outcomes) for ledger in ledgers],
            describe=outcome_data,
            hand_over=False,
        )
    for t in taken:
        # Counted and logged once they are committed (a round's savepoint may yet be undone).
        transaction.on_commit(
            functools.partial(_report_decided, t.event, t.ledger, t.refused, started),
            robust=True,
        )
        handover.decided.extend(r.id for r in t.refused)
        if t.ledger is not None:
            handover.decided.extend(t.ledger.requests)
    handover.deliveries.extend(created)


def _report_decided(event: Event, ledger: Ledger | None, refused: list, started: float) -> None:
    """Count the batch's decisions and log one line per decided request (with its id)."""
    commands = [*refused, *(ledger.commands if ledger else [])]
    state = ledger.state if ledger else event
    metrics.observe_batch(size=len(commands), started=started)
    metrics.observe_time_to_decision(commands)
    logger.info(
        "event %s: decided %d commands (%d seats taken of %d)",
        event.pk,
        len(commands),
        state.seats_taken,
        state.capacity,
    )
    decided = [*refused, *(ledger.requests.values() if ledger else [])]
    metrics.count_decisions(decided)
    if logger.isEnabledFor(logging.INFO):
        for request in decided:
            logger.info(
                "request %s decided: %s %s (%s), event %s",
                request.uid,
                request.kind,
                request.status,
                request.reason,
                event.pk,
                extra={"request_id": str(request.uid)},
            )
