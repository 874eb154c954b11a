"""Model instances from one written-out ``SELECT`` over several joined tables.

For the statements every request runs (the token lookup): composing them through the ORM
(``select_related`` over three joins) cost several times the database's own work. The SQL is
composed once per connection vendor from the models' metadata, and each row becomes instances
through ``Model.from_db`` after the backend's and the fields' converters (SQLite's datetimes,
booleans, JSON), so the instances are what the ORM would have built.
"""

from collections.abc import Sequence
from functools import cache

from django.db import connections
from django.db.models import Model


class JoinedRows:
    """``SELECT <every column of each (model, alias)>, <extra> FROM <from_clause> WHERE
    <where>``; ``extra`` are SQL expressions whose values follow the instances, as read."""

    def __init__(
        self,
        parts: Sequence[tuple[type[Model], str]],
        from_clause: str,
        where: str,
        extra: Sequence[str] = (),
    ):
        self.parts = list(parts)
        self.from_clause = from_clause
        self.where = where
        self.extra = list(extra)

    @cache  # noqa: B019 - one entry per database alias, for the life of the process
    def _compiled(self, using: str):
        connection = connections[using]
        quote = connection.ops.quote_name
        columns, plans = [], []
        for model, alias in self.parts:
            fields = model._meta.concrete_fields
            columns += [f"{alias}.{quote(f.column)}" for f in fields]
            converters = []
            for position, field in enumerate(fields):
                col = field.get_col(alias)
                found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if found:
                    converters.append((position, col, found))
            plans.append((model, [f.attname for f in fields], converters))
        sql = f"SELECT {', '.join(columns + self.extra)} FROM {self.from_clause} WHERE {self.where}"
        return sql, plans

    def fetch(self, params: Sequence, *, using: str = "default") -> list[list]:
        """One list per row: an instance per part (None where a LEFT JOIN found nothing: a part
        whose primary key is NULL), then the extra values. ``params`` in the statement's order
        (the extra expressions' first, then the condition's)."""
        sql, plans = self._compiled(using)
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        found = []
        for row in rows:
            instances, start = [], 0
            for model, names, converters in plans:
                values = list(row[start : start + len(names)])
                start += len(names)
                if values[names.index(model._meta.pk.attname)] is None:
                    instances.append(None)
                    continue
                for position, col, functions in converters:
                    for convert in functions:
                        values[position] = convert(values[position], col, connection)
                instances.append(model.from_db(using, names, values))
            found.append(instances + list(row[start:]))
        return found
