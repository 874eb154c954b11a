"""What a run found: recovery times from the rows, the JSON written to chaos/results/ and the
table printed at the end."""

from collections import Counter, defaultdict

from chaos.checker import SETTLED, History, acknowledged

# How a machine cut off the network is noticed (workers/leases.py): the lease session's
# server-side keepalives (idle 10 s, then 3 probes 5 s apart) drop its advisory lock, and the
# standby, polling every 0.5 s, takes the partition; the cut-off worker's own lease check fails
# on its TCP user timeout (30 s) and it exits. Decision sessions idle in a transaction are ended
# after BOOKING_STALL_SECONDS.
DETECTION = {
    "lease_session_server_keepalive_seconds": 10 + 3 * 5,
    "lease_session_client_tcp_user_timeout_seconds": 30,
    "decision_session_keepalives": "none set (kernel default: 7200 s idle); an open "
    "transaction is ended by idle_in_transaction_session_timeout = BOOKING_STALL_SECONDS",
    "redis_socket_timeout_seconds": 2,
}


def recovery_seconds(history: History, injected: list) -> dict[str, float]:
    """Fault kind -> the longest time, over its faults and their partitions, from the fault to
    the partition's first decision of a command recorded after it (None: a partition never
    decided again)."""
    partition_of = {e: ev["partition"] for e, ev in history.events.items()}
    decided = defaultdict(list)  # partition -> [(created_at, decided_at)]
    for r in history.requests:
        if r["event"] in partition_of:
            decided[partition_of[r["event"]]].append((r["created_at"], r["decided_at"]))
    worst: dict[str, float | None] = {}
    for fault in injected:
        for partition in fault.partitions:
            recorded = [d for c, d in decided[partition] if c >= fault.started]
            if not recorded:  # nothing was asked of it after the fault: nothing to measure
                continue
            after = [d for d in recorded if d is not None]
            if not after:  # asked, and never decided again: null, the worst there is
                worst[fault.kind] = None
                continue
            seconds = round(min(after) - fault.started, 2)
            if worst.get(fault.kind, 0.0) is not None:
                worst[fault.kind] = max(worst.get(fault.kind, 0.0), seconds)
    return worst


def summary(history: History, injected, skipped, anomalies, *, seed, duration, extra) -> dict:
    acks = acknowledged(history)
    rows = {r["uid"]: r for r in history.requests}
    statuses = Counter(str(c.get("status")) for c in history.calls)
    return {
        "seed": seed,
        "duration_s": duration,
        "faults_injected": dict(Counter(f.kind for f in injected)),
        "faults_skipped": skipped,
        "commands_acknowledged": len(acks),
        "commands_decided": sum(1 for u in acks if u in rows and rows[u]["status"] in SETTLED),
        "commands_recorded": len(history.requests),
        "anomalies": anomalies,
        "recovery_seconds": recovery_seconds(history, injected),
        "answers": dict(sorted(statuses.items())),
        "webhooks": {"deliveries": len(history.deliveries), "received_ids": len(history.received)},
        "detection": DETECTION,
        "faults": [
            {
                "kind": f.kind,
                "target": f.target,
                "at": round(f.started, 3),
                "seconds": round(f.ended - f.started, 2),
                "detail": f.detail,
            }
            for f in injected
        ],
        **extra,
    }


def table(result: dict) -> str:
    lines = [
        f"chaos seed {result['seed']}, {result['duration_s']} s: "
        f"{result['commands_acknowledged']} commands acknowledged, "
        f"{result['commands_decided']} decided, {len(result['anomalies'])} anomalies",
        f"{'fault':<24}{'injected':>9}{'recovery s':>12}",
    ]
    for kind, count in sorted(result["faults_injected"].items()):
        recoveries = result["recovery_seconds"]
        recovery = recoveries.get(kind)
        shown = (
            "-" if kind not in recoveries else "never" if recovery is None else f"{recovery:.1f}"
        )
        lines.append(f"{kind:<24}{count:>9}{shown:>12}")
    for kind, why in sorted(result["faults_skipped"].items()):
        lines.append(f"{kind:<24}{'skipped':>9}  {why}")
    kinds = Counter(a["kind"] for a in result["anomalies"])
    for kind, count in sorted(kinds.items()):
        example = next(a for a in result["anomalies"] if a["kind"] == kind)
        lines.append(
            f"ANOMALY {kind} x{count}: event {example['event']} "
            f"{example['commands'][:2]} {example['detail']}"
        )
    lines.append(f"answers: {result['answers']}")
    return "\n".join(lines)
