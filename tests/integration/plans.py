"""Helpers for the shell snippets that look at a statement's plan on PostgreSQL (imported in the
stack's ``manage.py shell``): the crowd's customers, a table of long standing, and the rows a
plan read and dropped."""

from collections.abc import Iterator

from django.db import connection

from apps.accounts.models import Customer
from apps.accounts.tokens import user_ids_for_keys


def crowd_customers(seeded: dict) -> list[Customer]:
    """``seed_crowd``'s customers, in id order."""
    return list(
        Customer.objects.filter(user_id__in=user_ids_for_keys(seeded["tokens"])).order_by("pk")
    )


def add_decided_commands(*, customer: Customer, event_id: int, count: int = 20000) -> None:
    """``count`` commands decided long ago (refused) at ``event_id``: the commands table of a
    service that has run for a while, for the planner to weigh (analyze it after)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bookings_bookingrequest (uid, kind, payload, status, reason, message, "
            "fingerprint, attempts, created_at, decided_at, customer_id, event_id, user_id, seats) "
            "SELECT gen_random_uuid(), 'book', '{}', 'rejected', 'sold_out', '', '', 0, now(), "
            "now(), %s, %s, %s, 1 FROM generate_series(1, %s)",
            [customer.pk, event_id, customer.user_id, count],
        )


def nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def rows_walked_past(plan: dict, table: str = "bookings_booking") -> int:
    """Rows an ``EXPLAIN (ANALYZE, FORMAT JSON)`` plan read and dropped: by join filters, and by
    filters on ``table``. EXPLAIN counts rows per loop: times the loops, all of them."""
    walked = list(nodes(plan["Plan"]))
    joined = sum(n.get("Rows Removed by Join Filter", 0) * n["Actual Loops"] for n in walked)
    filtered = sum(
        n.get("Rows Removed by Filter", 0) * n["Actual Loops"]
        for n in walked
        if n.get("Relation Name") == table
    )
    return joined + filtered
