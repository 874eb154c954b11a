"""Reading a Prometheus text exposition in tests."""

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted label items): value}``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text_or_samples, name: str, **labels) -> float:
    """One sample's value (0 when absent: a counter that never moved has no series)."""
    table = samples(text_or_samples) if isinstance(text_or_samples, str) else text_or_samples
    return table.get((name, tuple(sorted(labels.items()))), 0.0)


def total(table: dict, name: str, **labels) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    return sum(
        v
        for (sample, items), v in table.items()
        if sample == name and set(labels.items()) <= set(items)
    )
