"""docs/performance.md is generated from a run's results: the headline figures against the
targets, every thread setting with each design's best marked, the limits, the method, the
history; and the results carry the keys the page and other readers use."""

from bench.page import page
from bench.sweep import headline, point, threads_table
from tests.bench.test_sweep import pair


def results() -> dict:
    points = {"2x4": point([pair(600, 450)]), "2x24": point([pair(800, 380)])}
    hot = headline(points)
    for design in ("new", "old"):
        hot[design].update(
            time_to_decision_seconds={"p50": 0.1, "p95": 0.4, "p99": 0.5},
            confirmed=600,
            server_errors_5xx=0,
            transport_errors=0,
            lost=0,
            undecided=0,
            events_over_capacity=0,
        )
    embedded_run = {
        **hot["new"],
        "seconds_to_202": {"p99": 0.4},
        "durable": True,
        "synchronous": "FULL",
    }
    return {
        "started_at": "2026-12-05T09:00:00Z",
        "total_seconds": 580.0,
        "machine": {"cpus": 2},
        "config": {"repeat": 1, "requests": 3000, "concurrency": 200},
        "scenarios": {
            "hot": hot,
            "embedded": {"capacity": 300, "new": embedded_run},
        },
        "threads": {"hot": threads_table(points)},
        "backlog": {
            "requests": 5000,
            "capacity": 1000,
            "confirmed": 1000,
            "pending": 0,
            "decisions_per_second": 12000.0,
            "confirmations_per_second": 5100.0,
            "refusals_per_second": 20000.0,
        },
        "limits": {"new": {"ceiling_decisions_per_second_one_worker": 12000.0}},
        "footprint": {
            "embedded": {"processes": 6, "pss_mb_idle": 310.5, "pss_mb_after_crowd": 360.0}
        },
    }


def test_the_page_shows_the_headline_against_the_targets_and_each_designs_best_setting():
    text = page(results())

    assert "| hot: answered/s, best new ÷ best old | 1.78 | ≥ 2.0 |" in text
    assert "| 2x4 | 600 | **450** |" in text
    assert "| 2x24 | **800** | 380 |" in text
    assert "12,000; 5,100" in text
    assert "310 MB, 6 processes" in text or "311 MB, 6 processes" in text
    assert "yes (synchronous=FULL)" in text
    for section in ("## Current figures", "## Each design at its best", "## Method", "## History"):
        assert section in text


def test_a_scenario_not_run_is_said_so_not_invented():
    text = page(results())

    assert "| hot_rtt: answered/s new ÷ old, 0.5 ms each way | not run |" in text
