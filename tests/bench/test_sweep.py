"""Each design at its best: pairs alternate their order over the whole bench; at each thread
setting each design's figure is its median run; the headline compares each design at its own
best setting and keeps every point."""

from bench.backlog import median_backlog, rates_by_kind
from bench.scenarios import RATIO, RATIO_ALIAS, ratios
from bench.sweep import Alternation, best_setting, headline, order_of, point, threads_table


def run(rate: float, p99: float, answer: float | None = None) -> dict:
    return {
        "answered_per_second": rate,
        "decisions_per_second": rate,
        "time_to_decision_seconds": {"p99": p99},
        "request_seconds": {"p99": answer if answer is not None else p99},
        "cpu_ms_per_request": {"server_total": 2.5},
        "lost": 0,
    }


def pair(new_rate: float, old_rate: float, order=("old", "new"), **more) -> dict:
    new, old = run(new_rate, 0.5), run(old_rate, 1.0)
    return {
        "requests": 3000,
        "capacity": 600,
        **more,
        "order": list(order),
        "new": new,
        "old": old,
        "ratios": ratios(new, old),
    }


def test_pairs_alternate_old_first_then_new_first_across_the_whole_bench():
    alternation = Alternation()

    orders = [alternation.next_order() for _ in range(5)]

    assert orders == [("old", "new"), ("new", "old")] * 2 + [("old", "new")]
    assert order_of(7) == ("new", "old")


def test_a_settings_figures_are_each_designs_median_run_of_its_pairs():
    pairs = [pair(900, 300), pair(700, 500, ("new", "old")), pair(800, 400)]

    found = point(pairs)

    assert found["new"]["answered_per_second"] == 800
    assert found["old"]["answered_per_second"] == 400
    assert found["ratios"][RATIO] == 2.0
    assert found["repeat"] == 3 and found["requests"] == 3000
    assert [t["order"] for t in found["trials"]] == [["old", "new"], ["new", "old"], ["old", "new"]]


def test_the_headline_takes_each_design_at_its_own_best_setting():
    points = {
        "2x4": point([pair(600, 450)]),
        "2x8": point([pair(700, 420)]),
        "2x24": point([pair(800, 380)]),
    }

    found = headline(points)

    assert found["threads"] == {"old": "2x4", "new": "2x24"}
    assert found["new"]["answered_per_second"] == 800
    assert found["old"]["answered_per_second"] == 450
    assert found["ratios"][RATIO] == round(800 / 450, 3)
    assert best_setting(points, "old") == "2x4"


def test_every_setting_is_kept_in_the_threads_table():
    points = {"2x4": point([pair(600, 450)]), "2x24": point([pair(800, 380)])}

    table = threads_table(points)

    assert list(table) == ["2x4", "2x24"]
    assert table["2x4"]["old"]["answered_per_second"] == 450
    assert table["2x24"]["ratios"][RATIO] == round(800 / 380, 3)


def test_the_old_ratio_key_is_an_alias_with_the_same_value():
    found = ratios(run(900, 0.5), run(300, 1.0))

    assert found[RATIO] == 3.0 and found[RATIO_ALIAS] == found[RATIO]
    assert found["p99_decision_new_over_old"] == 0.5


def test_a_waiting_scenario_compares_the_p99_to_the_answer_too():
    found = ratios(run(600, 0.5, answer=0.8), run(300, 1.0, answer=1.6), waited=True)

    assert found["p99_answer_new_over_old"] == 0.5


def test_backlog_rates_by_kind_time_each_kind_on_its_own_stretch_of_the_line():
    statuses = {1: "confirmed", 2: "confirmed", 3: "rejected", 4: "rejected", 5: "rejected"}
    stamps = {1: 100.1, 2: 100.2, 3: 100.3, 4: 100.4, 5: 100.5}

    found = rates_by_kind(statuses, stamps, rung=100.0)

    assert found["confirmations_per_second"] == 10.0  # 2 in 0.2 s
    assert found["refusals_per_second"] == 10.0  # 3 in the 0.3 s after the last confirmation


def test_backlog_rates_by_kind_are_unknown_when_an_announcement_is_missing():
    found = rates_by_kind({1: "confirmed", 2: "rejected"}, {1: 100.1}, rung=100.0)

    assert found == {"confirmations_per_second": None, "refusals_per_second": None}


def test_a_repeated_backlog_reports_its_median_run_and_every_runs_rates():
    runs = [
        {"decisions_per_second": r, "confirmations_per_second": r / 2} for r in (9000, 12000, 10000)
    ]

    found = median_backlog(runs)

    assert found["decisions_per_second"] == 10000
    assert found["trials_decisions_per_second"] == [9000, 12000, 10000]
    assert found["trials_confirmations_per_second"] == [4500, 6000, 5000]
