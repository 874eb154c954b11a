"""Demo data: two organizers, three customers and a few upcoming events, through the services.

Idempotent: a user or event that already exists is reused, so running it twice adds nothing.
Every demo user logs in with ``DEMO_PASSWORD``.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts import tokens
from apps.accounts.models import Customer, Organizer
from apps.events import services as events
from apps.events.models import Event

User = get_user_model()

DEMO_PASSWORD = "Demo-Reservations-2025"
ORGANIZERS = [
    ("demo_organizer_ada", "Ada's Concert Hall", "1 Harbour Road"),
    ("demo_organizer_ben", "Ben's Tech Meetups", "22 Station Street"),
]
CUSTOMERS = ["demo_customer_cleo", "demo_customer_dan", "demo_customer_eve"]
# (organizer username, title, days from now, hours long, capacity)
EVENTS = [
    ("demo_organizer_ada", "Jazz night", 3, 3, 120),
    ("demo_organizer_ada", "String quartet matinee", 10, 2, 40),
    ("demo_organizer_ada", "Open-air festival", 30, 8, 2000),
    ("demo_organizer_ben", "Python meetup", 5, 2, 60),
    ("demo_organizer_ben", "Database internals workshop", 14, 6, 5),
]


class Command(BaseCommand):
    help = (
        f"Create demo organizers, customers and upcoming events (idempotent). "
        f"Every demo user's password is {DEMO_PASSWORD!r}."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError(
                "seed_demo refuses ENVIRONMENT=production: demo accounts share a published "
                "password."
            )
        organizers = {
            username: self._organizer(username, name, address)
            for username, name, address in ORGANIZERS
        }
        customers = [self._customer(username) for username in CUSTOMERS]
        created_events = sum(self._event(organizers[owner], *rest) for owner, *rest in EVENTS)

        self.stdout.write(f"Demo password for every user: {DEMO_PASSWORD}")
        self.stdout.write(f"{'username':<24} {'role':<10} token")
        for profile, role in [
            *((o, "organizer") for o in organizers.values()),
            *((c, "customer") for c in customers),
        ]:
            # Keys are stored hashed, so each run prints a fresh token (valid for
            # ACCOUNT_TOKEN_TTL_SECONDS); earlier ones keep working until they expire.
            key, _ = tokens.issue_token(user=profile.user)
            self.stdout.write(f"{profile.user.username:<24} {role:<10} {key}")
        self.stdout.write(
            self.style.SUCCESS(f"{created_events} new event(s); {len(EVENTS)} demo events in all.")
        )

    def _organizer(self, username: str, organization_name: str, address: str) -> Organizer:
        existing = Organizer.objects.filter(user__username=username).select_related("user")
        if existing:
            return existing[0]
        organizer, *_ = accounts.register_organizer(
            username=username,
            email=f"{username}@example.com",
            password=DEMO_PASSWORD,
            organization_name=organization_name,
            business_address=address,
        )
        return organizer

    def _customer(self, username: str) -> Customer:
        existing = Customer.objects.filter(user__username=username).select_related("user")
        if existing:
            return existing[0]
        customer, *_ = accounts.register_customer(
            username=username, email=f"{username}@example.com", password=DEMO_PASSWORD
        )
        return customer

    def _event(
        self, organizer: Organizer, title: str, days: int, hours: int, capacity: int
    ) -> bool:
        if Event.objects.live().filter(creator=organizer, title=title).exists():
            return False
        start = (timezone.now() + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
        events.create_event(
            creator=organizer,
            title=title,
            start_time=start,
            end_time=start + timedelta(hours=hours),
            capacity=capacity,
            description=f"A demo event by {organizer.organization_name}.",
        )
        return True
