"""A repeated scenario reports the median of its pairs' ratios, the figures of the median pair,
and every pair; a repeated backlog the median run and every run's rate."""

from bench.scenarios import RATIO, median_backlog, median_of_pairs


def pair(ratio: float, p99_new: float, p99_old: float, rate: float) -> dict:
    return {
        "requests": 5000,
        "new": {
            "accepted_per_second": rate * ratio,
            "time_to_decision_seconds": {"p99": p99_new},
            "cpu_ms_per_request": {"server_total": 2.5},
            "lost": 0,
        },
        "old": {
            "bookings_per_second": rate,
            "time_to_decision_seconds": {"p99": p99_old},
            "cpu_ms_per_request": {"server_total": 4.0},
        },
        "ratios": {
            RATIO: ratio,
            "p99_decision_new_over_old": round(p99_new / p99_old, 3),
            "p99_decision_old_over_new": round(p99_old / p99_new, 3),
        },
    }


def test_each_ratio_is_the_median_of_the_pairs_and_the_figures_are_the_median_pairs():
    pairs = [pair(2.4, 0.9, 1.0, 300), pair(1.6, 0.5, 1.0, 400), pair(2.1, 1.2, 1.0, 350)]

    found = median_of_pairs(pairs)

    assert found["ratios"][RATIO] == 2.1
    # Each ratio on its own: the p99 ratio's median is another pair's (0.9 of the first).
    assert found["ratios"]["p99_decision_new_over_old"] == 0.9
    assert found["ratios"]["p99_decision_old_over_new"] == 1.111
    # The designs' figures: all of one pair, the one at the median answered ratio (the third).
    assert found["median_pair"] == 3
    assert found["old"]["bookings_per_second"] == 350
    assert found["new"]["time_to_decision_seconds"] == {"p99": 1.2}
    assert found["new"]["lost"] == 0 and found["requests"] == 5000
    assert found["repeat"] == 3
    assert [t["ratios"][RATIO] for t in found["trials"]] == [2.4, 1.6, 2.1]
    assert found["trials"][1]["old"] == {
        "bookings_per_second": 400,
        "time_to_decision_seconds": {"p99": 1.0},
        "cpu_ms_per_request": {"server_total": 4.0},
    }


def test_one_pair_is_reported_as_it_ran():
    only = pair(1.9, 0.8, 1.0, 300)

    found = median_of_pairs([only])

    assert found["ratios"] == only["ratios"] and found["repeat"] == 1
    assert found["new"] == only["new"] and found["old"] == only["old"]


def test_a_repeated_backlog_reports_its_median_run_and_every_runs_rate():
    runs = [
        {"decided": 5000, "decisions_per_second": rate, "run": n}
        for n, rate in enumerate([11000.0, 8000.0, 12500.0, 9000.0])
    ]

    found = median_backlog(runs)

    assert found["run"] == 3  # 9,000/s: the lower middle of four
    assert found["decisions_per_second"] == 9000.0
    assert found["trials_decisions_per_second"] == [11000.0, 8000.0, 12500.0, 9000.0]
    assert found["repeat"] == 4
