"""``make api-check``: Schemathesis against a live service, as an organizer and as a customer.

Starts its own stack (``python -m workers run --web``, as ``make run`` does) on a free port and a
fresh data folder, loads the demo data, and runs ``st run`` on ``/api/schema/`` with every check
and a fixed seed, once per demo token. Exits non-zero when Schemathesis reports any failure.

Left out: logout, which revokes the token the rest of the run uses (``tests/accounts`` pins its
answers), and the request's event stream, open until the request is decided
(``tests/integration/test_request_events.py`` drives it with a streaming client).
``devtools/schemathesis.toml`` names the few rules a JSON Schema cannot state (one field against
another, against the clock, or against stored state).

    python -m devtools.api_check                # the full run (make api-check)
    python -m devtools.api_check --max-examples 5 --max-time 60     # the short CI run
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from devtools.stack import Stack

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 11
ROLES = {"organizer": "demo_organizer_ada", "customer": "demo_customer_cleo"}
# Logout revokes the run's token; an event stream stays open until its request is decided.
EXCLUDED_PATHS = r"^/userapi/logout|/events/$"
_SUMMARY = re.compile(r"=+ (.*) in [\d.]+s =+")


def demo_tokens(seed_output: str) -> dict[str, str]:
    """``{role: token}`` from ``seed_demo``'s table (username, role, token)."""
    tokens = {}
    for line in seed_output.splitlines():
        parts = line.split()
        for role, username in ROLES.items():
            if len(parts) == 3 and parts[0] == username:
                tokens[role] = parts[2]
    return tokens


def schemathesis(base_url: str, token: str, args, workdir: Path) -> tuple[int, str]:
    argv = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/api/schema/",
        "--checks",
        "all",
        "--seed",
        str(args.seed),
        "--max-examples",
        str(args.max_examples),
        "--workers",
        "1",
        "--exclude-path-regex",
        EXCLUDED_PATHS,
        "-H",
        f"Authorization: Token {token}",
    ]
    if args.max_time:
        argv += ["--max-time", str(args.max_time)]
    done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--max-time", type=int, default=240, help="seconds per role (0: no cap)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="api-check-"))
    stack = Stack(data_dir=workdir / "data", web_workers=1, web_threads=8)
    failed = False
    try:
        stack.start()
        tokens = demo_tokens(stack.manage("seed_demo"))
        for role in ROLES:
            code, output = schemathesis(stack.base_url, tokens[role], args, workdir)
            summary = _SUMMARY.findall(output)
            print(f"--- as {role}: {summary[-1] if summary else 'no summary'}")
            if code != 0:
                failed = True
                print(output[-20000:])
    except Exception:
        print(stack.log()[-5000:], file=sys.stderr)
        raise
    finally:
        stack.stop()
        if not os.environ.get("API_CHECK_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
