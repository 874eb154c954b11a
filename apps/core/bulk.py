"""Multi-row INSERTs from tuples, for the writes whose rows are counted in thousands per second.

Django's ``bulk_create`` builds a model instance per row and prepares every value through the
query compiler; for a decision batch (a history row per command, a delivery per outcome and
subscription) that cost more than the database's own work. This writes the same rows with one
statement per chunk; values still go through each field's ``get_db_prep_save``, so every backend
gets them in its own format.
"""

from collections.abc import Iterable, Sequence

from django.db import connections, router
from django.db.models import Model

PLAIN_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "ForeignKey",
        "IntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "TextField",
    }
)


def insert_rows(
    model: type[Model], fields: Sequence[str], rows: Iterable[Sequence], *, returning_ids=False
) -> list[int]:
    """INSERT ``rows`` (tuples in ``fields`` order) into ``model``'s table. Returns the new ids,
    in row order, when ``returning_ids``; an empty list otherwise."""
    rows = list(rows)
    if not rows:
        return []
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    head = "INSERT INTO {} ({}) VALUES ".format(
        quote(meta.db_table), ", ".join(quote(f.column) for f in columns)
    )
    tail = f" RETURNING {quote(meta.pk.column)}" if returning_ids else ""
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # Integers and strings go as they are; the rest (JSON, UUIDs, datetimes) the field adapts.
    prepare = [
        None if f.get_internal_type() in PLAIN_TYPES else _Prepared(f, connection) for f in columns
    ]
    per_statement = max(1, connection.ops.bulk_batch_size(columns, rows))
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [
                value if prep is None else prep(value)
                for row in chunk
                for prep, value in zip(prepare, row, strict=True)
            ]
            cursor.execute(head + ", ".join([one] * len(chunk)) + tail, params)
            if returning_ids:
                ids.extend(row[0] for row in cursor.fetchall())
    return ids


class _Prepared:
    """A column's ``get_db_prep_save``, adapting a value that is the very object of the row
    before once: a batch writes its one timestamp in every row (a history row per command, four
    per webhook delivery), and adapting a datetime is most of what such a row costs in Python."""

    def __init__(self, field, connection):
        self.prepare, self.connection = field.get_db_prep_save, connection
        self.last, self.prepared = _NOTHING, None

    def __call__(self, value):
        if value is not self.last:
            self.last, self.prepared = value, self.prepare(value, self.connection)
        return self.prepared


_NOTHING = object()
