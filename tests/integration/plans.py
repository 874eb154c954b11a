"""Helpers for the shell snippets that look at a statement's plan on PostgreSQL (imported in the
stack's ``manage.py shell``): the crowd's customers, and the rows a plan read and dropped."""

from collections.abc import Iterator

from apps.accounts.models import Customer
from apps.accounts.tokens import user_ids_for_keys


def crowd_customers(seeded: dict) -> list[Customer]:
    """``seed_crowd``'s customers, in id order."""
    return list(
        Customer.objects.filter(user_id__in=user_ids_for_keys(seeded["tokens"])).order_by("pk")
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
