"""Reading a Prometheus text exposition in tests. A series that is not there is an error, so a
gauge that vanished fails the test that reads it; where absence is legitimate (a counter that
has not moved yet has no series) the caller says so with ``default=``."""

from prometheus_client.parser import text_string_to_metric_families

_REQUIRED = object()


class MissingSeries(AssertionError):
    """The exposition has no such series."""


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted label items): value}``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _missing(table: dict, name: str, labels: dict) -> MissingSeries:
    present = sorted(str(dict(items)) for sample, items in table if sample == name)
    return MissingSeries(f"no series {name} {labels}; the exposition has {name} for {present}")


def value(text_or_samples, name: str, *, default=_REQUIRED, **labels) -> float:
    """One sample's value; raises ``MissingSeries`` when absent unless ``default`` is given."""
    table = samples(text_or_samples) if isinstance(text_or_samples, str) else text_or_samples
    key = (name, tuple(sorted(labels.items())))
    if key in table:
        return table[key]
    if default is _REQUIRED:
        raise _missing(table, name, labels)
    return default


def total(table: dict, name: str, *, default=_REQUIRED, **labels) -> float:
    """The sum of a metric's samples whose labels include ``labels``; raises ``MissingSeries``
    when none matches unless ``default`` is given."""
    matching = [
        v
        for (sample, items), v in table.items()
        if sample == name and set(labels.items()) <= set(items)
    ]
    if not matching:
        if default is _REQUIRED:
            raise _missing(table, name, labels)
        return default
    return sum(matching)
