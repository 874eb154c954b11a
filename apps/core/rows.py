"""Model instances from one written-out ``SELECT`` over several joined tables.

For the statements every request runs (the token lookup): composing them through the ORM
(``select_related`` over three joins) cost several times the database's own work. The SQL is
composed once per connection vendor from the models' metadata, and each row becomes instances
after the backend's and the fields' converters (SQLite's datetimes, booleans, JSON), so the
instances are what the ORM would have built (``_builder``).
"""

import itertools
import re
from collections.abc import Sequence
from functools import cache

from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created
from django.db.models import Model, signals
from django.db.models.base import ModelState
from django.dispatch import receiver


def placeholders(count: int) -> str:
    """``%s, %s, …`` for an ``IN (…)`` list (NULL when empty: an empty IN is a syntax error)."""
    return ", ".join(["%s"] * count) if count else "NULL"


def prepared(model: type[Model], name: str, value, *, using: str = "default"):
    """A value as the field would send it to the database (SQLite's datetimes, JSON...)."""
    return model._meta.get_field(name).get_db_prep_save(value, connections[using])


def literal(value: str) -> str:
    """A constant of the code (a status, a kind: lowercase words) written into a statement as an
    SQL string literal rather than sent as a parameter. A prepared statement's generic plan
    then knows it: it can use the partial indexes whose predicate names it (``status =
    'pending'``) and estimate how many rows match, where a parameter leaves it guessing (an
    ``EXISTS`` over a parameterized status was planned as a scan of the whole table)."""
    if not re.fullmatch(r"[a-z_]+", value):
        raise ValueError(f"not a code constant: {value!r}")
    return f"'{value}'"


_names = itertools.count(1)
PREPARED = "_prepared_rows"  # the statements prepared on a connection, by name


@receiver(connection_created)
def _forget_prepared(sender, connection, **kwargs) -> None:
    """A new database session has no prepared statements yet."""
    connection.__dict__.pop(PREPARED, None)


def execute_prepared(connection, cursor, name: str, sql: str, params: Sequence) -> None:
    """On PostgreSQL (unless ``DATABASE_PREPARED_STATEMENTS`` is off), ``sql`` as the session's
    prepared statement ``name``: planned once per session instead of on every call (planning
    these joins cost the server several times their execution). Elsewhere, the statement."""
    if not _prepares(connection):
        cursor.execute(sql, params)
        return
    prepared = connection.__dict__.setdefault(PREPARED, set())
    if name not in prepared:
        numbered = iter(range(1, len(params) + 1))
        body = re.sub(r"%s", lambda _: f"${next(numbered)}", sql)
        cursor.execute(f"PREPARE {name} AS {body}")
        prepared.add(name)
    cursor.execute(f"EXECUTE {name} ({placeholders(len(params))})", params)


class Statement:
    """A written-out statement whose parameters are the same in number at every call: prepared
    once per session where the database has it (``execute_prepared``)."""

    def __init__(self, sql: str):
        self.sql = sql
        self.name = f"rows_{next(_names)}"

    def fetchall(self, params: Sequence, *, using: str = "default") -> list[tuple]:
        connection = connections[using]
        with connection.cursor() as cursor:
            execute_prepared(connection, cursor, self.name, self.sql, params)
            return cursor.fetchall()


class JoinedRows:
    """``SELECT <every column of each (model, alias)>, <extra> FROM <from_clause> WHERE
    <where>``; ``extra`` are SQL expressions whose values follow the instances, as read."""

    def __init__(
        self,
        parts: Sequence[tuple[type[Model], str]],
        from_clause: str,
        where: str,
        extra: Sequence[str] = (),
        lock: bool = False,
    ):
        self.parts = list(parts)
        self.from_clause = from_clause
        self.where = where
        self.extra = list(extra)
        # Lock the first part's row, FOR NO KEY UPDATE where the database has it (PostgreSQL:
        # inserts that reference the row, like new commands of an event, are not blocked);
        # SQLite has no row locks (its transactions take the write lock).
        self.lock = lock
        self.name = f"rows_{next(_names)}"

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
        if self.lock and connection.features.has_select_for_update:
            no_key = connection.features.has_select_for_no_key_update
            sql += f" FOR {'NO KEY ' if no_key else ''}UPDATE OF {self.parts[0][1]}"
        return sql, plans

    def _execute_prepared(self, connection, cursor, sql: str, params: Sequence) -> None:
        execute_prepared(connection, cursor, self.name, sql, params)

    @cache  # noqa: B019 - one entry per database alias, for the life of the process
    def _with_arrays(self, using: str) -> tuple[str, list[str | None]]:
        """The statement with each ``IN ({name})`` as ``= ANY(%s)``: one array parameter per
        list, so the statement is the same whatever the lists' lengths (and can be prepared);
        and its places in order: None for a value, the name of a list."""
        sql = self._compiled(using)[0]
        places = [slot.group(1) for slot in _SLOT.finditer(sql)]
        sql = _IN_LIST.sub("= ANY(%s)", sql)
        if "{" in sql:
            raise ValueError(f"{self.name}: a list outside IN ({{...}})")
        return sql, places

    def fetch(self, params: Sequence, *, using: str = "default", **lists: int) -> list[list]:
        """One list per row: an instance per part (None where a LEFT JOIN found nothing: a part
        whose primary key is NULL), then the extra values. ``params`` in the statement's order
        (the extra expressions' first, then the condition's). ``lists`` sizes the condition's
        ``IN ({name})`` lists, their values given in ``params`` one by one: written out as that
        many ``%s``, or on PostgreSQL sent as one array each (``= ANY(%s)``) in a prepared
        statement, planned once per session rather than for each length of each list."""
        sql, plans = self._compiled(using)
        builders = [_builder(model) for model, _, _ in plans]
        connection = connections[using]
        with connection.cursor() as cursor:
            if lists and _prepares(connection):
                sql, places = self._with_arrays(using)
                arrays = _as_arrays(places, params, lists)
                self._execute_prepared(connection, cursor, sql, arrays)
            elif lists:
                sql = sql.format(**{name: placeholders(n) for name, n in lists.items()})
                cursor.execute(sql, params)
            else:
                self._execute_prepared(connection, cursor, sql, params)
            rows = cursor.fetchall()
        found = []
        for row in rows:
            instances, start = [], 0
            for (model, names, converters), build in zip(plans, builders, strict=True):
                values = list(row[start : start + len(names)])
                start += len(names)
                if values[names.index(model._meta.pk.attname)] is None:
                    instances.append(None)
                    continue
                for position, col, functions in converters:
                    for convert in functions:
                        values[position] = convert(values[position], col, connection)
                instances.append(build(using, names, values))
            found.append(instances + list(row[start:]))
        return found


_IN_LIST = re.compile(r"IN \(\{(\w+)\}\)")
_SLOT = re.compile(r"%s|\{(\w+)\}")


def _prepares(connection) -> bool:
    return connection.vendor == "postgresql" and settings.DATABASE_PREPARED_STATEMENTS


def _as_arrays(places: list[str | None], params: Sequence, lists: dict[str, int]) -> list:
    """``params`` with each list's values (given one by one, in the statement's order) gathered
    into one list: the parameter of its ``= ANY(%s)``."""
    values, grouped = iter(params), []
    for name in places:
        grouped.append(next(values) if name is None else [next(values) for _ in range(lists[name])])
    if next(values, _NONE) is not _NONE:
        raise ValueError("more parameters than the statement has places for")
    return grouped


_NONE = object()


def _builder(model: type[Model]):
    """How rows of every concrete field become instances: ``Model.from_db``, or, for a model
    that nobody watches being built (no ``pre_init``/``post_init`` receivers), the instance it
    would give, made directly: its values in ``__dict__`` and a loaded ``_state``. For the
    hundreds of commands a decision batch reads, ``Model.__init__``'s per-field descriptors
    cost more than the query."""
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return model.from_db
    new = model.__new__

    def build(using: str, names: list[str], values: list) -> Model:
        instance = new(model)
        instance.__dict__.update(zip(names, values, strict=True))
        instance._state = ModelState()
        instance._state.adding, instance._state.db = False, using
        return instance

    return build
