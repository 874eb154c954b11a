"""The benchmark's report: the table printed at the end and the plot (bench/results/latest.png)."""

from pathlib import Path

DESIGNS = ("old", "new")
CPU_GROUPS = (
    "web",
    "partition_workers",
    "other_celery",
    "postgresql",
    "redis",
    "rtt_proxy",
    "load_generator",
)


def rate_of(d: dict) -> float | None:
    """Answered/s of a design's run (results from before ``answered_per_second`` too)."""
    return d.get("answered_per_second", d.get("accepted_per_second", d.get("bookings_per_second")))


def _runs(results: dict):
    """(scenario, design, figures) for every design measured in every scenario."""
    for name, s in results["scenarios"].items():
        for design in DESIGNS:
            if design in s:
                yield name, design, s, s[design]


def cpu_text(d: dict) -> str:
    cpu = d.get("cpu_ms_per_request") or {}
    parts = [f"{g.split('_')[0]} {cpu[g]}" for g in CPU_GROUPS if cpu.get(g)]
    return f"{cpu.get('server_total', '-')} ({', '.join(parts)})" if cpu else "-"


def table(results: dict) -> str:
    """p50/p95/p99: seconds from sending the request to its decision (client clock)."""
    rows = [
        (
            "scenario",
            "design",
            "answered/s",
            "decisions/s",
            "p50 s",
            "p95 s",
            "p99 s",
            "confirmed/cap",
            "5xx+errors",
            "lost",
            "CPU ms/request: server (by group)",
        )
    ]
    for name, design, s, d in _runs(results):
        t = d["time_to_decision_seconds"]
        rows.append(
            (
                name,
                design,
                str(
                    d.get(
                        "answered_per_second",
                        d.get("accepted_per_second", d.get("bookings_per_second")),
                    )
                ),
                str(d["decisions_per_second"]),
                str(t["p50"]),
                str(t["p95"]),
                str(t["p99"]),
                f"{d['confirmed']}/{s['capacity']}",
                str(d["server_errors_5xx"] + d["transport_errors"]),
                str(d.get("lost", d.get("undecided"))),
                cpu_text(d),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = list(_runs(results))
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(17, 5))
    labels = [f"{name}\n{design}" for name, design, _, _ in runs]
    rates = [rate_of(d) or 0 for *_, d in runs]
    colors = ["tab:red" if design == "old" else "tab:blue" for _, design, _, _ in runs]
    left.bar(range(len(runs)), rates, color=colors)
    for x, value in enumerate(rates):
        left.text(x, value, f"{value:.0f}", ha="center", va="bottom", fontsize=8)
    left.set_xticks(range(len(runs)), labels, fontsize=8)
    left.set_ylabel("answered requests per second")
    left.set_title("Throughput (red: old, blue: new)")
    width = 0.25
    for k, q in enumerate(("p50", "p95", "p99")):
        values = [d["time_to_decision_seconds"][q] or 0 for *_, d in runs]
        middle.bar([x + (k - 1) * width for x in range(len(runs))], values, width, label=q)
    middle.set_xticks(range(len(runs)), labels, fontsize=8)
    middle.set_ylabel("seconds from request to decision")
    middle.set_title("Time to decision")
    middle.legend()
    bottom = [0.0] * len(runs)
    for group in CPU_GROUPS:
        values = [(d.get("cpu_ms_per_request") or {}).get(group) or 0 for *_, d in runs]
        right.bar(range(len(runs)), values, bottom=bottom, label=group)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    right.set_xticks(range(len(runs)), labels, fontsize=8)
    right.set_ylabel("CPU ms per request")
    right.set_title("Where the CPU goes")
    right.legend(fontsize=7)
    fig.suptitle(
        f"make bench on {results['machine']['cpus']} CPUs "
        f"({results['config']['requests']} requests, "
        f"{results['config']['concurrency']} clients)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(results: dict) -> str:
    """The README's table (Performance), from a run's results."""
    cpus = results["machine"]["cpus"]
    lines = [
        "| scenario | design | answered/s | decisions/s | request → decision p50 / p95 / p99 (s) "
        "| confirmed / capacity | 5xx | lost | CPU ms per request: server total (web, partition "
        "workers, other Celery, PostgreSQL, Redis, delaying proxy; load generator) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, design, s, d in _runs(results):
        t = d["time_to_decision_seconds"]
        cpu = d.get("cpu_ms_per_request") or {}
        groups = ", ".join(str(cpu.get(g, 0) or 0) for g in CPU_GROUPS[:-1])
        rate = d.get(
            "answered_per_second", d.get("accepted_per_second", d.get("bookings_per_second"))
        )
        lines.append(
            f"| {name} ({cpus} cores) | {design} | {rate:,.0f}"
            f" | {d['decisions_per_second'] or 0:,.0f}"
            f" | {t['p50']} / {t['p95']} / {t['p99']} | {d['confirmed']} / {s['capacity']}"
            f" | {d['server_errors_5xx'] + d['transport_errors']}"
            f" | {d.get('lost', d.get('undecided'))}"
            f" | {cpu.get('server_total', '-')} ({groups}; {cpu.get('load_generator', '-')}) |"
        )
    if "backlog" in results:
        b = results["backlog"]
        lines.append(
            f"| backlog ({cpus} cores) | new, the worker alone | – | "
            f"{b['decisions_per_second']:,.0f} | – | {b['confirmed']} / {b['capacity']} | – | "
            f"{b['pending']} | – |"
        )
    return "\n".join(lines)
