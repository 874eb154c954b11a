"""The README's tour, pasted as it is into bash against a stack holding `make run`'s demo data:
every step succeeds, and it books the event it created, not a demo event."""

import re
import subprocess

import pytest

from devtools.stack import ROOT, shell_json

pytestmark = pytest.mark.integration
TOUR = re.compile(r"<!-- --8<-- \[start:tour\] -->.*?```bash\n(.*?)```", re.DOTALL)


def readme_tour() -> str:
    return TOUR.search((ROOT / "README.md").read_text()).group(1)


def test_the_readme_tour_works_as_written_and_books_the_event_it_created(stack):
    script = readme_tour()
    assert "H=http://127.0.0.1:8000\n" in script
    script = script.replace("H=http://127.0.0.1:8000\n", f"H={stack.base_url}\n", 1)

    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stderr == ""
    for answer in (
        '"reason":"booked"',
        "HTTP/1.1 409 Conflict",
        '"code":"duplicate"',
        '"reason":"seats_changed"',
        '"status":"held"',
        '"reason":"hold_confirmed"',
        '"reason":"cancelled"',
    ):
        assert answer in done.stdout, answer
    booked = shell_json(
        stack,
        "import json; from apps.bookings.models import Booking; print(json.dumps(sorted("
        "(b.customer.user.username, b.event.title, b.seats, b.status) for b in "
        "Booking.objects.filter(customer__user__username__in=['bob', 'cleo', 'dan']))))",
    )
    assert booked == [
        ["bob", "Launch party", 1, "cancelled"],
        ["cleo", "Launch party", 3, "active"],
        ["dan", "Launch party", 2, "active"],
    ]
