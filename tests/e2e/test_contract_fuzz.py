"""The published contract holds: Schemathesis fuzzes every operation of `/openapi.json` against a
live `caudal up` (its own embedded PostgreSQL) with a token holding every scope, positive and
negative cases, and four checks: no 5xx, every status and content type declared, every body
valid against its declared schema. Bounded to ~60 s; `bench/fuzz.py --long` runs ~10 minutes.

Deterministic by default (the same cases every run); `CAUDAL_FUZZ_SEED=N` explores others, and a
failure prints the seed to run it again.
"""

from __future__ import annotations

import os

import httpx
import pytest

from caudal.platform import scopes
from tests.e2e.conftest import Server
from tests.support.fuzz import fuzz

EXAMPLES_PER_OPERATION = 20


@pytest.mark.migrated_home  # not about a home's first start
def test_every_operation_keeps_its_published_contract_under_fuzzing(
    start_server: type[Server], capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_server()
    server.wait_ready()
    token = server.admin_token()
    me = httpx.get(f"{server.base_url}/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert set(me.json()["scopes"]) == set(scopes.ALL)
    seed = int(os.environ["CAUDAL_FUZZ_SEED"]) if "CAUDAL_FUZZ_SEED" in os.environ else None

    report = fuzz(server.base_url, token, max_examples=EXAMPLES_PER_OPERATION, seed=seed)

    with capsys.disabled():
        print(f"\n{report.summary()} (seed {seed if seed is not None else 'derandomized'})")
    assert report.operations >= 40
    assert report.cases >= report.operations * EXAMPLES_PER_OPERATION // 2
    if report.failures:
        pytest.fail("\n".join(str(f) for f in report.distinct()[:30]), pytrace=False)
    assert server.proc.poll() is None  # nothing brought it down
