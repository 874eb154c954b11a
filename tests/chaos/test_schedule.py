"""The fault schedule is drawn from the seed: the same seed replays the same schedule."""

from chaos.faults import PLANNED_SECONDS, STALLING, plan


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    assert plan(42, 300, cut_possible=True) == plan(42, 300, cut_possible=True)
    assert plan(42, 300, cut_possible=True) != plan(43, 300, cut_possible=True)


def test_the_network_cut_comes_first_when_it_can_be_done_and_never_when_it_cannot():
    assert plan(5, 120, cut_possible=True)[0].kind == "network_cut"
    assert all(p.kind != "network_cut" for p in plan(5, 600, cut_possible=False))


def test_the_schedule_fits_its_duration_and_a_long_run_has_every_kind():
    schedule = plan(9, 90, cut_possible=True, stall_seconds=20)
    planned = sum(
        p.gap + PLANNED_SECONDS[p.kind] + (20 if p.kind in STALLING else 0) for p in schedule
    )
    assert planned <= 90
    assert {p.kind for p in plan(9, 1200, cut_possible=True)} == set(PLANNED_SECONDS)


def test_the_embedded_schedule_has_only_the_faults_of_one_machine_without_servers():
    from chaos.faults import EMBEDDED_KINDS, NOT_EMBEDDED

    schedule = plan(9, 1200, cut_possible=False, kinds=EMBEDDED_KINDS)

    assert {p.kind for p in schedule} == set(EMBEDDED_KINDS)
    assert {p.target for p in schedule if p.kind == "kill_machine"} == {"a"}
    assert set(EMBEDDED_KINDS) | set(NOT_EMBEDDED) == set(PLANNED_SECONDS)
