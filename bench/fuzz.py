"""Schemathesis against a live `caudal up`: every operation of `/openapi.json`, positive and
negative cases, four checks (no 5xx; status, content type and body as declared). The same run
as tests/e2e/test_contract_fuzz.py, longer and with a fresh random seed each time.

    .venv/bin/python bench/fuzz.py --long              # ~10 minutes, then the figures
    .venv/bin/python bench/fuzz.py --seconds 120       # shorter
    .venv/bin/python bench/fuzz.py --url http://127.0.0.1:8000 --token "$TOKEN"   # a running server

Prints operations, cases, failures (distinct ones listed with a curl to replay them), the time
and the seed (`--seed` runs the same cases again). Exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.conftest import Server
from tests.support.fuzz import fuzz

LONG_SECONDS = 600
OPERATIONS_GUESS = 42  # to share the time budget before the document is read


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--long", action="store_true", help=f"run ~{LONG_SECONDS} s")
    parser.add_argument("--seconds", type=float, default=60, help="time budget (default 60)")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--url", help="fuzz this running server instead of starting one")
    parser.add_argument("--token", help="with --url: a token holding every scope")
    args = parser.parse_args()
    budget = LONG_SECONDS if args.long else args.seconds
    seed = args.seed if args.seed is not None else random.randrange(2**32)

    server = None
    server_home = Path(tempfile.mkdtemp(prefix="caudal-fuzz-"))
    if args.url:
        base_url, token = args.url.rstrip("/"), args.token or ""
    else:
        home = server_home / "home"
        server = Server(home)
        print(f"caudal up ready in {server.wait_ready():.1f} s ({home})", flush=True)
        base_url, token = server.base_url, server.admin_token()
    started = time.perf_counter()
    try:
        report = fuzz(
            base_url,
            token,
            max_examples=50,  # per round; rounds go on until the time is spent
            seconds_per_operation=budget / OPERATIONS_GUESS,
            seed=seed,
        )
    finally:
        if server is not None:
            server.stop()  # and with it its embedded PostgreSQL
            shutil.rmtree(server_home, ignore_errors=True)
    for failure in report.distinct():
        print(failure)
    print(report.summary())
    print(
        f"seed {seed}; {report.cases / max(report.seconds, 1e-9):.1f} cases/s; "
        f"wall {time.perf_counter() - started:.0f} s"
    )
    sys.exit(1 if report.failures else 0)


if __name__ == "__main__":
    main()
