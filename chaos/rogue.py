"""A second decider: decides a partition it does not own, again and again for a few seconds,
as an operator's shell or a worker that lost its lease would.

    python -m chaos.rogue PARTITION GENERATION|none SECONDS
"""

import os
import sys
import time


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from apps.bookings.decisions import decide_partition

    partition, generation, seconds = int(argv[0]), argv[1], float(argv[2])
    owner_generation = None if generation == "none" else int(generation)
    decided, refused = 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            decided += decide_partition(partition=partition, owner_generation=owner_generation)
        except Exception as exc:  # noqa: BLE001 - the fence saying no is the expected answer
            refused += 1
            last = type(exc).__name__
        time.sleep(0.05)
    print(f"decided {decided}, refused {refused} time(s)" + (f" ({last})" if refused else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
