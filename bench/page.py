"""docs/performance.md, generated from a run's results (``make perf-docs``):

    python -m bench.page [bench/results/latest.json] > docs/performance.md

The current figures against the targets, each design's best thread setting and its limit, the
method, and a short history of the headline figures. The prose of the method lives here, next
to the code it describes; the figures come from the JSON only.
"""

import json
import sys
from pathlib import Path

from bench.report import markdown, rate_of
from bench.scenarios import RATIO, RATIO_ALIAS

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"

# Headline figures of earlier rounds (2 cores), newest last; the current run is added below.
# Columns: hot ratio, spread ratio, p99 new/old hot, spread, backlog/s, embedded answered/s.
HISTORY = [
    (
        "first bench (old design fairer, new design before its batches)",
        "0.86",
        "0.36",
        "1.3 / 2.2",
        "5,130",
        "129",
        "one pass",
    ),
    (
        "2026-11-26: one thread setting (2 × 24) for both, old design without the door, "
        "old first in every pair, decisions timed at the round's start",
        "2.03",
        "1.23",
        "0.26 / 0.93",
        "10,327",
        "918",
        "medians of 3 pairs",
    ),
    (
        "2026-12-05: each at its best, same door, alternated, timed at the commit (the code "
        "before the fencing of the owner row and the chaos findings' fixes)",
        "1.56",
        "1.16",
        "0.36 / 1.27",
        "11,866",
        "976",
        "medians, 3 pairs per setting",
    ),
]

TARGETS = {
    "hot": "≥ 2.0",
    "spread": "≥ 1.3",
    "hot_rtt": "≥ 3.0",
    "p99": "≤ 0.5 / ≤ 0.8",
    "hot_wait": "≤ 1.0",
    "backlog": "≥ 12,000; ≥ 5,000",
    "embedded": "≥ 600/s, ≤ 0.6 s, durable",
    "footprint": "≤ 400 MB",
}

METHOD = """\
- **Stack.** PostgreSQL 15 (fsync on), Redis, gunicorn (gthread), 8 partition workers, the
  general and webhook workers and beat, all on the same 2 cores as the load generator (`wrk`
  with a Lua script, `bench/crowd.lua`, one keep-alive connection per client, 200 clients).
  Each request is one distinct customer's booking. `hot`: one event, capacity a fifth of the
  requests; `spread`: the same over 50 events; `hot_wait`: `hot` with `Prefer: wait=10`, the
  new design answering with the decision like the old one; `hot_rtt`: `hot` with PostgreSQL one
  delayed hop away; `backlog`: one partition worker deciding a backlog of one event; `embedded`:
  `make run`'s default (SQLite, file-system broker) under a crowd.
- **The old design** (`bench/legacy/`) decides inside the request under the event's row lock
  (`FOR NO KEY UPDATE`, as the new design's worker locks it). It has the same shortcuts as the
  new design: a book for an event that is full, keeps no waitlist and has nothing pending that
  could free a seat is refused **at the same door** from the same unlocked read
  (`commands.event_and_line`, `commands.refuse_at_the_door`), without the lock; webhook
  payloads take the username from the request. Both write the same rows for a booking (the
  booking, the seat counter, a history row, a delivery per subscription — 2 here) and answer
  through the same HTTP stack, rate limit and error handler.
- **Prepared statements, both designs** (PostgreSQL, `DATABASE_PREPARED_STATEMENTS=1`): token
  authentication and the door's read (shared); the new design's decision rounds; the old
  design's statements under the lock (the locked event, the customer's booking, the
  reactivation, the seat counter) and its webhook subscription lookup. Multi-row inserts
  (the command, the booking, history rows, deliveries) are prepared in neither.
- **Each at its best.** `hot` and `spread` run at every gunicorn setting of `--threads`
  (2 processes × 4, 8, 24 threads), `--repeat` old/new pairs at each; at each setting a design's
  figure is its median run, its best setting the one with the highest median answered/s, and
  the headline ratio is best new ÷ best old. Every setting is in `threads.<scenario>`.
  `hot_wait` and `hot_rtt` run each design at its best `hot` setting.
- **Fair order.** Pairs alternate over the whole run: old→new, new→old, old→new, …
- **Clocks.** *Answered/s*: requests answered per second of load (old: `201` + `409`; new:
  `202` + `409` at the door). *Time to decision*: from the client sending the request to its
  decision — the answer for the old design and for refusals at the door; for a `202`, the
  moment the commit of the round that decided it is announced (the bench listens to the
  announcement `Prefer: wait` requests wake on, published after the commit). `decided_at` is
  stamped when the round starts, before its writes and its fsync; the time to it is kept as
  `time_to_round_start_seconds`.
- **`hot_rtt`.** Every process of both designs reaches PostgreSQL through
  `devtools/delay_proxy.py`, a TCP proxy delaying each chunk by `--rtt-delay-ms` each way
  (0.5 ms; one asyncio loop on `select()`); its CPU is the `rtt_proxy` group. The round trip
  measured through it is in `scenarios.hot_rtt.database_round_trip_ms_through_proxy` (the
  proxy's own time on a busy machine comes on top of the delay).
- **Same conditions.** The webhook worker stops consuming before the runs (sending is the same
  work for both and not compared); no scheduled publishing during the runs; between runs (never
  inside one) the database is vacuumed, analyzed and checkpointed; each gunicorn process accepts
  at most its share of the crowd's connections.
- **CPU per request** by process group from `/proc` deltas over each run (from the first
  request until the design's decisions are made and its queues drained).
- **Footprint.** Processes of `python -m workers run --web` on the embedded default and their
  PSS summed from `/proc/<pid>/smaps_rollup`, idle and after the embedded crowd. **Durable**:
  the embedded stack's `PRAGMA synchronous` is FULL or EXTRA.
- **Run it.** `make bench` (`python -m bench`) on 2 quiet cores takes about five minutes;
  `python -m bench --quick` is a smoke run; `--scenario`, `--threads`, `--repeat`,
  `--rtt-delay-ms` narrow it. Then `make perf-docs` rewrites this page.
"""


def _f(value, fmt: str = "{:,.0f}") -> str:
    return "–" if value is None else fmt.format(value)


def _delay(results: dict) -> str:
    return f"{results['config'].get('rtt_delay_ms', 0.5):g}"


def _load(results: dict) -> str:
    start, end = (results["machine"].get(f"load_average_at_{k}") for k in ("start", "end"))
    if not start or not end:
        return ""
    return (
        f", load average {start[0]:.1f} at its start and {end[0]:.1f} at its end "
        "(2 or less: a quiet machine)"
    )


def _durable(run: dict) -> str:
    if run.get("durable") is None:
        return "not measured"
    return f"{'yes' if run['durable'] else 'no'} (synchronous={run.get('synchronous')})"


def _ratio(results: dict, name: str, key: str = RATIO) -> str:
    s = results["scenarios"].get(name)
    if not s:
        return "not run"
    found = s.get("ratios", {})
    value = found.get(key, found.get(RATIO_ALIAS) if key == RATIO else None)
    return "not measured" if value is None else f"{value:.2f}"


def current_rows(results: dict) -> list[tuple[str, str, str]]:
    s = results["scenarios"]
    b = results.get("backlog", {})
    rows = [
        ("hot: answered/s, best new ÷ best old", _ratio(results, "hot"), TARGETS["hot"]),
        ("spread: answered/s, best ÷ best", _ratio(results, "spread"), TARGETS["spread"]),
        (
            f"hot_rtt: answered/s new ÷ old, {_delay(results)} ms each way",
            _ratio(results, "hot_rtt"),
            TARGETS["hot_rtt"],
        ),
        (
            "p99 to decision new ÷ old, hot / spread",
            f"{_ratio(results, 'hot', 'p99_decision_new_over_old')} / "
            f"{_ratio(results, 'spread', 'p99_decision_new_over_old')}",
            TARGETS["p99"],
        ),
        (
            "hot_wait: p99 to the answer new ÷ old",
            _ratio(results, "hot_wait", "p99_answer_new_over_old"),
            TARGETS["hot_wait"],
        ),
        (
            "backlog decisions/s; confirmations/s",
            f"{_f(b.get('decisions_per_second'))}; {_f(b.get('confirmations_per_second'))}",
            TARGETS["backlog"],
        ),
    ]
    if "embedded" in s:
        e = s["embedded"]["new"]
        rows.append(
            (
                "embedded: answered/s, p99 to the 202, durable",
                f"{_f(rate_of(e))}/s, {e['seconds_to_202']['p99']} s, {_durable(e)}",
                TARGETS["embedded"],
            )
        )
    if "footprint" in results:
        f = results["footprint"]["embedded"]
        rows.append(
            (
                "embedded idle footprint (PSS); after the crowd",
                f"{_f(f['pss_mb_idle'])} MB, {f['processes']} processes; "
                f"{_f(f['pss_mb_after_crowd'])} MB",
                TARGETS["footprint"],
            )
        )
    bad = sum(
        d.get("server_errors_5xx", 0) + (d.get("lost") or 0) + d.get("events_over_capacity", 0)
        for sc in s.values()
        for d in (sc.get("new"), sc.get("old"))
        if d
    )
    rows.append(("5xx, lost, overbooking", str(bad), "0"))
    return rows


def threads_section(results: dict) -> list[str]:
    if not results.get("threads"):
        return ["Not measured in this run (one thread setting for both designs).", ""]
    lines = []
    for name, points in results.get("threads", {}).items():
        best = results["scenarios"][name]["threads"]
        lines += [
            f"**{name}** (median run of {next(iter(points.values()))['repeat']} pairs per setting;"
            " best of each design in bold):",
            "",
            "| gunicorn | new answered/s | old answered/s | new ÷ old | p99 to decision new / "
            "old (s) |",
            "|---|---|---|---|---|",
        ]
        for label, p in points.items():
            new = _f(p["new"]["answered_per_second"])
            old = _f(p["old"]["answered_per_second"])
            new = f"**{new}**" if label == best["new"] else new
            old = f"**{old}**" if label == best["old"] else old
            lines.append(
                f"| {label} | {new} | {old} | {_f(p['ratios'][RATIO], '{:.2f}')} | "
                f"{p['new']['time_to_decision_seconds']['p99']} / "
                f"{p['old']['time_to_decision_seconds']['p99']} |"
            )
        lines.append("")
    return lines


def limits_section(results: dict) -> list[str]:
    lines = []
    old = results.get("limits", {}).get("old")
    if old:
        lines.append(
            f"- *Old design: `1 / hold` bookings per second per event.* A booking holds the "
            f"event's row lock for {old['round_trips_under_lock']} round trips and the commit's "
            f"fsync: {old['lock_hold_ms_one_client']} ms with one client, "
            f"{old['lock_hold_ms_under_hot_crowd_p50']} ms p50 under the hot crowd (a ceiling "
            f"of {_f(old['ceiling_bookings_per_second_one_client'])}–"
            f"{_f(old['ceiling_bookings_per_second_under_crowd'])} bookings/s)."
        )
    rtt = results["scenarios"].get("hot_rtt")
    if rtt:
        lines.append(
            f"- *Across a network hop* ({rtt['rtt_delay_ms_each_way']} ms each way, a round "
            f"trip of {rtt['database_round_trip_ms_through_proxy']} ms measured through the "
            f"proxy): the old design's lock is held {rtt['lock_hold_ms_old_booked_p50']} ms "
            f"p50 per booking; answered/s new {_f(rtt['new']['answered_per_second'])}, old "
            f"{_f(rtt['old']['answered_per_second'])}."
        )
    new = results.get("limits", {}).get("new")
    if new:
        b = results["backlog"]
        lines.append(
            f"- *New design: one partition worker's decision rate per event*: "
            f"{_f(new['ceiling_decisions_per_second_one_worker'])} decisions/s from a backlog "
            f"of {_f(b['requests'])} ({_f(b.get('confirmations_per_second'))} confirmations/s "
            f"over the confirmations' stretch, {_f(b.get('refusals_per_second'))} refusals/s "
            "over the refusals'); accepting and refusing at the door scale with web processes."
        )
    return lines


def history_rows(results: dict) -> list[str]:
    lines = [
        "| run | hot | spread | p99 new ÷ old, hot / spread | backlog/s | embedded/s | how |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in HISTORY:
        lines.append("| " + " | ".join(row) + " |")
    if "threads" not in results:  # the last row of HISTORY already
        return lines
    e = results["scenarios"].get("embedded", {}).get("new", {})
    lines.append(
        f"| {results['started_at'][:10]}: this page (each at its best, same door, alternated, "
        f"timed at the commit) | {_ratio(results, 'hot')} | {_ratio(results, 'spread')} | "
        f"{_ratio(results, 'hot', 'p99_decision_new_over_old')} / "
        f"{_ratio(results, 'spread', 'p99_decision_new_over_old')} | "
        f"{_f(results.get('backlog', {}).get('decisions_per_second'))} | "
        f"{_f(e.get('answered_per_second'))} | medians, {results['config'].get('repeat')} "
        "pairs per setting |"
    )
    return lines


def _earlier_method_note(results: dict) -> list[str]:
    """Results of a bench from before the thread sweep (no ``threads``): said so, since the
    headline then compares one thread setting for both and an old design without the door."""
    if "threads" in results:
        return []
    return [
        "**These figures come from the method before the current one**: one thread setting "
        "(2 × 24) for both designs, the old design without the door, the old design first in "
        "every pair, a `202`'s decision timed at its round's start. The method below is the "
        "current one; `make bench && make perf-docs` replaces them.",
        "",
    ]


def page(results: dict) -> str:
    cores = results["machine"]["cpus"]
    lines = [
        "# Performance",
        "",
        "*Generated by `make perf-docs` (`python -m bench.page`) from "
        "`bench/results/latest.json`: edit `bench/page.py`, not this file.*",
        "",
        f"One `make bench` on {cores} cores, started {results['started_at']}, "
        f"{_f(results.get('total_seconds'))} s in all{_load(results)}. "
        "Ratios compare the designs within the run.",
        "",
        *_earlier_method_note(results),
        "## Current figures",
        "",
        "| measure | this run | target |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in current_rows(results)],
        "",
        "Each scenario, each design at its best setting:",
        "",
        markdown(results),
        "",
        "## Each design at its best",
        "",
        *threads_section(results),
        "## Limits",
        "",
        *limits_section(results),
        "",
        "## Method",
        "",
        METHOD,
        "## History",
        "",
        *history_rows(results),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else RESULTS
    sys.stdout.write(page(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
