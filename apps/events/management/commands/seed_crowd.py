"""Load-test data: one organizer, events, and many customers with API tokens, as JSON.

    python manage.py seed_crowd --customers 500 --capacity 50 [--events 1] [--waitlist]
        [--max-seats 10] [--hold-seconds 600]

Users get unusable passwords (they sign in with the printed tokens), so thousands are created
in seconds; the benchmark and the integration tests use it.
"""

import json
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.accounts import tokens
from apps.accounts.models import Customer, Organizer
from apps.events.services import create_event

User = get_user_model()


class Command(BaseCommand):
    help = "Create an organizer, events and customers with tokens for load tests; print JSON."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=500)
        parser.add_argument("--capacity", type=int, default=50)
        parser.add_argument("--events", type=int, default=1)
        parser.add_argument("--waitlist", action="store_true")
        parser.add_argument("--max-seats", type=int, default=10, help="max seats per booking")
        parser.add_argument("--hold-seconds", type=int, default=600)

    @transaction.atomic
    def handle(
        self, *args, customers, capacity, events, waitlist, max_seats, hold_seconds, **options
    ):
        run = secrets.token_hex(4)
        organizer_user = User.objects.create_user(username=f"load-org-{run}")
        organizer = Organizer.objects.create(user=organizer_user, organization_name=f"Load {run}")
        start = timezone.now() + timedelta(days=30)
        created = [
            create_event(
                creator=organizer,
                title=f"Load test {run} #{i}",
                start_time=start,
                end_time=start + timedelta(hours=2),
                capacity=capacity,
                waitlist_enabled=waitlist,
                max_seats_per_booking=max_seats,
                hold_seconds=hold_seconds,
            )
            for i in range(events)
        ]
        users = User.objects.bulk_create(
            [User(username=f"load-{run}-{i}", password="!") for i in range(customers)]
        )
        if users and users[0].pk is None:  # backends that do not return ids
            users = list(User.objects.filter(username__startswith=f"load-{run}-"))
        Customer.objects.bulk_create([Customer(user=u) for u in users])
        keys = tokens.issue_tokens(user_ids=[u.pk for u in users])
        self.stdout.write(
            json.dumps(
                {
                    "organizer_token": tokens.issue_token(user=organizer_user)[0],
                    "events": [e.pk for e in created],
                    "partitions": [e.partition for e in created],
                    "tokens": keys,
                }
            )
        )
