"""The benchmark's report: the table printed at the end and the plot (bench/results/latest.png)."""

from pathlib import Path


def table(results: dict) -> str:
    """p50/p95/p99: seconds from sending the request to its decision (client clock)."""
    rows = [
        (
            "scenario",
            "design",
            "accepted/s",
            "decisions/s",
            "p50 s",
            "p95 s",
            "p99 s",
            "recorded->decided p99 s",
            "confirmed/cap",
            "5xx+errors",
            "lost",
        )
    ]
    for name, s in results["scenarios"].items():
        for design in ("old", "new"):
            d = s[design]
            t = d["time_to_decision_seconds"]
            rows.append(
                (
                    name,
                    design,
                    str(d.get("accepted_per_second", d.get("bookings_per_second"))),
                    str(d["decisions_per_second"]),
                    str(t["p50"]),
                    str(t["p95"]),
                    str(t["p99"]),
                    str(d.get("recorded_to_decision_seconds", {}).get("p99", "-")),
                    f"{d['confirmed']}/{s['capacity']}",
                    str(d["server_errors_5xx"] + d["transport_errors"]),
                    str(d.get("lost", d.get("undecided"))),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["scenarios"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.25
    for i, name in enumerate(names):
        s = results["scenarios"][name]
        bars = [
            ("old booking/s", s["old"]["bookings_per_second"], "tab:red"),
            ("new accepted/s", s["new"]["accepted_per_second"], "tab:blue"),
            ("new decisions/s", s["new"]["decisions_per_second"] or 0, "tab:green"),
        ]
        for j, (label, value, color) in enumerate(bars):
            left.bar(
                i + (j - 1) * width, value, width, color=color, label=label if i == 0 else None
            )
            left.text(
                i + (j - 1) * width, value, f"{value:.0f}", ha="center", va="bottom", fontsize=8
            )
    left.set_xticks(range(len(names)), names)
    left.set_ylabel("per second")
    left.set_title("Throughput")
    left.legend()
    labels = []
    for name in names:
        for design in ("old", "new"):
            labels.append(f"{name}\n{design}")
    qs = ("p50", "p95", "p99")
    for k, q in enumerate(qs):
        values = [
            results["scenarios"][n][d]["time_to_decision_seconds"][q] or 0
            for n in names
            for d in ("old", "new")
        ]
        right.bar([x + (k - 1) * width for x in range(len(labels))], values, width, label=q)
    right.set_xticks(range(len(labels)), labels)
    right.set_ylabel("seconds from request to decision")
    right.set_title("Time to decision")
    right.legend()
    fig.suptitle(
        f"make bench on {results['machine']['cpus']} CPUs "
        f"({results['config']['requests']} requests, "
        f"{results['config']['concurrency']} clients)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
