"""Factories for every model; tests arrange with these."""

import uuid
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.accounts.models import Customer, Organizer
from apps.accounts.tokens import issue_token
from apps.bookings.models import Booking, BookingStatus
from apps.events.models import Event
from workers.routing import partition_for_key

PASSWORD = "Correct-Horse-93"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organizer

    user = factory.SubFactory(UserFactory, username=factory.Sequence(lambda n: f"organizer{n}"))
    organization_name = factory.Sequence(lambda n: f"Organization {n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    user = factory.SubFactory(UserFactory, username=factory.Sequence(lambda n: f"customer{n}"))


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    uid = factory.LazyFunction(uuid.uuid4)
    partition = factory.LazyAttribute(lambda e: partition_for_key(str(e.uid)))
    title = factory.Sequence(lambda n: f"Event {n}")
    creator = factory.SubFactory(OrganizerFactory)
    start_time = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
    end_time = factory.LazyAttribute(lambda e: e.start_time + timedelta(hours=3))
    capacity = 10


class BookingFactory(factory.django.DjangoModelFactory):
    """A booking row as the worker leaves it; callers keep ``seats_taken`` in step."""

    class Meta:
        model = Booking

    customer = factory.SubFactory(CustomerFactory)
    event = factory.SubFactory(EventFactory)
    status = BookingStatus.ACTIVE


def token_for(user) -> str:
    """A token key for ``user``: issued once per user object and reused (keys are stored hashed,
    so an existing token's key cannot be read back)."""
    key = getattr(user, "_test_token_key", None)
    if key is None:
        key, _ = issue_token(user=user)
        user._test_token_key = key
    return key
