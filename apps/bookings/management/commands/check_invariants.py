"""``manage.py check_invariants``: report breaches of the booking invariants; exit 1 on any."""

import json

from django.core.management.base import BaseCommand, CommandError

from apps.bookings.invariants import check_invariants

DEFAULT_PENDING_THRESHOLD_SECONDS = 60.0


class Command(BaseCommand):
    help = (
        "Check that seat and waitlist counters match their rows (a counter mismatch also holds "
        "the event's commands), no event is over capacity, no command is stranded pending, and "
        "no request was decided after its decider's lease was granted away. Exits non-zero on "
        "a breach."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--pending-threshold",
            type=float,
            metavar="SECONDS",
            default=DEFAULT_PENDING_THRESHOLD_SECONDS,
            help="A command pending longer than this is a breach "
            f"(default {DEFAULT_PENDING_THRESHOLD_SECONDS:g}).",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the report as JSON."
        )

    def handle(self, *args, pending_threshold: float, as_json: bool, **options):
        if pending_threshold < 0:
            raise CommandError("--pending-threshold must not be negative.")
        breaches = check_invariants(pending_threshold_seconds=pending_threshold)
        if as_json:
            self.stdout.write(_json_report(breaches, pending_threshold))
        elif breaches:
            for breach in breaches:
                self.stdout.write(f"BREACH {breach}")
        else:
            self.stdout.write(self.style.SUCCESS("OK: all booking invariants hold."))
        if breaches:
            raise CommandError(f"{len(breaches)} invariant breach(es).", returncode=1)


def _json_report(breaches: list[str], threshold: float) -> str:
    return json.dumps(
        {"ok": not breaches, "pending_threshold_seconds": threshold, "breaches": breaches}
    )
