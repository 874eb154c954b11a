"""The chaos checker on fabricated histories: each breach of the promise it exists to catch is
flagged, and a history that keeps the promise passes."""

from chaos.checker import History, check

EVENT = 1


def command(
    id_,
    kind="book",
    status="confirmed",
    reason="booked",
    seats=1,
    booking=None,
    decided_at=None,
    created_at=None,
    **extra,
) -> dict:
    created = float(id_) if created_at is None else created_at
    return {
        "id": id_,
        "uid": f"u{id_}",
        "event": EVENT,
        "kind": kind,
        "status": status,
        "reason": reason,
        "seats": seats,
        "booking": booking if booking is not None else id_,
        "customer": id_,
        "payload": extra.pop("payload", {}),
        "created_at": created,
        "decided_at": created + 0.5 if decided_at is None else decided_at,
        "decided_partition": extra.pop("partition", None),
        "decided_generation": extra.pop("generation", None),
    }


def acked(uid: str, at: float, **extra) -> dict:
    return {
        "client": "c",
        "op": "book",
        "method": "POST",
        "path": "/bookingapi/booking/",
        "body": extra.pop("body", {"event": EVENT}),
        "key": extra.pop("key", None),
        "sent": at - 0.1,
        "received": at,
        "status": extra.pop("status", 202),
        "request_id": uid,
        "retry_after": extra.pop("retry_after", None),
        "event": EVENT,
        **extra,
    }


def history(requests, *, capacity=4, calls=None, **extra) -> History:
    """A consistent history: counters and bookings follow the requests, each decision logged."""
    seats = {}
    for r in sorted(requests, key=lambda r: (r["decided_at"] or 0, r["id"])):
        if r["status"] == "confirmed" and r["kind"] in ("book", "hold", "change_seats"):
            seats[r["booking"]] = r["seats"]
        elif r["status"] == "confirmed" and r["kind"] in ("cancel", "release_hold", "expire_hold"):
            seats[r["booking"]] = 0
    bookings = {
        b: {
            "event": EVENT,
            "status": "active" if n else "cancelled",
            "seats": max(n, 1),
            "expires_at": None,
        }
        for b, n in seats.items()
    }
    waiting = sum(1 for r in requests if r["status"] == "waitlisted")
    return History(
        requests=requests,
        events={
            EVENT: {
                "capacity": capacity,
                "seats_taken": sum(seats.values()),
                "waitlist_size": waiting,
                "partition": 0,
                "initial_capacity": capacity,
            }
        },
        bookings=extra.pop("bookings", bookings),
        decisions_logged=extra.pop("decisions_logged", {r["uid"]: [r["status"]] for r in requests}),
        calls=calls if calls is not None else [acked(r["uid"], r["created_at"]) for r in requests],
        **extra,
    )


def kinds(found: list[dict]) -> set[str]:
    return {a["kind"] for a in found}


def test_a_history_that_keeps_the_promise_has_no_anomaly():
    requests = [
        command(1, seats=2),
        command(2, seats=2),
        command(3, status="rejected", reason="sold_out"),
    ]
    assert check(history(requests)) == []


def test_an_oversell_is_flagged_at_the_commit_that_made_it():
    requests = [command(1, seats=3), command(2, seats=2)]  # 5 seats of 4
    found = check(history(requests, capacity=4))
    oversells = [a for a in found if a["kind"] == "oversell"]
    assert oversells and oversells[0]["commands"] == ["u2"]


def test_an_oversell_hidden_by_a_later_cancel_is_still_flagged():
    requests = [
        command(1, seats=3),
        command(2, seats=2),
        command(3, kind="cancel", reason="cancelled", booking=1),
    ]
    assert "oversell" in kinds(check(history(requests, capacity=4)))


def test_seats_freed_and_taken_in_one_commit_are_no_oversell():
    requests = [
        command(1, seats=4),
        command(2, kind="cancel", reason="cancelled", booking=1, decided_at=5.0),
        command(3, seats=4, decided_at=5.0, created_at=3.0),
    ]
    assert "oversell" not in kinds(check(history(requests, capacity=4)))


def test_an_acknowledged_command_left_pending_is_lost():
    requests = [command(1), command(2, status="pending", reason="", decided_at=None)]
    requests[1]["decided_at"] = None
    found = check(history(requests, decisions_logged={"u1": ["confirmed"]}))
    assert [a["commands"] for a in found if a["kind"] == "lost"] == [["u2"]]


def test_an_acknowledged_command_with_no_row_is_lost():
    requests = [command(1)]
    found = check(history(requests, calls=[acked("u1", 1.0), acked("ghost", 2.0)]))
    assert [a["commands"] for a in found if a["kind"] == "lost"] == [["ghost"]]


def test_a_command_decided_twice_is_flagged():
    requests = [command(1)]
    found = check(history(requests, decisions_logged={"u1": ["confirmed", "rejected"]}))
    assert [a["commands"] for a in found if a["kind"] == "double_decision"] == [["u1"]]


def test_a_later_command_decided_first_is_out_of_order():
    # 1 was acknowledged at t=1.0; 2 (recorded after it) was decided at 2.0, 1 only at 3.0.
    requests = [
        command(1, created_at=0.9, decided_at=3.0),
        command(2, created_at=1.5, decided_at=2.0),
    ]
    found = check(history(requests, calls=[acked("u1", 1.0), acked("u2", 1.6)], capacity=10))
    assert [a["commands"] for a in found if a["kind"] == "out_of_order"] == [["u1", "u2"]]


def test_a_command_not_yet_committed_when_a_later_one_was_decided_is_in_order():
    # 1 took its id first but committed (acknowledged) after 2 was decided.
    requests = [
        command(1, created_at=1.0, decided_at=3.0),
        command(2, created_at=1.1, decided_at=1.2),
    ]
    found = check(history(requests, calls=[acked("u1", 1.3), acked("u2", 1.15)], capacity=10))
    assert "out_of_order" not in kinds(found)


def test_a_later_waitlisted_command_promoted_ahead_of_an_earlier_one_is_flagged():
    requests = [
        command(1, seats=4),
        command(2, status="waitlisted", reason="waitlisted", decided_at=2.6),
        command(3, reason="promoted_from_waitlist", decided_at=9.0),
        command(4, kind="cancel", reason="cancelled", booking=1, decided_at=9.0),
    ]
    found = check(history(requests, capacity=4))
    assert [a["commands"] for a in found if a["kind"] == "waitlist_order"] == [["u2", "u3"]]


def test_a_hold_that_ends_twice_is_flagged():
    requests = [
        command(1, kind="hold", reason="held", seats=2),
        command(2, kind="confirm_hold", reason="hold_confirmed", booking=1, seats=2),
        command(3, kind="expire_hold", reason="hold_expired", booking=1, seats=2),
    ]
    found = check(
        history(
            requests,
            bookings={1: {"event": EVENT, "status": "expired", "seats": 2, "expires_at": 2.0}},
        )
    )
    assert [a["commands"] for a in found if a["kind"] == "hold_decided_twice"] == [["u2", "u3"]]


def test_a_decision_by_a_generation_that_had_lost_its_partition_is_flagged():
    requests = [
        command(1, partition=3, generation=7, decided_at=10.0),
        command(2, partition=3, generation=8, decided_at=11.0),
    ]
    grants = [
        {"partition": 3, "generation": 7, "granted_at": 0.0},
        {"partition": 3, "generation": 8, "granted_at": 9.5},
    ]
    found = check(history(requests, grants=grants))
    assert [a["commands"] for a in found if a["kind"] == "decided_by_lost_generation"] == [["u1"]]


def test_an_idempotent_replay_answered_with_another_request_is_flagged():
    requests = [command(1), command(2)]
    calls = [acked("u1", 1.0, key="k"), acked("u2", 2.0, key="k")]
    assert "idempotency" in kinds(check(history(requests, calls=calls)))


def test_a_server_error_outside_a_postgres_restart_is_flagged_and_a_503_inside_is_not():
    requests = [command(1)]
    calls = [
        acked("u1", 1.0),
        acked(None, 5.0, status=503, retry_after="1"),
        acked(None, 50.0, status=503, retry_after="1"),
    ]
    found = check(history(requests, calls=calls, postgres_restarts=[(4.0, 6.0)]))
    assert [a["detail"].split()[0] for a in found if a["kind"] == "server_error"] == ["503"]
    assert all("at 49.900" in a["detail"] for a in found if a["kind"] == "server_error")


def test_a_webhook_received_under_two_bodies_or_never_received_is_flagged():
    requests = [command(1)]
    found = check(
        history(
            requests,
            deliveries=[{"uid": "d1", "status": "succeeded"}, {"uid": "d2", "status": "succeeded"}],
            received={"d1": 2},
        )
    )
    assert {"webhook_id_reused", "webhook_not_received"} <= kinds(found)


def test_a_delivery_still_pending_long_after_its_outcome_is_undelivered_a_recent_one_is_not():
    found = check(
        history(
            [command(1)],
            deliveries=[
                {"uid": "old", "status": "pending", "created_at": 10.0},
                {"uid": "new", "status": "pending", "created_at": 290.0},
            ],
            ended_at=300.0,
        )
    )
    assert [a["commands"] for a in found if a["kind"] == "webhook_undelivered"] == [["old"]]


def test_counters_that_differ_from_the_rows_are_flagged():
    h = history([command(1, seats=2)])
    h.events[EVENT]["seats_taken"] = 1
    assert "counter_mismatch" in kinds(check(h))


def test_a_decision_by_a_process_without_a_lease_is_flagged_once_leases_are_audited():
    requests = [command(1, partition=3, generation=7), command(2)]
    grants = [{"partition": 3, "generation": 7, "granted_at": 0.0}]
    found = check(history(requests, grants=grants))
    assert [a["commands"] for a in found if a["kind"] == "decided_without_generation"] == [["u2"]]


def test_bookings_that_hold_other_seats_than_their_decisions_add_up_to_are_flagged():
    h = history([command(1, seats=2), command(2, seats=1)])
    h.bookings[2]["seats"] = 3  # a write no decision accounts for
    h.events[EVENT]["seats_taken"] = 5
    assert "replay_mismatch" in kinds(check(h))
