"""The fence around a partition's decisions, on PostgreSQL, with two sessions interleaved step by
step (``tests/integration/interleave.py``): what a round counts and whom it believes owns the
partition are read after its locks are held, so a commit it waited for is never missed."""

import pytest

from devtools.stack import shell_json

pytestmark = pytest.mark.servers

SCENARIO = """
import json
import apps.bookings.commands
apps.bookings.commands.ring_doorbell = lambda **kwargs: True  # the scenario decides, no worker
from tests.integration import interleave
print(json.dumps(interleave.{name}()))
"""


def run(postgres_shell, name: str) -> dict:
    return shell_json(postgres_shell, SCENARIO.format(name=name))


def test_a_round_that_waited_for_an_event_counts_the_seats_booked_meanwhile(postgres_shell):
    """4 of 5 seats booked and committed while the round waited for the event's lock: its
    book of 2 is refused, and the counter stays 4 (read in the statement's old snapshot, the
    seats would have counted 0: the counter "repaired" down to 0, and 2 more seats sold)."""
    seen = run(postgres_shell, "seats_booked_while_a_round_waits")

    assert seen["error"] is None
    assert seen["outcome"] == ["rejected", "not_enough_seats"]
    assert (seen["seats_taken"], seen["seats_of_rows"], seen["capacity"]) == (4, 4, 5)


def test_a_round_that_waited_for_an_event_while_its_partition_was_taken_over_decides_nothing(
    postgres_shell,
):
    seen = run(postgres_shell, "takeover_while_a_round_waits_for_an_event")

    assert seen["lost"], seen["error"]
    assert seen["outcome"] == ["pending", ""]
    assert seen["decided_by_old_after_the_grant"] == 0
    assert not [b for b in seen["breaches"] if "granted away" in b]


def test_a_round_behind_an_uncommitted_takeover_waits_for_it_and_decides_nothing(postgres_shell):
    seen = run(postgres_shell, "round_behind_an_uncommitted_takeover")

    assert seen["lost"], seen["error"]
    assert seen["outcome"] == ["pending", ""]
    assert seen["new"] == seen["old"] + 1


def test_a_takeover_waits_for_the_round_in_flight_whose_decisions_precede_the_grant(
    postgres_shell,
):
    seen = run(postgres_shell, "takeover_behind_a_round_in_flight")

    assert seen["beat"] is True  # the owner's heartbeat went through during the round
    assert seen["error"] is None and seen["decided"] == 1
    assert seen["outcome"] == ["confirmed", "booked"]
    assert seen["decided_by"] == [4, seen["old"]]
    assert seen["decided_before_the_grant"] is True
    assert not [b for b in seen["breaches"] if "granted away" in b]
