"""Recovery times: from a fault to its partitions' first decision of a command recorded after
it; a partition that never decides again is reported as such, not left out."""

from chaos.checker import History
from chaos.faults import Injected
from chaos.report import recovery_seconds


def decided(id_, event, created_at, decided_at) -> dict:
    return {
        "id": id_,
        "uid": f"u{id_}",
        "event": event,
        "created_at": created_at,
        "decided_at": decided_at,
    }


EVENTS = {1: {"partition": 0}, 2: {"partition": 1}}


def test_recovery_is_the_slowest_partition_first_decision_of_a_command_after_the_fault():
    history = History(
        requests=[
            decided(1, 1, 9.0, 10.5),  # recorded before the fault: not counted
            decided(2, 1, 10.2, 13.0),
            decided(3, 2, 10.1, 17.0),
        ],
        events=EVENTS,
    )
    cut = Injected("network_cut", "a", started=10.0, ended=12.0, partitions=[0, 1])
    assert recovery_seconds(history, [cut]) == {"network_cut": 7.0}


def test_a_partition_that_never_decides_again_is_reported_as_none():
    history = History(
        requests=[decided(1, 1, 10.2, 11.0), decided(2, 2, 9.0, 9.5), decided(3, 2, 10.5, None)],
        events=EVENTS,
    )
    stop = Injected("stop_machine", "a", started=10.0, ended=12.0, partitions=[0, 1])
    assert recovery_seconds(history, [stop]) == {"stop_machine": None}


def test_a_partition_asked_nothing_after_the_fault_is_not_measured():
    history = History(requests=[decided(1, 1, 10.2, 11.0)], events=EVENTS)
    kill = Injected("kill_machine", "a", started=10.0, ended=12.0, partitions=[0, 1])
    assert recovery_seconds(history, [kill]) == {"kill_machine": 1.0}
