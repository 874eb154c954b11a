"""apps.core.rows: written-out statements that build the ORM's own instances."""

import pytest
from django.contrib.auth import get_user_model
from django.db.models.signals import post_init

from apps.accounts.models import Customer, Organizer
from apps.bookings.models import RequestStatus
from apps.core.rows import JoinedRows, literal, placeholders
from apps.events.models import Event
from tests.factories import CustomerFactory, EventFactory, OrganizerFactory

pytestmark = pytest.mark.django_db

User = get_user_model()

USERS_WITH_PROFILES = JoinedRows(
    [(User, "u"), (Customer, "c"), (Organizer, "o")],
    f"{User._meta.db_table} u "
    f"LEFT JOIN {Customer._meta.db_table} c ON c.user_id = u.id "
    f"LEFT JOIN {Organizer._meta.db_table} o ON o.user_id = u.id",
    "u.id IN ({users}) ORDER BY u.id",
    extra=["u.id * %s"],
)


def test_rows_are_the_orms_instances_with_absent_joins_as_none():
    customer, organizer = CustomerFactory(), OrganizerFactory()
    ids = [customer.user_id, organizer.user_id]

    rows = USERS_WITH_PROFILES.fetch([10, *ids], users=len(ids))

    assert [(u.pk, c and c.pk, o and o.pk, x) for u, c, o, x in rows] == [
        (customer.user_id, customer.pk, None, customer.user_id * 10),
        (organizer.user_id, None, organizer.pk, organizer.user_id * 10),
    ]
    user = rows[0][0]
    orm = User.objects.get(pk=customer.user_id)
    assert user == orm and user._state.adding is False
    for field in User._meta.concrete_fields:  # converted as the ORM converts (datetimes, bools)
        assert getattr(user, field.attname) == getattr(orm, field.attname), field.name
    assert rows[0][1].created_at == Customer.objects.get(pk=customer.pk).created_at


def test_an_empty_list_matches_nothing():
    CustomerFactory()

    assert USERS_WITH_PROFILES.fetch([10], users=0) == []
    assert placeholders(0) == "NULL" and placeholders(3) == "%s, %s, %s"


def test_a_locking_statement_reads_like_any_other_and_json_and_datetimes_convert():
    event = EventFactory()
    locked = JoinedRows([(Event, "e")], f"{Event._meta.db_table} e", "e.id = %s", lock=True)

    [[found]] = locked.fetch([event.pk])

    assert found.start_time == Event.objects.get(pk=event.pk).start_time
    assert found.start_time.tzinfo is not None


def test_instances_are_built_as_from_db_builds_them():
    customer = CustomerFactory()
    [[built, *_]] = USERS_WITH_PROFILES.fetch([1, customer.user_id], users=1)
    fields = [f.attname for f in User._meta.concrete_fields]
    orm = User.from_db("default", fields, [getattr(built, name) for name in fields])

    assert type(built) is User and built._state.db == "default" and not built._state.adding
    assert {k: v for k, v in vars(built).items() if k != "_state"} == {
        k: v for k, v in vars(orm).items() if k != "_state"
    }
    built.first_name = "changed"
    built.save(update_fields=["first_name"])  # a loaded row: an UPDATE, not an INSERT
    assert User.objects.get(pk=customer.user_id).first_name == "changed"


def test_a_model_watched_on_init_is_built_through_its_constructor():
    customer = CustomerFactory()
    seen = []

    def watcher(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(watcher, sender=Customer)
    try:
        [[_, found, _, _]] = USERS_WITH_PROFILES.fetch([1, customer.user_id], users=1)
    finally:
        post_init.disconnect(watcher, sender=Customer)

    assert seen == [customer.pk] and found.pk == customer.pk


@pytest.mark.parametrize("value", ["pending", "sold_out", RequestStatus.PENDING])
def test_a_code_constant_is_written_as_a_string_literal(value):
    assert literal(value) == f"'{value}'"


@pytest.mark.parametrize("value", ["it's", "Pending", "a b", "", "x'; DROP TABLE t; --"])
def test_anything_else_is_refused_as_a_literal(value):
    with pytest.raises(ValueError):
        literal(value)
