"""Recording a command on the accept path: one INSERT, committed on its own (autocommit), then
its doorbell; inside a caller's transaction, a savepoint."""

import pytest
from django.db import connection, transaction

from apps.bookings import commands
from apps.bookings.models import BookingRequest, CommandKind, RequestStatus
from apps.core.exceptions import Conflict
from tests.factories import CustomerFactory, EventFactory


def book(event, customer):
    return commands.request_command(
        user_id=customer.user_id, event=event, kind=CommandKind.BOOK, customer_id=customer.pk
    )[0]


@pytest.mark.django_db(transaction=True)
def test_a_command_is_one_statement_with_no_transaction_of_its_own(monkeypatch):
    event, customer = EventFactory(), CustomerFactory()
    rung, commits, statements = [], [], []
    monkeypatch.setattr(
        commands,
        "ring_doorbell",
        lambda **kwargs: rung.append(list(statements)),
    )
    monkeypatch.setattr(connection, "_commit", lambda *a, **k: commits.append(1))

    def spot(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spot):
        command = book(event, customer)

    # Autocommit: no BEGIN, no COMMIT round trips around the one INSERT; rung once it is in.
    assert commits == []
    [sent] = rung
    assert len(sent) == 1 and sent[0].startswith('INSERT INTO "bookings_bookingrequest"')
    assert BookingRequest.objects.get(pk=command.pk).status == RequestStatus.PENDING


@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_a_refused_command_leaves_it_usable(monkeypatch):
    monkeypatch.setattr(commands, "ring_doorbell", lambda **kwargs: True)
    event, customer = EventFactory(), CustomerFactory()
    with transaction.atomic():
        first = book(event, customer)
        with pytest.raises(Conflict) as refused:
            book(event, customer)  # a second pending book: the database refuses it
        # The caller's transaction goes on: its savepoint was rolled back, not the transaction.
        assert BookingRequest.objects.filter(event=event).count() == 1

    assert refused.value.code == "book_pending"
    assert BookingRequest.objects.get().pk == first.pk
