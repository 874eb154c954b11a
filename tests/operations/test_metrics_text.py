"""The tests' reader of the Prometheus exposition: a vanished series fails the reading test."""

import pytest

from tests.operations.metrics_text import MissingSeries, samples, total, value

EXPOSITION = """\
# TYPE reservations_pending_commands gauge
reservations_pending_commands{partition="0"} 0.0
reservations_pending_commands{partition="1"} 3.0
"""


def test_a_present_series_is_read_even_when_its_value_is_zero():
    assert value(EXPOSITION, "reservations_pending_commands", partition="0") == 0
    assert total(samples(EXPOSITION), "reservations_pending_commands") == 3


def test_a_missing_series_is_an_error_not_a_zero():
    with pytest.raises(MissingSeries, match='partition.*"7"|7'):
        value(EXPOSITION, "reservations_pending_commands", partition="7")
    with pytest.raises(MissingSeries):
        total(samples(EXPOSITION), "reservations_database_up")


def test_a_default_is_taken_only_where_the_caller_gives_one():
    assert value(EXPOSITION, "reservations_doorbells_rerung_total", default=0) == 0
    assert total(samples(EXPOSITION), "reservations_doorbells_rerung_total", default=0) == 0
