"""The database's clock: one clock for times that are compared across machines."""

from datetime import datetime

from django.db import connection
from django.utils import timezone


def database_now() -> datetime:
    """The time now (not the transaction's start) by the database's clock on PostgreSQL; on
    SQLite (one machine) the process's, which is the same machine's."""
    if connection.vendor != "postgresql":
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]
